"""Record → entry mapping and the claim check."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import orjson

from consumers.mapping import (
    KafkaOrigin,
    Unmappable,
    build_entry,
    claim_check_entry,
    claim_check_key,
    decode,
    group_id_for,
)
from orderstream.domain.patterns import compile_pattern
from orderstream.domain.rules import BridgeRule

ORIGIN = KafkaOrigin("order-lifecycle", 2, 41, b"c-9")


def rule(**kw: Any) -> BridgeRule:
    return BridgeRule(
        name="r",
        pattern=compile_pattern({"event_type": ["payment.failed"]}),
        topics=("order-lifecycle",),
        source="orderstream.orders",
        **kw,
    )


def envelope(**extra: Any) -> dict[str, Any]:
    return {
        "event_id": "6f1c1f7e-8f57-4f55-bb0e-3a3c4c4f7c11",
        "event_type": "payment.failed",
        "schema_version": 1,
        "occurred_at": "2025-01-01T12:00:00Z",
        "order_id": "o-1",
        "customer_id": "c-9",
        "sequence": 3,
        "data": {"reason": "card"},
        **extra,
    }


def test_decode_refuses_bad_json_non_objects_and_tombstones() -> None:
    assert isinstance(decode(b"{x"), Unmappable) and decode(b"{x").reason == "bad_json"  # type: ignore[union-attr]
    assert decode(b"[1]") == Unmappable("not_an_object", "value must be a JSON object, got list")
    assert isinstance(decode(None), Unmappable)
    assert decode(b'{"a": 1}') == {"a": 1}


def test_entry_is_the_envelope_plus_kafka_position_with_time_and_v2_ids() -> None:
    entry = build_entry(rule(), envelope(gap_before=True), ORIGIN, "orderstream")
    assert not isinstance(entry, Unmappable)
    assert (entry.source, entry.detail_type, entry.bus) == (
        "orderstream.orders",
        "payment.failed",
        "orderstream",
    )
    assert orjson.loads(entry.detail) == {
        **envelope(gap_before=True),
        "kafka": {"topic": "order-lifecycle", "partition": 2, "offset": 41},
    }
    assert entry.time == datetime(2025, 1, 1, 12, tzinfo=UTC)
    assert (entry.group_id, entry.dedup_id) == ("c-9", envelope()["event_id"])


def test_rule_overrides_detail_type_bus_and_resources() -> None:
    entry = build_entry(
        rule(detail_type="Payment Failed", bus="other", resources=("arn:x",)), envelope(), ORIGIN, "d"
    )
    assert not isinstance(entry, Unmappable)
    assert (entry.detail_type, entry.bus, entry.resources) == ("Payment Failed", "other", ("arn:x",))


def test_unmappable_when_no_detail_type_or_a_bad_time() -> None:
    doc = envelope()
    del doc["event_type"]
    assert isinstance(build_entry(rule(), doc, ORIGIN, "d"), Unmappable)
    assert isinstance(build_entry(rule(), envelope(occurred_at="yesterday"), ORIGIN, "d"), Unmappable)


def test_long_keys_are_hashed_into_the_128_character_group_id() -> None:
    assert len(group_id_for(KafkaOrigin("t", 0, 0, b"k" * 500))) == 64
    assert group_id_for(KafkaOrigin("t", 4, 0, None)) == "t/4"


def test_claim_check_keeps_a_reference_and_a_small_summary() -> None:
    big = envelope(data={"reason": "x" * 300_000})
    entry = build_entry(rule(), big, ORIGIN, "orderstream")
    assert not isinstance(entry, Unmappable)
    key = claim_check_key(ORIGIN, big)
    claimed = claim_check_entry(entry, big, ORIGIN, "bucket", key)
    detail = orjson.loads(claimed.detail)
    assert detail["claim_check"] == {
        "bucket": "bucket",
        "key": key,
        "uri": f"s3://bucket/{key}",
        "bytes": len(entry.detail.encode()),
    }
    assert detail["summary"]["event_id"] == big["event_id"] and "data" not in detail["summary"]
    assert detail["kafka"]["offset"] == 41
    assert len(claimed.detail) < 1000
