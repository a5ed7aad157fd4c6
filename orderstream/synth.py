"""Synthetic order traffic: realistic lifecycles, Zipf-like customer popularity, and chaos on demand.

The valid events depend only on ``seed`` (and the lifecycle knobs); chaos (duplicates, out-of-order pairs, poison)
draws from a second random stream. So the same seed with and without chaos carries exactly the same valid
events, which is what the metamorphic tests compare.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import orjson

from orderstream.domain import contract

RecordKind = Literal["valid", "duplicate", "poison"]
POISON_KINDS = ("bad_json", "schema_violation", "unsupported_version", "oversized", "unknown_type")
REGIONS = ("eu-west", "us-east", "us-west", "ap-south")
CHANNELS = ("web", "app", "store")
CARRIERS = ("dhl", "ups", "fedex", "postnl")


@dataclass(frozen=True, slots=True)
class Record:
    topic: str
    key: bytes
    value: bytes
    kind: RecordKind
    event_id: str | None = None
    poison: str | None = None


@dataclass(frozen=True)
class Chaos:
    """Shares of records to disturb, each in percent."""

    duplicate_pct: float = 0.0
    out_of_order_pct: float = 0.0
    poison_pct: float = 0.0

    def __post_init__(self) -> None:
        for name in ("duplicate_pct", "out_of_order_pct", "poison_pct"):
            value = getattr(self, name)
            if not 0 <= value <= 100:
                raise ValueError(f"{name} must be between 0 and 100, got {value}")


@dataclass(frozen=True)
class Workload:
    """What to generate: about ``events`` valid events over ``customers`` customers."""

    events: int
    customers: int = 1000
    seed: int = 7
    zipf_s: float = 1.07
    test_order_pct: float = 2.0
    max_active_orders: int = 200
    start: datetime = field(default_factory=lambda: datetime(2026, 11, 27, tzinfo=UTC))


# ------------------------------------------------------------------------------------------ lifecycles


def _uuid4(rng: random.Random) -> str:
    """A random (version 4) UUID string drawn from ``rng``, so a seed reproduces it."""
    h = f"{rng.getrandbits(128):032x}"
    variant = "89ab"[int(h[16], 16) & 3]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"


def _lifecycle(rng: random.Random) -> list[str]:
    """The event types of one order, in sequence order."""
    roll = rng.random()
    if roll < 0.70:
        steps = ["order.created", "payment.captured", "shipment.dispatched", "shipment.delivered"]
        if rng.random() < 0.12:
            steps.append("payment.refunded")
            if rng.random() < 0.3:
                steps.append("payment.refunded")
        return steps
    if roll < 0.80:
        return ["order.created", "payment.failed"]
    if roll < 0.86:
        return ["order.created", "payment.failed", "payment.captured", "shipment.dispatched"]
    if roll < 0.92:
        return ["order.created", "order.cancelled"]
    if roll < 0.97:
        return ["order.created", "payment.captured", "order.cancelled"]
    return ["order.created", "payment.captured", "payment.refunded", "shipment.dispatched"]


@dataclass
class _Order:
    order_id: str
    customer_id: str
    steps: list[str]
    total_cents: int
    currency: str
    is_test: bool
    position: int = 0
    refunded: int = 0

    @property
    def done(self) -> bool:
        return self.position >= len(self.steps)


class _Generator:
    def __init__(self, workload: Workload) -> None:
        self.w = workload
        self.rng = random.Random(workload.seed)
        weights = [1.0 / (rank + 1) ** workload.zipf_s for rank in range(workload.customers)]
        self.cum_weights = list(itertools.accumulate(weights))
        self.customer_ids = [f"c-{i:06d}" for i in range(workload.customers)]
        self.order_counter = 0
        self.clock_ms = int(workload.start.timestamp() * 1000)
        self._ts_second = -1
        self._ts_prefix = ""

    def _uuid(self) -> str:
        return _uuid4(self.rng)

    def _timestamp(self) -> str:
        """``occurred_at`` for the clock, RFC 3339 with milliseconds (second prefix cached: it's hot)."""
        seconds, millis = divmod(self.clock_ms, 1000)
        if seconds != self._ts_second:
            self._ts_second = seconds
            self._ts_prefix = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        return f"{self._ts_prefix}.{millis:03d}Z"

    def new_order(self) -> _Order:
        self.order_counter += 1
        customer = self.rng.choices(self.customer_ids, cum_weights=self.cum_weights)[0]
        # Most baskets are modest; a long tail crosses the 50 000-cent high-value line.
        total = max(100, int(self.rng.lognormvariate(9.2, 1.0)))
        return _Order(
            order_id=f"o-{self.w.seed}-{self.order_counter:08d}",
            customer_id=customer,
            steps=_lifecycle(self.rng),
            total_cents=total,
            currency="EUR",
            is_test=self.rng.random() * 100 < self.w.test_order_pct,
        )

    def _data(self, order: _Order, event_type: str) -> dict[str, object]:
        rng = self.rng
        if event_type == "order.created":
            n_items = rng.randint(1, 4)
            unit = max(1, order.total_cents // n_items)
            items = [
                {"sku": f"sku-{rng.randint(1, 5000):05d}", "quantity": 1, "unit_price_cents": unit}
                for _ in range(n_items)
            ]
            return {
                "total_cents": order.total_cents,
                "currency": order.currency,
                "region": rng.choice(REGIONS),
                "channel": rng.choice(CHANNELS),
                "is_test": order.is_test,
                "items": items,
            }
        if event_type == "payment.captured":
            return {"amount_cents": order.total_cents, "currency": order.currency, "payment_id": self._uuid()}
        if event_type == "payment.failed":
            return {"reason": rng.choice(["card_declined", "insufficient_funds", "fraud_suspected"])}
        if event_type == "payment.refunded":
            amount = max(1, int(order.total_cents * rng.choice([0.1, 0.25, 0.5, 1.0])))
            return {"amount_cents": amount}
        if event_type == "order.cancelled":
            return {"reason": rng.choice(["customer_request", "out_of_stock"])}
        return {"carrier": rng.choice(CARRIERS), "tracking_id": f"T{rng.getrandbits(40):010x}"}

    def next_event(self, order: _Order) -> Record:
        event_type = order.steps[order.position]
        order.position += 1
        self.clock_ms += 1 + int(self.rng.random() * 50)
        envelope = {
            "event_id": self._uuid(),
            "event_type": event_type,
            "schema_version": contract.SCHEMA_VERSION,
            "occurred_at": self._timestamp(),
            "order_id": order.order_id,
            "customer_id": order.customer_id,
            "sequence": order.position,
            "data": self._data(order, event_type),
        }
        return Record(
            topic=contract.source_topic_for(event_type),
            key=order.customer_id.encode(),
            value=orjson.dumps(envelope),
            kind="valid",
            event_id=str(envelope["event_id"]),
        )

    def orders(self) -> Iterator[tuple[_Order, Record]]:
        """Interleave many orders' lifecycles, each in its own sequence order, until ``events`` are out."""
        active: list[_Order] = []
        emitted = 0
        while emitted < self.w.events:
            if len(active) < self.w.max_active_orders and (not active or self.rng.random() < 0.3):
                active.append(self.new_order())
            index = self.rng.randrange(len(active))
            order = active[index]
            yield order, self.next_event(order)
            emitted += 1
            if order.done:
                active[index] = active[-1]
                active.pop()


# ------------------------------------------------------------------------------------------ chaos


def _poison(rng: random.Random, customer_id: str) -> Record:
    kind = rng.choice(POISON_KINDS)
    topic = rng.choice(contract.SOURCE_TOPICS)
    base = {
        "event_id": _uuid4(rng),
        "event_type": "payment.captured",
        "schema_version": 1,
        "occurred_at": "2026-11-27T00:00:00Z",
        "order_id": f"poison-{rng.getrandbits(32):08x}",
        "customer_id": customer_id,
        "sequence": 1,
        "data": {"amount_cents": 1000, "currency": "EUR", "payment_id": "p-1"},
    }
    if kind == "bad_json":
        value = orjson.dumps(base)[: rng.randint(5, 60)]
    elif kind == "schema_violation":
        base["data"] = {"amount_cents": 10.5, "currency": "EUR", "payment_id": "p-1"}
        value = orjson.dumps(base)
    elif kind == "unsupported_version":
        base["schema_version"] = 2
        value = orjson.dumps(base)
    elif kind == "unknown_type":
        base["event_type"] = "payment.teleported"
        value = orjson.dumps(base)
    else:
        base["padding"] = "x" * (contract.MAX_EVENT_BYTES + 1024)
        value = orjson.dumps(base)
    return Record(topic, customer_id.encode(), value, "poison", poison=kind)


def generate(workload: Workload, chaos: Chaos | None = None) -> Iterator[Record]:
    """Yield source-topic records: the valid lifecycle events, disturbed by ``chaos``."""
    chaos = chaos or Chaos()
    gen = _Generator(workload)
    crng = random.Random(workload.seed ^ 0x5EED)
    pending_dups: list[tuple[int, int, Record]] = []  # heap of (due step, tie-break, record)
    held: dict[str, Record] = {}  # order_id -> an event held back to follow the order's next event
    tie = itertools.count()
    for step, (order, record) in enumerate(gen.orders(), 1):
        out: list[Record] = []
        earlier = held.pop(order.order_id, None)
        if earlier is None and not order.done and crng.random() * 100 < chaos.out_of_order_pct:
            held[order.order_id] = record  # the order's next event goes out first
        else:
            out.append(record)
            if earlier is not None:
                out.append(earlier)
        for rec in out:
            yield rec
            if crng.random() * 100 < chaos.duplicate_pct:
                heapq.heappush(pending_dups, (step + crng.randint(1, 50), next(tie), rec))
        if chaos.poison_pct and crng.random() * 100 < chaos.poison_pct:
            yield _poison(crng, order.customer_id)
        while pending_dups and pending_dups[0][0] <= step:
            _, _, dup = heapq.heappop(pending_dups)
            yield Record(dup.topic, dup.key, dup.value, "duplicate", dup.event_id)
    yield from held.values()
    for _, _, dup in sorted(pending_dups, key=lambda item: item[:2]):
        yield Record(dup.topic, dup.key, dup.value, "duplicate", dup.event_id)
