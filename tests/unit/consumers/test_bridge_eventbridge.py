"""Entry sizing, batching, request shapes, error classification and pacing — no AWS involved."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.eventbridge import (
    CLASSIC_LIMITS,
    UNKNOWN_OUTCOME,
    V2_LIMITS,
    AdaptiveRate,
    Entry,
    EntryResult,
    Verdict,
    classic_request,
    classify,
    entry_size,
    full_jitter,
    plan_batches,
    results_from_response,
    v2_request,
)

T = datetime(2025, 1, 1, tzinfo=UTC)


def entry(detail: str = "{}", bus: str = "b", **kw: object) -> Entry:
    return Entry(source="orderstream.orders", detail_type="order.created", detail=detail, bus=bus, **kw)  # type: ignore[arg-type]


def test_size_counts_utf8_bytes_time_as_14_and_each_resource() -> None:
    plain = entry('{"a":"é"}')  # é is two bytes in UTF-8
    assert entry_size(plain) == len("orderstream.orders") + len("order.created") + len('{"a":"') + 2 + 2
    timed = entry('{"a":"é"}', time=T, resources=("arn:1", "arn:22"))
    assert entry_size(timed) == entry_size(plain) + 14 + 5 + 6


def test_bus_and_v2_metadata_do_not_count() -> None:
    assert entry_size(entry(bus="x" * 200, group_id="g", dedup_id="d")) == entry_size(entry())


sizes = st.lists(st.integers(min_value=0, max_value=120_000), min_size=1, max_size=60)


@settings(max_examples=200, deadline=None)
@given(sizes, st.sampled_from([CLASSIC_LIMITS, V2_LIMITS]))
def test_batches_keep_order_and_respect_limits(detail_sizes: list[int], limits: object) -> None:
    entries = [entry("x" * n) for n in detail_sizes]
    batches = plan_batches(entries, limits, one_bus=False)  # type: ignore[arg-type]
    assert [i for batch in batches for i in batch] == list(range(len(entries)))
    for batch in batches:
        assert len(batch) <= limits.max_entries  # type: ignore[attr-defined]
        total = sum(entry_size(entries[i]) for i in batch)
        assert total <= limits.max_bytes or len(batch) == 1  # type: ignore[attr-defined]


def test_full_batches_of_ten_then_of_one_hundred() -> None:
    entries = [entry() for _ in range(250)]
    assert [len(b) for b in plan_batches(entries, CLASSIC_LIMITS, one_bus=False)] == [10] * 25
    assert [len(b) for b in plan_batches(entries, V2_LIMITS, one_bus=False)] == [100, 100, 50]


def test_v2_batches_never_mix_buses() -> None:
    entries = [entry(bus=f"arn:{i % 2}") for i in range(6)]
    for batch in plan_batches(entries, V2_LIMITS, one_bus=True):
        assert len({entries[i].bus for i in batch}) == 1


def test_classic_request_names_the_bus_per_entry() -> None:
    shaped = classic_request([entry(time=T, resources=("r",))])["Entries"][0]
    assert shaped == {
        "Source": "orderstream.orders",
        "DetailType": "order.created",
        "Detail": "{}",
        "EventBusName": "b",
        "Time": T,
        "Resources": ["r"],
    }


def test_v2_request_carries_group_and_dedup_ids_and_refuses_two_buses() -> None:
    request = v2_request([entry(group_id="c-1", dedup_id="e-1")])
    assert request["EventBusArn"] == "b"
    assert request["Entries"][0]["SystemMetadata"] == {"EventGroupId": "c-1", "DeduplicationId": "e-1"}
    with pytest.raises(ValueError):
        v2_request([entry(bus="a"), entry(bus="b")])


@pytest.mark.parametrize(
    ("code", "verdict"),
    [
        (None, Verdict.ACCEPTED),
        ("ThrottlingException", Verdict.RETRY),
        ("InternalFailure", Verdict.RETRY),
        ("InternalException", Verdict.RETRY),
        (UNKNOWN_OUTCOME, Verdict.RETRY),
        ("InvalidArgument", Verdict.REJECT),
        ("MalformedDetail", Verdict.REJECT),
        ("AccessDeniedException", Verdict.REJECT),
        ("NotAuthorizedForSourceException", Verdict.REJECT),
        ("ResourceNotFoundException", Verdict.REJECT),
    ],
)
def test_classification(code: str | None, verdict: Verdict) -> None:
    assert classify(code) is verdict


def test_partial_response_maps_per_entry_and_missing_entries_are_unknown() -> None:
    response = {"Entries": [{"EventId": "1"}, {"ErrorCode": "ThrottlingException", "ErrorMessage": "slow"}]}
    results = results_from_response(response, 3)
    assert results[0] == EntryResult()
    assert results[1].throttled and results[1].message == "slow"
    assert results[2].error_code == UNKNOWN_OUTCOME


def test_full_jitter_stays_within_the_growing_capped_window() -> None:
    rng = random.Random(1)
    for attempt in range(1, 12):
        window = min(2.0, 0.1 * 2**attempt)
        draws = [full_jitter(attempt, base=0.1, cap=2.0, rng=rng) for _ in range(200)]
        assert all(0 <= d <= window for d in draws)
        assert max(draws) > window * 0.8  # the whole window is used, not just its top


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_rate_halves_on_throttling_once_per_interval_and_grows_back() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(ceiling=1000, floor=10, cut_interval=0.2, clock=clock)
    rate.on_throttled()
    rate.on_throttled()  # same burst: one cut
    assert rate.rate == 500
    clock.now = 1.0
    rate.on_throttled()
    assert rate.rate == 250
    for _ in range(200):
        rate.on_success()
    assert rate.rate == 1000


def test_rate_never_drops_below_the_floor() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(ceiling=100, floor=10, clock=clock)
    for step in range(20):
        clock.now = step
        rate.on_throttled()
    assert rate.rate == 10


def test_token_bucket_paces_entries_at_the_current_rate() -> None:
    clock = FakeClock()
    rate = AdaptiveRate(ceiling=100, floor=1, clock=clock)
    assert rate.delay_for(100) == 0.0  # a full bucket
    assert rate.delay_for(50) == pytest.approx(0.5)
    clock.now = 0.5
    assert rate.delay_for(50) == 0.0
