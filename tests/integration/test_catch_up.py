"""Catch-up is exact: a backlog gives the result live traffic gives, with the default reorder timeout.

The workloads carry real disturbances: events delayed a few seconds (reordered in time), events delayed past
the timeout (late: parked), and events that never arrive (their successors are released after the timeout,
marked ``gap_before``). The expected outcome is computed by a reference model of DESIGN.md's sequencer rules
over the records' own timestamps, read back from the topics, written here independently of the worker; the
balances come from the domain ledger applied to what the model releases.

- backlog: everything is produced before the worker starts; the worker is then starved of CPU (stopped and
  continued in short cycles, as on a crowded host) so that catching up takes several times the timeout in
  wall-clock time, while the three inputs are read at whatever pace they come;
- live: the worker runs while the events arrive, in real time.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import streams_harness as h

from orderstream import kafka
from orderstream.domain import contract, ledger
from orderstream.domain.contract import Event, parse_event
from orderstream.domain.dlq import DeadLetter
from orderstream.domain.ledger import CustomerLedger
from orderstream.settings import ProducerSettings, WorkerSettings
from orderstream.synth import Workload, generate

pytestmark = pytest.mark.integration

TIMEOUT = WorkerSettings().reorder_timeout
SOURCES = list(contract.SOURCE_TOPICS)


def test_the_default_reorder_timeout_is_thirty_seconds() -> None:
    assert TIMEOUT == 30.0


# --------------------------------------------------------------------------------------------- workloads


@dataclass(frozen=True)
class Timed:
    topic: str
    key: bytes
    value: bytes
    at: float  # seconds


def disturbed(
    seed: int, events: int, customers: int, start: float, step: float, late: tuple[float, float]
) -> list[Timed]:
    """A workload whose events enter the platform ``step`` seconds apart, with one disturbance in some orders:
    dropped (never sent), delayed 2-8 s (still in time), or delayed past the timeout by ``late`` seconds
    beyond the successor's deadline (parked as late). No delay ends within 3 s of a deadline, so the outcome
    does not hang on the last fetch's timing."""
    rng = random.Random(seed)
    records = list(generate(Workload(events=events, customers=customers, seed=seed)))
    docs = [orjson.loads(r.value) for r in records]
    when = {(doc["order_id"], doc["sequence"]): start + i * step for i, doc in enumerate(docs)}
    disturbed_orders: set[str] = set()
    out = []
    for i, (record, doc) in enumerate(zip(records, docs, strict=True)):
        at = start + i * step
        order, seq = doc["order_id"], doc["sequence"]
        successor = when.get((order, seq + 1))
        if order not in disturbed_orders and successor is not None:
            roll = rng.random()
            if roll < 0.02:
                disturbed_orders.add(order)
                continue
            if roll < 0.05:
                disturbed_orders.add(order)
                at += rng.uniform(2, 8)
            elif roll < 0.08:
                disturbed_orders.add(order)
                at = successor + TIMEOUT + rng.uniform(*late)
        out.append(Timed(record.topic, record.key, record.value, at))
    out.sort(key=lambda r: r.at)
    return out


# --------------------------------------------------------------------------------------------- the model


@dataclass
class Expected:
    released: dict[str, list[tuple[str, bool]]]
    late: set[str]
    balances: dict[str, dict[str, Any]]


def reference(arrivals: list[tuple[float, int, int, Event]]) -> Expected:
    """DESIGN.md's sequencer over ``(timestamp, input index, offset, event)`` in stream-time order, then the
    ledger over what it releases. A gap open for TIMEOUT seconds of stream time is passed; an event for a
    passed position is late."""
    orders: dict[str, dict[str, Any]] = {}
    released: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    late: set[str] = set()
    applied: dict[str, list[Event]] = defaultdict(list)

    def release(order_id: str, state: dict[str, Any], gap: bool) -> None:
        first = True
        while state["next"] in state["held"]:
            event, _ = state["held"].pop(state["next"])
            released[order_id].append((event.event_id, gap and first))
            applied[event.customer_id].append(event)
            first = False
            state["next"] += 1

    def expire(until: float) -> None:
        for order_id in [o for o, state in waiting.items() if state["held"]]:
            state = waiting[order_id]
            while state["held"] and min(t for _, t in state["held"].values()) + TIMEOUT <= until:
                state["next"] = min(state["held"])
                release(order_id, state, gap=True)
            if not state["held"]:
                del waiting[order_id]

    waiting: dict[str, dict[str, Any]] = {}
    for at, _, _, event in sorted(arrivals, key=lambda a: a[:3]):
        expire(at)
        state = orders.setdefault(event.order_id, {"next": 1, "held": {}})
        if event.sequence < state["next"]:
            late.add(event.event_id)
            continue
        state["held"][event.sequence] = (event, at)
        release(event.order_id, state, gap=False)
        if state["held"]:
            waiting[event.order_id] = state
    expire(float("inf"))
    balances = {}
    for customer, events in applied.items():
        current = CustomerLedger(customer)
        for event in events:
            current, _ = ledger.apply(current, event)
        balances[customer] = current.summary()
    return Expected(dict(released), late, balances)


