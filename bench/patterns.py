"""Benchmark the event-pattern matcher: shipped rules, a growing realistic rule set, and the event-ruler oracle.

Prints, and writes bench/results/patterns.json (each figure the median over ``--runs`` runs, each run the
median of ``--repeats`` passes over the events):
- µs per event for the default router + bridge rules over a realistic event mix (target <= 3 µs), decoded and
  from raw bytes (decode included), and the bytes fast path of a single pattern against a full decode;
- µs per event of one compiled rule set of 10, 30, 100, 300 and 1 000 realistic rules (event_type, region,
  amount ranges, id prefixes) on the same events: the curve, and its growth from 10 to 1 000 (target < 3x;
  1 000 rules target <= 15 µs); the same rules matched one pattern at a time, for comparison;
- moto's EventPattern on the default rules, in the same run;
- the differential test against event-ruler on ``--cases`` generated cases: how many differences are known
  (docs/patterns.md) and how many unexplained (target 0). Needs Java 17 + Maven (the harness is built once).

Usage: .venv/bin/python bench/patterns.py [--events N] [--repeats R] [--runs K] [--cases C]
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
from orderstream.domain.patterns import PatternSet, compile_pattern  # noqa: E402
from orderstream.domain.rules import BridgeRuleSet, RouterRuleSet, load_bridge_rules, load_router_rules  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "patterns.json"
SIZES = (10, 30, 100, 300, 1000)
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


REGIONS = ["eu-west", "us-east", "ap-south", "sa-east", "eu-central", "us-west", "ap-north", "af-south"]
CARRIERS = ["dhl", "ups", "fedex", "gls", "dpd", "postnl"]


def realistic_rules(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """``count`` distinct rules of the kind a routing file grows into, each for its own consumer: event types with
    a region and an amount band, payment amount bands, customer and tracking-id prefixes, carriers, reasons."""

    def band(low: int, high: int, width: int) -> list[Any]:
        start = rng.randrange(low, high, 100)
        return [{"numeric": [">=", start, "<", start + width]}]

    makers: list[Callable[[], dict[str, Any]]] = [
        lambda: {
            "event_type": ["order.created"],
            "data": {
                "region": [rng.choice(REGIONS)],
                "total_cents": band(0, 160_000, 8_000),
                "is_test": [False],
            },
        },
        lambda: {"event_type": [{"prefix": "payment."}], "data": {"amount_cents": band(0, 90_000, 1_000)}},
        lambda: {"event_type": ["order.created"], "customer_id": [{"prefix": f"c-{rng.randint(100, 999)}"}]},
        lambda: {
            "event_type": ["shipment.dispatched"],
            "data": {
                "carrier": [rng.choice(CARRIERS)],
                "tracking_id": [{"prefix": f"T{rng.randint(10, 99)}"}],
            },
        },
        lambda: {"event_type": [rng.choice(ORDER_TYPES)[0]], "order_id": [f"o-{rng.randint(1, 10**6)}"]},
        lambda: {
            "event_type": ["payment.failed", "order.cancelled"],
            "data": {"reason": [{"prefix": rng.choice(["card", "fraud", "limit", "stock", "customer"])}]},
            "customer_id": [{"suffix": str(rng.randint(0, 99)).zfill(2)}],
        },
        lambda: {
            "event_type": ["order.created"],
            "data": {
                "region": [rng.choice(REGIONS)],
                "channel": [rng.choice(["web", "app", "store"])],
                "currency": [{"anything-but": ["EUR", "USD"]}],
            },
        },
        lambda: {"event_type": ["payment.refunded"], "data": {"amount_cents": band(0, 90_000, 2_000)}},
    ]
    return [makers[i % len(makers)]() for i in range(count)]


def shaped_events(count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Envelopes of the contract with the spread the rules look at (regions, channels, carriers, amounts)."""
    events = [event for _topic, event in realistic_events(count, rng)]
    for event in events:
        data = event.get("data", {})
        if "region" in data:
            data["region"] = rng.choice(REGIONS)
            data["channel"] = rng.choice(["web", "app", "store"])
            data["currency"] = rng.choice(["EUR", "EUR", "USD", "GBP"])
            data["total_cents"] = rng.randrange(500, 160_000)
        if "carrier" in data:
            data["carrier"] = rng.choice(CARRIERS)
        if "reason" in data:
            data["reason"] = rng.choice(
                ["card_declined", "fraud_suspected", "limit_exceeded", "customer_request"]
            )
    return events


def time_per_event(
    match_all: Callable[[Any], Any], inputs: Sequence[Any], repeats: int
) -> tuple[float, float]:
    """(median µs per event over ``repeats`` passes, events/s of the median pass), in CPU time."""
    passes = []
    for _ in range(repeats):
        start = time.process_time()  # CPU time of this process: other work on the machine does not count
        for item in inputs:
            match_all(item)
        passes.append(time.process_time() - start)
    median = statistics.median(passes)
    return median / len(inputs) * 1e6, len(inputs) / median


