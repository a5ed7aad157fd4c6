"""Contract events with sensible defaults, for domain tests.

Ids are deterministic (uuid5 of order, sequence, type and an optional ``variant``), so a test that builds
"the same event" twice gets the same ``event_id`` — a redelivery — and a different ``variant`` gives a
different event at the same position — a conflict.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from orderstream.domain.contract import EVENT_ADAPTER, Event

_IDS = uuid.UUID("3f1d2c0e-5b7a-4c1e-9a55-0f6a1f2b9c10")
T0 = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)


def event_id(order_id: str, sequence: int, event_type: str, variant: str = "") -> str:
    return str(uuid.uuid5(_IDS, f"{order_id}/{sequence}/{event_type}/{variant}"))


def make(
    event_type: str,
    data: dict[str, Any],
    *,
    order_id: str = "o-1",
    customer_id: str = "c-1",
    sequence: int = 1,
    variant: str = "",
    **extra: Any,
) -> Event:
    """Any event, validated through the contract exactly as the parser would."""
    doc = {
        "event_id": event_id(order_id, sequence, event_type, variant),
        "event_type": event_type,
        "schema_version": 1,
        "occurred_at": (T0 + timedelta(minutes=sequence)).isoformat(),
        "order_id": order_id,
        "customer_id": customer_id,
        "sequence": sequence,
        "data": data,
        **extra,
    }
    return EVENT_ADAPTER.validate_python(doc)


def created(total_cents: int = 10_000, is_test: bool = False, **kw: Any) -> Event:
    data = {
        "total_cents": total_cents,
        "currency": "EUR",
        "region": "eu-west",
        "channel": "web",
        "is_test": is_test,
        "items": [{"sku": "SKU-1", "quantity": 1, "unit_price_cents": total_cents}],
    }
    return make("order.created", data, **kw)


def captured(amount_cents: int = 10_000, **kw: Any) -> Event:
    return make(
        "payment.captured", {"amount_cents": amount_cents, "currency": "EUR", "payment_id": "p-1"}, **kw
    )


def refunded(amount_cents: int, **kw: Any) -> Event:
    return make("payment.refunded", {"amount_cents": amount_cents}, **kw)


def cancelled(reason: str = "customer request", **kw: Any) -> Event:
    return make("order.cancelled", {"reason": reason}, **kw)


def failed(reason: str = "card declined", **kw: Any) -> Event:
    return make("payment.failed", {"reason": reason}, **kw)


def dispatched(**kw: Any) -> Event:
    return make("shipment.dispatched", {"carrier": "dhl", "tracking_id": "T-1"}, **kw)


def delivered(**kw: Any) -> Event:
    return make("shipment.delivered", {"carrier": "dhl", "tracking_id": "T-1"}, **kw)


def lifecycle(order_id: str = "o-1", customer_id: str = "c-1", total_cents: int = 10_000) -> list[Event]:
    """A plain happy-path order: created, captured, dispatched, delivered (sequences 1-4)."""
    kw: dict[str, Any] = {"order_id": order_id, "customer_id": customer_id}
    return [
        created(total_cents, sequence=1, **kw),
        captured(total_cents, sequence=2, **kw),
        dispatched(sequence=3, **kw),
        delivered(sequence=4, **kw),
    ]
