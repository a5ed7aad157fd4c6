"""The loyalty ledger: worked examples (numbers by hand), then properties over replays and interleavings."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import factories as f
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderstream.domain.contract import (
    Event,
    LoyaltyEvent,
    OrderCancelled,
    OrderCreated,
    PaymentCaptured,
    PaymentRefunded,
)
from orderstream.domain.ledger import (
    LOYALTY_NAMESPACE,
    CustomerLedger,
    apply,
    loyalty_event_id,
    tier_for,
)
from orderstream.domain.sequencing import OrderState, accept


def run(
    events: list[Event], ledger: CustomerLedger | None = None
) -> tuple[CustomerLedger, list[LoyaltyEvent]]:
    ledger = ledger or CustomerLedger("c-1")
    emitted: list[LoyaltyEvent] = []
    for event in events:
        ledger, out = apply(ledger, event)
        emitted += out
    return ledger, emitted


def kinds(emitted: list[LoyaltyEvent]) -> list[tuple[str, Any]]:
    """(type, points_delta or from→to) pairs: the shape most assertions need."""
    return [
        (e.event_type, e.data.get("points_delta", f"{e.data.get('from_tier')}->{e.data.get('to_tier')}"))
        for e in emitted
    ]


def test_first_capture_awards_amount_div_100_points() -> None:
    ledger, emitted = run([f.created(12_345), f.captured(12_345, sequence=2)])
    assert ledger.summary() == {
        "customer_id": "c-1",
        "points": 123,
        "tier": "bronze",
        "lifetime_spend_cents": 12_345,
        "orders": 1,
    }
    (award,) = emitted
    assert award.event_type == "loyalty.points_awarded"
    assert award.data == {
        "points_delta": 123,
        "points": 123,
        "tier": "bronze",
        "lifetime_spend_cents": 12_345,
    }
    assert award.order_id == "o-1" and award.customer_id == "c-1"


def test_a_second_capture_awards_nothing_and_adds_nothing() -> None:
    ledger, emitted = run([f.created(), f.captured(10_000, sequence=2), f.captured(25_000, sequence=3)])
    assert (ledger.points, ledger.lifetime_spend_cents) == (100, 10_000)
    assert ledger.orders["o-1"].captured_cents == 10_000
    assert kinds(emitted) == [("loyalty.points_awarded", 100)]


def test_refunds_add_up_and_reverse_points_by_the_floor_formula() -> None:
    # awarded 123; refunded 2000 → 123 - floor(123*2000/12345 = 19.93) = 104
    #              refunded 7000 → 123 - floor(123*7000/12345 = 69.74) = 54
    #              refunded 17000, capped at 12345 → 0
    events = [
        f.created(12_345),
        f.captured(12_345, sequence=2),
        f.refunded(2_000, sequence=3),
        f.refunded(5_000, sequence=4),
        f.refunded(10_000, sequence=5),
    ]
    ledger, emitted = run(events)
    assert kinds(emitted) == [
        ("loyalty.points_awarded", 123),
        ("loyalty.points_reversed", -19),
        ("loyalty.points_reversed", -50),
        ("loyalty.points_reversed", -54),
    ]
    assert [e.data["points"] for e in emitted] == [123, 104, 54, 0]
    assert [e.data["lifetime_spend_cents"] for e in emitted] == [12_345, 10_345, 5_345, 0]
    assert ledger.orders["o-1"].refunded_cents == 12_345
    assert (ledger.points, ledger.lifetime_spend_cents) == (0, 0)


def test_a_refund_too_small_to_cost_a_point_emits_nothing() -> None:
    # awarded 100 of 10000; refund 50 → floor(100*50/10000 = 0.5) = 0 points reversed
    ledger, emitted = run([f.created(), f.captured(10_000, sequence=2), f.refunded(50, sequence=3)])
    assert kinds(emitted) == [("loyalty.points_awarded", 100)]
    assert ledger.lifetime_spend_cents == 9_950


def test_cancel_after_capture_refunds_the_rest_and_can_drop_the_tier() -> None:
    # 60000 → 600 points, silver; refund 10000 → 600 - 100 = 500, spend 50000 still silver;
    # cancel → refunded 60000 → 0 points (-500), spend 0 → bronze
    events = [
        f.created(60_000),
        f.captured(60_000, sequence=2),
        f.refunded(10_000, sequence=3),
        f.cancelled(sequence=4),
    ]
    ledger, emitted = run(events)
    assert kinds(emitted) == [
        ("loyalty.points_awarded", 600),
        ("loyalty.tier_changed", "bronze->silver"),
        ("loyalty.points_reversed", -100),
        ("loyalty.points_reversed", -500),
        ("loyalty.tier_changed", "silver->bronze"),
    ]
    assert ledger.summary()["points"] == 0 and ledger.summary()["tier"] == "bronze"
    assert ledger.orders["o-1"].cancelled


def test_cancel_before_capture_has_no_effect() -> None:
    ledger, emitted = run([f.created(), f.cancelled(sequence=2)])
    assert emitted == [] and ledger.points == 0
    ledger, emitted = run([f.captured(10_000, sequence=3)], ledger)
    assert kinds(emitted) == [("loyalty.points_awarded", 100)]


def test_a_refund_before_any_capture_refunds_nothing() -> None:
    ledger, emitted = run([f.created(), f.refunded(5_000, sequence=2), f.captured(10_000, sequence=3)])
    assert kinds(emitted) == [("loyalty.points_awarded", 100)]
    assert (ledger.points, ledger.lifetime_spend_cents) == (100, 10_000)


def test_test_orders_earn_and_lose_nothing() -> None:
    events = [
        f.created(100_000, is_test=True),
        f.captured(100_000, sequence=2),
        f.refunded(50_000, sequence=3),
    ]
    ledger, emitted = run(events)
    assert emitted == []
    assert ledger.summary() == {
        "customer_id": "c-1",
        "points": 0,
        "tier": "bronze",
        "lifetime_spend_cents": 0,
        "orders": 0,
    }


def test_an_order_whose_created_was_never_seen_counts_as_real() -> None:
    ledger, _ = run([f.captured(10_000, sequence=2)])
    assert ledger.points == 100 and ledger.summary()["orders"] == 1
    assert not ledger.orders["o-1"].created_seen


def test_a_test_flag_seen_after_the_capture_takes_the_points_back() -> None:
    ledger, emitted = run([f.captured(10_000, sequence=1), f.created(10_000, is_test=True, sequence=2)])
    assert kinds(emitted) == [("loyalty.points_awarded", 100), ("loyalty.points_reversed", -100)]
    assert ledger.points == 0


def test_only_the_first_order_created_sets_the_test_flag() -> None:
    events = [f.created(is_test=False), f.captured(10_000, sequence=2), f.created(is_test=True, sequence=3)]
    ledger, _ = run(events)
    assert ledger.points == 100 and not ledger.orders["o-1"].is_test


@pytest.mark.parametrize(
    ("spend", "tier"),
    [(0, "bronze"), (49_999, "bronze"), (50_000, "silver"), (199_999, "silver"), (200_000, "gold")],
)
def test_tier_thresholds(spend: int, tier: str) -> None:
    assert tier_for(spend) == tier


def test_tier_is_reevaluated_across_orders() -> None:
    first = [f.created(50_000, order_id="a"), f.captured(50_000, order_id="a", sequence=2)]
    second = [f.created(150_000, order_id="b"), f.captured(150_000, order_id="b", sequence=2)]
    ledger, emitted = run(first + second)
    assert kinds(emitted) == [
        ("loyalty.points_awarded", 500),
        ("loyalty.tier_changed", "bronze->silver"),
        ("loyalty.points_awarded", 1_500),
        ("loyalty.tier_changed", "silver->gold"),
    ]
    assert emitted[-1].data == {
        "from_tier": "silver",
        "to_tier": "gold",
        "points": 2_000,
        "tier": "gold",
        "lifetime_spend_cents": 200_000,
    }
    assert ledger.summary()["orders"] == 2


def test_an_event_at_or_below_the_last_applied_sequence_is_a_replay() -> None:
    ledger, _ = run([f.created(), f.captured(10_000, sequence=2), f.refunded(2_000, sequence=3)])
    again, emitted = apply(ledger, f.refunded(2_000, sequence=3))
    assert (again, emitted) == (ledger, [])
    again, emitted = apply(ledger, f.refunded(5_000, sequence=1, variant="other"))
    assert (again, emitted) == (ledger, [])
    assert (ledger.points, ledger.lifetime_spend_cents) == (80, 8_000)


def test_events_that_do_not_touch_loyalty_only_advance_the_sequence() -> None:
    ledger, emitted = run(
        [f.created(), f.failed(sequence=2), f.dispatched(sequence=3), f.delivered(sequence=4)]
    )
    assert emitted == [] and ledger.points == 0
    assert ledger.orders["o-1"].last_sequence == 4


def test_derived_ids_name_the_cause_and_the_kind() -> None:
    capture = f.captured(60_000, sequence=2)
    _, emitted = run([f.created(60_000), capture])
    assert [e.event_id for e in emitted] == [
        str(uuid.uuid5(LOYALTY_NAMESPACE, f"{capture.event_id}/loyalty.points_awarded")),
        str(uuid.uuid5(LOYALTY_NAMESPACE, f"{capture.event_id}/loyalty.tier_changed")),
    ]
    assert emitted[0].event_id == loyalty_event_id(capture.event_id, "loyalty.points_awarded")
    assert {e.caused_by for e in emitted} == {capture.event_id}
    assert {e.occurred_at for e in emitted} == {capture.occurred_at_dt}


def test_an_event_of_another_customer_is_refused() -> None:
    with pytest.raises(ValueError, match="customer"):
        apply(CustomerLedger("c-1"), f.created(customer_id="c-2"))


def test_state_round_trips_through_json() -> None:
    events = [f.created(order_id="a"), f.captured(7_000, order_id="a", sequence=2), f.cancelled(order_id="b")]
    ledger, _ = run(events)
    wire = json.loads(json.dumps(ledger.to_dict()))
    assert CustomerLedger.from_dict(wire) == ledger
    assert wire["orders"]["a"]["captured_cents"] == 7_000 and wire["orders"]["b"]["captured_cents"] is None


def test_an_unknown_state_format_is_refused() -> None:
    with pytest.raises(ValueError, match="format"):
        CustomerLedger.from_dict({"format": 0, "customer_id": "c-1", "orders": {}})


def test_apply_never_mutates_the_ledger_it_was_given() -> None:
    ledger, _ = run([f.created(), f.captured(10_000, sequence=2)])
    snapshot = ledger.to_dict()
    apply(ledger, f.refunded(5_000, sequence=3))
    assert ledger.to_dict() == snapshot


# --------------------------------------------------------------------------------------------- properties

AMOUNTS = st.integers(0, 120_000)


@st.composite
def order_events(draw: st.DrawFn, order_id: str) -> list[Event]:
    """One order's events in sequence order: maybe a created (maybe a test), then any mix of steps."""
    kw: dict[str, Any] = {"order_id": order_id}
    steps: list[tuple[str, int]] = draw(
        st.lists(
            st.tuples(st.sampled_from(["capture", "refund", "cancel", "failed", "ship", "created"]), AMOUNTS),
            max_size=6,
        )
    )
    events: list[Event] = []
    if draw(st.booleans()) or not steps:
        events.append(f.created(draw(AMOUNTS), is_test=draw(st.integers(0, 4)) == 0, sequence=1, **kw))
    builders: dict[str, Callable[[int, int], Event]] = {
        "capture": lambda amount, seq: f.captured(amount, sequence=seq, **kw),
        "refund": lambda amount, seq: f.refunded(amount // 3, sequence=seq, **kw),
        "cancel": lambda _, seq: f.cancelled(sequence=seq, **kw),
        "failed": lambda _, seq: f.failed(sequence=seq, **kw),
        "ship": lambda _, seq: f.dispatched(sequence=seq, **kw),
        "created": lambda amount, seq: f.created(amount, sequence=seq, **kw),
    }
    for step, amount in steps:
        events.append(builders[step](amount, len(events) + 1))
    return events


@st.composite
def customer_orders(draw: st.DrawFn) -> list[list[Event]]:
    return [draw(order_events(f"o-{i}")) for i in range(draw(st.integers(1, 4)))]


@st.composite
def interleaved_with_replays(draw: st.DrawFn, per_order: list[list[Event]]) -> list[Event]:
    """Any interleaving that keeps each order's own sequence order, plus redeliveries after the original."""
    labels = draw(st.permutations([i for i, events in enumerate(per_order) for _ in events]))
    cursors = [0] * len(per_order)
    stream: list[Event] = []
    for label in labels:
        stream.append(per_order[label][cursors[label]])
        cursors[label] += 1
    for _ in range(draw(st.integers(0, len(stream)))):
        original = draw(st.integers(0, len(stream) - 1))
        stream.insert(draw(st.integers(original + 1, len(stream))), stream[original])
    return stream


def expected_totals(per_order: list[list[Event]]) -> tuple[int, int]:
    """An independent reading of DESIGN.md's rules: (points, lifetime spend) of a clean stream."""
    points = spend = 0
    for events in per_order:
        created = [e for e in events if isinstance(e, OrderCreated)]
        if created and created[0].data.is_test:
            continue
        captured: int | None = None
        refunded = 0
        for e in events:
            if isinstance(e, PaymentCaptured) and captured is None:
                captured = e.data.amount_cents
            elif isinstance(e, PaymentRefunded):
                refunded = min(captured or 0, refunded + e.data.amount_cents)
            elif isinstance(e, OrderCancelled) and captured is not None:
                refunded = captured
        if captured:
            awarded = captured // 100
            points += awarded - (awarded * refunded) // captured
            spend += captured - refunded
    return points, spend


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_interleavings_and_redeliveries_give_the_clean_totals(data: st.DataObject) -> None:
    per_order = data.draw(customer_orders())
    clean, _ = run([e for events in per_order for e in events])
    messy, emitted = run(data.draw(interleaved_with_replays(per_order)))
    points, spend = expected_totals(per_order)
    assert clean.summary() == messy.summary()
    assert (messy.points, messy.lifetime_spend_cents, messy.tier) == (points, spend, tier_for(spend))
    restored = CustomerLedger.from_dict(json.loads(json.dumps(messy.to_dict())))
    # Equality ignores the totals apply() carries along: recomputed from the stored facts, they must agree.
    assert restored == messy and restored.summary() == messy.summary()
    assert sum(e.data.get("points_delta", 0) for e in emitted) == messy.points
    tier_moves = [e for e in emitted if e.event_type == "loyalty.tier_changed"]
    assert (tier_moves[-1].data["to_tier"] if tier_moves else "bronze") == messy.tier
    assert len({e.event_id for e in emitted}) == len(emitted)


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_replaying_any_prefix_twice_changes_nothing(data: st.DataObject) -> None:
    per_order = data.draw(customer_orders())
    stream = data.draw(interleaved_with_replays(per_order))
    cut = data.draw(st.integers(0, len(stream)))
    once, emitted_once = run(stream)
    halfway, emitted_first = run(stream[:cut])
    replayed, emitted_replay = run(stream[:cut], halfway)
    twice, emitted_rest = run(stream[cut:], replayed)
    assert emitted_replay == [] and replayed == halfway
    assert twice == once
    assert emitted_first + emitted_rest == emitted_once


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_recovering_from_an_older_snapshot_re_emits_identical_events(data: st.DataObject) -> None:
    """A crash that loses state after event ``cut`` re-processes the rest and re-emits the same ids and bodies."""
    per_order = data.draw(customer_orders())
    stream = data.draw(interleaved_with_replays(per_order))
    cut = data.draw(st.integers(0, len(stream)))
    snapshot, _ = run(stream[:cut])
    _, original = run(stream[cut:], snapshot)
    restored = CustomerLedger.from_dict(json.loads(json.dumps(snapshot.to_dict())))
    _, again = run(stream[cut:], restored)
    assert [e.to_bytes() for e in again] == [e.to_bytes() for e in original]
    by_id: dict[str, bytes] = {}
    for event in original + again:
        assert by_id.setdefault(event.event_id, event.to_bytes()) == event.to_bytes()


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_sequencer_then_ledger_absorbs_disorder_within_the_reorder_window(data: st.DataObject) -> None:
    """The pipeline the agents build: messy arrivals → per-order sequencer → ledger equals the clean ledger."""
    per_order = data.draw(customer_orders())
    clean, _ = run([e for events in per_order for e in events])
    arrivals = data.draw(st.permutations([e for events in per_order for e in events]))
    states: dict[str, OrderState] = {}
    ledger = CustomerLedger("c-1")
    for now, event in enumerate(arrivals):
        state, outcome = accept(states.get(event.order_id, OrderState()), event, now / 10, 30.0)
        states[event.order_id] = state
        for released in outcome.released:
            ledger, _ = apply(ledger, released.event)
    assert ledger == clean


def test_derived_events_are_the_validated_events_byte_for_byte() -> None:
    """Derived events skip validation (their fields are computed here); they equal validated ones exactly."""
    import orjson

    from orderstream.domain.contract import LoyaltyEvent, ParseError, parse_event
    from orderstream.synth import Workload, generate

    customers: dict[str, CustomerLedger] = {}
    derived = []
    for record in generate(Workload(events=3000, customers=50, seed=3)):
        event = parse_event(record.value)
        assert not isinstance(event, ParseError)
        before = customers.get(event.customer_id) or CustomerLedger(event.customer_id)
        customers[event.customer_id], out = apply(before, event)
        derived += out
    assert len(derived) > 100
    for event in derived:
        validated = LoyaltyEvent.model_validate(orjson.loads(event.to_bytes()))
        assert validated.to_bytes() == event.to_bytes()


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_ledger_changes_give_what_apply_gives_one_event_at_a_time(data: st.DataObject) -> None:
    """The batch form (copy once, update in place) is the same function as :func:`apply`, handed-out ledgers
    never change afterwards, and ledgers it hands out carry the right totals."""
    from orderstream.domain.ledger import LedgerChanges

    per_order = data.draw(customer_orders())
    stream = data.draw(interleaved_with_replays(per_order))
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=4)))
    expected, expected_events = run(stream)
    changes = LedgerChanges(CustomerLedger("c-1"))
    emitted: list[LoyaltyEvent] = []
    handed_out: list[tuple[CustomerLedger, dict[str, object]]] = []
    for i, event in enumerate(stream):
        if i in cuts:
            snapshot = changes.ledger()
            handed_out.append((snapshot, snapshot.to_dict()))
        emitted += changes.apply(event)
    result = changes.ledger()
    assert result == expected and result.summary() == expected.summary()
    assert [e.to_bytes() for e in emitted] == [e.to_bytes() for e in expected_events]
    for snapshot, frozen in handed_out:
        assert snapshot.to_dict() == frozen
        assert CustomerLedger.from_dict(frozen).summary() == snapshot.summary()
