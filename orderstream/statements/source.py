"""Reading a shard from Kafka: the loyalty table's changelog and ``loyalty-events``, up to the run's watermarks.

The watermarks are taken once, by the plan step at the start of a run (read_committed end offsets, so an
open transaction is never read into). Each shard then reads its partitions of both topics from the start up
to those offsets and no further: what arrives later belongs to the next run, and a retried shard reads
exactly what the first attempt read.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import orjson
from aiokafka import TopicPartition

from orderstream import kafka
from orderstream.domain.contract import LOYALTY_EVENTS, LoyaltyEvent
from orderstream.domain.ledger import CustomerLedger
from orderstream.domain.statements import Month, MonthChanges, PartitionRange
from orderstream.settings import StatementsSettings
from orderstream.statements.errors import BadRecord, MissingTopic, StatementsError

LOYALTY_TABLE: Final = "loyalty-ledger"
"""Name of the loyalty agent's table (``streams/loyalty.py``); a unit test keeps the two equal."""

Heartbeat = Callable[[], None]


class NotCoPartitioned(StatementsError):
    """The changelog and ``loyalty-events`` have different partition counts: a shard would miss events."""

    error_name = "Statements.NotCoPartitioned"
    retriable = False


def changelog_topic(loyalty_group: str) -> str:
    """The loyalty table's changelog: faust names it ``<app id>-<table>-changelog``."""
    return f"{loyalty_group}-{LOYALTY_TABLE}-changelog"


async def watermarks(settings: StatementsSettings) -> list[PartitionRange]:
    """Every partition number of the loyalty table with the current end of the changelog and of the events."""
    changelog = changelog_topic(settings.loyalty_group)
    counts = await kafka.partition_counts(settings, [changelog, LOYALTY_EVENTS])
    missing = [t for t in (changelog, LOYALTY_EVENTS) if not counts.get(t)]
    if missing:
        raise MissingTopic(
            f"topic {', '.join(missing)} does not exist; ORDERSTREAM_STATEMENTS_LOYALTY_GROUP must be the loyalty "
            f"service's consumer group (<app id>-loyalty, or <app id>-worker when one process runs every agent)"
        )
    if counts[changelog] != counts[LOYALTY_EVENTS]:
        raise NotCoPartitioned(
            f"{changelog} has {counts[changelog]} partitions, {LOYALTY_EVENTS} {counts[LOYALTY_EVENTS]}"
        )
    partitions = range(counts[changelog])
    tps = [TopicPartition(t, p) for t in (changelog, LOYALTY_EVENTS) for p in partitions]
    consumer = kafka.consumer(settings, group_id=None)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
    return [
        PartitionRange(p, ends[TopicPartition(changelog, p)], ends[TopicPartition(LOYALTY_EVENTS, p)])
        for p in partitions
    ]


@dataclass
class ShardData:
    """What a shard read: the last ledger value per customer and the month's changes."""

    ledgers: dict[str, bytes] = field(default_factory=dict)
    partition_of: dict[str, int] = field(default_factory=dict)
    changes: MonthChanges | None = None
    incomplete_partitions: set[int] = field(default_factory=set)
    """Partitions whose ``loyalty-events`` may have lost some of the month's events to retention."""

    def ledger(self, customer_id: str) -> CustomerLedger:
        raw = self.ledgers[customer_id]
        try:
            return CustomerLedger.from_dict(orjson.loads(raw))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise BadRecord(f"ledger of customer {customer_id!r} cannot be decoded: {exc}") from None


async def read_shard(
    settings: StatementsSettings, ranges: Iterable[PartitionRange], month: Month, heartbeat: Heartbeat
) -> ShardData:
    """Read the shard's partitions of the changelog and of ``loyalty-events`` up to their watermarks."""
    changelog = changelog_topic(settings.loyalty_group)
    ranges = list(ranges)
    data = ShardData(changes=MonthChanges(month))
    deadline = time.monotonic() + settings.statements_read_timeout
    consumer = kafka.consumer(settings, group_id=None, max_partition_fetch_bytes=4 * 1024 * 1024)
    await consumer.start()
    try:
        ledger_ends = {TopicPartition(changelog, r.partition): r.changelog_end for r in ranges}
        await _read(consumer, ledger_ends, lambda record: _keep_ledger(data, record), heartbeat, deadline)
        event_ends = {TopicPartition(LOYALTY_EVENTS, r.partition): r.events_end for r in ranges}
        starts = await consumer.beginning_offsets(list(event_ends))
        first_seen: dict[int, bool] = {}

        def keep_event(record: Any) -> None:
            event = _loyalty_event(record)
            if record.partition not in first_seen:  # retention may have cut the month's start off
                first_seen[record.partition] = True
                if starts[TopicPartition(LOYALTY_EVENTS, record.partition)] > 0 and not (
                    event.occurred_at < month.start
                ):
                    data.incomplete_partitions.add(record.partition)
            assert data.changes is not None
            data.changes.add(event)

        await _read(consumer, event_ends, keep_event, heartbeat, deadline)
        for tp, end in event_ends.items():  # everything retained was deleted: nothing is known
            if tp.partition not in first_seen and starts[tp] > 0 and starts[tp] >= end:
                data.incomplete_partitions.add(tp.partition)
    finally:
        await consumer.stop()
    return data


def _keep_ledger(data: ShardData, record: Any) -> None:
    if record.key is None:
        raise BadRecord(f"{record.topic}/{record.partition}@{record.offset}: record without a key")
    customer_id = record.key.decode("utf-8", "replace")
    if record.value is None:  # a tombstone: the customer's ledger was deleted
        data.ledgers.pop(customer_id, None)
    else:
        data.ledgers[customer_id] = record.value
        data.partition_of[customer_id] = record.partition


def _loyalty_event(record: Any) -> LoyaltyEvent:
    try:
        return LoyaltyEvent.model_validate_json(record.value or b"")
    except ValueError as exc:
        raise BadRecord(
            f"{record.topic}/{record.partition}@{record.offset} is not a loyalty event: {str(exc)[:300]}"
        ) from None


async def _read(
    consumer: Any,
    ends: dict[TopicPartition, int],
    handle: Callable[[Any], None],
    heartbeat: Heartbeat,
    deadline: float,
) -> None:
    """Hand every record of ``ends``' partitions, from the log start up to (excluding) the end, to ``handle``."""
    if not ends:
        return
    consumer.assign(list(ends))
    await consumer.seek_to_beginning(*ends)
    todo = {tp: end for tp, end in ends.items() if end > 0}
    for tp in list(todo):
        if await consumer.position(tp) >= todo[tp]:
            del todo[tp]
    while todo:
        if time.monotonic() > deadline:
            behind = {f"{tp.topic}/{tp.partition}": end for tp, end in todo.items()}
            raise StatementsError(f"did not reach the watermarks {behind} in time")
        batch = await consumer.getmany(*todo, timeout_ms=1000, max_records=10_000)
        for tp, records in batch.items():
            end = todo.get(tp)
            for record in records:
                if end is None or record.offset >= end:
                    break
                handle(record)
        for tp in list(todo):
            if await consumer.position(tp) >= todo[tp]:
                del todo[tp]
        heartbeat()
