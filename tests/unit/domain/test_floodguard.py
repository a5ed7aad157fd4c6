"""The DLQ flood guard's limits: consecutive bad records and the DLQ share of a window."""

from __future__ import annotations

import pytest

from orderstream.domain.floodguard import FloodGuard, GuardPolicy


def feed(guard: FloodGuard, outcomes: str) -> None:
    for ch in outcomes:
        guard.observe(ch == "x")


def test_trips_on_the_consecutive_limit_and_not_one_record_before() -> None:
    guard = FloodGuard(GuardPolicy(max_consecutive=5, max_ratio=1.0, window=1000))
    feed(guard, "xxxx.xxxx")
    assert guard.tripped is None
    feed(guard, "x")
    assert guard.tripped is not None and "5 records in a row" in guard.tripped


def test_trips_on_the_ratio_only_once_the_window_is_full() -> None:
    guard = FloodGuard(GuardPolicy(max_consecutive=100, max_ratio=0.5, window=10))
    feed(guard, "xx.xx.xx.")  # 6 of 9 bad, but the window is not full yet
    assert guard.tripped is None
    feed(guard, "x")  # 7 of 10
    assert guard.tripped is not None and "70%" in guard.tripped


def test_exactly_the_ratio_is_within_the_limit_and_old_records_leave_the_window() -> None:
    guard = FloodGuard(GuardPolicy(max_consecutive=100, max_ratio=0.5, window=4))
    feed(guard, "x.x.x.x.")
    assert guard.tripped is None and guard.ratio == 0.5
    feed(guard, "....")
    assert guard.ratio == 0.0


def test_a_trip_is_latched_until_reset_and_reset_forgets_the_window() -> None:
    guard = FloodGuard(GuardPolicy(max_consecutive=2, max_ratio=1.0, window=10))
    feed(guard, "xx")
    reason = guard.tripped
    feed(guard, "....")
    assert guard.tripped == reason, "good records afterwards do not clear a trip"
    assert guard.within_limits()
    guard.reset()
    assert guard.tripped is None and guard.consecutive == 0 and guard.ratio == 0.0
    feed(guard, "x")
    assert guard.tripped is None


@pytest.mark.parametrize(
    "limits", [{"max_consecutive": 0}, {"window": 0}, {"max_ratio": 0.0}, {"max_ratio": 1.5}]
)
def test_limits_out_of_range_are_refused(limits: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        GuardPolicy(**limits)  # type: ignore[arg-type]