async def arrivals_in_kafka(settings: ProducerSettings) -> list[tuple[float, int, int, Event]]:
    out = []
    for index, topic in enumerate(SOURCES):
        for record in await h.read_topic(settings, topic):
            event = parse_event(record.value)
            assert not isinstance(event, contract.ParseError)
            out.append((record.timestamp / 1000.0, index, record.offset, event))
    return out


async def observed(settings: ProducerSettings, group: str) -> Expected:
    released: dict[str, list[tuple[str, bool]]] = defaultdict(list)
    for record in await h.read_topic(settings, contract.ORDER_LIFECYCLE, isolation_level="read_committed"):
        doc = orjson.loads(record.value)
        released[doc["order_id"]].append((doc["event_id"], bool(doc.get("gap_before"))))
    late = set()
    for record in await h.read_topic(settings, contract.DLQ, isolation_level="read_committed"):
        letter = DeadLetter.from_headers(record.headers)
        assert letter.error_type == "late", f"only late events are parked, got {letter}"
        late.add(orjson.loads(record.value)["event_id"])
    return Expected(dict(released), late, await h.ledgers_from_changelog(settings, group))


def assert_same(got: Expected, want: Expected) -> None:
    gaps = sum(1 for rows in want.released.values() for _, gap in rows if gap)
    assert gaps > 5 and len(want.late) > 5, "the workload really has missing and late events"
    wrong = sorted(
        o for o in set(got.released) | set(want.released) if got.released.get(o) != want.released.get(o)
    )
    assert not wrong, (
        f"{len(wrong)} orders released differently, e.g. {wrong[0]}: {got.released.get(wrong[0])} vs {want.released.get(wrong[0])}"
    )
    assert got.late == want.late, (
        f"spurious late: {len(got.late - want.late)}, missing late: {len(want.late - got.late)}"
    )
    assert got.balances == want.balances, h.balance_diff(got.balances, want.balances)


async def send_timed(settings: ProducerSettings, records: list[Timed], *, stamped: bool, live: bool) -> None:
    """Send ``records``: with their own timestamps (``stamped``), and when ``live`` at their time."""
    producer = kafka.producer(settings)
    await producer.start()
    try:
        pending = []
        base = time.time() - records[0].at if live else 0.0
        for record in records:
            if live and (wait := record.at + base - time.time()) > 0:
                await asyncio.gather(*pending)
                pending.clear()
                await asyncio.sleep(wait)
            stamp = int(record.at * 1000) if stamped else None
            pending.append(
                await producer.send(record.topic, record.value, key=record.key, timestamp_ms=stamp)
            )
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def written(settings: ProducerSettings) -> int:
    """Records the worker has written so far (released or parked), committed or not: the end offsets of its
    outputs. Transaction markers count too, so this runs a little ahead of the worker's real progress."""
    consumer = kafka.consumer(settings, group_id=None)
    await consumer.start()
    try:
        tps = await h.topic_partitions(settings, [contract.ORDER_LIFECYCLE, contract.DLQ])
        return sum((await consumer.end_offsets(tps)).values())
    finally:
        await consumer.stop()


