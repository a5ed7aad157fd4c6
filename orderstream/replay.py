"""Replay and backfill: move a consumer group (by default loyalty's) to an offset, a time, or the start.

The loyalty ledger is an idempotent per-order ledger, so re-reading ``order-lifecycle`` into an existing
table changes nothing that was already applied — a replay is safe but is not a rebuild. To *rebuild* state
(after fixing a ledger bug, say), start loyalty under a new ``ORDERSTREAM_APP_ID`` — a fresh table and
changelog — and set that new group's position first with this tool. ``docs/operations.md`` has the runbook.

Kafka only lets an offset commit through when the group has no live members, so the tool refuses to move
a group whose workers are running; stop them (scale the service to 0) first. Without ``--execute`` it only
shows what would move.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiokafka import TopicPartition

from orderstream import kafka
from orderstream.errors import OrderstreamError
from orderstream.settings import KafkaSettings


class ReplayError(OrderstreamError):
    """The reset cannot be done as asked (group active, topic missing, no target given)."""


@dataclass(frozen=True)
class Target:
    """Where to move: exactly one of an offset, a time, or the earliest offset."""

    offset: int | None = None
    at: datetime | None = None
    earliest: bool = False

    def __post_init__(self) -> None:
        chosen = sum((self.offset is not None, self.at is not None, self.earliest))
        if chosen != 1:
            raise ReplayError("choose exactly one of --to-offset, --to-time, --to-earliest")


@dataclass(frozen=True)
class Move:
    """One partition's committed offset now and after the reset."""

    topic: str
    partition: int
    current: int | None
    target: int
    end: int

    @property
    def rereads(self) -> int:
        """Records the group will read (again) after the move: from the target to the end."""
        return self.end - self.target

    @property
    def shift(self) -> int:
        """How far the position moves back (positive) or forward (negative)."""
        return (self.current if self.current is not None else self.end) - self.target


def choose_target(target: Target, beginning: int, end: int, by_time: int | None) -> int:
    """The offset to commit for one partition, clamped to what the log still holds."""
    if target.earliest:
        return beginning
    if target.offset is not None:
        return min(max(target.offset, beginning), end)
    return end if by_time is None else by_time  # no record at/after the time: nothing to re-read


async def plan(settings: KafkaSettings, group: str, topics: list[str], target: Target) -> list[Move]:
    """What a reset would do, partition by partition (reads only)."""
    counts = await kafka.partition_counts(settings, topics)
    missing = sorted(set(topics) - set(counts))
    if missing:
        raise ReplayError(f"topic(s) {', '.join(missing)} do not exist")
    tps = [TopicPartition(t, p) for t in topics for p in range(counts[t])]
    admin = kafka.admin(settings)
    consumer = kafka.consumer(settings, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        beginnings = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        by_time: dict[TopicPartition, Any] = {}
        if target.at is not None:
            by_time = await consumer.offsets_for_times({tp: int(target.at.timestamp() * 1000) for tp in tps})
    finally:
        await consumer.stop()
        await admin.close()
    moves = []
    for tp in tps:
        meta = committed.get(tp)
        found = by_time.get(tp)
        moves.append(
            Move(
                tp.topic,
                tp.partition,
                meta.offset if meta is not None and meta.offset >= 0 else None,
                choose_target(target, beginnings[tp], ends[tp], found.offset if found is not None else None),
                ends[tp],
            )
        )
    return moves


async def active_members(settings: KafkaSettings, group: str) -> int:
    admin = kafka.admin(settings)
    await admin.start()
    try:
        [response] = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    return sum(len(g[5]) for g in response.groups if g[1] == group)


async def apply(settings: KafkaSettings, group: str, moves: list[Move]) -> None:
    """Commit the planned offsets; refuses while the group has live members."""
    members = await active_members(settings, group)
    if members:
        raise ReplayError(f"group {group} has {members} live member(s); stop its workers first")
    consumer = kafka.consumer(settings, group_id=group)
    await consumer.start()
    try:
        offsets = {TopicPartition(m.topic, m.partition): m.target for m in moves}
        consumer.assign(list(offsets))
        await consumer.commit(offsets)
    finally:
        await consumer.stop()


def describe(group: str, moves: list[Move]) -> list[str]:
    """A readable table of the plan."""
    lines = [
        f"group {group}",
        f"{'partition':<22} {'committed':>10} {'-> target':>10} {'end':>10} {'re-read':>9}",
    ]
    for m in moves:
        current = "-" if m.current is None else str(m.current)
        lines.append(
            f"{m.topic + '[' + str(m.partition) + ']':<22} {current:>10} {m.target:>10} {m.end:>10} {m.rereads:>9}"
        )
    lines.append(f"total records to (re-)read: {sum(m.rereads for m in moves)}")
    return lines
