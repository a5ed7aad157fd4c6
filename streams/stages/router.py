"""Router stage: consumer-side filtering of order events into rule topics (``rules/router.yaml``).

Each rule is an EventBridge event pattern plus a target topic (:mod:`orderstream.domain.rules`). Test orders
never leave the router: ``order.created`` says whether an order is a test order, and a table keyed by
customer and order remembers the test ones, so their later events are dropped too.
"""

from __future__ import annotations

from typing import Any

import orjson

from orderstream.domain.rules import RouterRuleSet
from streams.stages.batch import Batch, Headers, RecordLike, StateView
from streams.stages.keys import order_key

STAGE = "router"
TABLE = "router-test-orders"
TEST_ORDER = b"1"


class RouterStage:
    """Copy each event to the topics whose rules match it; drop everything of a test order."""

    def __init__(self, rules: RouterRuleSet, test_orders: StateView[bytes]) -> None:
        self.rules = rules
        self.test_orders = test_orders

    def on_record(self, batch: Batch, record: RecordLike, now: float) -> None:
        """A record of ``order-lifecycle`` (router deployed on its own)."""
        try:
            doc = orjson.loads(record.value or b"")  # a tombstone (no value) is bad JSON too
            customer, order = str(doc["customer_id"]), str(doc["order_id"])
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            batch.counts["router.in"] += 1
            batch.park(record, STAGE, "bad_json", f"{type(exc).__name__}: {exc}")
            return
        self.on_doc(batch, doc, customer, order, record.key, record.value, record.headers)

    def on_release(self, batch: Batch, doc: dict[str, Any], value: bytes) -> None:
        """An event the sequencer released in this process (fused: nothing is read back)."""
        customer = str(doc["customer_id"])
        self.on_doc(batch, doc, customer, str(doc["order_id"]), customer.encode(), value, None)

    def on_doc(
        self,
        batch: Batch,
        doc: dict[str, Any],
        customer: str,
        order: str,
        key: bytes | None,
        value: bytes | None,
        headers: Headers | None,
    ) -> None:
        batch.counts["router.in"] += 1
        okey = order_key(customer, order)
        data = doc.get("data")
        if (
            doc.get("event_type") == "order.created"
            and isinstance(data, dict)
            and data.get("is_test") is True
        ):
            batch.changes(TABLE)[okey] = TEST_ORDER
        if self.test_orders.lookup(batch, okey) is not None:
            batch.counts["router.test_dropped"] += 1
            return
        for topic in self.rules.route(doc):
            batch.send(topic, key, value, headers)
            batch.counts[f"router.out.{topic}"] += 1

    def seal(self, batch: Batch) -> None:
        self.test_orders.seal(batch)

    def committed(self, batch: Batch) -> None:
        self.test_orders.committed(batch)