class Starver(threading.Thread):
    """Starve a worker of CPU (stop it and let it run in short cycles, each pause well inside its session
    timeout) so that its catch-up lasts ``target`` seconds: it may only have written the share of its output
    that the elapsed share of ``target`` allows. Progress is read from what it wrote, not from its commits,
    which trail its work by up to a commit interval of its own running time."""

    def __init__(self, pid: int, settings: ProducerSettings, total: int, target: float) -> None:
        super().__init__(daemon=True)
        self.pid, self.settings, self.total, self.target = pid, settings, total, target
        self.done = threading.Event()
        self.trace: list[tuple[float, float]] = []
        """(elapsed, progress) at each check, for the failure message."""

    def run(self) -> None:
        began = time.monotonic()
        try:
            while not self.done.is_set() and (elapsed := time.monotonic() - began) < self.target:
                os.kill(self.pid, signal.SIGSTOP)
                stopped = time.monotonic()
                progress = asyncio.run(written(self.settings)) / self.total  # asked while it stands still
                self.trace.append((round(elapsed, 1), round(progress, 3)))
                ahead = progress >= elapsed / self.target
                if (
                    ahead
                ):  # hold it 2 s (its heartbeats every 2.5 s still reach the broker), then a small step
                    time.sleep(max(0.0, 2.0 - (time.monotonic() - stopped)))
                os.kill(self.pid, signal.SIGCONT)
                time.sleep(0.01 if ahead else 0.1)
        finally:
            os.kill(self.pid, signal.SIGCONT)


# --------------------------------------------------------------------------------------------- tests


def test_a_backlog_caught_up_over_several_timeouts_gives_the_live_result(
    kafka_settings: ProducerSettings, tmp_path: Path
) -> None:
    stamped = {"message.timestamp.type": "CreateTime"}  # the backlog's own times, minutes of them
    asyncio.run(h.reset_topics(kafka_settings, configs={topic: stamped for topic in SOURCES}))
    start = time.time() - 7200
    records = disturbed(seed=14, events=20_000, customers=300, start=start, step=0.05, late=(5, 60))
    asyncio.run(send_timed(kafka_settings, records, stamped=True, live=False))
    want = reference(asyncio.run(arrivals_in_kafka(kafka_settings)))

    app_id = h.unique_app_id("catchup")
    worker = h.Worker(app_id, kafka_settings.kafka_bootstrap_servers, tmp_path).start()
    assert worker.proc is not None
    starver = Starver(worker.proc.pid, kafka_settings, len(records), 3.6 * TIMEOUT)
    began = time.monotonic()
    starver.start()
    try:
        topics = {h.group_of(app_id): SOURCES}
        asyncio.run(h.wait_quiet(kafka_settings, topics, budget_s=400, settle_s=0.5))
        caught_up = time.monotonic() - began
        starver.done.set()
        starver.join()
        asyncio.run(h.wait_quiet(kafka_settings, {h.group_of(app_id): [*SOURCES, contract.ORDER_LIFECYCLE]}))
        got = asyncio.run(observed(kafka_settings, h.group_of(app_id)))
    finally:
        starver.done.set()
        worker.stop()
    assert_same(got, want)
    assert caught_up >= 3 * TIMEOUT, (
        f"catch-up took {caught_up:.0f}s: not several times the timeout; (elapsed, progress): {starver.trace}"
    )


def test_live_traffic_releases_missing_predecessors_after_the_timeout_and_parks_late_events(
    kafka_settings: ProducerSettings, tmp_path: Path
) -> None:
    asyncio.run(h.reset_topics(kafka_settings))  # log-append time, as `orderstream topics create` sets it
    app_id = h.unique_app_id("live")
    worker = h.Worker(app_id, kafka_settings.kafka_bootstrap_servers, tmp_path).start()
    try:
        records = disturbed(seed=15, events=6_000, customers=150, start=0.0, step=0.008, late=(3, 6))
        h.wait_ready(worker)
        asyncio.run(send_timed(kafka_settings, records, stamped=False, live=True))
        time.sleep(TIMEOUT + 5)  # the last gaps expire on the clock, with no more traffic
        asyncio.run(h.wait_quiet(kafka_settings, {h.group_of(app_id): [*SOURCES, contract.ORDER_LIFECYCLE]}))
        want = reference(asyncio.run(arrivals_in_kafka(kafka_settings)))
        got = asyncio.run(observed(kafka_settings, h.group_of(app_id)))
    finally:
        worker.stop()
    assert_same(got, want)
