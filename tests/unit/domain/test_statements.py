"""Statements: months, shard plans, the month's changes and the statement document."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from factories import make

from orderstream.domain import ledger
from orderstream.domain.contract import LoyaltyEvent
from orderstream.domain.ledger import CustomerLedger
from orderstream.domain.statements import (
    Month,
    MonthChanges,
    PartitionRange,
    Shard,
    ShardSummary,
    encode,
    plan_shards,
    statement,
    statement_key,
)

NOV = Month(2026, 11)


def test_months_parse_print_and_bound() -> None:
    assert Month.parse("2026-11") == NOV and str(NOV) == "2026-11"
    assert NOV.start == datetime(2026, 11, 1, tzinfo=UTC)
    assert NOV.end == datetime(2026, 12, 1, tzinfo=UTC)
    assert Month(2026, 12).end == datetime(2027, 1, 1, tzinfo=UTC)
    assert NOV.contains(NOV.start) and not NOV.contains(NOV.end)
    assert NOV.contains(NOV.end - timedelta(microseconds=1))


@pytest.mark.parametrize("text", ["2026-13", "2026-1", "26-11", "2026/11", "", "2026-11-01", "1999-01"])
def test_bad_months_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        Month.parse(text)


def test_a_scheduled_run_states_the_month_before() -> None:
    assert Month.before(datetime(2026, 12, 1, 3, 0, tzinfo=UTC)) == NOV
    assert Month.before(datetime(2027, 1, 1, 0, 30, tzinfo=UTC)) == Month(2026, 12)
    # 1 Dec 00:30 in Berlin is still 30 Nov in UTC: the month before that is October.
    assert Month.before(datetime(2026, 12, 1, 0, 30, tzinfo=ZoneInfo("Europe/Berlin"))) == Month(2026, 10)
    with pytest.raises(ValueError):
        Month.before(datetime(2026, 12, 1))


def _ranges(count: int) -> list[PartitionRange]:
    return [PartitionRange(p, 10 * p, 20 * p) for p in range(count)]


def test_one_shard_per_partition_by_default() -> None:
    shards = plan_shards(_ranges(6))
    assert [s.shard for s in shards] == list(range(6))
    assert [[p.partition for p in s.partitions] for s in shards] == [[p] for p in range(6)]


def test_a_shard_limit_spreads_partitions_evenly_and_loses_none() -> None:
    shards = plan_shards(list(reversed(_ranges(7))), max_shards=3)
    assert [[p.partition for p in s.partitions] for s in shards] == [[0, 3, 6], [1, 4], [2, 5]]
    assert sorted(p.partition for s in shards for p in s.partitions) == list(range(7))
    assert plan_shards(_ranges(2), max_shards=5) == plan_shards(_ranges(2))
    assert plan_shards([]) == []


def test_shards_round_trip_and_bad_ones_are_named() -> None:
    shard = plan_shards(_ranges(4), max_shards=2)[1]
    assert Shard.from_dict(json.loads(json.dumps(shard.to_dict()))) == shard
    for bad, word in [
        ({"shard": 1}, "partitions"),
        ({"shard": -1, "partitions": [{"partition": 0, "changelog_end": 0, "events_end": 0}]}, "shard"),
        ({"shard": 0, "partitions": [{"partition": "0", "changelog_end": 0, "events_end": 0}]}, "partition"),
        ({"shard": 0, "partitions": []}, "at least one"),
    ]:
        with pytest.raises(ValueError, match=word):
            Shard.from_dict(bad)


def _loyalty_events(customer: str, order: str, amount: int, at: datetime) -> list[LoyaltyEvent]:
    """What the ledger emits for one captured order (via the domain, not written by hand)."""
    created = make(
        "order.created",
        {
            "total_cents": amount,
            "currency": "EUR",
            "region": "eu",
            "channel": "web",
            "is_test": False,
            "items": [],
        },
        order_id=order,
        customer_id=customer,
        sequence=1,
    )
    captured = make(
        "payment.captured",
        {"amount_cents": amount, "currency": "EUR", "payment_id": f"p-{order}"},
        order_id=order,
        customer_id=customer,
        sequence=2,
    )
    state = CustomerLedger(customer)
    emitted: list[LoyaltyEvent] = []
    for event in (created, captured):
        state, out = ledger.apply(state, event)
        emitted.extend(out)
    return [e.model_copy(update={"occurred_at": at}) for e in emitted]


def test_month_changes_keep_the_months_events_once_each_in_the_order_applied() -> None:
    changes = MonthChanges(NOV)
    late = _loyalty_events("c-1", "o-2", 300_000, datetime(2026, 11, 29, tzinfo=UTC))
    early = _loyalty_events("c-1", "o-1", 10_000, datetime(2026, 11, 2, tzinfo=UTC))
    outside = _loyalty_events("c-1", "o-3", 5_000, datetime(2026, 12, 1, tzinfo=UTC))
    kept = [changes.add(e) for e in [*late, *early, *outside, *late]]
    assert kept == [True, True, True, False, False, False]  # December and the redelivery dropped
    listed = changes.of("c-1")
    # The order the ledger applied them (topic order), not occurred_at: a later capture may come first.
    assert [c.event_id for c in listed] == [e.event_id for e in [*late, *early]]
    assert [c.occurred_at.day for c in listed] == [29, 29, 2]
    assert changes.of("nobody") == []


def test_a_statement_has_the_balance_and_the_months_changes() -> None:
    events = _loyalty_events("c-1", "o-1", 300_000, datetime(2026, 11, 5, tzinfo=UTC))
    changes = MonthChanges(NOV)
    for e in events:
        changes.add(e)
    summary = {
        "customer_id": "c-1",
        "points": 3000,
        "tier": "gold",
        "lifetime_spend_cents": 300_000,
        "orders": 1,
    }
    doc = statement(NOV, summary, changes.of("c-1"))
    assert {k: doc[k] for k in summary} == summary
    assert doc["month"] == "2026-11" and doc["format"] == 1
    assert doc["changes"]["points_awarded"] == 3000 and doc["changes"]["net_points"] == 3000
    assert doc["changes"]["points_reversed"] == 0 and doc["changes"]["complete"] is True
    assert doc["changes"]["tier_changes"] == [
        {"occurred_at": "2026-11-05T00:00:00.000Z", "from_tier": "bronze", "to_tier": "gold"}
    ]
    assert [e["event_id"] for e in doc["changes"]["events"]] == [e.event_id for e in events]


def test_the_same_statement_always_encodes_to_the_same_bytes() -> None:
    summary = {"customer_id": "c-1", "points": 1, "tier": "bronze", "lifetime_spend_cents": 100, "orders": 1}
    first = encode(statement(NOV, summary, []))
    again = encode(statement(NOV, dict(reversed(list(summary.items()))), []))
    assert first == again
    assert json.loads(first)["statement_id"] == json.loads(again)["statement_id"]
    assert (
        json.loads(encode(statement(Month(2026, 10), summary, [])))["statement_id"]
        != json.loads(first)["statement_id"]
    )


def test_statement_keys_are_one_per_customer_and_month_and_safe() -> None:
    assert statement_key(NOV, "c-000042") == "statements/2026-11/c-000042.json"
    assert statement_key(NOV, "a/b c") == "statements/2026-11/a%2Fb%20c.json"


def test_a_shard_summary_says_it_did_not_fail() -> None:
    summary = ShardSummary(
        3, (3, 9), statements=5, customers_with_changes=2, changes=7, changes_complete=True
    )
    assert summary.to_dict() == {
        "shard": 3,
        "partitions": [3, 9],
        "statements": 5,
        "customers_with_changes": 2,
        "changes": 7,
        "changes_complete": True,
        "failed": False,
        "failures": 0,
    }
