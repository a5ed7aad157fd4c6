"""Monthly loyalty statements: which month a run covers, how partitions become shards, what a statement says.

A statement is one customer's ledger as of the run, plus what changed in the month:

- *balance* (``points``, ``tier``, ``lifetime_spend_cents``, ``orders``): :meth:`CustomerLedger.summary` of
  the customer's last value in the loyalty table's changelog, read up to the high watermark the run took when
  it started. Re-running a month with no new activity reads the same values and writes the same bytes.
- *the month's changes*: the ``loyalty-events`` the ledger emitted for the customer whose ``occurred_at``
  (the causing order event's time, not processing time) falls inside the month, each counted once by its
  deterministic ``event_id`` (a replay re-emits the same ids). ``loyalty-events`` is co-partitioned with the
  changelog (both keyed by customer id), so a shard reads the same partition numbers of both.

Everything here is pure: the Kafka reading and the S3 writing are in :mod:`orderstream.statements`.
"""

from __future__ import annotations

import json
import re
import urllib.parse
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from orderstream.domain.contract import LoyaltyEvent

STATEMENT_FORMAT: Final = 1
"""Version of the statement document; bump it when its layout changes."""

STATEMENTS_NAMESPACE: Final = uuid.UUID("2d5f0c64-9a3e-4b7e-8a51-6c1f0e9d3b27")
"""Namespace of ``statement_id`` (uuid5 of ``<month>/<customer_id>``). Never change it."""

KEY_PREFIX: Final = "statements"

_MONTH = re.compile(r"(\d{4})-(\d{2})")


# --------------------------------------------------------------------------------------------- month


@dataclass(frozen=True, slots=True, order=True)
class Month:
    """A calendar month in UTC, written ``YYYY-MM``."""

    year: int
    month: int

    def __post_init__(self) -> None:
        if not 1 <= self.month <= 12 or not 2000 <= self.year <= 9998:
            raise ValueError(f"no such month: {self.year:04d}-{self.month:02d}")

    @classmethod
    def parse(cls, text: str) -> Month:
        """``"2026-11"`` → ``Month(2026, 11)``; anything else raises ``ValueError``."""
        match = _MONTH.fullmatch(text.strip()) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"month must be YYYY-MM, got {text!r}")
        return cls(int(match[1]), int(match[2]))

    @classmethod
    def before(cls, moment: datetime) -> Month:
        """The month before ``moment``'s month: what a run scheduled on the 1st reports on."""
        if moment.tzinfo is None:
            raise ValueError("a scheduled time must carry its time zone")
        current = moment.astimezone(UTC)
        return cls(current.year - 1, 12) if current.month == 1 else cls(current.year, current.month - 1)

    @property
    def start(self) -> datetime:
        return datetime(self.year, self.month, 1, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the month (exclusive bound)."""
        if self.month == 12:
            return datetime(self.year + 1, 1, 1, tzinfo=UTC)
        return datetime(self.year, self.month + 1, 1, tzinfo=UTC)

    def contains(self, moment: datetime) -> bool:
        return self.start <= moment < self.end

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def parse_timestamp(text: str) -> datetime:
    """An RFC 3339 timestamp with its zone (``Z`` allowed), e.g. EventBridge Scheduler's scheduled time."""
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        raise ValueError(f"timestamp {text!r} has no time zone")
    return parsed


# --------------------------------------------------------------------------------------------- shards


@dataclass(frozen=True, slots=True)
class PartitionRange:
    """One partition number of the changelog and of ``loyalty-events``, with the run's high watermarks."""

    partition: int
    changelog_end: int
    events_end: int

    def to_dict(self) -> dict[str, int]:
        return {
            "partition": self.partition,
            "changelog_end": self.changelog_end,
            "events_end": self.events_end,
        }


@dataclass(frozen=True, slots=True)
class Shard:
    """The unit of work one ECS worker takes: a few partitions, each read up to its watermark."""

    shard: int
    partitions: tuple[PartitionRange, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"shard": self.shard, "partitions": [p.to_dict() for p in self.partitions]}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Shard:
        """Rebuild :meth:`to_dict`'s output; raises ``ValueError`` naming what is wrong."""
        try:
            shard = _natural(doc["shard"], "shard")
            ranges = tuple(
                PartitionRange(
                    _natural(p["partition"], "partition"),
                    _natural(p["changelog_end"], "changelog_end"),
                    _natural(p["events_end"], "events_end"),
                )
                for p in doc["partitions"]
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"not a shard: missing or wrong field {exc}") from None
        if not ranges:
            raise ValueError("a shard needs at least one partition")
        return cls(shard, ranges)


def _natural(value: Any, name: str) -> int:
    if type(value) is not int or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
    return value


def plan_shards(ranges: Sequence[PartitionRange], max_shards: int = 0) -> list[Shard]:
    """Split the partitions into shards: one per partition, or at most ``max_shards`` (0 = no limit).

    Partition *i* (in partition order) goes to shard ``i % n``, so shards differ by at most one partition.
    """
    ordered = sorted(ranges, key=lambda r: r.partition)
    if not ordered:
        return []
    count = len(ordered) if max_shards <= 0 else min(max_shards, len(ordered))
    return [Shard(index, tuple(ordered[index::count])) for index in range(count)]


# --------------------------------------------------------------------------------------------- changes


@dataclass(frozen=True, slots=True)
class Change:
    """One loyalty event of the month, as a statement lists it."""

    event_id: str
    event_type: str
    occurred_at: datetime
    order_id: str | None
    points_delta: int | None = None
    from_tier: str | None = None
    to_tier: str | None = None

    @classmethod
    def of(cls, event: LoyaltyEvent) -> Change:
        data = event.data
        delta = data.get("points_delta")
        return cls(
            event_id=event.event_id,
            event_type=event.event_type,
            occurred_at=event.occurred_at.astimezone(UTC),
            order_id=event.order_id,
            points_delta=delta if type(delta) is int else None,
            from_tier=_text(data.get("from_tier")),
            to_tier=_text(data.get("to_tier")),
        )

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "occurred_at": _rfc3339(self.occurred_at),
            "order_id": self.order_id,
        }
        if self.points_delta is not None:
            doc["points_delta"] = self.points_delta
        if self.event_type == "loyalty.tier_changed":
            doc["from_tier"], doc["to_tier"] = self.from_tier, self.to_tier
        return doc


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class MonthChanges:
    """Collects the month's loyalty events per customer, each event id once, in the order they are added.

    Added in topic order (a customer's events are all on one partition), that is the order the ledger
    applied them: a statement lists its tier changes so that the last one is the tier the customer ended
    with. Sorting by ``occurred_at`` would not: orders interleave, and a refund of an earlier order may be
    applied after a later capture.
    """

    month: Month
    by_customer: dict[str, dict[str, Change]] = field(default_factory=dict)

    def add(self, event: LoyaltyEvent) -> bool:
        """Keep ``event`` if it happened in the month; a repeated ``event_id`` is kept once. True if kept."""
        if not self.month.contains(event.occurred_at):
            return False
        changes = self.by_customer.setdefault(event.customer_id, {})
        if event.event_id in changes:
            return False
        changes[event.event_id] = Change.of(event)
        return True

    def of(self, customer_id: str) -> list[Change]:
        """The customer's changes in the order they were added."""
        return list(self.by_customer.get(customer_id, {}).values())


