"""Loyalty agent: released order events → per-customer ledger table → ``loyalty-events`` (+ HTTP view).

Its input is ``order-lifecycle``, or, where the sequencer runs in the same process, the sequencer's releases
in memory. The stage is :class:`streams.stages.loyalty.LoyaltyStage` (rules: :mod:`orderstream.domain.ledger`).
"""

from __future__ import annotations

from typing import Any

from orderstream.domain import contract
from orderstream.domain.ledger import CustomerLedger
from streams.runtime import Runtime, serve
from streams.stages.loyalty import STAGE, TABLE, LoyaltyStage, decode_ledger, encode_ledger

CACHED_LEDGERS = 100_000
"""Decoded ledgers kept in memory between batches (see :class:`streams.stages.batch.StateView`)."""


def load_ledger(raw: bytes | None, customer_id: str) -> CustomerLedger:
    return decode_ledger(raw) if raw is not None else CustomerLedger(customer_id)


def declare(rt: Runtime) -> None:
    ledgers = rt.table(TABLE, per_order=False)
    source = rt.channel() if rt.fused else rt.topic(contract.ORDER_LIFECYCLE)

    @rt.app.agent(source, name=STAGE)
    async def loyalty(stream: Any) -> None:
        await serve(stream)

    rt.stage(
        STAGE,
        lambda: LoyaltyStage(
            rt.view(ledgers, decode_ledger, encode_ledger, CACHED_LEDGERS), rt.settings.topic_partitions
        ),
    )
