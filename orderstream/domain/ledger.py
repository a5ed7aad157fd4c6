"""The per-customer loyalty ledger: an idempotent per-order ledger, never a running counter.

The ledger stores only facts per order (test flag, amount captured, amount refunded, last sequence applied);
points, lifetime spend and tier are *derived* from those facts every time. So an event applied twice changes
nothing (its sequence is not above the order's last applied one), and the customer's totals do not depend on
how the events of different orders interleave: each total is a sum over orders. DESIGN.md "Loyalty" is the
spec; the choices it leaves open are written down in docs/domain.md.

:func:`apply` returns the new ledger and the ``loyalty-events`` it causes. Their ids are uuid5 of the causing
event id and the kind, so re-processing from the same state re-emits byte-identical events.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from orderstream.domain.contract import (
    Event,
    LoyaltyEvent,
    LoyaltyEventType,
    OrderCancelled,
    OrderCreated,
    PaymentCaptured,
    PaymentRefunded,
)

Tier = Literal["bronze", "silver", "gold"]

GOLD_CENTS: Final = 200_000
SILVER_CENTS: Final = 50_000
CENTS_PER_POINT: Final = 100

LOYALTY_NAMESPACE: Final = uuid.UUID("67e12182-cabb-439b-a364-41c07e647274")
"""Fixed namespace of derived loyalty event ids. Never change it: replays must re-emit the same ids."""

STATE_FORMAT: Final = 1
"""Version of the ``to_dict`` layout, so a future layout can migrate what an older worker stored."""


def tier_for(lifetime_spend_cents: int) -> Tier:
    """gold ≥ 200 000 cents, silver ≥ 50 000, else bronze."""
    if lifetime_spend_cents >= GOLD_CENTS:
        return "gold"
    if lifetime_spend_cents >= SILVER_CENTS:
        return "silver"
    return "bronze"


@dataclass(frozen=True, slots=True)
class OrderEntry:
    """The facts the ledger keeps about one order; everything else is derived from them."""

    last_sequence: int = 0
    is_test: bool = False
    """From the order's first applied ``order.created``; ``False`` while none was seen."""
    created_seen: bool = False
    captured_cents: int | None = None
    """Amount of the first capture; ``None`` until one is applied (a capture of 0 is still a capture)."""
    refunded_cents: int = 0
    """Sum of refunds (and a cancellation's implied refund), never above ``captured_cents``."""
    cancelled: bool = False

    @property
    def awarded(self) -> int:
        """Points the first capture awarded, before refunds (kept for test orders too, but never counted)."""
        return (self.captured_cents or 0) // CENTS_PER_POINT

    @property
    def points(self) -> int:
        """What this order contributes to the balance now: ``awarded - floor(awarded * refunded / captured)``."""
        if self.is_test or not self.captured_cents:
            return 0
        return self.awarded - self.awarded * self.refunded_cents // self.captured_cents

    @property
    def spend_cents(self) -> int:
        """What this order contributes to lifetime spend: captured - refunded (0 for a test order)."""
        if self.is_test:
            return 0
        return (self.captured_cents or 0) - self.refunded_cents

    def to_dict(self) -> dict[str, Any]:
        return {
            "last_sequence": self.last_sequence,
            "is_test": self.is_test,
            "created_seen": self.created_seen,
            "captured_cents": self.captured_cents,
            "refunded_cents": self.refunded_cents,
            "cancelled": self.cancelled,
        }


