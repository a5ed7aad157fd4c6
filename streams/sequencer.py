"""Sequencer agent: ``orders`` + ``payments`` + ``shipments`` → ``order-lifecycle`` (bad input → DLQ).

The stage is :class:`streams.stages.sequencer.SequencerStage` (rules: :mod:`orderstream.domain.sequencing`);
its clock is stream time, the three source partitions of a partition number merged by record timestamp.
"""

from __future__ import annotations

from typing import Any

from orderstream.domain import contract
from streams.runtime import Runtime, serve
from streams.stages.sequencer import STAGE, TABLE, SequencerStage, decode_state, encode_state

CACHED_ORDERS = 200_000
"""Decoded order states kept in memory between batches (see :class:`streams.stages.batch.StateView`)."""


def declare(rt: Runtime) -> None:
    orders = rt.table(TABLE, per_order=True)

    @rt.app.agent(rt.topic(*contract.SOURCE_TOPICS), name=STAGE)
    async def sequencer(stream: Any) -> None:
        await serve(stream)

    settings = rt.settings
    rt.stage(
        STAGE,
        lambda: SequencerStage(
            rt.view(orders, decode_state, encode_state, CACHED_ORDERS),
            settings.reorder_timeout,
            settings.topic_partitions,
        ),
    )
