"""No single record can crash a stage: any value, built from the contract's JSON types with every field out of
range, of the wrong type, missing or extra, is either processed or parked with a reason, and every state a
batch writes can be encoded. Run through each stage the way each deployment runs it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderstream.domain import contract
from orderstream.domain.partitioning import partition_for
from orderstream.domain.rules import RouterRuleSet, load_router_rules
from orderstream.settings import RULES_DIR
from streams.stages.batch import StateView
from streams.stages.loyalty import LoyaltyStage, decode_ledger, encode_ledger
from streams.stages.partition import PartitionFlow
from streams.stages.pipeline import Pipeline
from streams.stages.router import RouterStage
from streams.stages.sequencer import SequencerStage, decode_state, encode_state

PARTITIONS = 1  # every customer is at home in partition 0: nothing is parked for the wrong partition
BIG = st.sampled_from([2**53, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 10**19, -(2**63) - 1, 10**30])
JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | BIG | st.floats(allow_nan=False) | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3),
    max_leaves=8,
)


@st.composite
def envelopes(draw: st.DrawFn) -> bytes:
    """A valid envelope with at most two fields replaced by anything (an out-of-range integer, another JSON
    type, nothing at all), sometimes with extra fields or cut short."""
    event_type = draw(st.sampled_from(contract.EVENT_TYPES))
    data = {
        "total_cents": draw(st.integers(0, 10**6)),
        "amount_cents": draw(st.integers(0, 10**6)),
        "currency": "EUR",
        "region": "eu-west",
        "channel": "web",
        "is_test": draw(st.booleans()),
        "items": [{"sku": "a", "quantity": 1, "unit_price_cents": 5}],
        "payment_id": "p",
        "reason": "x",
        "carrier": "dhl",
        "tracking_id": "t",
    }
    doc: dict[str, Any] = {
        "event_id": str(draw(st.uuids())),
        "event_type": event_type,
        "schema_version": 1,
        "occurred_at": "2026-11-27T10:00:00Z",
        "order_id": draw(st.sampled_from(["o-1", "o-2", "o\x1f3", ":"])),
        "customer_id": draw(st.sampled_from(["c-1", "c-2", "c\x1f", "3:c"])),
        "sequence": draw(st.integers(1, 4)),
        "data": data,
    }
    paths = [(doc, name) for name in doc] + [(data, name) for name in data]
    for target, name in draw(
        st.lists(st.sampled_from(paths), max_size=2, unique_by=lambda p: (id(p[0]), p[1]))
    ):
        if draw(st.booleans()):
            target[name] = draw(st.one_of(BIG, JSONISH))
        else:
            target.pop(name, None)
    if draw(st.booleans()):
        doc["extra"] = draw(JSONISH)
    raw = orjson.dumps(doc) if _fits(doc) else _dumps_big(doc)
    return draw(st.sampled_from([raw, raw, raw, raw, raw[: len(raw) // 2], b"null", b"[1]", b""]))


def _fits(doc: Any) -> bool:
    try:
        orjson.dumps(doc)
        return True
    except TypeError:
        return False


def _dumps_big(doc: Any) -> bytes:
    import json

    return json.dumps(doc).encode()


@dataclass(frozen=True)
class Rec:
    topic: str
    partition: int
    offset: int
    timestamp: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


def pipelines() -> list[tuple[str, Pipeline, tuple[str, ...]]]:
    tables: dict[str, dict[bytes, bytes]] = defaultdict(dict)

    def view(name: str, decode: Any, encode: Any) -> StateView[Any]:
        return StateView(name, lambda key: tables[name].get(key), decode, encode, 100)

    rules = RouterRuleSet(load_router_rules(RULES_DIR / "router.yaml"))

    def make(**stages: Any) -> Pipeline:
        return Pipeline(**stages)

    seq = SequencerStage(view("sequencer-orders", decode_state, encode_state), 30.0, PARTITIONS)
    fused = make(
        sequencer=seq,
        router=RouterStage(rules, view("router-test-orders", bytes, bytes)),
        loyalty=LoyaltyStage(view("loyalty-ledger", decode_ledger, encode_ledger), PARTITIONS),
    )
    fused.open(0, ())
    alone_router = make(router=RouterStage(rules, view("router-test-orders-2", bytes, bytes)))
    alone_loyalty = make(
        loyalty=LoyaltyStage(view("loyalty-ledger-2", decode_ledger, encode_ledger), PARTITIONS)
    )
    lifecycle = (contract.ORDER_LIFECYCLE,)
    return [
        ("fused", fused, contract.SOURCE_TOPICS),
        ("router", alone_router, lifecycle),
        ("loyalty", alone_loyalty, lifecycle),
    ]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(envelopes(), min_size=1, max_size=12), st.integers(0, 2))
def test_no_record_crashes_a_stage_and_every_record_is_processed_or_parked(
    values: list[bytes], which: int
) -> None:
    _, pipeline, inputs = pipelines()[which]
    flow = PartitionFlow(0, inputs, pipeline)
    records = [
        Rec(inputs[i % len(inputs)], 0, i, 1_700_000_000_000 + 1000 * i, b"c-1", value)
        for i, value in enumerate(values)
    ]
    for topic in inputs:
        flow.offer(topic, [r for r in records if r.topic == topic])
        flow.fetched(topic, at_end=True, at=1_800_000_000.0)
    batch = flow.next_batch(1000, 1_800_000_000.0)
    assert batch is not None
    assert batch.records_in == len(records)
    for table, writes in batch.writes.items():
        for key, raw in writes.items():
            assert isinstance(key, bytes) and isinstance(raw, bytes), (table, key)
    for out in batch.outputs:
        orjson.loads(out.value or b"null")  # everything sent is JSON a consumer can read
    flow.committed(batch)
    parked = {request.record.offset for request in batch.dead_letters}
    assert parked <= {r.offset for r in records}


def test_the_largest_bounded_sequence_and_amount_go_through_every_stage() -> None:
    _, pipeline, inputs = pipelines()[0]
    flow = PartitionFlow(0, inputs, pipeline)
    big = contract.MAX_INT
    doc = {
        "event_id": "6f1c1f8e-7d2a-4b8e-9a51-0c2f3e4d5a6b",
        "event_type": "payment.captured",
        "schema_version": 1,
        "occurred_at": "2026-11-27T10:00:00Z",
        "order_id": "o-1",
        "customer_id": "c-1",
        "sequence": big,
        "data": {"amount_cents": big, "currency": "EUR", "payment_id": "p"},
    }
    assert partition_for(b"c-1", PARTITIONS) == 0
    flow.offer(
        contract.PAYMENTS, [Rec(contract.PAYMENTS, 0, 0, 1_700_000_000_000, b"c-1", orjson.dumps(doc))]
    )
    for topic in inputs:
        flow.fetched(topic, at_end=True, at=1_800_000_000.0)
    batch = flow.next_batch(10, 1_800_000_000.0)
    assert batch is not None and not batch.dead_letters
    # The gap before it passes on the clock; its state and its successor's position still encode.
    assert any(out.topic == contract.ORDER_LIFECYCLE for out in batch.outputs)


NUMERIC_FIELDS = [
    ("payment.captured", None, "sequence"),
    ("payment.captured", None, "schema_version"),
    ("payment.captured", "data", "amount_cents"),
    ("payment.refunded", "data", "amount_cents"),
    ("order.created", "data", "total_cents"),
]
EDGES = [2**53, 2**53 + 1, 2**63 - 1, 2**63, 2**64 - 1, 2**64, 10**19, -1, 0]


@pytest.mark.parametrize("which", [0, 1, 2])
@pytest.mark.parametrize(("event_type", "where", "name"), NUMERIC_FIELDS)
def test_edge_integers_in_every_numeric_field_never_crash_a_stage(
    which: int, event_type: str, where: str | None, name: str
) -> None:
    _, pipeline, inputs = pipelines()[which]
    flow = PartitionFlow(0, inputs, pipeline)
    records = []
    for i, value in enumerate(EDGES):
        data: dict[str, Any] = {
            "order.created": {
                "total_cents": 5,
                "currency": "EUR",
                "region": "eu",
                "channel": "web",
                "is_test": False,
                "items": [],
            },
            "payment.captured": {"amount_cents": 5, "currency": "EUR", "payment_id": "p"},
            "payment.refunded": {"amount_cents": 5},
        }[event_type]
        doc: dict[str, Any] = {
            "event_id": f"6f1c1f8e-7d2a-4b8e-9a51-0c2f3e4d5a{i:02d}",
            "event_type": event_type,
            "schema_version": 1,
            "occurred_at": "2026-11-27T10:00:00Z",
            "order_id": f"o-{i}",
            "customer_id": "c-1",
            "sequence": 2,  # behind a gap: released when the gap passes, then the next position is stored
            "data": data,
        }
        (doc if where is None else doc[where])[name] = value
        records.append(Rec(inputs[0], 0, i, 1_700_000_000_000 + i, b"c-1", _dumps_big(doc)))
    flow.offer(inputs[0], records)
    for topic in inputs:
        flow.fetched(topic, at_end=True, at=1_800_000_000.0)
    batch = flow.next_batch(100, 1_800_000_000.0)
    assert batch is not None and batch.records_in == len(EDGES)
    flow.committed(batch)
    out_of_range = {
        i for i, v in enumerate(EDGES) if v > contract.MAX_INT or (v < 0 or (v == 0 and name == "sequence"))
    }
    if name == "schema_version":
        out_of_range = {i for i, v in enumerate(EDGES) if v != 1}
    if which == 1:
        return  # the router reads what the sequencer validated: it checks JSON and routes, nothing more
    assert {r.record.offset for r in batch.dead_letters} == out_of_range
