"""Sequencer stage: source records → validated, de-duplicated, re-ordered events (→ ``order-lifecycle``).

The rules are :mod:`orderstream.domain.sequencing`. The clock is *stream time* (see
:mod:`orderstream.domain.streamtime`): a record is accepted at the stream time it was read at, and a gap is
passed when the watermark of its partition (the time up to which every co-partitioned input was read)
reaches its deadline. A backlog therefore gives the result live traffic gives.

State: one :class:`~orderstream.domain.sequencing.OrderState` per order, keyed by
:func:`~streams.stages.keys.order_key`. The orders of a partition that hold events behind a gap are indexed
by deadline in memory (rebuilt from the table when a partition is opened), so passing gaps visits only
those. The index follows the batch being decided; a batch that is never committed belongs to a partition
that is closed and reopened (rebuilt) before anything is decided there again.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from orderstream.domain import contract, sequencing
from orderstream.domain.contract import Event, ParseError, parse_event
from orderstream.domain.sequencing import OrderState
from streams.stages.batch import Batch, RecordLike, StateView
from streams.stages.keys import order_key, order_part, partition_of

log = logging.getLogger("orderstream.streams.sequencer")

STAGE = "sequencer"
TABLE = "sequencer-orders"
EMPTY = OrderState()


def decode_state(raw: bytes) -> OrderState:
    return OrderState.from_dict(orjson.loads(raw))


def encode_state(state: OrderState) -> bytes:
    return orjson.dumps(state.to_dict())


def lifecycle_bytes(released: sequencing.Released) -> bytes:
    doc = released.event.to_dict()
    if released.gap_before:
        doc["gap_before"] = True
    return orjson.dumps(doc)


@dataclass(frozen=True, slots=True)
class Release:
    """An event the sequencer let through, with the bytes it is published as."""

    event: Event
    value: bytes
    gap_before: bool = False


class _Gaps:
    """The orders of one partition that hold events behind a gap, by deadline (stream time)."""

    __slots__ = ("due", "heap")

    def __init__(self) -> None:
        self.due: dict[bytes, float] = {}
        self.heap: list[tuple[float, bytes]] = []

    def set(self, key: bytes, due: float | None) -> None:
        if due is None:
            self.due.pop(key, None)
        elif self.due.get(key) != due:
            self.due[key] = due
            heapq.heappush(self.heap, (due, key))

    def next_due(self) -> float | None:
        heap, due = self.heap, self.due
        while heap and due.get(heap[0][1]) != heap[0][0]:
            heapq.heappop(heap)  # superseded or closed
        return heap[0][0] if heap else None

    def pop_due(self, now: float) -> list[bytes]:
        """Keys whose deadline is at or before ``now``, earliest first (ties by key)."""
        keys = []
        while (at := self.next_due()) is not None and at <= now:
            _, key = heapq.heappop(self.heap)
            del self.due[key]
            keys.append(key)
        return keys


class SequencerStage:
    """Validate, de-duplicate and re-order the records of the partitions this worker owns.

    A gap is passed at its deadline in stream time: just before the first record read later than the
    deadline, or when the watermark passes it with no such record. Live traffic and a backlog therefore pass
    it at the same point of the merged input, and every order gets the same result either way.
    """

    def __init__(
        self, orders: StateView[OrderState], reorder_timeout: float, partitions: int, *, publish: bool = True
    ) -> None:
        self.orders = orders
        self.timeout = reorder_timeout
        self.partitions = partitions
        self.publish = publish
        self._gaps: dict[int, _Gaps] = {}
        self._seen_at: dict[bytes, float] = {}
        """Order key → wall time this worker first held an event of it (for the expiry log line)."""

    # ------------------------------------------------------------------------------------ partitions

    def open(self, partition: int, stored: Iterable[tuple[bytes, bytes]]) -> None:
        """Start owning ``partition``: index the orders its table values show waiting behind a gap."""
        gaps = self._gaps[partition] = _Gaps()
        for key, raw in stored:
            if b'"held":[]' in raw:
                continue  # nothing held: the common case, not worth decoding
            gaps.set(key, sequencing.deadline(decode_state(raw), self.timeout))

    def close(self, partition: int) -> None:
        gaps = self._gaps.pop(partition, None)
        for key in gaps.due if gaps is not None else ():
            self._seen_at.pop(key, None)

    def open_gaps(self, partition: int) -> int:
        gaps = self._gaps.get(partition)
        return len(gaps.due) if gaps is not None else 0

    def next_due(self, partition: int) -> float | None:
        """The earliest deadline of an open gap in ``partition`` (stream time), or None."""
        gaps = self._gaps.get(partition)
        return gaps.next_due() if gaps is not None else None

    # ------------------------------------------------------------------------------------ records

    def on_record(self, batch: Batch, record: RecordLike, now: float) -> list[Release]:
        """Take one source record read at stream time ``now``; return what it released, in order."""
        batch.counts["sequencer.in"] += 1
        parsed = parse_event(record.value)
        if isinstance(parsed, ParseError):
            batch.park(record, STAGE, parsed.kind, parsed.message)
            return []
        customer = parsed.customer_id.encode()
        home = partition_of(customer, self.partitions)
        if home != batch.partition:
            message = (
                f"customer {parsed.customer_id!r} belongs to partition {home}, but the record was read from "
                f"{record.topic}[{record.partition}] (sources must be keyed by customer_id)"
            )
            batch.park(record, STAGE, "wrong_partition", message)
            return []
        key = order_key(parsed.customer_id, parsed.order_id)
        before = self.orders.lookup(batch, key) or EMPTY
        after, outcome = sequencing.accept(before, parsed, now, self.timeout)
        if after is not before:
            self._changed(batch, key, before, after)
        if outcome.duplicate:
            batch.counts["sequencer.duplicates"] += 1
        for rejected in outcome.rejected:
            batch.park(record, STAGE, rejected.reason, rejected.detail)
        if not outcome.released:
            return []
        if outcome.released[0].gap_before:
            self._log_expiry(key, before, now)
        releases = []
        for released in outcome.released:
            # The arriving event itself goes out as it came in, byte for byte.
            if released.event is parsed and not released.gap_before and record.value is not None:
                releases.append(Release(parsed, record.value))
            else:
                releases.append(Release(released.event, lifecycle_bytes(released), released.gap_before))
        self._publish(batch, customer, releases)
        return releases

    def on_watermark(self, batch: Batch, watermark: float) -> list[Release]:
        """Pass the gaps of ``batch.partition`` whose deadline is at or before ``watermark``."""
        gaps = self._gaps.get(batch.partition)
        if gaps is None:
            return []
        releases: list[Release] = []
        for key in gaps.pop_due(watermark):
            before = self.orders.lookup(batch, key) or EMPTY
            after, outcome = sequencing.expire(before, watermark, self.timeout)
            if after is before:
                gaps.set(key, sequencing.deadline(before, self.timeout))
                continue
            self._changed(batch, key, before, after)
            self._log_expiry(key, before, watermark)
            released = [Release(r.event, lifecycle_bytes(r), r.gap_before) for r in outcome.released]
            if released:
                self._publish(batch, released[0].event.customer_id.encode(), released)
                releases += released
        return releases

    def _changed(self, batch: Batch, key: bytes, before: OrderState, after: OrderState) -> None:
        batch.changes(TABLE)[key] = after
        if after.held or before.held:
            self._gaps[batch.partition].set(key, sequencing.deadline(after, self.timeout))
            if not after.held:
                self._seen_at.pop(key, None)
            elif key not in self._seen_at:
                self._seen_at[key] = time.time()

    def _publish(self, batch: Batch, customer: bytes, releases: list[Release]) -> None:
        batch.counts["sequencer.out"] += len(releases)
        batch.counts["sequencer.gaps_expired"] += sum(1 for release in releases if release.gap_before)
        if self.publish:
            for release in releases:
                batch.send(contract.ORDER_LIFECYCLE, customer, release.value)

    def _log_expiry(self, key: bytes, before: OrderState, now: float) -> None:
        if not before.held:
            return
        waited = now - min(held.arrived_at for held in before.held.values())
        seen = self._seen_at.get(key)
        wall = f"{time.time() - seen:.1f}s" if seen is not None else "n/a (held before this worker took over)"
        log.info(
            "gap expired: order %s waited %.1fs in stream time, %s wall-clock (reorder timeout %.0fs)",
            order_part(key).decode(errors="replace"),
            waited,
            wall,
            self.timeout,
        )

    # ------------------------------------------------------------------------------------ commit

    def seal(self, batch: Batch) -> None:
        self.orders.seal(batch)

    def committed(self, batch: Batch) -> None:
        self.orders.committed(batch)
