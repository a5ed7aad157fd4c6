"""Sequencer agent: ``orders`` + ``payments`` + ``shipments`` → validated, de-duplicated, re-ordered
``order-lifecycle``; bad input → DLQ. The rules are :mod:`orderstream.domain.sequencing`.

State is a table keyed by ``customer<US>order`` whose changelog partition is the customer's partition.
Each batch is decided in memory; everything it emits (lifecycle events, DLQ records) is sent and acknowledged
before the changed order states are written. A crash therefore either replays the batch from the old states
(re-emitting the same events, which downstream de-duplicates by event id and sequence) or finds it fully done.

Reorder timeouts need a clock that also ticks when no traffic arrives. A timer sends a tick record to every
partition of an internal ``<app>-ticks`` topic each second; the agent reads it with the source topics
(co-partitioned, so a tick for partition *p* reaches the worker owning *p*) and expires the open gaps of that
partition's orders.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from typing import Any

import orjson
from faust.types import EventT

from orderstream.domain import contract, sequencing
from orderstream.domain.contract import ParseError, parse_event
from orderstream.domain.sequencing import OrderState, Outcome
from streams.app import KEY_SEP, DecodedValues, Streams, customer_partition, each_batch, table_key
from streams.metrics import observe_batch

STAGE = "sequencer"
TICK_INTERVAL = 1.0
CACHED_ORDERS = 200_000
"""Decoded order states kept in memory between batches (see :class:`streams.app.DecodedValues`)."""


def decode_state(raw: bytes) -> OrderState:
    return OrderState.from_dict(orjson.loads(raw))


def lifecycle_bytes(released: sequencing.Released) -> bytes:
    doc = released.event.to_dict()
    if released.gap_before:
        doc["gap_before"] = True
    return orjson.dumps(doc)


def tick_topic(faust_app_id: str) -> str:
    """The internal tick topic of a sequencer app (created by ``orderstream worker`` before start)."""
    return f"{faust_app_id}-ticks"


def register(streams: Streams) -> None:
    app, settings = streams.app, streams.settings
    timeout, partitions = settings.reorder_timeout, settings.topic_partitions
    ticks_name = tick_topic(app.conf.id)
    ticks = streams.topic(ticks_name)
    streams.topics_to_create[ticks_name] = {"retention.ms": "600000"}
    orders = streams.table("sequencer-orders")
    decoded = DecodedValues(orders, decode_state, limit=CACHED_ORDERS)
    # partition -> key -> deadline of the orders with an open gap: an index of what the table holds,
    # rebuilt from it after a restart or rebalance.
    open_gaps: dict[int, dict[bytes, float]] = defaultdict(dict)
    index_stale = [True]

    def rebuild_index(batch: Batch, now: float) -> None:
        """Index the open gaps of the orders this worker now holds, their clocks restarted at ``now``."""
        open_gaps.clear()
        owned = streams.owned_partitions()
        for key, raw in list(orders.items()):
            if customer_partition(key, partitions) not in owned:
                continue  # a standby copy: its owner keeps the clocks
            state = decode_state(raw)
            if state.held:
                batch.states[key] = sequencing.restart_clocks(state, now)
        index_stale[0] = False

    class Batch:
        """One batch's decisions: states touched, and the deliveries to await before writing them."""

        def __init__(self) -> None:
            self.states: dict[bytes, OrderState] = {}
            self.deliveries: list[Any] = []

        def state(self, key: bytes) -> OrderState:
            if key in self.states:
                return self.states[key]
            return decoded.get(key) or OrderState()

        async def forward(self, outcome: Outcome, customer_key: bytes, event: Any = None) -> None:
            for released in outcome.released:
                self.deliveries.append(
                    await streams.send(contract.ORDER_LIFECYCLE, customer_key, lifecycle_bytes(released))
                )
            for rejected in outcome.rejected if event is not None else ():
                self.deliveries.append(
                    await streams.dead_letter(event, STAGE, rejected.reason, rejected.detail)
                )
            streams.counters.inc("sequencer.out", len(outcome.released))
            if outcome.duplicate:
                streams.counters.inc("sequencer.duplicates")

        async def commit(self) -> None:
            await asyncio.gather(*self.deliveries)
            encoded = {key: orjson.dumps(state.to_dict()) for key, state in self.states.items()}
            await streams.write_owned(orders, encoded)
            decoded.remember(encoded, self.states)
            for key, state in self.states.items():
                due = sequencing.deadline(state, timeout)
                gaps = open_gaps[customer_partition(key, partitions)]
                if due is None:
                    gaps.pop(key, None)
                else:
                    gaps[key] = due

    async def expire_due(batch: Batch, partition: int, now: float) -> None:
        for key in [k for k, at in open_gaps[partition].items() if at <= now]:
            state, outcome = sequencing.expire(batch.state(key), now, timeout)
            batch.states[key] = state
            await batch.forward(outcome, key.split(KEY_SEP, 1)[0])
            streams.counters.inc("sequencer.gaps_expired")

    async def handle(events: list[EventT[Any]]) -> None:
        batch, now, started = Batch(), time.time(), time.monotonic()
        if index_stale[0]:
            rebuild_index(batch, now)
        for event in events:
            msg = event.message
            if msg.topic == ticks_name:
                await expire_due(batch, msg.partition, now)
                continue
            streams.counters.inc("sequencer.in")
            parsed = parse_event(msg.value)
            if isinstance(parsed, ParseError):
                batch.deliveries.append(await streams.dead_letter(event, STAGE, parsed.kind, parsed.message))
                continue
            key = table_key(parsed.customer_id, parsed.order_id)
            before = batch.state(key)
            after, outcome = sequencing.accept(before, parsed, now, timeout)
            if after != before:
                batch.states[key] = after
            await batch.forward(outcome, parsed.customer_id.encode(), event)
        await batch.commit()
        observe_batch(streams, STAGE, started)

    @app.agent(streams.topic(*contract.SOURCE_TOPICS, ticks_name), name="sequencer")
    async def sequencer(stream: Any) -> None:
        await each_batch(stream, handle)

    @app.timer(TICK_INTERVAL)  # type: ignore[untyped-decorator]
    async def tick() -> None:
        for partition in range(partitions):
            await ticks.send(key=b"tick", value=b"", partition=partition)

    def _reindex(sender: Any, *args: Any, **kwargs: Any) -> None:
        index_stale[0] = True

    app.on_rebalance_complete.connect(_reindex)  # type: ignore[arg-type]

    _ = (sequencer, tick, _reindex)
