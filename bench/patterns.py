"""Benchmark the event-pattern matcher against the shipped rules, a 100-rule set, and moto's matcher.

Prints, and writes bench/results/patterns.json:
- median µs per event for the default router + bridge rules over a realistic event mix (target < 5 µs),
  for decoded events and for raw bytes (decode included, with and without the fast path);
- events/s for a generated 100-rule set;
- the same measurements with moto's EventPattern, in the same run.

Usage: .venv/bin/python bench/patterns.py [--events N] [--repeats R]
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from orderstream.domain.contract import LOYALTY_EVENTS, ORDER_LIFECYCLE  # noqa: E402
from orderstream.domain.patterns import Pattern, compile_pattern  # noqa: E402
from orderstream.domain.rules import BridgeRuleSet, RouterRuleSet, load_bridge_rules, load_router_rules  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "patterns.json"
ORDER_TYPES = [
    ("order.created", 0.25),
    ("payment.captured", 0.22),
    ("payment.failed", 0.03),
    ("payment.refunded", 0.05),
    ("order.cancelled", 0.05),
    ("shipment.dispatched", 0.2),
    ("shipment.delivered", 0.2),
]


def realistic_events(count: int, rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    """(topic, envelope) pairs shaped like the contract: mostly order-lifecycle, some loyalty-events."""
    names, weights = zip(*ORDER_TYPES, strict=True)
    events = []
    for _ in range(count):
        if rng.random() < 0.1:
            events.append((LOYALTY_EVENTS, _loyalty_event(rng)))
        else:
            events.append((ORDER_LIFECYCLE, _order_event(rng.choices(names, weights)[0], rng)))
    return events


def _order_event(event_type: str, rng: random.Random) -> dict[str, Any]:
    data: dict[str, Any]
    if event_type == "order.created":
        items = [{"sku": f"SKU-{rng.randint(1, 999)}", "quantity": rng.randint(1, 3), "unit_price_cents": 1999}
                 for _ in range(rng.randint(1, 4))]  # fmt: skip
        data = {"total_cents": rng.choice([999, 4_500, 25_000, 49_999, 50_000, 120_000]), "currency": "EUR",
                "region": rng.choice(["eu-west", "us-east"]), "channel": "web", "is_test": rng.random() < 0.05,
                "items": items}  # fmt: skip
    elif event_type.startswith("payment.") and event_type != "payment.failed":
        data = {
            "amount_cents": rng.randint(100, 90_000),
            "currency": "EUR",
            "payment_id": f"p-{rng.random()}",
        }
    elif event_type in ("payment.failed", "order.cancelled"):
        data = {"reason": "card_declined"}
    else:
        data = {"carrier": "dhl", "tracking_id": f"T{rng.randint(1, 10**9)}"}
    return {
        "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
        "event_type": event_type,
        "schema_version": 1,
        "occurred_at": "2026-11-28T03:00:00Z",
        "order_id": f"o-{rng.randint(1, 10**6)}",
        "customer_id": f"c-{rng.randint(1, 10**4)}",
        "sequence": rng.randint(1, 5),
        "data": data,
    }


def _loyalty_event(rng: random.Random) -> dict[str, Any]:
    kind = rng.choice(["loyalty.points_awarded", "loyalty.points_reversed", "loyalty.tier_changed"])
    return {"event_id": str(uuid.UUID(int=rng.getrandbits(128))), "event_type": kind, "schema_version": 1,
            "occurred_at": "2026-11-28T03:00:00Z", "customer_id": "c-1", "order_id": "o-1",
            "caused_by": str(uuid.UUID(int=rng.getrandbits(128))), "data": {"points": 12}}  # fmt: skip


def hundred_rules(rng: random.Random) -> list[dict[str, Any]]:
    """100 varied patterns over the envelope: exact, prefix, numeric, anything-but, exists, wildcard, $or."""
    regions = ["eu-west", "us-east", "ap-south", "sa-east"]
    makers: list[Callable[[int], dict[str, Any]]] = [
        lambda i: {"event_type": ["order.created"], "data": {"total_cents": [{"numeric": [">=", i * 1000]}]}},
        lambda i: {
            "event_type": [{"prefix": "payment."}],
            "data": {"amount_cents": [{"numeric": ["<", i * 900]}]},
        },
        lambda i: {"event_type": ["order.created"], "data": {"region": [regions[i % 4]], "is_test": [False]}},
        lambda i: {
            "event_type": [{"anything-but": ["order.created", "payment.captured"]}],
            "sequence": [i % 5 + 1],
        },
        lambda i: {
            "data": {"carrier": [{"equals-ignore-case": "DHL"}], "tracking_id": [{"wildcard": f"T{i}*"}]}
        },
        lambda i: {
            "$or": [{"event_type": ["payment.failed"]}, {"data": {"reason": [{"prefix": "card"}]}}],
            "customer_id": [{"suffix": str(i % 10)}],
        },
        lambda i: {"event_type": ["order.created"], "data": {"items": {"sku": [f"SKU-{i}"]}}},
        lambda i: {"event_type": ["shipment.delivered"], "data": {"missing": [{"exists": False}]}},
    ]
    return [makers[i % len(makers)](i) for i in range(100)]


def time_per_event(
    match_all: Callable[[Any], Any], inputs: Sequence[Any], repeats: int
) -> tuple[float, float]:
    """(median µs per event over ``repeats`` passes, events/s of the median pass)."""
    passes = []
    for _ in range(repeats):
        start = time.perf_counter()
        for item in inputs:
            match_all(item)
        passes.append(time.perf_counter() - start)
    median = statistics.median(passes)
    return median / len(inputs) * 1e6, len(inputs) / median


def moto_pattern(source: dict[str, Any]) -> Any:
    from moto.events.models import EventPattern

    return EventPattern(None, source)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(42)
    events = realistic_events(args.events, rng)
    raw = [(topic, orjson.dumps(event)) for topic, event in events]

    router = RouterRuleSet(load_router_rules(ROOT / "rules" / "router.yaml"))
    bridge = BridgeRuleSet(load_bridge_rules(ROOT / "rules" / "bridge.yaml"))
    router_patterns = [rule.pattern for rule in router.rules]

    def defaults_decoded(item: tuple[str, dict[str, Any]]) -> None:
        topic, event = item
        if topic == ORDER_LIFECYCLE:
            router.route(event)
        bridge.select(topic, event)

    def defaults_raw(item: tuple[str, bytes]) -> None:  # what a consumer pays per record: decode + match
        defaults_decoded((item[0], orjson.loads(item[1])))

    def router_bytes_fast(item: tuple[str, bytes]) -> None:
        for pattern in router_patterns:
            pattern.matches_bytes(item[1])

    def router_bytes_decode(item: tuple[str, bytes]) -> None:
        event = orjson.loads(item[1])
        for pattern in router_patterns:
            pattern.matches(event)

    moto_router = [moto_pattern(dict(p.source)) for p in router_patterns]
    moto_bridge = {
        topic: [moto_pattern(dict(rule.pattern.source)) for rule in bridge.rules if topic in rule.topics]
        for topic in bridge.source_topics
    }

    def moto_defaults(item: tuple[str, dict[str, Any]]) -> None:
        topic, event = item
        if topic == ORDER_LIFECYCLE:
            [p.matches_event(event) for p in moto_router]
        next((p for p in moto_bridge.get(topic, []) if p.matches_event(event)), None)

    sources = hundred_rules(rng)
    ours_100: list[Pattern] = [compile_pattern(s) for s in sources]
    moto_100 = [moto_pattern(s) for s in sources]
    decoded = [event for _topic, event in events]
    few = decoded[: max(1, len(decoded) // 10)]  # moto is slow: a tenth of the events keeps the run short

    results: dict[str, Any] = {"events": len(events), "repeats": args.repeats}
    measurements = {
        "defaults_us_per_event": (defaults_decoded, events),
        "defaults_raw_us_per_event": (defaults_raw, raw),
        "router_bytes_fast_path_us": (router_bytes_fast, raw),
        "router_bytes_full_decode_us": (router_bytes_decode, raw),
        "moto_defaults_us_per_event": (moto_defaults, events[: len(few)]),
        "rules100_us_per_event": (lambda e: [p.matches(e) for p in ours_100], decoded),
        "moto_rules100_us_per_event": (lambda e: [p.matches_event(e) for p in moto_100], few),
    }
    for name, (function, inputs) in measurements.items():
        micros, per_second = time_per_event(function, inputs, args.repeats)
        results[name] = round(micros, 3)
        if name.startswith(("rules100", "moto_rules100")):
            results[name.replace("_us_per_event", "_events_per_s")] = round(per_second)
    results["defaults_target_met"] = results["defaults_us_per_event"] < 5.0
    results["fast_path_wins"] = results["router_bytes_fast_path_us"] < results["router_bytes_full_decode_us"]
    results["python"] = platform.python_version()
    results["machine"] = platform.machine()

    for key, value in results.items():
        print(f"{key:34} {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
