"""The stages one worker process runs, wired for one batch of one partition.

With the sequencer in the process, its releases go straight to the router and loyalty stages running
beside it (fused: ``order-lifecycle`` is still published, but not read back). Without it, the router and
loyalty stages read ``order-lifecycle`` records. Either way a batch is decided here in memory and sent by the
data plane as one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from streams.stages.batch import Batch, RecordLike
from streams.stages.loyalty import LoyaltyStage
from streams.stages.router import RouterStage
from streams.stages.sequencer import Release, SequencerStage


class Pipeline:
    """The configured stages in topological order."""

    def __init__(
        self,
        sequencer: SequencerStage | None = None,
        router: RouterStage | None = None,
        loyalty: LoyaltyStage | None = None,
    ) -> None:
        if sequencer is None and router is None and loyalty is None:
            raise ValueError("a pipeline needs at least one stage")
        self.sequencer, self.router, self.loyalty = sequencer, router, loyalty

    @property
    def stages(self) -> list[SequencerStage | RouterStage | LoyaltyStage]:
        return [stage for stage in (self.sequencer, self.router, self.loyalty) if stage is not None]

    @property
    def uses_stream_time(self) -> bool:
        """Only the sequencer's decisions depend on time."""
        return self.sequencer is not None

    def open(self, partition: int, sequencer_rows: Iterable[tuple[bytes, bytes]] = ()) -> None:
        if self.sequencer is not None:
            self.sequencer.open(partition, sequencer_rows)

    def close(self, partition: int) -> None:
        if self.sequencer is not None:
            self.sequencer.close(partition)

    def on_record(self, batch: Batch, record: RecordLike, now: float) -> None:
        """One input record, read at stream time ``now``."""
        batch.records_in += 1
        sequencer = self.sequencer
        if sequencer is not None:
            due = sequencer.next_due(batch.partition)
            if due is not None and due <= now:  # pass the gaps due before this record, as live traffic would
                self._downstream(batch, sequencer.on_watermark(batch, now))
            self._downstream(batch, sequencer.on_record(batch, record, now))
            return
        if self.router is not None:
            self.router.on_record(batch, record, now)
        if self.loyalty is not None:
            self.loyalty.on_record(batch, record, now)

    def on_watermark(self, batch: Batch, watermark: float) -> None:
        if self.sequencer is not None:
            self._downstream(batch, self.sequencer.on_watermark(batch, watermark))

    def _downstream(self, batch: Batch, releases: list[Release]) -> None:
        for release in releases:
            if self.router is not None:
                self.router.on_release(batch, orjson.loads(release.value), release.value)
            if self.loyalty is not None:
                self.loyalty.on_event(batch, release.event)

    def seal(self, batch: Batch) -> None:
        """Encode the batch's state changes (called once, before it is sent)."""
        for stage in self.stages:
            stage.seal(batch)

    def committed(self, batch: Batch) -> None:
        """The batch's transaction committed: its state changes are the committed state now."""
        for stage in self.stages:
            stage.committed(batch)
