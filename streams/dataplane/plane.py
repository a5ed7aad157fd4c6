"""The batch data plane: the worker's records go from faust's consumer to the stages in batches.

faust stays the application (see :mod:`streams.dataplane.transport`); the plane replaces its per-record
delivery path for the input topics of this worker's pipeline:

- each fetch's records are split by partition number and buffered in that partition's
  :class:`~streams.stages.partition.PartitionFlow`, which merges the co-partitioned inputs on stream time;
- one :class:`~streams.dataplane.runner.PartitionRunner` per owned partition number decides a batch, writes
  it as one transaction of that partition's producer (outputs, dead letters, table changes; under
  exactly_once the input offsets too) and only then stores the table changes locally;
- under at_least_once the input offsets are committed to the group once their batches are committed
  (every second, and when partitions are revoked or the worker stops).

The commit rule of ``docs/streams.md`` therefore holds by construction: no offset is committed before
every output and changelog record of its batch is committed, and a member that lost its partitions cannot
write (its producer is fenced).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aiokafka.structs import TopicPartition

from orderstream import kafka
from orderstream.domain.floodguard import FloodGuard, GuardPolicy
from orderstream.settings import WorkerSettings
from streams.dataplane.runner import PartitionRunner
from streams.dataplane.transport import PlaneConsumer, PlaneConsumerThread
from streams.dataplane.txn import Fenced, PartitionProducer, Sent
from streams.stages.batch import Batch
from streams.stages.partition import PartitionFlow
from streams.stages.pipeline import Pipeline

log = logging.getLogger("orderstream.streams.plane")

BUFFER_HIGH = 20_000
"""Records buffered for one input partition above which it is no longer fetched (backpressure)..."""
BUFFER_LOW = 5_000
"""...until the buffer falls below this."""
COMMIT_INTERVAL = 1.0
RETRYING_DEGRADES_AFTER = 5.0
"""Seconds of failing writes after which a partition is reported degraded in /health."""


@dataclass
class PlaneConfig:
    """How this worker's plane is wired."""

    group: str
    inputs: tuple[str, ...]
    """Input topics, co-partitioned, in stream-time tie-break order."""
    tables: Mapping[str, Any]
    """Stage table name → faust table."""
    changelogs: Mapping[str, str]
    """Stage table name → changelog topic."""
    exactly_once: bool
    dlq_max_value_bytes: int
    self_read: tuple[str, ...] = ()
    """Output topics this worker's pipeline also consumes in memory (``order-lifecycle`` when fused)."""


