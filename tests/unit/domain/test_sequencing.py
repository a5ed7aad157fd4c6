"""The per-order sequencer: worked examples for every rule, then properties over arbitrary arrivals."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import factories as f
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderstream.domain.contract import Event
from orderstream.domain.sequencing import (
    MAX_REMEMBERED_REJECTS,
    OrderState,
    Outcome,
    accept,
    deadline,
    expire,
)

TIMEOUT = 30.0


def seqs(outcome: Outcome) -> list[tuple[int, bool]]:
    """Released (sequence, gap_before) pairs, the shape most assertions need."""
    return [(r.event.sequence, r.gap_before) for r in outcome.released]


def feed(
    events: list[Event], now: float = 0.0, state: OrderState | None = None
) -> tuple[OrderState, Outcome]:
    """Accept events one after another at the same instant; returns the final state and everything produced."""
    state = state or OrderState()
    total = Outcome()
    for event in events:
        state, outcome = accept(state, event, now, TIMEOUT)
        total += outcome
    return state, total


def test_in_order_events_are_released_one_by_one() -> None:
    state = OrderState()
    for event in f.lifecycle():
        state, outcome = accept(state, event, 0.0, TIMEOUT)
        assert outcome.released[0].event == event
        assert seqs(outcome) == [(event.sequence, False)]
        assert not outcome.rejected and not outcome.duplicate
    assert state.next_sequence == 5
    assert state.held == {}


def test_early_arrivals_are_held_until_the_gap_fills() -> None:
    one, two, three, _ = f.lifecycle()
    state, outcome = feed([three, two])
    assert outcome.released == []
    assert sorted(state.held) == [2, 3]
    state, outcome = accept(state, one, 1.0, TIMEOUT)
    assert seqs(outcome) == [(1, False), (2, False), (3, False)]
    assert state.next_sequence == 4 and state.held == {}


@pytest.mark.parametrize("position", ["released", "held"])
def test_a_redelivered_event_id_is_dropped_as_duplicate(position: str) -> None:
    first = f.created(sequence=1) if position == "released" else f.captured(sequence=2)
    state, _ = accept(OrderState(), first, 0.0, TIMEOUT)
    again, outcome = accept(state, first, 1.0, TIMEOUT)
    assert outcome == Outcome(duplicate=True)
    assert again == state


def test_the_same_event_id_claiming_another_sequence_is_still_a_duplicate() -> None:
    event = f.created(sequence=1)
    state, _ = accept(OrderState(), event, 0.0, TIMEOUT)
    moved = event.model_copy(update={"sequence": 2})
    _, outcome = accept(state, moved, 1.0, TIMEOUT)
    assert outcome.duplicate and outcome.released == [] and outcome.rejected == []


def test_a_different_event_at_a_released_position_is_a_conflict() -> None:
    state, _ = feed([f.created(sequence=1)])
    impostor = f.created(sequence=1, variant="other")
    state, outcome = accept(state, impostor, 1.0, TIMEOUT)
    assert [(r.event, r.reason) for r in outcome.rejected] == [(impostor, "conflict")]
    assert "already released" in outcome.rejected[0].detail and "o-1" in outcome.rejected[0].detail
    assert outcome.released == [] and state.next_sequence == 2


def test_a_different_event_at_a_held_position_is_a_conflict_and_the_first_one_wins() -> None:
    kept, impostor = f.captured(sequence=2), f.captured(sequence=2, variant="other")
    state, outcome = feed([kept, impostor])
    assert [r.reason for r in outcome.rejected] == ["conflict"]
    _, outcome = accept(state, f.created(sequence=1), 1.0, TIMEOUT)
    assert [r.event for r in outcome.released][1] == kept


def test_a_gap_open_for_the_timeout_is_passed_and_marked() -> None:
    one, two, three, four = f.lifecycle()
    state, _ = feed([one, three], now=0.0)
    assert deadline(state, TIMEOUT) == 30.0
    state, outcome = expire(state, 29.999, TIMEOUT)
    assert outcome == Outcome() and 3 in state.held
    state, outcome = expire(state, 30.0, TIMEOUT)
    assert seqs(outcome) == [(3, True)]
    assert state.next_sequence == 4 and deadline(state, TIMEOUT) is None
    state, outcome = accept(state, two, 31.0, TIMEOUT)
    assert [(r.event, r.reason) for r in outcome.rejected] == [(two, "late")]
    assert "skipped" in outcome.rejected[0].detail
    state, outcome = accept(state, four, 32.0, TIMEOUT)
    assert seqs(outcome) == [(4, False)]


def test_only_the_event_right_after_a_skipped_position_is_marked() -> None:
    events = {e.sequence: e for e in [*f.lifecycle(), f.refunded(100, sequence=5), f.cancelled(sequence=6)]}
    state, _ = feed([events[3], events[4], events[6]], now=0.0)
    _, outcome = expire(state, 30.0, TIMEOUT)
    assert seqs(outcome) == [(3, True), (4, False), (6, True)]


def test_each_gap_gets_its_own_clock_from_the_first_event_held_behind_it() -> None:
    events = {e.sequence: e for e in [*f.lifecycle(), f.refunded(100, sequence=5), f.cancelled(sequence=6)]}
    state, _ = accept(OrderState(), events[3], 0.0, TIMEOUT)
    state, _ = accept(state, events[6], 20.0, TIMEOUT)
    state, outcome = expire(state, 30.0, TIMEOUT)
    assert seqs(outcome) == [(3, True)]
    assert deadline(state, TIMEOUT) == 50.0
    state, outcome = accept(state, events[4], 40.0, TIMEOUT)
    assert seqs(outcome) == [(4, False)]
    state, outcome = expire(state, 50.0, TIMEOUT)
    assert seqs(outcome) == [(6, True)]
    assert state.next_sequence == 7


def test_an_arrival_after_the_deadline_is_late_even_if_the_timer_has_not_fired() -> None:
    one, two, three, _ = f.lifecycle()
    state, _ = accept(OrderState(), three, 0.0, TIMEOUT)
    state, outcome = accept(state, two, 30.5, TIMEOUT)
    assert seqs(outcome) == [(3, True)]
    assert [r.reason for r in outcome.rejected] == ["late"]
    _, outcome = accept(state, one, 31.0, TIMEOUT)
    assert [r.reason for r in outcome.rejected] == ["late"]


def test_a_zero_timeout_releases_at_once_and_never_reorders() -> None:
    one, two, *_ = f.lifecycle()
    state, outcome = accept(OrderState(), two, 0.0, 0.0)
    assert seqs(outcome) == [(2, True)]
    _, outcome = accept(state, one, 0.0, 0.0)
    assert [r.reason for r in outcome.rejected] == ["late"]


def test_a_negative_timeout_is_refused() -> None:
    with pytest.raises(ValueError, match="reorder_timeout"):
        accept(OrderState(), f.created(), 0.0, -1.0)


def test_a_redelivered_reject_is_a_duplicate_not_a_second_dlq_record() -> None:
    state, _ = feed([f.created(sequence=1)])
    impostor = f.created(sequence=1, variant="other")
    state, _ = accept(state, impostor, 1.0, TIMEOUT)
    _, outcome = accept(state, impostor, 2.0, TIMEOUT)
    assert outcome == Outcome(duplicate=True)


def test_remembered_rejects_are_bounded() -> None:
    state, _ = feed([f.created(sequence=1)])
    impostors = [f.created(sequence=1, variant=str(i)) for i in range(MAX_REMEMBERED_REJECTS + 5)]
    state, outcome = feed(impostors, state=state)
    assert len(outcome.rejected) == MAX_REMEMBERED_REJECTS + 5
    assert len(state.rejected_ids) == MAX_REMEMBERED_REJECTS
    assert state.rejected_ids[-1] == impostors[-1].event_id


def test_event_type_does_not_matter_only_sequence_does() -> None:
    """A source that numbers ``order.created`` 2 gets it released second: the sequencer trusts ``sequence``."""
    capture, create = f.captured(sequence=1), f.created(sequence=2)
    _, outcome = feed([create, capture])
    assert [r.event for r in outcome.released] == [capture, create]


def test_accept_never_mutates_the_state_it_was_given() -> None:
    one, two, three, _ = f.lifecycle()
    state, _ = feed([one, three])
    snapshot = state.to_dict()
    accept(state, two, 1.0, TIMEOUT)
    expire(state, 100.0, TIMEOUT)
    assert state.to_dict() == snapshot


def test_state_round_trips_through_json() -> None:
    one, _, three, four = f.lifecycle()
    state, _ = feed([one, three], now=0.0)
    state, _ = expire(state, 30.0, TIMEOUT)
    state, _ = feed(
        [four.model_copy(update={"sequence": 6}), f.created(sequence=1, variant="x")], state=state
    )
    wire = json.loads(json.dumps(state.to_dict()))
    assert OrderState.from_dict(wire) == state
    assert wire["next_sequence"] == 4 and wire["released"][0] == [1, one.event_id]


def test_an_unknown_state_format_is_refused() -> None:
    with pytest.raises(ValueError, match="format"):
        OrderState.from_dict({"format": 99})


# --------------------------------------------------------------------------------------------- properties

EVENT_TYPES = [
    "order.cancelled",
    "payment.captured",
    "payment.failed",
    "payment.refunded",
    "shipment.delivered",
]


def build_order(order_id: str, length: int, types: list[str]) -> list[Event]:
    """An order of ``length`` events: created first, then the drawn types (data is irrelevant here)."""
    events = [f.created(order_id=order_id, sequence=1)]
    for seq, event_type in zip(range(2, length + 1), types, strict=False):
        if event_type == "payment.captured":
            events.append(f.captured(order_id=order_id, sequence=seq))
        elif event_type == "payment.refunded":
            events.append(f.refunded(100, order_id=order_id, sequence=seq))
        elif event_type in ("order.cancelled", "payment.failed"):
            events.append(f.make(event_type, {"reason": "r"}, order_id=order_id, sequence=seq))
        else:
            events.append(f.delivered(order_id=order_id, sequence=seq))
    return events


@st.composite
def orders(draw: st.DrawFn, count: int = 1) -> list[list[Event]]:
    result = []
    for i in range(count):
        length = draw(st.integers(1, 8))
        types = draw(st.lists(st.sampled_from(EVENT_TYPES), min_size=length - 1, max_size=length - 1))
        result.append(build_order(f"o-{i}", length, types))
    return result


@st.composite
def messy_arrivals(draw: st.DrawFn, clean: list[Event]) -> list[Event]:
    """Any permutation of ``clean`` with any number of redeliveries inserted after their original."""
    arrivals = list(draw(st.permutations(clean)))
    for _ in range(draw(st.integers(0, len(clean)))):
        original = draw(st.integers(0, len(arrivals) - 1))
        redelivery_at = draw(st.integers(original + 1, len(arrivals)))
        arrivals.insert(redelivery_at, arrivals[original])
    return arrivals


@dataclass
class Run:
    """Per-order sequencer states and their outputs, as the agent would keep them."""

    states: dict[str, OrderState] = field(default_factory=dict)
    released: dict[str, list[tuple[str, bool]]] = field(default_factory=dict)
    rejected: list[tuple[str, str]] = field(default_factory=list)

    def accept(self, event: Event, now: float) -> None:
        state = self.states.get(event.order_id, OrderState())
        state, outcome = accept(state, event, now, TIMEOUT)
        self._record(event.order_id, state, outcome)

    def expire_all(self, now: float) -> None:
        for order_id, state in list(self.states.items()):
            self._record(order_id, *expire(state, now, TIMEOUT))

    def _record(self, order_id: str, state: OrderState, outcome: Outcome) -> None:
        assert OrderState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
        self.states[order_id] = state
        self.released.setdefault(order_id, []).extend(
            (r.event.event_id, r.gap_before) for r in outcome.released
        )
        self.rejected.extend((r.event.event_id, r.reason) for r in outcome.rejected)

    def snapshot(self) -> dict[str, object]:
        return {oid: s.to_dict() for oid, s in self.states.items()}


def clean_run(per_order: list[list[Event]]) -> Run:
    run = Run()
    for events in per_order:
        for event in events:
            run.accept(event, 0.0)
    return run


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_duplicates_and_reordering_within_the_window_give_the_clean_result(data: st.DataObject) -> None:
    (clean,) = data.draw(orders())
    arrivals = data.draw(messy_arrivals(clean))
    times = sorted(
        data.draw(st.lists(st.floats(0, TIMEOUT * 0.99), min_size=len(arrivals), max_size=len(arrivals)))
    )
    run = Run()
    for event, now in zip(arrivals, times, strict=True):
        run.accept(event, now)
    expected = clean_run([clean])
    assert run.released == expected.released
    assert run.rejected == []
    assert run.snapshot() == expected.snapshot()


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_interleaving_orders_gives_each_order_its_clean_result(data: st.DataObject) -> None:
    per_order = data.draw(orders(count=data.draw(st.integers(2, 4))))
    labels = data.draw(st.permutations([i for i, events in enumerate(per_order) for _ in events]))
    cursors = [0] * len(per_order)
    run = Run()
    for label in labels:
        run.accept(per_order[label][cursors[label]], 0.0)
        cursors[label] += 1
    assert run.released == clean_run(per_order).released
    assert run.snapshot() == clean_run(per_order).snapshot()


@st.composite
def timed_arrivals(draw: st.DrawFn) -> list[tuple[Event, float]]:
    """One order's events plus conflicting impostors, arriving in any order at any (sorted) times."""
    (clean,) = draw(orders())
    impostors = [
        f.make(e.event_type, e.data.model_dump(), order_id=e.order_id, sequence=e.sequence, variant="x")
        for e in clean
        if draw(st.booleans())
    ]
    arrivals = draw(messy_arrivals(clean + impostors))
    gaps = draw(st.lists(st.sampled_from([0.0, 1.0, 10.0, 29.0, 30.0, 45.0]), min_size=len(arrivals)))
    now, timed = 0.0, []
    for event, gap in zip(arrivals, gaps, strict=False):
        now += gap
        timed.append((event, now))
    return timed


