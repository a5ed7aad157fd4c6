"""Loyalty agent: ``order-lifecycle`` → per-customer ledger table → ``loyalty-events``.

The ledger (:mod:`orderstream.domain.ledger`) is idempotent per order and its derived events have
deterministic ids. Each batch is applied in memory, its derived events are sent and *acknowledged*, and only
then are the changed ledgers written to the table. So a crash at any point either replays the batch (same
state before, same derived ids: duplicates at worst) or finds the batch applied with everything it emitted
already delivered. The whole customer ledger is one table value: it can never be half-written.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from faust.types import EventT

from orderstream.domain import contract, ledger
from orderstream.domain.contract import ParseError, parse_event
from orderstream.domain.ledger import CustomerLedger
from streams.app import DecodedValues, Streams, each_batch
from streams.metrics import observe_batch

STAGE = "loyalty"
TABLE = "loyalty-ledger"
CACHED_LEDGERS = 100_000
"""Decoded ledgers kept in memory between batches (see :class:`streams.app.DecodedValues`)."""


def load_ledger(raw: bytes | None, customer_id: str) -> CustomerLedger:
    return decode_ledger(raw) if raw is not None else CustomerLedger(customer_id)


def decode_ledger(raw: bytes) -> CustomerLedger:
    return CustomerLedger.from_dict(orjson.loads(raw))


def register(streams: Streams) -> None:
    app = streams.app
    ledgers = streams.table(TABLE)
    streams.ledgers = ledgers  # type: ignore[attr-defined]  # the web view reads it
    decoded = DecodedValues(ledgers, decode_ledger, limit=CACHED_LEDGERS)

    async def handle(batch: list[EventT[Any]]) -> None:
        started = time.monotonic()
        changed: dict[bytes, CustomerLedger] = {}
        deliveries = []
        for event in batch:
            parsed = parse_event(event.message.value)
            if isinstance(parsed, ParseError):
                deliveries.append(await streams.dead_letter(event, STAGE, parsed.kind, parsed.message))
                continue
            key = parsed.customer_id.encode()
            before = changed.get(key) or decoded.get(key) or CustomerLedger(parsed.customer_id)
            after, derived = ledger.apply(before, parsed)
            if after is not before:
                changed[key] = after
            for loyalty_event in derived:
                deliveries.append(await streams.send(contract.LOYALTY_EVENTS, key, loyalty_event.to_bytes()))
        await asyncio.gather(*deliveries)
        encoded = {key: orjson.dumps(ledger.to_dict()) for key, ledger in changed.items()}
        await streams.write_owned(ledgers, encoded)
        decoded.remember(encoded, changed)
        streams.counters.inc("loyalty.in", len(batch))
        observe_batch(streams, STAGE, started)
        streams.counters.inc("loyalty.out", len(deliveries))

    @app.agent(streams.topic(contract.ORDER_LIFECYCLE), name="loyalty")
    async def loyalty(stream: Any) -> None:
        await each_batch(stream, handle)

    _ = loyalty