class DataPlane:
    """The partitions of this worker's inputs, from fetch to committed batch."""

    def __init__(
        self,
        settings: WorkerSettings,
        config: PlaneConfig,
        pipeline_for: Callable[[], Pipeline],
        counters: Counter[str],
        crash: Callable[[BaseException], Any],
    ) -> None:
        self.settings = settings
        self.config = config
        self._pipeline_for = pipeline_for
        self._pipeline: Pipeline | None = None
        self.counters = counters
        self._crash = crash
        self.inputs = frozenset(config.inputs)
        self.runners: dict[int, PartitionRunner] = {}
        self.consumer: PlaneConsumer | None = None
        self._committer: asyncio.Task[None] | None = None
        self._control: asyncio.Task[None] | None = None
        self._pending_commit: dict[TopicPartition, int] = {}
        self._throttled: set[TopicPartition] = set()
        self._stopped = False
        self._ends: Any = None
        """A group-less consumer for end offsets (fused workers, at takeover)."""
        self._ends_lock = asyncio.Lock()
        self.degraded: dict[int, str] = {}
        self.flooded: dict[int, str] = {}
        """Partitions whose flood guard is tripped now (paused, or alarmed in alert mode), and why."""
        self.last_retry: str | None = None
        self.retrying: dict[int, float] = {}
        """Partitions whose batch could not be written, since when (monotonic)."""
        self.seconds: defaultdict[str, float] = defaultdict(float)
        """Time spent per phase (decide, send, commit, store), summed over batches."""

    # ------------------------------------------------------------------------------------ wiring

    def attach(self, consumer: PlaneConsumer) -> None:
        self.consumer = consumer
        consumer.plane = self

    @property
    def pipeline(self) -> Pipeline:
        if self._pipeline is None:
            self._pipeline = self._pipeline_for()
        return self._pipeline

    # ------------------------------------------------------------------------------------ fetch side

    def take_over(self, records: Mapping[Any, list[Any]]) -> dict[Any, list[Any]]:
        """Take this plane's records out of a fetch; return the rest for faust's own path."""
        rest = {}
        for tp, batch in records.items():
            if tp.topic not in self.inputs:
                rest[tp] = batch
                continue
            runner = self.runners.get(tp.partition)
            if runner is None:
                continue  # not ours (any more): the owner reads it from its committed offset
            runner.flow.offer(tp.topic, batch)
            if runner.flow.buffered(tp.topic) > BUFFER_HIGH and tp not in self._throttled:
                self._throttled.add(tp)
                assert self.consumer is not None
                self.consumer.on_buffer_full(tp)
            runner.wake()
        return rest

    def after_fetch(self, thread: Any, now: float) -> None:
        for runner in self.runners.values():
            self.update_fetch_state(runner, thread)

    def update_fetch_state(self, runner: PartitionRunner, thread: Any) -> None:
        """Tell the runner's flow where each input stands (at its end, or with data still to fetch), as the
        consumer ``thread`` saw it at the fetch whose records were just offered."""
        if not isinstance(thread, PlaneConsumerThread):
            return
        for topic, tp in runner.tps.items():
            state = thread.fetch_state(tp)
            if state is not None:
                runner.flow.fetched(topic, at_end=state.at_end, at=state.at)

    def relieve(self, runner: PartitionRunner) -> None:
        """Resume fetching inputs whose buffers drained."""
        if not self._throttled:
            return
        for topic, tp in runner.tps.items():
            if tp in self._throttled and runner.flow.buffered(topic) < BUFFER_LOW:
                self._throttled.discard(tp)
                assert self.consumer is not None
                self.consumer.on_buffer_drop(tp)

    # ------------------------------------------------------------------------------------ partitions

    async def on_assigned(self, assigned: set[Any]) -> None:
        """Fence the previous owners of newly assigned partition numbers and start their runners."""
        if self._stopped:
            return
        numbers = sorted({tp.partition for tp in assigned if tp.topic in self.inputs})
        new = [n for n in numbers if n not in self.runners]
        producers = [self._producer(n) for n in new]
        results = await asyncio.gather(*(p.start() for p in producers), return_exceptions=True)
        for producer, result in zip(producers, results, strict=True):
            if isinstance(result, BaseException):
                await producer.stop()
                if isinstance(result, Fenced):
                    log.warning("partition %d: %s", producer.partition, result)
                    continue
                raise result
            flow = PartitionFlow(producer.partition, self.config.inputs, self.pipeline, self._guard())
            runner = PartitionRunner(self, flow, producer)
            self.runners[producer.partition] = runner
            runner.start()
        if self._committer is None and not self.config.exactly_once:
            self._committer = asyncio.ensure_future(self._commit_loop())
        if self._control is None and self.settings.dlq_guard == "halt":
            self._control = asyncio.ensure_future(self._listen_for_commands())
        log.info("data plane owns partitions %s", sorted(self.runners))

    async def on_revoked(self, revoked: set[Any]) -> None:
        numbers = {tp.partition for tp in revoked if tp.topic in self.inputs}
        await self._close(sorted(n for n in numbers if n in self.runners))

    async def _close(self, numbers: list[int]) -> None:
        runners = [self.runners.pop(n) for n in numbers]
        await asyncio.gather(*(runner.stop() for runner in runners))
        for runner in runners:
            self._collect(runner)
            self.pipeline.close(runner.partition)
            self.degraded.pop(runner.partition, None)
            self.flooded.pop(runner.partition, None)
            self.retrying.pop(runner.partition, None)
            for tp in runner.tps.values():
                self._throttled.discard(tp)
        await self.commit()

    def _guard(self) -> FloodGuard | None:
        s = self.settings
        if s.dlq_guard == "off":
            return None
        return FloodGuard(
            GuardPolicy(s.dlq_guard, s.dlq_guard_max_consecutive, s.dlq_guard_max_ratio, s.dlq_guard_window)
        )

    def resume(self, partitions: Iterable[int] | None = None) -> list[int]:
        """Resume partitions the flood guard paused (all of this worker's when ``partitions`` is None)."""
        wanted = None if partitions is None else set(partitions)
        return sorted(
            n for n, runner in self.runners.items() if (wanted is None or n in wanted) and runner.resume()
        )

    async def _listen_for_commands(self) -> None:
        """``orderstream dlq resume`` reaches this worker through the control topic."""
        from orderstream import control

        while not self._stopped:
            try:
                await control.listen(self.settings, self.settings.app_id, self.resume)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker went away: listen again, nothing is lost but old commands
                log.warning("control topic: %r; listening again in 5s", exc)
                await asyncio.sleep(5)

    def _producer(self, partition: int) -> PartitionProducer:
        return PartitionProducer(
            self.settings,
            self.config.group,
            partition,
            self.config.changelogs,
            exactly_once=self.config.exactly_once,
            dlq_max_value_bytes=self.config.dlq_max_value_bytes,
            self_read=self.config.self_read,
        )

    def recovered(self, runner: PartitionRunner) -> bool:
        """faust has recovered the partition's tables and resumed its inputs."""
        consumer = self.consumer
        if consumer is None:
            return False
        paused = consumer._paused_partitions
        return not any(tp in paused for tp in runner.tps.values())

    async def took_over(self, runner: PartitionRunner) -> None:
        """A fused worker's group position on what it reads in memory starts at that topic's end: the
        previous owner was fenced before this (its open transaction aborted), so everything there is
        either committed and already read, or aborted."""
        if not self.config.self_read or self.consumer is None:
            return
        tps = [TopicPartition(topic, runner.partition) for topic in self.config.self_read]
        async with self._ends_lock:  # the partitions take over side by side: one consumer, started once
            if self._ends is None:
                ends_consumer = kafka.consumer(self.settings, group_id=None)
                await ends_consumer.start()
                self._ends = ends_consumer
        ends = await self._ends.end_offsets(tps)
        if self.config.exactly_once:
            await self.consumer.commit_positions(dict(ends))
        else:
            for tp, end in ends.items():
                self._pending_commit[tp] = end

    def open_partition(self, runner: PartitionRunner) -> None:
        rows: Iterable[tuple[bytes, bytes]] = ()
        table = self.config.tables.get("sequencer-orders")
        if table is not None:
            rows = table.rows_of(runner.partition)
        self.pipeline.open(runner.partition, rows)

    # ------------------------------------------------------------------------------------ batches

    def timed(self, phase: str, seconds: float) -> None:
        """Time spent per phase, summed (``plane.seconds`` in ``/counters``; the bench divides)."""
        self.seconds[phase] += seconds

    def store(self, runner: PartitionRunner, batch: Batch, sent: Sent) -> None:
        """A batch is committed: put its table changes in the local stores, count what it did."""
        started = time.perf_counter()
        for name, writes in batch.writes.items():
            table = self.config.tables[name]
            data = table.data
            for key, raw in writes.items():
                data[key] = raw
            offset = sent.changelog_offsets.get(name)
            if offset is not None and hasattr(data, "set_persisted_offset"):
                data.set_persisted_offset(
                    TopicPartition(self.config.changelogs[name], runner.partition), offset
                )
        self.counters.update(batch.counts)
        self.counters["plane.batches"] += 1
        self.counters["plane.records"] += batch.records_in
        self.counters["plane.outputs"] += len(batch.outputs) + len(batch.dead_letters)
        self.counters["plane.state_writes"] += sum(len(w) for w in batch.writes.values())
        self.timed("send", sent.send_seconds)
        self.timed("commit", sent.commit_seconds)
        self.timed("store", time.perf_counter() - started)
        if not self.config.exactly_once:
            for topic, offset in batch.positions.items():
                self._pending_commit[runner.tps[topic]] = offset
            self._pending_commit.update(sent.self_read)

    def note_retry(self, runner: PartitionRunner, exc: BaseException) -> None:
        self.counters["plane.write_retries"] += 1
        self.last_retry = f"{type(exc).__name__}: {exc}"
        since = self.retrying.setdefault(runner.partition, time.monotonic())
        if time.monotonic() - since >= RETRYING_DEGRADES_AFTER:
            self.degraded[runner.partition] = (
                f"writes failing for {time.monotonic() - since:.0f}s: {self.last_retry}"
            )
        log.warning("writing a batch of partition %d failed (%r); retrying", runner.partition, exc)

    def note_recovered(self, runner: PartitionRunner) -> None:
        since = self.retrying.pop(runner.partition, None)
        if since is not None and self.degraded.get(runner.partition, "").startswith("writes failing"):
            del self.degraded[runner.partition]
            log.info("partition %d writes again after %.0fs", runner.partition, time.monotonic() - since)

    def on_fenced(self, runner: PartitionRunner) -> None:
        self.counters["plane.fenced"] += 1
        self.degraded[runner.partition] = f"fenced: {runner.error}"
        for tp in runner.tps.values():
            self._pending_commit.pop(tp, None)

    def on_flood(self, runner: PartitionRunner, why: str, *, halted: bool) -> None:
        """The flood guard tripped: report the partition degraded (paused, or alarmed in alert mode)."""
        number = runner.partition
        if number in self.flooded and not halted:
            return  # still alarmed: one report per episode
        self.counters["plane.flood_guard_trips"] += 1
        self.flooded[number] = why
        if halted:
            how = "`orderstream dlq resume`"
            if self.settings.dlq_guard_cooldown > 0:
                how += f" or {self.settings.dlq_guard_cooldown:.0f}s"
            self.degraded[number] = f"dlq flood guard: {why}; paused until {how}"
            log.error(
                "partition %d paused by the DLQ flood guard: %s. Nothing more is read from it until "
                "`orderstream dlq resume --app-id %s` (or ORDERSTREAM_DLQ_GUARD_COOLDOWN)",
                number,
                why,
                self.settings.app_id,
            )
        else:
            self.degraded[number] = f"dlq flood guard (alert only, still processing): {why}"
            log.error("partition %d: DLQ flood guard alarm (alert only, still processing): %s", number, why)

    def on_flood_cleared(self, runner: PartitionRunner, how: str) -> None:
        self.flooded.pop(runner.partition, None)
        if self.degraded.get(runner.partition, "").startswith("dlq flood guard"):
            del self.degraded[runner.partition]
        log.warning("partition %d: DLQ flood guard cleared (%s)", runner.partition, how)

    def on_halted(self, runner: PartitionRunner) -> None:
        self.counters["plane.halted"] += 1
        self.degraded[runner.partition] = f"halted: {runner.error}"

    async def crash(self, exc: BaseException) -> None:
        await self._crash(exc)

    # ------------------------------------------------------------------------------------ commits

    async def _commit_loop(self) -> None:
        while not self._stopped:
            await asyncio.sleep(COMMIT_INTERVAL)
            await self.commit()

    async def commit(self) -> None:
        """Commit (at_least_once) the input offsets whose batches are committed."""
        if self.config.exactly_once or not self._pending_commit or self.consumer is None:
            return
        offsets, self._pending_commit = self._pending_commit, {}
        try:
            await self.consumer.commit_positions(offsets)
        except Exception as exc:  # a rebalance in between: the next owner starts from the last commit
            log.info("offset commit failed (%r); it is tried again with the next commit", exc)
            for tp, offset in offsets.items():
                self._pending_commit[tp] = max(offset, self._pending_commit.get(tp, offset))

    def _collect(self, runner: PartitionRunner) -> None:
        """Keep the committed positions of a runner that is going away for the final commit."""
        if runner.state == "fenced":
            return
        if not self.config.exactly_once:
            for tp, offset in runner.committed.items():
                self._pending_commit.setdefault(tp, offset)

    async def stop(self) -> None:
        """The worker stops: let every partition finish its batch, commit, close the producers."""
        if self._stopped:
            return
        await self._close(sorted(self.runners))
        self._stopped = True
        if self._ends is not None:
            await self._ends.stop()
        for task in (self._committer, self._control):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    # ------------------------------------------------------------------------------------ observing

    def status(self, now: float | None = None) -> dict[str, Any]:
        """Per partition: state, stream time, watermark and how far apart the inputs are."""
        now = time.time() if now is None else now
        out: dict[str, Any] = {}
        for number, runner in sorted(self.runners.items()):
            flow = runner.flow
            watermark = flow.merger.watermark(now)
            out[str(number)] = {
                "state": runner.state,
                "stream_time": flow.stream_time,
                "watermark": watermark,
                "watermark_lag_s": None if watermark is None else round(now - watermark, 3),
                "input_lag_s": round(flow.merger.input_lag(now), 3),
                "buffered": {s.name: s.buffered for s in flow.merger.status(now)},
                "open_gaps": (
                    self.pipeline.sequencer.open_gaps(number) if self.pipeline.sequencer is not None else 0
                ),
                **({"error": runner.error} if runner.error else {}),
            }
        return out
