"""The event contract: topic names, envelope models and the byte-level parser.

Every process imports this module; it is the product's interface (see DESIGN.md, "The contract").

``parse_event(raw)`` never raises: it returns either a typed event or a :class:`ParseError` naming what
was wrong (``bad_json``, ``schema_violation``, ``unknown_type``, ``unsupported_version``), so a worker can
send bad input to the DLQ and carry on.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Final, Literal

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationError,
    field_validator,
)

# --------------------------------------------------------------------------------------------- topics

ORDERS: Final = "orders"
PAYMENTS: Final = "payments"
SHIPMENTS: Final = "shipments"
SOURCE_TOPICS: Final[tuple[str, ...]] = (ORDERS, PAYMENTS, SHIPMENTS)
ORDER_LIFECYCLE: Final = "order-lifecycle"
LOYALTY_EVENTS: Final = "loyalty-events"
DLQ: Final = "orderstream.dlq"
HIGH_VALUE: Final = "orders.high-value"
CONTROL: Final = "orderstream.control"
"""Operator commands to running workers (``orderstream dlq resume``); one partition, created on first use."""
ALL_TOPICS: Final[tuple[str, ...]] = (*SOURCE_TOPICS, ORDER_LIFECYCLE, LOYALTY_EVENTS, HIGH_VALUE, DLQ)

SCHEMA_VERSION: Final = 1
MAX_INT: Final = 2**53
"""Largest integer the pipeline stores or sums (sequence, amounts, quantities, schema_version): every JSON
parser represents it exactly, and sums of a few thousand of them stay within 64 bits. Anything larger (or
below the field's minimum) is a schema violation, so no single record can overflow a stage."""
MAX_EVENT_BYTES: Final = 256 * 1024
"""Largest value accepted; anything bigger is a schema violation (oversized), never parsed."""

EventType = Literal[
    "order.created",
    "order.cancelled",
    "payment.captured",
    "payment.failed",
    "payment.refunded",
    "shipment.dispatched",
    "shipment.delivered",
]
EVENT_TYPES: Final[tuple[str, ...]] = EventType.__args__  # type: ignore[attr-defined]

TOPIC_OF_PREFIX: Final[dict[str, str]] = {"order": ORDERS, "payment": PAYMENTS, "shipment": SHIPMENTS}


def source_topic_for(event_type: str) -> str:
    """The source topic an event type is published to (``payment.captured`` → ``payments``)."""
    return TOPIC_OF_PREFIX[event_type.split(".", 1)[0]]


# --------------------------------------------------------------------------------------------- models


def parse_utc(text: str) -> datetime:
    """An RFC 3339 timestamp in UTC (``Z`` or ``+00:00``), or ValueError."""
    if "T" not in text.upper():
        raise ValueError("occurred_at must be an RFC 3339 date-time like 2026-11-28T10:00:00Z")
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError("occurred_at must be an RFC 3339 date-time like 2026-11-28T10:00:00Z") from None
    if value.tzinfo is None or value.utcoffset() != timedelta(0):
        raise ValueError("occurred_at must be in UTC (Z or +00:00)")
    return value.astimezone(UTC)


_CANONICAL_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

Cents = Annotated[StrictInt, Field(ge=0, le=MAX_INT, description="integer cents, never a float")]
NonEmpty = Annotated[StrictStr, Field(min_length=1)]
Currency = Annotated[StrictStr, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]


class _Open(BaseModel):
    """Unknown fields are kept and passed through unchanged (forward compatible)."""

    model_config = ConfigDict(extra="allow", frozen=True)


class LineItem(_Open):
    sku: NonEmpty
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_INT)]
    unit_price_cents: Cents


class OrderCreatedData(_Open):
    total_cents: Cents
    currency: Currency
    region: NonEmpty
    channel: NonEmpty
    is_test: StrictBool
    items: list[LineItem]


class PaymentCapturedData(_Open):
    amount_cents: Cents
    currency: Currency
    payment_id: NonEmpty


class ReasonData(_Open):
    reason: StrictStr


class PaymentRefundedData(_Open):
    amount_cents: Cents


class ShipmentData(_Open):
    carrier: NonEmpty
    tracking_id: NonEmpty


