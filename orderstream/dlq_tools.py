"""Operator tools for ``orderstream.dlq``: list what is parked and why, and replay selected records.

``dlq list`` decodes the headers every stage writes (:mod:`orderstream.domain.dlq`) and filters by stage,
reason and time. ``dlq replay`` sends selected records back to the topic they came from, with their original
key — optionally with a corrected value — and a replay count, so a record that keeps failing stops being
replayed once it reaches the cap instead of looping DLQ → source → DLQ forever.

Replaying is safe to repeat: a replayed event keeps its ``event_id``, and the sequencer drops an ``event_id``
it has already released, so a second replay of the same fixed record is not counted twice downstream.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiokafka import TopicPartition

from orderstream import kafka
from orderstream.domain import contract
from orderstream.domain import dlq as fmt
from orderstream.errors import OrderstreamError
from orderstream.settings import KafkaSettings

H_REPLAYS = "orderstream.replays"
"""How often the record was replayed. Unlike ``H_REPLAY_COUNT`` it is not one of the headers a stage
rewrites when it parks the record again, so the count survives the round trip DLQ → source → DLQ."""
H_REPLAYED_FROM = "orderstream.replayed_from"
"""``<dlq topic>:<partition>:<offset>`` of the DLQ record a replay came from."""
DEFAULT_MAX_REPLAYS = 3
DLQ_HEADERS = frozenset(
    {
        fmt.H_STAGE,
        fmt.H_ERROR_TYPE,
        fmt.H_ERROR_MESSAGE,
        fmt.H_SOURCE_TOPIC,
        fmt.H_SOURCE_PARTITION,
        fmt.H_SOURCE_OFFSET,
        fmt.H_FAILED_AT,
        fmt.H_REPLAY_COUNT,
        H_REPLAYS,
        H_REPLAYED_FROM,
    }
)
_RELATIVE = re.compile(r"^(\d+)([smhd])$")


class DlqToolError(OrderstreamError):
    """A DLQ selection or replay request that cannot be carried out as asked."""


# ------------------------------------------------------------------------------------------ entries


@dataclass(frozen=True)
class DlqEntry:
    """One DLQ record: where it sits, its original key and value, and why it was parked."""

    partition: int
    offset: int
    timestamp_ms: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]

    @property
    def letter(self) -> fmt.DeadLetter:
        return fmt.DeadLetter.from_headers(self.headers)

    @property
    def replays(self) -> int:
        """Times replayed so far: the highest count any of the replay headers carries."""
        counts = [0]
        for name, value in self.headers:
            if name in (fmt.H_REPLAY_COUNT, H_REPLAYS):
                counts.append(_int(value))
        return max(counts)

    @property
    def at(self) -> datetime:
        return datetime.fromtimestamp(self.timestamp_ms / 1000, UTC)

    def to_row(self, preview: int = 120) -> dict[str, Any]:
        """Decoded, printable form for ``dlq list``."""
        letter = self.letter
        value = (self.value or b"").decode("utf-8", "replace")
        return {
            "partition": self.partition,
            "offset": self.offset,
            "failed_at": letter.failed_at or self.at.isoformat(timespec="milliseconds"),
            "stage": letter.stage,
            "reason": letter.error_type,
            "message": letter.message,
            "source": f"{letter.source_topic}:{letter.source_partition}:{letter.source_offset}",
            "replays": self.replays,
            "key": (self.key or b"").decode("utf-8", "replace"),
            "value": value if len(value) <= preview else value[:preview] + f"… ({len(value)} chars)",
            "headers": {name: raw.decode("utf-8", "replace") for name, raw in self.headers},
        }


def _int(raw: bytes) -> int:
    try:
        return int(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return 0


# ------------------------------------------------------------------------------------------ selection


def parse_when(text: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time (UTC if no zone) or an age like ``30m``, ``2h``, ``1d`` (that long before now)."""
    match = _RELATIVE.match(text.strip())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        seconds = amount * {"s": 1, "m": 60, "h": 3600, "d": 86400}[unit]
        return (now or datetime.now(UTC)) - timedelta(seconds=seconds)
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise DlqToolError(f"not a time: {text!r} (use ISO 8601 or an age like 30m, 2h, 1d)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def parse_position(text: str) -> tuple[int, int]:
    """``PARTITION:OFFSET`` of a DLQ record."""
    partition, sep, offset = text.partition(":")
    if not sep or not partition.isdigit() or not offset.isdigit():
        raise DlqToolError(f"not a DLQ position: {text!r} (expected PARTITION:OFFSET, e.g. 3:42)")
    return int(partition), int(offset)


@dataclass(frozen=True)
class Selection:
    """Which DLQ records a command acts on; an unset field does not filter."""

    stage: str | None = None
    reason: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    positions: frozenset[tuple[int, int]] | None = None

    def matches(self, entry: DlqEntry) -> bool:
        letter = entry.letter
        return (
            (self.stage is None or letter.stage == self.stage)
            and (self.reason is None or letter.error_type == self.reason)
            and (self.since is None or entry.at >= self.since)
            and (self.until is None or entry.at < self.until)
            and (self.positions is None or (entry.partition, entry.offset) in self.positions)
        )


# ------------------------------------------------------------------------------------------ replay plan


@dataclass(frozen=True)
class Replay:
    """One record to send back: target topic, original key, (possibly corrected) value, new headers."""

    entry: DlqEntry
    topic: str
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


@dataclass(frozen=True)
class Skip:
    entry: DlqEntry
    why: str


def plan_replay(
    entries: Iterable[DlqEntry],
    dlq_topic: str = contract.DLQ,
    max_replays: int = DEFAULT_MAX_REPLAYS,
    fixed_value: bytes | None = None,
) -> tuple[list[Replay], list[Skip]]:
    """Decide, without any I/O, what to send where; ``fixed_value`` replaces the value of a single record."""
    chosen = list(entries)
    if fixed_value is not None and len(chosen) != 1:
        raise DlqToolError(f"a corrected value needs exactly one selected record, got {len(chosen)}")
    replays: list[Replay] = []
    skips: list[Skip] = []
    for entry in chosen:
        source = entry.letter.source_topic
        if not source:
            skips.append(Skip(entry, "no source topic in its headers"))
            continue
        if source == dlq_topic:
            skips.append(Skip(entry, "its source is the DLQ itself"))
            continue
        if entry.replays >= max_replays:
            skips.append(Skip(entry, f"replay cap reached ({entry.replays} of {max_replays})"))
            continue
        count = str(entry.replays + 1).encode()
        headers = [(k, v) for k, v in entry.headers if k not in DLQ_HEADERS]
        headers += [
            (fmt.H_REPLAY_COUNT, count),
            (H_REPLAYS, count),
            (H_REPLAYED_FROM, f"{dlq_topic}:{entry.partition}:{entry.offset}".encode()),
        ]
        value = fixed_value if fixed_value is not None else entry.value
        replays.append(Replay(entry, source, entry.key, value, headers))
    return replays, skips


# ------------------------------------------------------------------------------------------ kafka


async def read_dlq(
    settings: KafkaSettings, selection: Selection = Selection(), topic: str = contract.DLQ, limit: int = 0
) -> list[DlqEntry]:
    """The DLQ records matching ``selection`` (oldest first per partition); ``limit`` > 0 keeps the first N."""
    counts = await kafka.partition_counts(settings, [topic])
    if topic not in counts:
        raise DlqToolError(f"topic {topic!r} does not exist")
    tps = [TopicPartition(topic, p) for p in range(counts[topic])]
    consumer = kafka.consumer(settings, group_id=None, max_poll_records=1000)
    await consumer.start()
    out: list[DlqEntry] = []
    try:
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        starts = await _starts(consumer, tps, selection.since)
        todo = {tp: ends[tp] for tp in tps if starts[tp] < ends[tp]}
        for tp in todo:
            consumer.seek(tp, starts[tp])
        while todo:
            batch = await consumer.getmany(*todo, timeout_ms=2000)
            if not batch:
                break
            for tp, records in batch.items():
                for r in records:
                    if r.offset >= todo.get(tp, -1):
                        continue
                    entry = DlqEntry(
                        r.partition, r.offset, r.timestamp, r.key, r.value, tuple(r.headers or ())
                    )
                    if selection.matches(entry):
                        out.append(entry)
                if await consumer.position(tp) >= todo.get(tp, 0):
                    todo.pop(tp, None)
    finally:
        await consumer.stop()
    out.sort(key=lambda e: (e.timestamp_ms, e.partition, e.offset))
    return out[:limit] if limit > 0 else out


async def _starts(
    consumer: Any, tps: list[TopicPartition], since: datetime | None
) -> dict[TopicPartition, int]:
    """Where to start reading: the first offset at or after ``since`` (by timestamp index), else the beginning."""
    beginnings = await consumer.beginning_offsets(tps)
    if since is None:
        return dict(beginnings)
    found = await consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in tps})
    ends = await consumer.end_offsets(tps)
    return {tp: found[tp].offset if found.get(tp) is not None else ends[tp] for tp in tps}


async def send_replays(settings: KafkaSettings, replays: list[Replay]) -> int:
    """Send every replay (acks=all, idempotent producer) and wait for all acknowledgements."""
    if not replays:
        return 0
    producer = kafka.producer(settings, max_request_size=4 * 1024 * 1024)
    await producer.start()
    try:
        futures = [await producer.send(r.topic, value=r.value, key=r.key, headers=r.headers) for r in replays]
        for future in futures:
            await future
    finally:
        await producer.stop()
    return len(replays)