def moto_pattern(source: dict[str, Any]) -> Any:
    from moto.events.models import EventPattern

    return EventPattern(None, source)


def measure(
    name: str,
    function: Callable[[Any], Any],
    inputs: Sequence[Any],
    repeats: int,
    runs: dict[str, list[float]],
) -> None:
    runs.setdefault(name, []).append(time_per_event(function, inputs, repeats)[0])


def oracle(cases: int) -> dict[str, Any]:
    """The differential test against event-ruler; its counts are part of the benchmark's output."""
    from tools.patterns_oracle import compare

    started = time.perf_counter()
    report = compare.run(cases=cases)
    print(report.summary())
    for line in report.unexplained[:20]:
        print("unexplained:", line)
    return {
        "oracle_cases": report.cases,
        "oracle_set_rules": report.set_rules,
        "oracle_set_events": report.set_events,
        "oracle_known_differences": dict(sorted(report.known.items())),
        "oracle_unexplained": report.unexplained_count,
        "oracle_seconds": round(time.perf_counter() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cases", type=int, default=20_000, help="differential cases (0 skips the oracle)")
    args = parser.parse_args()
    rng = random.Random(42)
    events = realistic_events(args.events, rng)
    raw = [(topic, orjson.dumps(event)) for topic, event in events]

    router = RouterRuleSet(load_router_rules(ROOT / "rules" / "router.yaml"))
    bridge = BridgeRuleSet(load_bridge_rules(ROOT / "rules" / "bridge.yaml"))
    router_pattern = router.rules[0].pattern

    def defaults_decoded(item: tuple[str, dict[str, Any]]) -> None:
        topic, event = item
        if topic == ORDER_LIFECYCLE:
            router.route(event)
        bridge.select(topic, event)

    def defaults_raw(item: tuple[str, bytes]) -> None:  # what a consumer pays per record: decode + match
        defaults_decoded((item[0], orjson.loads(item[1])))

    moto_router = [moto_pattern(dict(rule.pattern.source)) for rule in router.rules]
    moto_bridge = {
        topic: [moto_pattern(dict(rule.pattern.source)) for rule in bridge.rules if topic in rule.topics]
        for topic in bridge.source_topics
    }

    def moto_defaults(item: tuple[str, dict[str, Any]]) -> None:
        topic, event = item
        if topic == ORDER_LIFECYCLE:
            [p.matches_event(event) for p in moto_router]
        next((p for p in moto_bridge.get(topic, []) if p.matches_event(event)), None)

    shaped = shaped_events(args.events, random.Random(7))
    all_rules = [compile_pattern(source) for source in realistic_rules(max(SIZES), random.Random(11))]
    sets = {size: PatternSet(all_rules[:size]) for size in SIZES}
    few = shaped[: max(1, len(shaped) // 10)]
    matched = {size: statistics.mean(len(sets[size].matching(event)) for event in shaped) for size in SIZES}

    measurements: dict[str, tuple[Callable[[Any], Any], Sequence[Any]]] = {
        "defaults_us_per_event": (defaults_decoded, events),
        "defaults_raw_us_per_event": (defaults_raw, raw),
        "router_bytes_fast_path_us": (lambda item: router_pattern.matches_bytes(item[1]), raw),
        "router_bytes_full_decode_us": (lambda item: router_pattern.matches(orjson.loads(item[1])), raw),
        "moto_defaults_us_per_event": (moto_defaults, events[: len(events) // 10]),
        **{f"rules{size}_us_per_event": (sets[size].matching, shaped) for size in SIZES},
        "rules1000_one_at_a_time_us_per_event": (lambda e: [p.matches(e) for p in all_rules], few),
    }
    runs: dict[str, list[float]] = {}
    for _ in range(args.runs):
        for name, (function, inputs) in measurements.items():
            measure(name, function, inputs, args.repeats, runs)
    results: dict[str, Any] = {"events": len(events), "repeats": args.repeats, "runs": args.runs}
    for name, values in runs.items():
        results[name] = round(statistics.median(values), 3)
        results[f"{name}_runs"] = [round(value, 3) for value in values]
    results["rules_curve_us_per_event"] = {size: results[f"rules{size}_us_per_event"] for size in SIZES}
    results["rules_matched_per_event"] = {size: round(matched[size], 2) for size in SIZES}
    results["growth_10_to_1000"] = round(
        results["rules1000_us_per_event"] / results["rules10_us_per_event"], 2
    )
    results["defaults_target_met"] = results["defaults_us_per_event"] <= 3.0
    results["rules1000_target_met"] = results["rules1000_us_per_event"] <= 15.0
    results["growth_target_met"] = results["growth_10_to_1000"] < 3.0
    results["fast_path_wins"] = results["router_bytes_fast_path_us"] < results["router_bytes_full_decode_us"]
    if args.cases:
        results.update(oracle(args.cases))
        results["oracle_target_met"] = results["oracle_unexplained"] == 0
    results["python"] = platform.python_version()
    results["machine"] = platform.machine()

    for key, value in results.items():
        if not key.endswith("_runs"):
            print(f"{key:40} {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