class _Envelope(_Open):
    event_id: StrictStr
    schema_version: Literal[1]
    occurred_at: Annotated[StrictStr, Field(json_schema_extra={"format": "date-time"})]
    order_id: NonEmpty
    customer_id: NonEmpty
    sequence: Annotated[StrictInt, Field(ge=1, le=MAX_INT)]

    @field_validator("event_id")
    @classmethod
    def _uuid(cls, value: str) -> str:
        if _CANONICAL_UUID.fullmatch(value):
            return value  # the usual spelling, which uuid.UUID accepts: checked without building one
        try:
            uuid.UUID(value)
        except ValueError:
            raise ValueError("event_id must be a UUID string") from None
        return value

    @field_validator("occurred_at")
    @classmethod
    def _utc(cls, value: str) -> str:
        parse_utc(value)
        return value  # kept as sent, so the envelope round-trips byte for byte

    @property
    def occurred_at_dt(self) -> datetime:
        return parse_utc(self.occurred_at)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict, extra fields included."""
        return self.model_dump(mode="json")

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))


class OrderCreated(_Envelope):
    event_type: Literal["order.created"]
    data: OrderCreatedData


class OrderCancelled(_Envelope):
    event_type: Literal["order.cancelled"]
    data: ReasonData


class PaymentCaptured(_Envelope):
    event_type: Literal["payment.captured"]
    data: PaymentCapturedData


class PaymentFailed(_Envelope):
    event_type: Literal["payment.failed"]
    data: ReasonData


class PaymentRefunded(_Envelope):
    event_type: Literal["payment.refunded"]
    data: PaymentRefundedData


class ShipmentDispatched(_Envelope):
    event_type: Literal["shipment.dispatched"]
    data: ShipmentData


class ShipmentDelivered(_Envelope):
    event_type: Literal["shipment.delivered"]
    data: ShipmentData


Event = Annotated[
    OrderCreated
    | OrderCancelled
    | PaymentCaptured
    | PaymentFailed
    | PaymentRefunded
    | ShipmentDispatched
    | ShipmentDelivered,
    Field(discriminator="event_type"),
]
"""Any order/payment/shipment envelope, discriminated on ``event_type``."""

EVENT_ADAPTER: Final[TypeAdapter[Event]] = TypeAdapter(Event)


# --------------------------------------------------------------------------------------------- parsing

ParseErrorKind = Literal["bad_json", "schema_violation", "unknown_type", "unsupported_version"]


@dataclass(frozen=True, slots=True)
class ParseError:
    """Why a record could not become an :data:`Event`. Never raised; returned."""

    kind: ParseErrorKind
    message: str


def _first_errors(exc: ValidationError, limit: int = 3) -> str:
    parts = []
    for err in exc.errors(include_url=False)[:limit]:
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - limit
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def parse_event(raw: bytes | bytearray | memoryview | None) -> Event | ParseError:
    """Parse a record value into a typed event, or say precisely why not. Never raises."""
    if raw is None:
        return ParseError("bad_json", "record value is null (tombstone)")
    if len(raw) > MAX_EVENT_BYTES:
        return ParseError("schema_violation", f"value is {len(raw)} bytes, over the {MAX_EVENT_BYTES} limit")
    try:
        doc = orjson.loads(bytes(raw) if isinstance(raw, memoryview) else raw)
    except orjson.JSONDecodeError as exc:
        return ParseError("bad_json", f"not valid UTF-8 JSON: {exc}")
    return parse_document(doc)


def parse_document(doc: Any) -> Event | ParseError:
    """Validate an already decoded JSON document (see :func:`parse_event`)."""
    if not isinstance(doc, dict):
        return ParseError("schema_violation", f"envelope must be a JSON object, got {type(doc).__name__}")
    version = doc.get("schema_version")
    if type(version) is int and SCHEMA_VERSION < version <= MAX_INT:
        return ParseError(
            "unsupported_version", f"schema_version {version} is newer than supported {SCHEMA_VERSION}"
        )
    event_type = doc.get("event_type")
    if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
        return ParseError("unknown_type", f"event_type {event_type!r} is not one of {', '.join(EVENT_TYPES)}")
    try:
        return EVENT_ADAPTER.validate_python(doc)
    except ValidationError as exc:
        return ParseError("schema_violation", _first_errors(exc))


def dump_event(event: Event) -> bytes:
    """Serialise an event back to JSON bytes, unknown fields included."""
    return event.to_bytes()


def envelope_json_schema() -> dict[str, Any]:
    """The JSON Schema of the envelope, as written by ``orderstream schema``."""
    schema = EVENT_ADAPTER.json_schema(mode="validation")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "orderstream event envelope"
    schema["description"] = (
        f"Values of topics {', '.join(SOURCE_TOPICS)} and {ORDER_LIFECYCLE}; schema_version {SCHEMA_VERSION}."
    )
    return schema


# --------------------------------------------------------------------------------------------- loyalty

LoyaltyEventType = Literal["loyalty.points_awarded", "loyalty.points_reversed", "loyalty.tier_changed"]


class LoyaltyEvent(_Open):
    """A value of the ``loyalty-events`` topic (keyed by customer_id)."""

    event_id: StrictStr
    event_type: LoyaltyEventType
    schema_version: Literal[1] = 1
    occurred_at: datetime
    customer_id: NonEmpty
    order_id: StrictStr | None = None
    caused_by: StrictStr = Field(description="event_id of the order event that caused this one")
    data: dict[str, Any]

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))
