"""Rules files: loading, the errors that name file/rule/problem, and the shipped defaults (DESIGN.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from orderstream.domain.contract import HIGH_VALUE, LOYALTY_EVENTS, ORDER_LIFECYCLE
from orderstream.domain.rules import (
    BridgeRuleSet,
    RouterRuleSet,
    RulesFileError,
    load_bridge_rules,
    load_router_rules,
)

RULES_DIR = Path(__file__).resolve().parents[3] / "rules"


def _order(event_type: str, **data: Any) -> dict[str, Any]:
    return {"event_type": event_type, "order_id": "o-1", "customer_id": "c-1", "sequence": 1, "data": data}


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------------------------- shipped defaults


@pytest.fixture(scope="module")
def router() -> RouterRuleSet:
    return RouterRuleSet(load_router_rules(RULES_DIR / "router.yaml"))


@pytest.fixture(scope="module")
def bridge() -> BridgeRuleSet:
    return BridgeRuleSet(load_bridge_rules(RULES_DIR / "bridge.yaml"))


def test_default_router_sends_big_real_orders_to_high_value(router: RouterRuleSet) -> None:
    assert router.target_topics == (HIGH_VALUE,)
    assert router.route(_order("order.created", total_cents=50_000, is_test=False)) == (HIGH_VALUE,)
    assert router.route(_order("order.created", total_cents=1_250_000, is_test=False)) == (HIGH_VALUE,)
    assert router.route(_order("order.created", total_cents=49_999, is_test=False)) == ()
    assert router.route(_order("order.created", total_cents=90_000, is_test=True)) == ()  # tests never leave
    assert router.route(_order("payment.captured", amount_cents=90_000)) == ()
    assert router.route(_order("order.created", total_cents="90000", is_test=False)) == ()


@pytest.mark.parametrize(
    ("topic", "event", "rule", "source"),
    [
        (
            ORDER_LIFECYCLE,
            _order("order.created", total_cents=100, is_test=False),
            "orders-created",
            "orderstream.orders",
        ),
        (ORDER_LIFECYCLE, _order("order.created", total_cents=100, is_test=True), None, None),
        (
            ORDER_LIFECYCLE,
            _order("payment.failed", reason="card declined"),
            "payments-failed",
            "orderstream.orders",
        ),
        (
            ORDER_LIFECYCLE,
            _order("shipment.dispatched", carrier="dhl", tracking_id="t"),
            "shipments-dispatched",
            "orderstream.orders",
        ),
        (ORDER_LIFECYCLE, _order("payment.captured", amount_cents=100), None, None),
        (ORDER_LIFECYCLE, _order("payment.refunded", amount_cents=100), None, None),
        (ORDER_LIFECYCLE, _order("order.cancelled", reason="x"), None, None),
        (ORDER_LIFECYCLE, _order("shipment.delivered", carrier="dhl", tracking_id="t"), None, None),
        (
            LOYALTY_EVENTS,
            {"event_type": "loyalty.tier_changed", "data": {"from": "bronze", "to": "silver"}},
            "loyalty-tier-changes",
            "orderstream.loyalty",
        ),
        (LOYALTY_EVENTS, {"event_type": "loyalty.points_awarded", "data": {"points": 5}}, None, None),
        (LOYALTY_EVENTS, {"event_type": "loyalty.points_reversed", "data": {"points": 5}}, None, None),
        # a rule only applies to its own topics
        (LOYALTY_EVENTS, _order("payment.failed", reason="x"), None, None),
        ("orders", _order("payment.failed", reason="x"), None, None),
        (ORDER_LIFECYCLE, {"event_type": "loyalty.tier_changed", "data": {}}, None, None),
    ],
)
def test_default_bridge_selection(
    bridge: BridgeRuleSet, topic: str, event: dict[str, Any], rule: str | None, source: str | None
) -> None:
    selected = bridge.select(topic, event)
    assert (selected.name if selected else None) == rule
    if selected is not None:
        assert selected.source == source
        assert selected.bus is None  # the bridge uses settings.event_bus ("orderstream")
        assert selected.detail_type_for(event) == event["event_type"]


def test_default_bridge_subscribes_to_exactly_the_two_topics(bridge: BridgeRuleSet) -> None:
    assert set(bridge.source_topics) == {ORDER_LIFECYCLE, LOYALTY_EVENTS}


# --------------------------------------------------------------------------------------------- loading


def test_bridge_rule_with_every_field(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        """
rules:
  - name: all-fields
    description: every optional field set
    topics: [a, b]
    pattern: '{"event_type": [{"prefix": "order."}]}'
    source: my.app
    detail_type: Custom
    bus: other-bus
    resources: ["arn:aws:s3:::bucket"]