@dataclass(frozen=True, slots=True)
class CustomerLedger:
    """One customer's per-order ledger. Treat as immutable: :func:`apply` returns a new one.

    The totals are sums over ``orders``, computed once when a ledger is built and then carried along by
    :func:`apply`, which moves them by the one order that changed (a heavy customer has thousands of orders).
    They take no part in equality and are never stored: ``from_dict`` recomputes them from the facts.
    """

    customer_id: str
    orders: dict[str, OrderEntry] = field(default_factory=dict)
    _totals: tuple[int, int] | None = field(default=None, repr=False, compare=False)
    """``(points, lifetime_spend_cents)`` over ``orders``; ``None`` means "compute them now"."""

    def __post_init__(self) -> None:
        if self._totals is None:
            totals = (
                sum(entry.points for entry in self.orders.values()),
                sum(entry.spend_cents for entry in self.orders.values()),
            )
            object.__setattr__(self, "_totals", totals)

    @property
    def points(self) -> int:
        assert self._totals is not None  # set by __post_init__
        return self._totals[0]

    @property
    def lifetime_spend_cents(self) -> int:
        assert self._totals is not None  # set by __post_init__
        return self._totals[1]

    @property
    def tier(self) -> Tier:
        return tier_for(self.lifetime_spend_cents)

    def summary(self) -> dict[str, Any]:
        """What ``orderstream loyalty get ID`` prints; ``orders`` counts the customer's non-test orders."""
        return {
            "customer_id": self.customer_id,
            "points": self.points,
            "tier": self.tier,
            "lifetime_spend_cents": self.lifetime_spend_cents,
            "orders": sum(1 for entry in self.orders.values() if not entry.is_test),
        }

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form for a faust table."""
        return {
            "format": STATE_FORMAT,
            "customer_id": self.customer_id,
            "orders": {order_id: entry.to_dict() for order_id, entry in sorted(self.orders.items())},
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> CustomerLedger:
        """Rebuild what :meth:`to_dict` wrote. Raises (KeyError, TypeError, ValueError) on anything else."""
        if doc.get("format") != STATE_FORMAT:
            raise ValueError(f"unknown ledger state format {doc.get('format')!r}")
        orders = {str(order_id): OrderEntry(**entry) for order_id, entry in doc["orders"].items()}
        return cls(customer_id=str(doc["customer_id"]), orders=orders)


def apply(ledger: CustomerLedger, event: Event) -> tuple[CustomerLedger, list[LoyaltyEvent]]:
    """Apply one order event (in its order's sequence order) and say what changed for the customer.

    An event whose sequence is not above its order's last applied sequence is a replay: no change, no output.
    """
    if event.customer_id != ledger.customer_id:
        raise ValueError(
            f"event of customer {event.customer_id!r} applied to ledger of {ledger.customer_id!r}"
        )
    entry = ledger.orders.get(event.order_id, OrderEntry())
    if event.sequence <= entry.last_sequence:
        return ledger, []
    updated_entry = _apply_to_order(entry, event)
    points = ledger.points + updated_entry.points - entry.points
    spend = ledger.lifetime_spend_cents + updated_entry.spend_cents - entry.spend_cents
    updated = CustomerLedger(
        ledger.customer_id, {**ledger.orders, event.order_id: updated_entry}, _totals=(points, spend)
    )
    # Totals are sums over orders: if this order's share did not move, neither did they.
    unmoved = (points, spend) == (ledger.points, ledger.lifetime_spend_cents)
    return updated, [] if unmoved else _changes(ledger, updated, event)


class LedgerChanges:
    """Several events applied to one customer's ledger at a cost per event that does not grow with the number
    of orders: :func:`apply` copies the order map for every event, this copies it once (on the first change)
    and then updates it in place. Same results as applying the events one by one with :func:`apply`.

    ``ledger()`` hands out an immutable :class:`CustomerLedger`; a later change copies the map again, so a
    ledger once handed out never changes.
    """

    __slots__ = ("_base", "_customer_id", "_orders", "_owned", "_points", "_spend")

    def __init__(self, ledger: CustomerLedger) -> None:
        self._base = ledger
        self._customer_id = ledger.customer_id
        self._orders = ledger.orders
        self._owned = False
        self._points, self._spend = ledger.points, ledger.lifetime_spend_cents

    def apply(self, event: Event) -> list[LoyaltyEvent]:
        """Apply one order event (in its order's sequence order); return the loyalty events it causes."""
        if event.customer_id != self._customer_id:
            raise ValueError(
                f"event of customer {event.customer_id!r} applied to ledger of {self._customer_id!r}"
            )
        entry = self._orders.get(event.order_id) or _NO_ORDER
        if event.sequence <= entry.last_sequence:
            return []
        updated = _apply_to_order(entry, event)
        if not self._owned:
            self._orders, self._owned = dict(self._orders), True
        self._orders[event.order_id] = updated
        points = self._points + updated.points - entry.points
        spend = self._spend + updated.spend_cents - entry.spend_cents
        before = (self._points, self._spend)
        self._points, self._spend = points, spend
        if (points, spend) == before:
            return []
        return _emitted(before, (points, spend), event)

    def ledger(self) -> CustomerLedger:
        if not self._owned:
            return self._base
        self._owned = False
        self._base = CustomerLedger(self._customer_id, self._orders, _totals=(self._points, self._spend))
        return self._base


_NO_ORDER: Final = OrderEntry()


def _apply_to_order(entry: OrderEntry, event: Event) -> OrderEntry:
    """The order's new facts; event types that do not touch loyalty only advance ``last_sequence``."""
    seq, is_test, created, captured = event.sequence, entry.is_test, entry.created_seen, entry.captured_cents
    refunded, cancelled = entry.refunded_cents, entry.cancelled
    match event:
        case OrderCreated() if not created:
            created, is_test = True, event.data.is_test
        case PaymentCaptured() if captured is None:
            captured = event.data.amount_cents
        case PaymentRefunded():
            refunded = min(captured or 0, refunded + event.data.amount_cents)
        case OrderCancelled():
            cancelled, refunded = True, captured or 0
    return OrderEntry(seq, is_test, created, captured, refunded, cancelled)


def _changes(before: CustomerLedger, after: CustomerLedger, cause: Event) -> list[LoyaltyEvent]:
    """The loyalty events one applied order event causes: a points change, then a tier change."""
    return _emitted(
        (before.points, before.lifetime_spend_cents), (after.points, after.lifetime_spend_cents), cause
    )


def _emitted(before: tuple[int, int], after: tuple[int, int], cause: Event) -> list[LoyaltyEvent]:
    """The loyalty events a move of ``(points, lifetime spend)`` causes: a points change, then a tier change."""
    points, spend = after
    tier, tier_before = tier_for(spend), tier_for(before[1])
    totals = {"points": points, "tier": tier, "lifetime_spend_cents": spend}
    emitted: list[LoyaltyEvent] = []
    delta = points - before[0]
    if delta:
        kind: LoyaltyEventType = "loyalty.points_awarded" if delta > 0 else "loyalty.points_reversed"
        emitted.append(_loyalty_event(kind, cause, {"points_delta": delta, **totals}))
    if tier != tier_before:
        tier_data = {"from_tier": tier_before, "to_tier": tier, **totals}
        emitted.append(_loyalty_event("loyalty.tier_changed", cause, tier_data))
    return emitted


def loyalty_event_id(cause_event_id: str, kind: LoyaltyEventType) -> str:
    """Deterministic id of the ``kind`` event caused by ``cause_event_id`` (one of each kind per cause)."""
    return str(uuid.uuid5(LOYALTY_NAMESPACE, f"{cause_event_id}/{kind}"))


def _loyalty_event(kind: LoyaltyEventType, cause: Event, data: dict[str, Any]) -> LoyaltyEvent:
    # Built from values this module computed (validated input, derived totals): no validation needed.
    return LoyaltyEvent.model_construct(
        event_id=loyalty_event_id(cause.event_id, kind),
        event_type=kind,
        occurred_at=cause.occurred_at_dt,
        customer_id=cause.customer_id,
        order_id=cause.order_id,
        caused_by=cause.event_id,
        data=data,
    )
