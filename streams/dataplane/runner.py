"""The task that runs one partition number: merge its inputs, decide a batch, write it, commit it, repeat.

Batches of one partition run one at a time (its state and its transactional producer are its own); the
partitions of a worker run side by side, so one partition's broker round trips overlap another's work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from aiokafka.errors import KafkaError
from aiokafka.structs import TopicPartition

from streams.dataplane.txn import Fenced, Halted, PartitionProducer, Sent
from streams.stages.batch import Batch
from streams.stages.partition import PartitionFlow

if TYPE_CHECKING:
    from streams.dataplane.plane import DataPlane

log = logging.getLogger("orderstream.streams.plane")

BATCH_MAX = 2000
"""Records per batch: table values are decoded and written once per key per batch."""
TICK = 0.5
"""Seconds between looks at the watermark when no record arrives (gaps expire on time with no traffic)."""
RETRY_CAP = 5.0


class PartitionRunner:
    """One partition number of this worker: its flow, its producer and its task."""

    def __init__(self, plane: DataPlane, flow: PartitionFlow, producer: PartitionProducer) -> None:
        self.plane = plane
        self.flow = flow
        self.producer = producer
        self.partition = flow.partition
        self.tps = {topic: TopicPartition(topic, self.partition) for topic in flow.merger.names}
        self.committed: dict[TopicPartition, int] = {}
        """Per input partition: the offset after the last record whose batch is committed."""
        self.state = "recovering"
        self.error: str | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._writing = False
        self._written = asyncio.Event()
        self._written.set()
        self._resume = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.ensure_future(self._run())

    def wake(self) -> None:
        self._wake.set()

    def resume(self) -> bool:
        """Resume a partition the flood guard paused (``orderstream dlq resume``); False if it is not paused."""
        if self.state != "paused":
            return False
        self._resume.set()
        return True

    async def stop(self, grace: float = 10.0) -> None:
        """Stop after the batch being written (if any) is committed; never in the middle of one."""
        self._stopping = True
        self._wake.set()
        if self._writing:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._written.wait(), grace)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.producer.stop()

    async def _run(self) -> None:
        try:
            await self._wait_until_recovered()
            self.state = "running"
            while not self._stopping:
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), TICK)
                self._wake.clear()
                while not self._stopping:
                    # Fetch states come from the plane right after each fetch's records were offered: read
                    # here, the consumer thread's position may already include records still on their way.
                    started = time.perf_counter()
                    batch = self.flow.next_batch(BATCH_MAX, time.time())
                    if batch is None:
                        break
                    self.plane.timed("decide", time.perf_counter() - started)
                    await self._write(batch)
                    self.plane.relieve(self)
                    guard = self.flow.guard
                    if guard is not None:
                        if guard.tripped is not None:
                            await self._flooded()
                        elif self.partition in self.plane.flooded and guard.within_limits():
                            self.plane.on_flood_cleared(self, "back within its limits")
        except Fenced as exc:
            self.state, self.error = "fenced", str(exc)
            log.warning(
                "partition %d moved to another worker while this one was paused or cut off; its batch was "
                "refused by the broker and discarded (%s)",
                self.partition,
                exc,
            )
            self.plane.on_fenced(self)
        except Halted as exc:
            self.state, self.error = "halted", str(exc)
            log.error("partition %d stopped: %s; its offsets stay where they are", self.partition, exc)
            self.plane.on_halted(self)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug: crash the worker rather than carry on half-done
            self.state, self.error = "crashed", repr(exc)
            log.exception("partition %d failed", self.partition)
            await self.plane.crash(exc)

    async def _flooded(self) -> None:
        """The flood guard tripped (after the batch that tripped it was committed): in ``halt`` mode stand
        still, reading nothing more, until resumed or the cool-down passes; in ``alert`` mode carry on."""
        guard = self.flow.guard
        assert guard is not None and guard.tripped is not None
        cooldown = self.plane.settings.dlq_guard_cooldown
        if guard.policy.mode == "alert":
            self.plane.on_flood(self, guard.tripped, halted=False)
            guard.tripped = None  # the window goes on: the alarm clears once it is back within the limits
            return
        self.state = "paused"
        self._resume.clear()
        self.plane.on_flood(self, guard.tripped, halted=True)
        timeout = cooldown if cooldown > 0 else None
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._resume.wait(), timeout)
        if self._stopping:
            return
        guard.reset()
        self.state = "running"
        self.plane.on_flood_cleared(self, "cool-down" if not self._resume.is_set() else "resumed")

    async def _wait_until_recovered(self) -> None:
        """faust resumes a partition's inputs once its tables are recovered; only then is state complete."""
        while not self._stopping and not self.plane.recovered(self):  # noqa: ASYNC110 (faust has no event)
            await asyncio.sleep(0.05)
        self.plane.open_partition(self)
        await self.plane.took_over(self)

    async def _write(self, batch: Batch) -> None:
        """Write ``batch`` in one transaction, retrying retriable failures with a capped backoff."""
        offsets = {self.tps[topic]: offset for topic, offset in batch.positions.items()}
        attempt = 0
        self._writing = True
        self._written.clear()
        try:
            while True:
                try:
                    sent = await self.producer.write(batch, {**self.committed, **offsets})
                    break
                except (Fenced, Halted):
                    raise
                except KafkaError as exc:
                    if not getattr(exc, "retriable", False) and not isinstance(exc, _TRANSIENT):
                        raise Halted(f"partition {self.partition}: {type(exc).__name__}: {exc}") from exc
                    attempt += 1
                    delay = random.uniform(0, min(RETRY_CAP, 0.05 * 2**attempt))
                    self.plane.note_retry(self, exc)
                    await asyncio.sleep(delay)
            if attempt:
                self.plane.note_recovered(self)
            self._apply(batch, sent, offsets)
        finally:
            self._writing = False
            self._written.set()

    def _apply(self, batch: Batch, sent: Sent, offsets: dict[TopicPartition, int]) -> None:
        self.flow.committed(batch)
        self.plane.store(self, batch, sent)
        self.committed.update(offsets)


_TRANSIENT: tuple[type[BaseException], ...] = (asyncio.TimeoutError,)
Clock = Callable[[], float]
