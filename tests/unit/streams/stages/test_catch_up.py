"""A backlog gives the result live traffic gives: the same events released in the same order per order, the
same gaps passed, the same records parked, the same balances. No broker: the partition flow the data plane
runs is driven directly, once as records arrive live, once with everything read later in arbitrary chunks.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderstream.domain import contract
from orderstream.domain.partitioning import partition_for
from orderstream.domain.streamtime import CAUGHT_UP_GRACE
from orderstream.synth import Workload, generate
from streams.stages.batch import Batch, StateView
from streams.stages.loyalty import LoyaltyStage, decode_ledger, encode_ledger
from streams.stages.partition import PartitionFlow
from streams.stages.pipeline import Pipeline
from streams.stages.sequencer import SequencerStage, decode_state, encode_state

PARTITIONS = 3
TIMEOUT = 30.0
INPUTS = contract.SOURCE_TOPICS


@dataclass(frozen=True)
class Rec:
    topic: str
    partition: int
    offset: int
    timestamp: int  # ms, as Kafka stamps LogAppendTime
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


class Worker:
    """The stages of one fused worker over in-memory tables, committing every batch it is given."""

    def __init__(self, partition: int) -> None:
        self.tables: dict[str, dict[bytes, bytes]] = defaultdict(dict)
        seq = SequencerStage(self._view("sequencer-orders", decode_state, encode_state), TIMEOUT, PARTITIONS)
        loyalty = LoyaltyStage(self._view("loyalty-ledger", decode_ledger, encode_ledger), PARTITIONS)
        self.flow = PartitionFlow(partition, INPUTS, Pipeline(sequencer=seq, loyalty=loyalty))
        self.flow.pipeline.open(partition, ())
        self.lifecycle: list[dict[str, Any]] = []
        self.parked: list[tuple[str, str]] = []
        self.loyalty_ids: list[str] = []

    def _view(self, name: str, decode: Any, encode: Any) -> StateView[Any]:
        return StateView(name, lambda key: self.tables[name].get(key), decode, encode, 1000)

    def run(self, limit: int, wall: float) -> None:
        while (batch := self.flow.next_batch(limit, wall)) is not None:
            self.commit(batch)

    def commit(self, batch: Batch) -> None:
        for name, writes in batch.writes.items():
            self.tables[name].update(writes)
        self.flow.committed(batch)
        for out in batch.outputs:
            doc = orjson.loads(out.value or b"")
            if out.topic == contract.ORDER_LIFECYCLE:
                self.lifecycle.append(doc)
            else:
                self.loyalty_ids.append(doc["event_id"])
        self.parked += [(str(r.record.value), r.error_type) for r in batch.dead_letters]

    def per_order(self) -> dict[str, list[tuple[str, bool]]]:
        out: dict[str, list[tuple[str, bool]]] = defaultdict(list)
        for doc in self.lifecycle:
            out[doc["order_id"]].append((doc["event_id"], bool(doc.get("gap_before"))))
        return dict(out)

    def balances(self) -> dict[bytes, bytes]:
        return dict(self.tables["loyalty-ledger"])


def traffic(seed: int, events: int, drop_pct: float, delay_pct: float) -> list[Rec]:
    """One partition's source records with log-append timestamps, as a producer sent them live.

    Events arrive a few hundred ms apart. Some are delayed (arrive after later events of their order, some
    by more than the reorder timeout) and some never arrive at all (a missing predecessor).
    """
    rng = random.Random(seed)
    mine = [
        r
        for r in generate(Workload(events=events, customers=40, seed=seed))
        if partition_for(r.key, PARTITIONS) == 0
    ]
    arrivals: list[tuple[float, int, Any]] = []
    clock = 1_700_000_000.0
    for i, record in enumerate(mine):
        clock += rng.uniform(0.05, 0.6)
        roll = rng.random() * 100
        if roll < drop_pct:
            continue
        at = clock + (
            rng.choice([rng.uniform(1, 20), rng.uniform(31, 90)]) if roll < drop_pct + delay_pct else 0
        )
        arrivals.append((at, i, record))
    arrivals.sort()
    offsets: dict[str, int] = defaultdict(int)
    out = []
    for at, _, record in arrivals:
        out.append(Rec(record.topic, 0, offsets[record.topic], int(at * 1000), record.key, record.value))
        offsets[record.topic] += 1
    return out


def run_live(records: list[Rec]) -> Worker:
    """Every record is read as it is appended; the worker looks at the clock every half second."""
    worker = Worker(0)
    flow = worker.flow
    tick = records[0].timestamp / 1000.0
    for record in records:
        at = record.timestamp / 1000.0
        while tick + 0.5 < at:  # idle time between arrivals: gaps expire on the clock
            tick += 0.5
            for topic in INPUTS:
                flow.fetched(topic, at_end=True, at=tick)
            worker.run(100, tick)
        flow.offer(record.topic, [record])
        for topic in INPUTS:
            flow.fetched(
                topic, at_end=True, at=at + CAUGHT_UP_GRACE
            )  # the fetch that brought it, answered now
        worker.run(100, at + CAUGHT_UP_GRACE)
    end = records[-1].timestamp / 1000.0 + 10 * TIMEOUT
    for topic in INPUTS:
        flow.fetched(topic, at_end=True, at=end)
    worker.run(100, end)
    return worker


def run_backlog(records: list[Rec], rng: random.Random) -> Worker:
    """Everything was appended while no worker ran; one starts much later and fetches in random chunks."""
    worker = Worker(0)
    flow = worker.flow
    wall = records[-1].timestamp / 1000.0 + 3600
    left = {topic: [r for r in records if r.topic == topic] for topic in INPUTS}
    while any(left.values()):
        topic = rng.choice([t for t in INPUTS if left[t]])
        size = rng.randint(1, 40)
        chunk, left[topic] = left[topic][:size], left[topic][size:]
        flow.offer(topic, chunk)
        for name in INPUTS:
            flow.fetched(name, at_end=not left[name] and not flow.buffered(name), at=wall)
        worker.run(rng.randint(1, 50), wall)
    for name in INPUTS:
        flow.fetched(name, at_end=True, at=wall)
    worker.run(1000, wall)
    flow.fetched(INPUTS[0], at_end=True, at=wall + 10 * TIMEOUT)
    worker.run(1000, wall + 10 * TIMEOUT)
    return worker


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    drop_pct=st.sampled_from([0.0, 2.0, 5.0]),
    delay_pct=st.sampled_from([0.0, 5.0, 15.0]),
)
def test_a_backlog_read_in_any_chunks_gives_the_live_result(
    seed: int, drop_pct: float, delay_pct: float
) -> None:
    records = traffic(seed, 1500, drop_pct, delay_pct)
    live = run_live(records)
    backlog = run_backlog(records, random.Random(seed))
    assert backlog.per_order() == live.per_order()
    assert sorted(backlog.parked) == sorted(live.parked)
    assert backlog.balances() == live.balances()
    assert sorted(backlog.loyalty_ids) == sorted(live.loyalty_ids)


def test_a_clean_backlog_passes_no_gap_and_parks_nothing() -> None:
    records = traffic(7, 3000, 0.0, 0.0)
    backlog = run_backlog(records, random.Random(1))
    assert not backlog.parked
    assert not any(gap for order in backlog.per_order().values() for _, gap in order)


def test_a_really_missing_predecessor_is_passed_after_the_timeout_in_a_backlog_too() -> None:
    records = traffic(11, 2000, 5.0, 0.0)
    backlog = run_backlog(records, random.Random(2))
    gaps = [eid for order in backlog.per_order().values() for eid, gap in order if gap]
    assert gaps, "missing predecessors are passed, marked gap_before"
    assert backlog.per_order() == run_live(records).per_order()


def test_a_wall_clock_sequencer_would_have_parked_valid_events_from_this_backlog() -> None:
    """The failure this replaces: read as a whole backlog with one input far behind, the old clock (the
    time each record was processed) passed gaps whose predecessors were only unread."""
    records = traffic(7, 3000, 0.0, 0.0)
    worker = Worker(0)
    flow = worker.flow
    # payments and shipments read first, orders 40 s of processing later: stream time does not care.
    for topic in ("payments", "shipments", "orders"):
        flow.offer(topic, [r for r in records if r.topic == topic])
    for topic in INPUTS:
        flow.fetched(topic, at_end=True, at=records[-1].timestamp / 1000.0 + 3600)
    worker.run(500, records[-1].timestamp / 1000.0 + 3600)
    assert not worker.parked
    assert worker.per_order() == run_live(records).per_order()


@pytest.mark.parametrize("limit", [1, 7, 2000])
def test_batch_size_does_not_change_the_result(limit: int) -> None:
    records = traffic(3, 1500, 3.0, 10.0)
    worker = Worker(0)
    for topic in INPUTS:
        worker.flow.offer(topic, [r for r in records if r.topic == topic])
        worker.flow.fetched(topic, at_end=True, at=2e9)
    worker.run(limit, 2e9)
    reference = run_live(records)
    assert worker.per_order() == reference.per_order()
    assert worker.balances() == reference.balances()
