"""Stream time: co-partitioned inputs merged in timestamp order, idling on inputs with unfetched data."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderstream.domain.streamtime import CAUGHT_UP_GRACE, FRESH_FOR, Merger

NOW = 1_000.0


def test_records_come_out_in_timestamp_order_with_ties_in_input_order() -> None:
    merger: Merger[str] = Merger(["orders", "payments"])
    merger.offer("orders", [(1.0, "o1"), (3.0, "o3")])
    merger.offer("payments", [(1.0, "p1"), (2.0, "p2"), (4.0, "p4")])
    merger.fetched("orders", at_end=True, at=NOW)
    merger.fetched("payments", at_end=True, at=NOW)
    assert merger.take(100, NOW) == ["o1", "p1", "p2", "o3", "p4"]
    assert merger.stream_time == 4.0


def test_an_input_with_unfetched_data_blocks_the_merge_until_it_is_fetched() -> None:
    merger: Merger[str] = Merger(["orders", "payments"])
    merger.offer("payments", [(5.0, "p5"), (6.0, "p6")])
    merger.fetched("orders", at_end=False, at=NOW)  # orders has data on the broker, not fetched yet
    assert merger.take(100, NOW) == []
    merger.offer("orders", [(2.0, "o2")])
    assert merger.take(100, NOW) == ["o2"]  # then orders is empty but not at its end: idle again
    merger.fetched("orders", at_end=True, at=NOW)
    assert merger.take(100, NOW) == ["p5", "p6"]


def test_an_input_never_fetched_blocks_the_merge() -> None:
    merger: Merger[str] = Merger(["orders", "payments"])
    merger.offer("payments", [(5.0, "p5")])
    assert merger.take(100, NOW) == []
    assert merger.watermark(NOW) is None


def test_take_respects_the_limit() -> None:
    merger: Merger[int] = Merger(["a"])
    merger.offer("a", [(float(i), i) for i in range(10)])
    merger.fetched("a", at_end=True, at=NOW)
    assert merger.take(4, NOW) == [0, 1, 2, 3]
    assert merger.take(100, NOW) == [4, 5, 6, 7, 8, 9]


def test_watermark_is_the_least_read_input() -> None:
    merger: Merger[str] = Merger(["orders", "payments"])
    merger.offer("orders", [(1.0, "o1"), (9.0, "o9")])
    merger.offer("payments", [(2.0, "p2")])
    merger.fetched("orders", at_end=False, at=NOW)
    merger.fetched("payments", at_end=False, at=NOW)
    assert merger.watermark(NOW) == 1.0  # nothing taken: the earliest head
    assert merger.take(100, NOW) == ["o1", "p2"]  # then payments is empty with data left: idle
    assert merger.watermark(NOW) == 2.0  # payments read up to 2.0; orders holds 9.0 next


def test_caught_up_inputs_let_the_watermark_follow_the_clock_less_a_grace() -> None:
    merger: Merger[str] = Merger(["orders", "payments"])
    merger.offer("orders", [(1.0, "o1")])
    merger.fetched("orders", at_end=True, at=NOW)
    merger.fetched("payments", at_end=True, at=NOW)
    assert merger.take(100, NOW) == ["o1"]
    assert merger.watermark(NOW) == pytest.approx(NOW - CAUGHT_UP_GRACE)
    merger.fetched("orders", at_end=True, at=NOW + 10)
    merger.fetched("payments", at_end=True, at=NOW + 9)
    assert merger.watermark(NOW + 10) == pytest.approx(NOW + 9 - CAUGHT_UP_GRACE)


def test_a_stale_caught_up_answer_blocks_again() -> None:
    merger: Merger[str] = Merger(["orders", "payments"])
    merger.offer("orders", [(1.0, "o1")])
    merger.offer("payments", [(0.5, "p0")])
    merger.fetched("orders", at_end=True, at=NOW)
    merger.fetched("payments", at_end=True, at=NOW)
    assert merger.take(1, NOW) == ["p0"]
    later = NOW + FRESH_FOR + 1  # payments' leader stopped answering: it may hold something older
    assert merger.take(100, later) == []
    assert merger.watermark(later) == 0.5  # bounded by what payments really delivered
    merger.fetched("payments", at_end=True, at=later)
    assert merger.take(100, later) == ["o1"]


def test_inputs_must_be_distinct() -> None:
    with pytest.raises(ValueError):
        Merger(["a", "a"])
    with pytest.raises(ValueError):
        Merger([])


def test_input_lag_is_the_spread_between_inputs() -> None:
    merger: Merger[str] = Merger(["orders", "payments"])
    merger.offer("orders", [(10.0, "o")])
    merger.offer("payments", [(40.0, "p")])
    assert merger.input_lag(NOW) == 30.0
    status = {s.name: s for s in merger.status(NOW)}
    assert status["orders"].head == 10.0 and status["payments"].buffered == 1


# A backlog fetched in any chunks, in any interleaving of inputs, merges to the same sequence.

INPUTS = ["orders", "payments", "shipments"]


@st.composite
def backlog_and_fetch_plan(
    draw: st.DrawFn,
) -> tuple[dict[str, list[tuple[float, str]]], list[tuple[str, int]]]:
    records: dict[str, list[tuple[float, str]]] = {}
    for name in INPUTS:
        stamps = sorted(draw(st.lists(st.integers(0, 50), max_size=15)))  # non-decreasing: log-append time
        records[name] = [(float(ts), f"{name}@{i}") for i, ts in enumerate(stamps)]
    plan = draw(st.lists(st.tuples(st.sampled_from(INPUTS), st.integers(1, 4)), max_size=40))
    return records, plan


@settings(max_examples=300, deadline=None)
@given(backlog_and_fetch_plan(), st.integers(1, 5))
def test_any_fetch_interleaving_gives_the_timestamp_order(
    case: tuple[dict[str, list[tuple[float, str]]], list[tuple[str, int]]], limit: int
) -> None:
    records, plan = case
    merger: Merger[str] = Merger(INPUTS)
    left = {name: list(rows) for name, rows in records.items()}
    out: list[str] = []
    for name, size in [*plan, *((name, 10_000) for name in INPUTS)]:
        chunk, left[name] = left[name][:size], left[name][size:]
        merger.offer(name, chunk)
        merger.fetched(name, at_end=not left[name], at=NOW)
        out += merger.take(limit, NOW)
    while batch := merger.take(limit, NOW):
        out += batch
    expected = [
        item
        for _, _, item in sorted(
            (ts, INPUTS.index(n), item) for n, rows in records.items() for ts, item in rows
        )
    ]
    # Equal timestamps keep input order, and each input's own order (its offsets).
    key = {item: (ts, INPUTS.index(n), i) for n, rows in records.items() for i, (ts, item) in enumerate(rows)}
    assert out == sorted(expected, key=key.__getitem__)
