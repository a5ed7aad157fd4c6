"""Each EventBridge rule in Terraform matches events the bridge actually publishes with its default rules.

Two layers, kept apart on purpose:
- the bridge's own rules (rules/bridge.yaml) are applied by the bridge to the *envelope* (the Kafka value);
  they decide which sample records become PutEvents entries, and with which Source and DetailType;
- the Terraform rule patterns are applied by EventBridge to the *wrapped* event
  ``{source, detail-type, detail: envelope + kafka, ...}``; we check each against those wrapped events with
  the project's matcher and, independently, with moto's EventBridge pattern implementation.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from infra_files import EXAMPLE
from moto.events.models import EventPattern

from orderstream.domain.contract import EVENT_ADAPTER, LOYALTY_EVENTS, ORDER_LIFECYCLE, LoyaltyEvent
from orderstream.domain.patterns import compile_pattern
from orderstream.domain.rules import BridgeRuleSet, load_bridge_rules
from orderstream.settings import BridgeSettings

PATTERN_DIR = EXAMPLE / "patterns"
PATTERN_FILES = sorted(PATTERN_DIR.glob("*.json"))
NOW = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)


def _envelope(event_type: str, data: dict[str, Any], sequence: int) -> dict[str, Any]:
    doc = {
        "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"infra-test/{event_type}/{sequence}")),
        "event_type": event_type,
        "schema_version": 1,
        "occurred_at": NOW.isoformat(),
        "order_id": "o-42",
        "customer_id": "c-7",
        "sequence": sequence,
        "data": data,
    }
    return EVENT_ADAPTER.validate_python(doc).to_dict()


def _sample_records() -> list[tuple[str, dict[str, Any]]]:
    """One record of each kind the bridge may see, built through the contract models."""
    order = {"currency": "EUR", "region": "eu-west", "channel": "web", "items": []}
    lifecycle = [
        _envelope("order.created", {**order, "total_cents": 12_000, "is_test": False}, 1),
        _envelope("order.created", {**order, "total_cents": 12_000, "is_test": True}, 1),
        _envelope("payment.captured", {"amount_cents": 12_000, "currency": "EUR", "payment_id": "p-1"}, 2),
        _envelope("payment.failed", {"reason": "card declined"}, 2),
        _envelope("shipment.dispatched", {"carrier": "dhl", "tracking_id": "t-1"}, 3),
        _envelope("shipment.delivered", {"carrier": "dhl", "tracking_id": "t-1"}, 4),
    ]
    loyalty = [
        LoyaltyEvent.model_validate(
            {
                "event_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"infra-test/{kind}")),
                "event_type": kind,
                "occurred_at": NOW,
                "customer_id": "c-7",
                "order_id": "o-42",
                "caused_by": lifecycle[2]["event_id"],
                "data": data,
            }
        ).model_dump(mode="json")
        for kind, data in [
            ("loyalty.points_awarded", {"points": 120}),
            ("loyalty.tier_changed", {"from": "bronze", "to": "silver"}),
        ]
    ]
    return [(ORDER_LIFECYCLE, e) for e in lifecycle] + [(LOYALTY_EVENTS, e) for e in loyalty]


@pytest.fixture(scope="module")
def published() -> list[dict[str, Any]]:
    """The EventBridge events the bridge would put on the bus for the samples, with its default rules.

    The default rules file is read from the settings class, not the environment, so a developer's
    ORDERSTREAM_BRIDGE_RULES cannot change what "default" means here.
    """
    rules = BridgeRuleSet(load_bridge_rules(BridgeSettings.model_fields["bridge_rules"].default))
    events = []
    for offset, (topic, envelope) in enumerate(_sample_records()):
        rule = rules.select(topic, envelope)
        if rule is None:
            continue
        events.append(
            {
                "version": "0",
                "id": str(uuid.uuid4()),
                "source": rule.source,
                "detail-type": rule.detail_type_for(envelope),
                "account": "123456789012",
                "time": NOW.isoformat(),
                "region": "us-east-1",
                "resources": list(rule.resources),
                "detail": {**envelope, "kafka": {"topic": topic, "partition": 0, "offset": offset}},
            }
        )
    return events


def test_the_bridge_publishes_the_default_selection(published: list[dict[str, Any]]) -> None:
    kinds = sorted((e["source"], e["detail-type"]) for e in published)
    assert kinds == [
        ("orderstream.loyalty", "loyalty.tier_changed"),
        ("orderstream.orders", "order.created"),
        ("orderstream.orders", "payment.failed"),
        ("orderstream.orders", "shipment.dispatched"),
    ]
    assert all(not e["detail"]["data"].get("is_test") for e in published), "test orders never leave"


def test_every_rule_pattern_file_is_wired_into_terraform(example_locals: dict[str, Any]) -> None:
    wired = {rule["event_pattern"] for rule in example_locals["event_rules"].values()}
    assert wired == {f'${{file("${{path.module}}/patterns/{p.name}")}}' for p in PATTERN_FILES}
    assert {p.stem for p in PATTERN_FILES} == {"notifications", "crm"}


@pytest.mark.parametrize("pattern_file", PATTERN_FILES, ids=lambda p: p.stem)
def test_rule_matches_a_published_event_with_the_project_matcher(
    pattern_file: Any, published: list[dict[str, Any]]
) -> None:
    pattern = compile_pattern(pattern_file.read_text())
    assert any(pattern.matches(event) for event in published)


@pytest.mark.parametrize("pattern_file", PATTERN_FILES, ids=lambda p: p.stem)
def test_rule_matches_a_published_event_with_moto(pattern_file: Any, published: list[dict[str, Any]]) -> None:
    pattern = EventPattern.load(pattern_file.read_text())
    assert any(pattern.matches_event(cast(Any, event)) for event in published)


@pytest.mark.parametrize("pattern_file", PATTERN_FILES, ids=lambda p: p.stem)
def test_both_matchers_agree_on_every_published_event(
    pattern_file: Any, published: list[dict[str, Any]]
) -> None:
    ours = compile_pattern(pattern_file.read_text())
    moto = EventPattern.load(pattern_file.read_text())
    assert [ours.matches(e) for e in published] == [moto.matches_event(cast(Any, e)) for e in published]


@pytest.mark.parametrize("pattern_file", PATTERN_FILES, ids=lambda p: p.stem)
def test_rule_is_not_a_catch_all(pattern_file: Any, published: list[dict[str, Any]]) -> None:
    foreign = {**published[0], "source": "someone.else", "detail-type": "order.created"}
    assert not compile_pattern(pattern_file.read_text()).matches(foreign)
    assert not EventPattern.load(pattern_file.read_text()).matches_event(cast(Any, foreign))


def test_notifications_get_exactly_the_four_default_kinds(published: list[dict[str, Any]]) -> None:
    pattern = json.loads((PATTERN_DIR / "notifications.json").read_text())
    assert sorted(pattern["detail-type"]) == sorted(e["detail-type"] for e in published)