""",
    )
    (rule,) = load_bridge_rules(path)
    assert (rule.name, rule.topics, rule.source, rule.detail_type, rule.bus, rule.resources) == (
        "all-fields", ("a", "b"), "my.app", "Custom", "other-bus", ("arn:aws:s3:::bucket",),
    )  # fmt: skip
    assert rule.detail_type_for({"event_type": "order.created"}) == "Custom"
    assert rule.pattern.matches({"event_type": "order.created"})
    rules = BridgeRuleSet((rule,))
    assert rules.select("b", {"event_type": "order.x"}) is rule
    assert rules.select("c", {"event_type": "order.x"}) is None


def test_first_matching_bridge_rule_wins_and_router_dedups_topics(tmp_path: Path) -> None:
    bridge_path = _write(
        tmp_path,
        """
rules:
  - {name: first, topics: [t], pattern: {k: [1]}, source: s.one}
  - {name: second, topics: [t], pattern: {k: [{numeric: [">", 0]}]}, source: s.two}
""",
    )
    rules = BridgeRuleSet(load_bridge_rules(bridge_path))
    assert rules.select("t", {"k": 1}).name == "first"  # type: ignore[union-attr]
    assert rules.select("t", {"k": 2}).name == "second"  # type: ignore[union-attr]
    router_path = tmp_path / "router.yaml"
    router_path.write_text(
        "rules:\n"
        "  - {name: r1, pattern: {k: [1]}, topic: x}\n"
        "  - {name: r2, pattern: {k: [{numeric: ['>', 0]}]}, topic: y}\n"
        "  - {name: r3, pattern: {k: [{exists: true}]}, topic: x}\n"
    )
    router = RouterRuleSet(load_router_rules(router_path))
    assert router.route({"k": 1}) == ("x", "y")
    assert router.target_topics == ("x", "y")


def test_empty_rule_list_is_allowed(tmp_path: Path) -> None:
    assert load_router_rules(_write(tmp_path, "rules: []\n")) == ()


BAD_FILES: list[tuple[str, str, str | None, str]] = [
    # (yaml text, which loader, rule label expected in the message (or None), problem fragment)
    ("rules: [\n", "router", None, "not valid YAML"),
    ("- a\n- b\n", "router", None, "single key 'rules'"),
    ("rules: []\nextra: 1\n", "router", None, "single key 'rules'"),
    ("rules: {a: 1}\n", "router", None, "'rules' must be a list"),
    ("rules:\n  - just a string\n", "router", "#0", "must be a mapping"),
    ("rules:\n  - {pattern: {a: [1]}, topic: t}\n", "router", "#0", "'name' is missing"),
    ("rules:\n  - {name: '', pattern: {a: [1]}, topic: t}\n", "router", "#0", "'name' is missing"),
    ("rules:\n  - {name: r, topic: t}\n", "router", "'r' (#0)", "'pattern' is missing"),
    ("rules:\n  - {name: r, pattern: {a: [1]}}\n", "router", "'r' (#0)", "'topic' is missing"),
    ("rules:\n  - {name: r, pattern: {a: [1]}, topic: 5}\n", "router", "'r' (#0)", "'topic' is missing"),
    (
        "rules:\n  - {name: r, pattern: {a: [1]}, topic: t, topics: [t]}\n",
        "router",
        "'r' (#0)",
        "unknown field(s) topics",
    ),
    ("rules:\n  - {name: r, pattern: [1], topic: t}\n", "router", "'r' (#0)", "mapping or JSON text"),
    (
        "rules:\n  - {name: ok, pattern: {a: [1]}, topic: t}\n"
        "  - {name: r, pattern: {data: {total_cents: [{numeric: ['>=', '5']}]}}, topic: t}\n",
        "router",
        "'r' (#1)",
        "bad pattern at data.total_cents[0].numeric[1]: numeric bounds must be numbers",
    ),
    (
        "rules:\n  - {name: r, pattern: '{oops', topic: t}\n",
        "router",
        "'r' (#0)",
        "bad pattern at <root>: not valid JSON",
    ),
    (
        "rules:\n  - {name: r, pattern: {a: [1]}, topic: t}\n  - {name: r, pattern: {a: [2]}, topic: u}\n",
        "router",
        "'r' (#1)",
        "duplicate name (first used by rule #0)",
    ),
    (
        "rules:\n  - {name: r, pattern: {a: [1]}, topic: t, topic: u}\n",
        "router",
        None,
        "duplicate key 'topic'",
    ),
    (
        "rules:\n  - {name: r, pattern: {a: [1]}, source: s}\n",
        "bridge",
        "'r' (#0)",
        "'topics' must be a non-empty",
    ),
    (
        "rules:\n  - {name: r, pattern: {a: [1]}, topics: [], source: s}\n",
        "bridge",
        "'r' (#0)",
        "'topics' must be",
    ),
    (
        "rules:\n  - {name: r, pattern: {a: [1]}, topics: t, source: s}\n",
        "bridge",
        "'r' (#0)",
        "'topics' must be",
    ),
    ("rules:\n  - {name: r, pattern: {a: [1]}, topics: [t]}\n", "bridge", "'r' (#0)", "'source' is missing"),
    (
        "rules:\n  - {name: r, pattern: {a: [1]}, topics: [t], source: aws.s3}\n",
        "bridge",
        "'r' (#0)",
        "reserved",
    ),
    (
        "rules:\n  - {name: r, pattern: {a: [1]}, topics: [t], source: s, resources: [1]}\n",
        "bridge",
        "'r' (#0)",
        "'resources' must be a list",
    ),
    (
        "rules:\n  - {name: r, pattern: {a: [1]}, topics: [t], source: s, detail_type: ''}\n",
        "bridge",
        "'r' (#0)",
        "'detail_type' is missing or not a non-empty string",
    ),
    (
        "rules:\n  - {name: r, pattern: {a: [1]}, topics: [t], source: s, topic: t}\n",
        "bridge",
        "'r' (#0)",
        "unknown",
    ),
]


@pytest.mark.parametrize(("text", "side", "rule", "problem"), BAD_FILES, ids=[c[3][:40] for c in BAD_FILES])
def test_bad_rules_files_name_file_rule_and_problem(
    tmp_path: Path, text: str, side: str, rule: str | None, problem: str
) -> None:
    path = _write(tmp_path, text)
    loader = load_router_rules if side == "router" else load_bridge_rules
    with pytest.raises(RulesFileError) as caught:
        loader(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ")
    assert caught.value.rule == rule
    if rule is not None:
        assert f"rule {rule}: " in message
    assert problem in message
    assert "\n" not in message


def test_unreadable_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(RulesFileError, match=r"nope\.yaml: cannot read"):
        load_router_rules(missing)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00rules")
    with pytest.raises(RulesFileError, match="cannot read"):
        load_router_rules(binary)
