"""The faust transport the worker registers: faust's aiokafka transport with a consumer that hands the data
plane its records in batches.

faust keeps everything it owns: group membership and assignment, the rebalance protocol, table recovery and
standbys (changelog records still go through faust's own per-record path), commits of what faust tracks.
What changes, through faust's registered-transport extension point:

- records of the data plane's input topics are taken out of each fetch and given to the data plane per
  partition, instead of becoming one faust event per record (:meth:`PlaneConsumer._wait_next_records`);
- the consumer reads ``read_committed``: outputs and changelogs are written in transactions
  (:mod:`streams.dataplane.txn`), and a fenced worker's aborted writes must never be read back;
- the data plane hears of revocations and assignments before faust does (an assignment first fences the
  partitions' previous owners, see :mod:`streams.dataplane.txn`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiokafka.structs import OffsetAndMetadata, TopicPartition
from faust.transport.drivers import TRANSPORTS
from faust.transport.drivers.aiokafka import AIOKafkaConsumerThread
from faust.transport.drivers.aiokafka import Consumer as AIOKafkaFaustConsumer
from faust.transport.drivers.aiokafka import Transport as AIOKafkaTransport

if TYPE_CHECKING:
    from streams.dataplane.plane import DataPlane

URL_SCHEME = "orderstream"
FETCH_MAX_WAIT_MS = 100


class FetchState:
    """Where one partition's consumer stands: its position and the end it saw at its last fetch."""

    __slots__ = ("at", "end", "position")

    def __init__(self, position: int, end: int, at: float) -> None:
        self.position, self.end, self.at = position, end, at

    @property
    def at_end(self) -> bool:
        return self.position >= self.end


class PlaneConsumerThread(AIOKafkaConsumerThread):
    """faust's consumer thread, reading committed records only."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        # Set before start(): the fetcher is built with them. Outputs and changelogs are transactional; and
        # a quiet partition's fetch answers every FETCH_MAX_WAIT_MS, which is how soon the stream-time merge
        # learns it has nothing older than a record waiting on another input.
        consumer._isolation_level = "read_committed"
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS
        return consumer

    async def commit_positions(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit ``offsets`` for this member's generation, including topics it writes and reads in memory
        (faust's and aiokafka's commits take assigned partitions only)."""
        await self.call_thread(self._commit_positions, offsets)

    async def _commit_positions(self, offsets: dict[TopicPartition, int]) -> None:
        consumer = self._ensure_consumer()
        assignment = consumer._subscription.subscription.assignment
        if assignment is None:
            return
        committed = {tp: OffsetAndMetadata(offset, "") for tp, offset in offsets.items()}
        await consumer._coordinator.commit_offsets(assignment, committed)

    def fetch_state(self, tp: TopicPartition) -> FetchState | None:
        """Position and end of ``tp`` as of the last fetch response (None before one arrived)."""
        consumer = self._consumer
        if consumer is None:
            return None
        try:
            state = consumer._subscription.subscription.assignment.state_value(tp)
        except (AttributeError, KeyError):
            return None
        if state is None or not state.has_valid_position or state.timestamp is None:
            return None
        end = state.lso if state.lso is not None and state.lso >= 0 else state.highwater
        if end is None:
            return None
        return FetchState(state.position, end, state.timestamp / 1000.0)


class PlaneConsumer(AIOKafkaFaustConsumer):
    """faust's aiokafka consumer with the data plane's records taken out of each fetch."""

    plane: DataPlane | None = None
    last_delivered: dict[Any, int]
    """Per partition faust reads itself (changelogs): the offset of the last record handed to faust."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.last_delivered = {}
        self.plane = getattr(self.app, "plane", None)
        if self.plane is not None:
            self.plane.attach(self)

    def _new_consumer_thread(self) -> PlaneConsumerThread:
        return PlaneConsumerThread(self, loop=self.loop, beacon=self.beacon)

    async def _wait_next_records(self, timeout: float) -> tuple[Any, Any]:  # noqa: ASYNC109 (faust's)
        generation = self.app.consumer_generation_id
        records, active = await super()._wait_next_records(timeout)
        plane = self.plane
        if plane is None:
            return records, active
        if records and self.flow_active and generation == self.app.consumer_generation_id:
            records = plane.take_over(records)  # faust gets the rest (changelogs: recovery, standbys)
        for tp, batch in (records or {}).items():
            if batch:
                self.last_delivered[tp] = batch[-1].offset
        plane.after_fetch(self._thread, time.time())
        return records, active

    async def on_partitions_revoked(self, revoked: Any) -> None:
        if self.plane is not None:
            await self.plane.on_revoked(set(revoked))
        await super().on_partitions_revoked(revoked)

    async def on_partitions_assigned(self, assigned: Any, generation_id: int = 0) -> None:
        # Fence the previous owners *before* faust recovers the tables and seeks to the committed offsets:
        # once our producers hold the partitions' transactional ids, whatever the old owner had in flight is
        # committed or aborted, so recovery and the committed offsets already include all of it.
        if self.plane is not None:
            await self.plane.on_assigned(set(assigned))
        await super().on_partitions_assigned(assigned, generation_id)

    async def commit_positions(self, offsets: dict[TopicPartition, int]) -> None:
        thread = self._thread
        if isinstance(thread, PlaneConsumerThread):
            await thread.commit_positions(offsets)

    def fetch_state(self, tp: TopicPartition) -> FetchState | None:
        thread = self._thread
        return thread.fetch_state(tp) if isinstance(thread, PlaneConsumerThread) else None


class PlaneTransport(AIOKafkaTransport):
    """faust's aiokafka transport whose consumer feeds the data plane."""

    Consumer = PlaneConsumer


TRANSPORTS.aliases[URL_SCHEME] = f"{__name__}:PlaneTransport"
