"""Commit positions and per-key order bookkeeping."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.tracking import KeyedQueue, OffsetTracker

TP = ("t", 0)


def test_commit_position_waits_for_the_earliest_open_record() -> None:
    tracker = OffsetTracker()
    for offset in range(5):
        tracker.add(TP, offset)
    tracker.settle(TP, 1)
    tracker.settle(TP, 2)
    assert tracker.to_commit() == {}
    tracker.settle(TP, 0)
    assert tracker.to_commit() == {TP: 3}
    tracker.mark_committed({TP: 3})
    assert tracker.to_commit() == {}
    assert tracker.pending(TP) == 2


def test_offsets_may_have_gaps_and_forgotten_partitions_ignore_late_settlements() -> None:
    tracker = OffsetTracker()
    tracker.add(TP, 10)
    tracker.add(TP, 13)  # transaction markers leave gaps
    tracker.settle(TP, 10)
    tracker.settle(TP, 13)
    assert tracker.safe_offset(TP) == 14
    tracker.forget([TP])
    tracker.settle(TP, 13)
    assert tracker.to_commit() == {}


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=60), st.randoms(use_true_random=False))
def test_commit_is_never_past_an_open_record(count: int, rng: random.Random) -> None:
    tracker = OffsetTracker()
    for offset in range(count):
        tracker.add(TP, offset)
    order = list(range(count))
    rng.shuffle(order)
    settled: set[int] = set()
    for offset in order:
        tracker.settle(TP, offset)
        settled.add(offset)
        safe = tracker.safe_offset(TP)
        if safe is not None:
            assert set(range(safe)) <= settled
            assert safe == count or safe not in settled
    assert tracker.safe_offset(TP) == count


def test_only_the_head_of_a_key_is_eligible_and_the_next_follows_it() -> None:
    queue: KeyedQueue[str, int] = KeyedQueue()
    assert queue.push("a", 1) is True
    assert queue.push("a", 2) is False
    assert queue.push("b", 3) is True
    assert queue.pop_head("a") == 2
    assert queue.pop_head("a") is None
    assert queue.push("a", 4) is True
    assert len(queue) == 2


@given(st.lists(st.tuples(st.booleans(), st.sampled_from("abc")), max_size=60))
def test_keyed_queue_hands_out_each_keys_items_in_order_one_at_a_time(steps: list[tuple[bool, str]]) -> None:
    """Pushes and settlements in any interleaving: every item becomes eligible exactly once, in push order
    per key, and never while an earlier item of its key is still out."""
    queue: KeyedQueue[str, int] = KeyedQueue()
    pushed: dict[str, list[int]] = {key: [] for key in "abc"}
    eligible: dict[str, list[int]] = {key: [] for key in "abc"}
    out: dict[str, int | None] = dict.fromkeys("abc")
    for number, (is_push, key) in enumerate(steps):
        if is_push:
            pushed[key].append(number)
            if queue.push(key, number):
                assert out[key] is None
                out[key] = number
                eligible[key].append(number)
        elif out[key] is not None:
            following = queue.pop_head(key)
            out[key] = following
            if following is not None:
                eligible[key].append(following)
        assert len(queue) == sum(len(pushed[k]) - len(eligible[k]) + (out[k] is not None) for k in "abc")
    for key in "abc":
        while out[key] is not None:
            out[key] = queue.pop_head(key)
            if out[key] is not None:
                eligible[key].append(out[key])  # type: ignore[arg-type]
        assert eligible[key] == pushed[key]
    assert len(queue) == 0
