"""One partition number's flow: its input partitions merged on stream time, cut into batches for a pipeline.

This is the part of the data plane that decides things, kept free of I/O so a backlog and live traffic can
be replayed against each other in unit tests: the data plane offers fetched records and fetch results, asks
for the next batch, sends it, and reports the commit back.
"""

from __future__ import annotations

from collections.abc import Iterable

from orderstream.domain.floodguard import FloodGuard
from orderstream.domain.streamtime import Merger
from streams.stages.batch import Batch, RecordLike
from streams.stages.pipeline import Pipeline


class PartitionFlow:
    """The inputs of partition ``partition`` (one per input topic) and the pipeline they feed."""

    def __init__(
        self, partition: int, inputs: Iterable[str], pipeline: Pipeline, guard: FloodGuard | None = None
    ) -> None:
        self.partition = partition
        self.pipeline = pipeline
        self.guard = guard
        """Watches which records went to the DLQ, in processing order (None: no flood guard)."""
        self.merger: Merger[RecordLike] = Merger(list(inputs))
        self._stream_time: float | None = None

    @property
    def stream_time(self) -> float | None:
        return self._stream_time

    def offer(self, topic: str, records: Iterable[RecordLike]) -> None:
        self.merger.offer(topic, ((record.timestamp / 1000.0, record) for record in records))

    def fetched(self, topic: str, *, at_end: bool, at: float) -> None:
        self.merger.fetched(topic, at_end=at_end, at=at)

    def buffered(self, topic: str) -> int:
        return self.merger.buffered(topic)

    def next_batch(self, limit: int, wall_now: float) -> Batch | None:
        """Decide the next batch: up to ``limit`` records in merged order, then the gaps the watermark passed.

        Returns None when there is nothing to do (no record ready and no gap due).
        """
        records = self.merger.take(limit, wall_now)
        batch = Batch(self.partition)
        now = self._stream_time
        positions = batch.positions
        guard, parked = self.guard, batch.dead_letters
        for record in records:
            at = record.timestamp / 1000.0
            if now is None or at > now:
                now = at
            before = len(parked)
            self.pipeline.on_record(batch, record, now)
            positions[record.topic] = record.offset + 1
            if guard is not None:
                guard.observe(len(parked) != before)
        self._stream_time = now
        if self.pipeline.uses_stream_time:
            watermark = self.merger.watermark(wall_now)
            if watermark is not None:  # gaps due with no later record to pass them (quiet inputs)
                self.pipeline.on_watermark(batch, watermark)
        if not records and batch.empty:
            return None
        self.pipeline.seal(batch)
        return batch

    def committed(self, batch: Batch) -> None:
        self.pipeline.committed(batch)