@settings(max_examples=200, deadline=None)
@given(timed=timed_arrivals())
def test_every_distinct_event_is_released_or_rejected_exactly_once_and_in_order(
    timed: list[tuple[Event, float]],
) -> None:
    run = Run()
    for event, now in timed:
        run.accept(event, now)
    run.expire_all(float("inf"))
    released = run.released["o-0"]
    by_id = {event.event_id: event for event, _ in timed}
    out_ids = [event_id for event_id, _ in released] + [event_id for event_id, _ in run.rejected]
    assert sorted(out_ids) == sorted(by_id)
    sequences = [by_id[event_id].sequence for event_id, _ in released]
    assert sequences == sorted(set(sequences))
    expected_gaps = [seq != prev + 1 for prev, seq in zip([0, *sequences], sequences, strict=False)]
    assert [gap for _, gap in released] == expected_gaps


@settings(max_examples=200, deadline=None)
@given(timed=timed_arrivals(), data=st.data())
def test_replaying_any_prefix_twice_changes_nothing(
    timed: list[tuple[Event, float]], data: st.DataObject
) -> None:
    cut = data.draw(st.integers(0, len(timed)))
    once, twice = Run(), Run()
    for event, now in timed:
        once.accept(event, now)
    for event, now in timed[:cut]:
        twice.accept(event, now)
    replay_time = timed[cut - 1][1] if cut else 0.0
    for event, _ in timed[:cut]:
        twice.accept(event, replay_time)
    for event, now in timed[cut:]:
        twice.accept(event, now)
    assert twice.released == once.released
    assert twice.rejected == once.rejected
    assert twice.snapshot() == once.snapshot()
