"""Record → PutEvents entry: decode the value, build Source/DetailType/Detail/Time, and the claim check.

Pure functions (no I/O): the bridge does the selection with the rules file and the S3 upload; this module
only says what the entry or the claim-check reference looks like, or why a record cannot be mapped.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

import orjson

from consumers.eventbridge import Entry
from orderstream.domain.rules import BridgeRule

MAX_GROUP_ID_CHARS: Final = 128
"""``EventGroupId`` and ``DeduplicationId`` are at most 128 characters (eventbridgev2 service model)."""

SUMMARY_FIELDS: Final = ("event_id", "event_type", "schema_version", "occurred_at", "order_id", "customer_id")


@dataclass(frozen=True, slots=True)
class Unmappable:
    """Why a record cannot become an entry; ``reason`` is the DLQ error type."""

    reason: str
    message: str


class KafkaOrigin(NamedTuple):
    """Where a record came from; copied into every Detail as ``kafka``."""

    topic: str
    partition: int
    offset: int
    key: bytes | None

    def as_detail(self) -> dict[str, Any]:
        return {"topic": self.topic, "partition": self.partition, "offset": self.offset}


def decode(value: bytes | None) -> dict[str, Any] | Unmappable:
    """The record value as a JSON object, or the reason it is not one."""
    if value is None:
        return Unmappable("bad_json", "record value is null (tombstone)")
    try:
        document = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        return Unmappable("bad_json", f"not valid UTF-8 JSON: {exc}")
    if not isinstance(document, dict):
        return Unmappable("not_an_object", f"value must be a JSON object, got {type(document).__name__}")
    return document


def build_entry(
    rule: BridgeRule, envelope: dict[str, Any], origin: KafkaOrigin, default_bus: str
) -> Entry | Unmappable:
    """The PutEvents entry for a selected record: Detail is the envelope plus ``kafka: {topic, partition,
    offset}``, Time is ``occurred_at``; V2 metadata uses the partition key and the event_id."""
    detail_type = rule.detail_type_for(envelope)
    if not detail_type:
        return Unmappable(
            "unmappable", f"rule {rule.name!r} has no detail_type and the value has no event_type"
        )
    occurred = _occurred_at(envelope.get("occurred_at"))
    if isinstance(occurred, Unmappable):
        return occurred
    return Entry(
        source=rule.source,
        detail_type=detail_type,
        detail=_detail_json(envelope, origin),
        bus=rule.bus or default_bus,
        time=occurred,
        resources=rule.resources,
        group_id=group_id_for(origin),
        dedup_id=_bounded(
            str(envelope.get("event_id") or f"{origin.topic}/{origin.partition}/{origin.offset}")
        ),
    )


def _detail_json(envelope: dict[str, Any], origin: KafkaOrigin) -> str:
    return orjson.dumps({**envelope, "kafka": origin.as_detail()}).decode()


def _occurred_at(value: Any) -> datetime | Unmappable | None:
    if value is None:
        return None
    if not isinstance(value, str):
        return Unmappable("unmappable", f"occurred_at must be an RFC 3339 string, got {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return Unmappable("unmappable", f"occurred_at {value[:64]!r} is not RFC 3339")
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def group_id_for(origin: KafkaOrigin) -> str:
    """The partition key as text (hashed if longer than 128 characters); the partition if there is no key."""
    if origin.key is None:
        return f"{origin.topic}/{origin.partition}"
    return _bounded(origin.key.decode("utf-8", "replace"))


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_GROUP_ID_CHARS else hashlib.sha256(text.encode()).hexdigest()


# --------------------------------------------------------------------------------------------- claim check


def claim_check_key(origin: KafkaOrigin, envelope: dict[str, Any]) -> str:
    """The S3 object key of an oversized event: unique per record, stable across redeliveries."""
    event_id = str(envelope.get("event_id") or "no-id")
    return f"bridge/{origin.topic}/{origin.partition}/{origin.offset}-{event_id}.json"


def claim_check_entry(
    entry: Entry, envelope: dict[str, Any], origin: KafkaOrigin, bucket: str, key: str
) -> Entry:
    """The same entry with Detail replaced by a reference to the full event in S3 and a small summary."""
    summary = {field: envelope[field] for field in SUMMARY_FIELDS if field in envelope}
    detail = {
        "claim_check": {
            "bucket": bucket,
            "key": key,
            "uri": f"s3://{bucket}/{key}",
            "bytes": len(entry.detail.encode("utf-8")),
        },
        "summary": summary,
        "kafka": origin.as_detail(),
    }
    return entry._replace(detail=orjson.dumps(detail).decode())
