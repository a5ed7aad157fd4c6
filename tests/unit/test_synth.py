"""The synthetic workload: realistic lifecycles, and chaos that never changes the valid events."""

from __future__ import annotations

from collections import Counter, defaultdict

import orjson

from orderstream.domain.contract import ParseError, parse_event
from orderstream.synth import Chaos, Workload, generate


def test_clean_stream_is_valid_and_in_sequence_per_order() -> None:
    records = list(generate(Workload(events=5000, customers=200, seed=1)))
    assert len(records) == 5000
    last_seq: dict[str, int] = defaultdict(int)
    types = Counter()
    for record in records:
        event = parse_event(record.value)
        assert not isinstance(event, ParseError), event
        assert record.key == event.customer_id.encode()
        assert (
            record.topic
            == {"order": "orders", "payment": "payments", "shipment": "shipments"}[
                event.event_type.split(".")[0]
            ]
        )
        assert event.sequence == last_seq[event.order_id] + 1
        last_seq[event.order_id] = event.sequence
        types[event.event_type] += 1
    assert set(types) == {
        "order.created", "order.cancelled", "payment.captured", "payment.failed",
        "payment.refunded", "shipment.dispatched", "shipment.delivered",
    }  # fmt: skip


def test_chaos_keeps_the_same_valid_events() -> None:
    workload = Workload(events=20000, customers=500, seed=9)
    clean = [r.value for r in generate(workload)]
    noisy = list(generate(workload, Chaos(duplicate_pct=5, out_of_order_pct=10, poison_pct=1)))
    assert sorted(r.value for r in noisy if r.kind == "valid") == sorted(clean)
    kinds = Counter(r.kind for r in noisy)
    assert 0.04 * 20000 < kinds["duplicate"] < 0.06 * 20000
    assert 0.005 * 20000 < kinds["poison"] < 0.015 * 20000
    assert all(isinstance(parse_event(r.value), ParseError) for r in noisy if r.kind == "poison")
    valid_ids = {r.event_id for r in noisy if r.kind == "valid"}
    assert all(r.event_id in valid_ids for r in noisy if r.kind == "duplicate")


def test_out_of_order_really_reorders_within_orders() -> None:
    noisy = list(generate(Workload(events=5000, seed=4), Chaos(out_of_order_pct=10)))
    seen: dict[str, int] = {}
    inversions = 0
    for record in noisy:
        doc = orjson.loads(record.value)
        if doc["sequence"] < seen.get(doc["order_id"], 0):
            inversions += 1
        seen[doc["order_id"]] = max(seen.get(doc["order_id"], 0), doc["sequence"])
    assert inversions > 200


def test_customer_popularity_is_skewed() -> None:
    keys = Counter(r.key for r in generate(Workload(events=20000, customers=1000, seed=2)))
    top = keys.most_common(10)
    assert top[0][1] > 10 * (20000 / 1000), "the most popular customer should be far above the mean"
    assert len(keys) > 500
