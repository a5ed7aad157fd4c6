"""Router agent: consumer-side filtering of ``order-lifecycle`` into rule topics (``rules/router.yaml``).

Each rule is an EventBridge event pattern plus a target topic (:mod:`orderstream.domain.rules`). Test orders
never leave the router: ``order.created`` says whether an order is a test order, and a table keyed by
customer and order remembers the test ones, so their later events are dropped too.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from faust.types import EventT

from orderstream.domain import contract
from orderstream.domain.rules import RouterRuleSet, load_router_rules
from streams.app import Streams, each_batch, table_key
from streams.metrics import observe_batch

STAGE = "router"


def register(streams: Streams) -> None:
    app, settings = streams.app, streams.settings
    rules = RouterRuleSet(load_router_rules(settings.router_rules))
    test_orders = streams.table("router-test-orders")
    for name in rules.target_topics:
        streams.topics_to_create.setdefault(name, {})

    async def handle(batch: list[EventT[Any]]) -> None:
        started = time.monotonic()
        deliveries = []
        new_test_orders: set[bytes] = set()
        for event in batch:
            msg = event.message
            try:
                doc = orjson.loads(msg.value or b"")  # a tombstone (no value) is bad JSON too
                key = table_key(str(doc["customer_id"]), str(doc["order_id"]))
            except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
                deliveries.append(await streams.dead_letter(event, STAGE, "bad_json", str(exc)))
                continue
            if doc.get("event_type") == "order.created" and (doc.get("data") or {}).get("is_test") is True:
                new_test_orders.add(key)
            if key in new_test_orders or key in test_orders:
                streams.counters.inc("router.test_dropped")
                continue
            for name in rules.route(doc):
                deliveries.append(await streams.send(name, msg.key, msg.value, headers=msg.headers))
                streams.counters.inc(f"router.out.{name}")
        await asyncio.gather(*deliveries)
        await streams.write_owned(test_orders, dict.fromkeys(new_test_orders, b"1"))
        streams.counters.inc("router.in", len(batch))
        observe_batch(streams, STAGE, started)

    @app.agent(streams.topic(contract.ORDER_LIFECYCLE), name="router")
    async def router(stream: Any) -> None:
        await each_batch(stream, handle)

    _ = router