# --------------------------------------------------------------------------------------------- statement


def statement_id(month: Month, customer_id: str) -> str:
    return str(uuid.uuid5(STATEMENTS_NAMESPACE, f"{month}/{customer_id}"))


def statement_key(month: Month, customer_id: str) -> str:
    """``statements/<yyyy-mm>/<customer_id>.json``; characters outside ``[A-Za-z0-9._~-]`` are %-escaped."""
    return f"{KEY_PREFIX}/{month}/{urllib.parse.quote(customer_id, safe='')}.json"


def statement(
    month: Month, summary: Mapping[str, Any], changes: Iterable[Change], changes_complete: bool = True
) -> dict[str, Any]:
    """One customer's statement. ``summary`` is :meth:`CustomerLedger.summary`; ``changes`` the month's events.

    ``changes_complete`` is false when the topic may have deleted some of the month's events (retention):
    the balance is still exact, the list of changes may not be.
    """
    listed = list(changes)
    deltas = [c.points_delta for c in listed if c.points_delta is not None]
    customer_id = str(summary["customer_id"])
    return {
        "format": STATEMENT_FORMAT,
        "statement_id": statement_id(month, customer_id),
        "month": str(month),
        "customer_id": customer_id,
        "points": summary["points"],
        "tier": summary["tier"],
        "lifetime_spend_cents": summary["lifetime_spend_cents"],
        "orders": summary["orders"],
        "changes": {
            "complete": changes_complete,
            "points_awarded": sum(d for d in deltas if d > 0),
            "points_reversed": -sum(d for d in deltas if d < 0),
            "net_points": sum(deltas),
            "tier_changes": [
                {"occurred_at": _rfc3339(c.occurred_at), "from_tier": c.from_tier, "to_tier": c.to_tier}
                for c in listed
                if c.event_type == "loyalty.tier_changed"
            ],
            "events": [c.to_dict() for c in listed],
        },
    }


def encode(document: Mapping[str, Any]) -> bytes:
    """Canonical bytes (sorted keys, no spaces): the same statement always gives the same object."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True, slots=True)
class ShardSummary:
    """What a shard reports back to the state machine (small: counts only, never the statements).

    ``failures`` (0 here, 1 in the state machine's ``ShardFailed``) lets the state machine count failed shards
    with ``States.MathAdd`` as it totals the summaries.
    """

    shard: int
    partitions: tuple[int, ...]
    statements: int
    customers_with_changes: int
    changes: int
    changes_complete: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "shard": self.shard,
            "partitions": list(self.partitions),
            "statements": self.statements,
            "customers_with_changes": self.customers_with_changes,
            "changes": self.changes,
            "changes_complete": self.changes_complete,
            "failed": False,
            "failures": 0,
        }
