"""The bridge against the real broker and moto server over HTTP: routing to SQS through EventBridge rules,
fault injection (throttling, internal errors, late answers), poison records, and ``kill -9`` + restart."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition

from consumers.bridge import Bridge, BridgeOptions
from consumers.fake_endpoint import FakePutEvents, Faults
from orderstream import kafka
from orderstream.domain.dlq import DeadLetter
from orderstream.domain.rules import BridgeRuleSet, load_bridge_rules
from orderstream.settings import BridgeSettings, ProducerSettings

pytestmark = pytest.mark.integration

ORCHESTRATOR = [sys.executable, "-m", "orderstream.cli"]
"""This checkout's CLI (never an installed copy elsewhere)."""

# --------------------------------------------------------------------------------------------- events


def envelope(event_type: str, customer: str, order: str, sequence: int, **data: Any) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": event_type,
        "schema_version": 1,
        "occurred_at": f"2025-01-01T12:{sequence % 60:02d}:00Z",
        "order_id": order,
        "customer_id": customer,
        "sequence": sequence,
        "data": data,
    }


def order_lifecycle(customers: int, orders_per_customer: int) -> list[dict[str, Any]]:
    """A mix of selected and not selected lifecycle events, in per-customer order."""
    events = []
    for c in range(customers):
        for o in range(orders_per_customer):
            customer, order = f"c-{c}", f"o-{c}-{o}"
            is_test = o % 5 == 4
            events.append(envelope("order.created", customer, order, 1, total_cents=1000, is_test=is_test))
            events.append(envelope("payment.captured", customer, order, 2, amount_cents=1000))
            events.append(envelope("payment.failed" if o % 3 == 0 else "order.cancelled", customer, order, 3))
            events.append(envelope("shipment.dispatched", customer, order, 4, carrier="ups", tracking_id="t"))
    return events


def loyalty(customers: int) -> list[dict[str, Any]]:
    out = []
    for c in range(customers):
        for i, kind in enumerate(("loyalty.points_awarded", "loyalty.tier_changed")):
            doc = envelope(kind, f"c-{c}", f"o-{c}-0", i + 1)
            doc.pop("sequence")
            doc["caused_by"] = str(uuid.uuid4())
            out.append(doc)
    return out


def selected(event: dict[str, Any]) -> bool:
    """The default selection of DESIGN.md."""
    kind = event["event_type"]
    if kind == "order.created":
        return not event["data"]["is_test"]
    return kind in ("payment.failed", "shipment.dispatched", "loyalty.tier_changed")


# --------------------------------------------------------------------------------------------- AWS side


@dataclass
class Routing:
    """A moto bus with two rules routing by Source to two SQS queues."""

    endpoint: str
    bus: str
    queues: dict[str, str]  # source -> queue url

    def sqs(self) -> Any:
        return boto3.client("sqs", region_name="us-east-1", endpoint_url=self.endpoint)

    def drain(
        self, want: int, timeout: float, known: frozenset[str] = frozenset()
    ) -> dict[str, list[dict[str, Any]]]:
        """Receive (and delete) messages until ``want`` distinct events (``known`` ones included) arrived or
        ``timeout`` passed."""
        sqs, got = self.sqs(), defaultdict(list)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(_ids(got) | known) < want:
            idle = True
            for source, url in self.queues.items():
                reply = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
                for message in reply.get("Messages", []):
                    got[source].append(orjson.loads(message["Body"]))
                    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                    idle = False
            if idle:
                time.sleep(0.2)
        return got


def make_routing(endpoint: str) -> Routing:
    suffix = uuid.uuid4().hex[:8]
    events = boto3.client("events", region_name="us-east-1", endpoint_url=endpoint)
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=endpoint)
    bus = f"orderstream-{suffix}"
    events.create_event_bus(Name=bus)
    queues = {}
    for source in ("orderstream.orders", "orderstream.loyalty"):
        name = f"q-{source.split('.')[1]}-{suffix}"
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        rule = f"r-{name}"
        events.put_rule(Name=rule, EventBusName=bus, EventPattern=orjson.dumps({"source": [source]}).decode())
        events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])
        queues[source] = url
    return Routing(endpoint, bus, queues)


def write_rules(path: Path, lifecycle_topic: str, loyalty_topic: str) -> Path:
    """rules/bridge.yaml with the test's topic names."""
    document = yaml.safe_load((Path(__file__).resolve().parents[2] / "rules" / "bridge.yaml").read_text())
    for rule in document["rules"]:
        rule["topics"] = [
            lifecycle_topic if t == "order-lifecycle" else loyalty_topic for t in rule["topics"]
        ]
    path.write_text(yaml.safe_dump(document))
    return path


# --------------------------------------------------------------------------------------------- Kafka side


async def produce(settings: ProducerSettings, topic: str, values: list[bytes], keys: list[bytes]) -> None:
    producer = kafka.producer(settings)
    await producer.start()
    try:
        futures = [await producer.send(topic, value=v, key=k) for v, k in zip(values, keys, strict=True)]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


async def produce_events(settings: ProducerSettings, topic: str, events: list[dict[str, Any]]) -> None:
    await produce(
        settings, topic, [orjson.dumps(e) for e in events], [e["customer_id"].encode() for e in events]
    )


async def committed(settings: ProducerSettings, group: str, topic: str) -> int:
    consumer = kafka.consumer(settings, group_id=group)
    await consumer.start()
    try:
        count = (await kafka.partition_counts(settings, [topic]))[topic]
        total = 0
        for p in range(count):
            total += await consumer.committed(TopicPartition(topic, p)) or 0
        return total
    finally:
        await consumer.stop()


async def read_dlq(settings: ProducerSettings, topic: str, want: int, within: float = 20) -> list[Any]:
    consumer = AIOKafkaConsumer(topic, **kafka.connection_options(settings), auto_offset_reset="earliest")
    await consumer.start()
    out: list[Any] = []
    try:
        deadline = time.monotonic() + within
        while len(out) < want and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                out.extend(records)
    finally:
        await consumer.stop()
    return out


@contextlib.asynccontextmanager
async def running(bridge: Bridge) -> AsyncIterator[asyncio.Event]:
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run_until(stop))
    try:
        yield stop
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)


# --------------------------------------------------------------------------------------------- fixtures


@pytest.fixture
def routing(aws_endpoint: str) -> Routing:
    return make_routing(aws_endpoint)


@pytest.fixture
def stage(new_topics: Callable[..., list[str]], tmp_path: Path) -> tuple[str, str, Path]:
    lifecycle, loyalty_topic = new_topics("order-lifecycle", "loyalty-events", partitions=3)
    return lifecycle, loyalty_topic, write_rules(tmp_path / "bridge.yaml", lifecycle, loyalty_topic)


@pytest.fixture
def dlq(new_topics: Callable[..., list[str]]) -> str:
    return new_topics("dlq", partitions=1)[0]


def bridge_settings(
    bootstrap: str, stage: tuple[str, str, Path], routing: Routing, endpoint: str
) -> BridgeSettings:
    lifecycle, loyalty_topic, rules = stage
    return BridgeSettings(
        kafka_bootstrap_servers=bootstrap,
        app_id=f"it-{uuid.uuid4().hex[:8]}",
        bridge_topics=f"{lifecycle},{loyalty_topic}",
        bridge_rules=rules,
        event_bus=routing.bus,
        aws_endpoint_url=endpoint,
        metrics_port=0,
        bridge_stop_timeout=5,
    )


def check_arrivals(got: dict[str, list[dict[str, Any]]], expected: list[dict[str, Any]]) -> None:
    """Every selected event arrived once at the right queue with the specified Source/DetailType/Detail."""
    by_id = {e["event_id"]: e for e in expected}
    seen: set[str] = set()
    for source, messages in got.items():
        for message in messages:
            detail = message["detail"]
            original = by_id[detail["event_id"]]
            assert message["source"] == source
            assert message["detail-type"] == original["event_type"]
            assert {k: v for k, v in detail.items() if k != "kafka"} == original
            assert set(detail["kafka"]) == {"topic", "partition", "offset"}
            seen.add(detail["event_id"])
    assert seen == set(by_id)


# --------------------------------------------------------------------------------------------- tests


@pytest.mark.local_broker
async def test_selected_events_reach_the_right_queues_and_others_do_not(
    kafka_settings: ProducerSettings, bootstrap: str, stage: tuple[str, str, Path], routing: Routing
) -> None:
    lifecycle, loyalty_topic, rules_path = stage
    orders, loyal = order_lifecycle(customers=10, orders_per_customer=5), loyalty(customers=20)
    await produce_events(kafka_settings, lifecycle, orders)
    await produce_events(kafka_settings, loyalty_topic, loyal)
    want = [e for e in orders + loyal if selected(e)]
    settings = bridge_settings(bootstrap, stage, routing, routing.endpoint)
    bridge = Bridge(settings, BridgeRuleSet(load_bridge_rules(rules_path)))

    async with running(bridge):
        got = await asyncio.to_thread(routing.drain, len(want), 40)
        extra = await asyncio.to_thread(routing.drain, 1, 1.5)  # nothing unselected trickles in later

    assert not extra
    check_arrivals(got, want)
    assert await committed(kafka_settings, bridge.group_id, lifecycle) == len(orders)


async def test_faults_lose_nothing_keep_key_order_and_duplicate_only_unknown_outcomes(
    kafka_settings: ProducerSettings, bootstrap: str, stage: tuple[str, str, Path], routing: Routing
) -> None:
    lifecycle, _loyalty, rules_path = stage
    orders = order_lifecycle(customers=30, orders_per_customer=3)
    await produce_events(kafka_settings, lifecycle, orders)
    want = [e for e in orders if selected(e)]
    faults = Faults(throttled_entries=0.30, internal_entries=0.05, late_calls=0.05, late_seconds=1.5)
    proxy = FakePutEvents(upstream=routing.endpoint, faults=faults, keep_details=True)
    url = proxy.start()
    try:
        settings = bridge_settings(bootstrap, stage, routing, url)
        options = BridgeOptions(put_read_timeout=1.0, backoff_base=0.02, backoff_cap=0.5)
        bridge = Bridge(settings, BridgeRuleSet(load_bridge_rules(rules_path)), options=options)
        async with running(bridge):
            got = await asyncio.to_thread(routing.drain, len(want), 50)
    finally:
        proxy.stop()

    tally = proxy.tally
    assert tally.throttled_entries > 0 and tally.internal_entries > 0 and tally.late_calls > 0
    published = [orjson.loads(d) for d in tally.forwarded_details]
    _assert_key_order(published)
    duplicates = len(published) - len({d["event_id"] for d in published})
    assert duplicates <= tally.late_calls * 10  # only calls whose answer came too late are resent
    unique_at_queues = {m["detail"]["event_id"]: m for ms in got.values() for m in ms}
    check_arrivals({s: [m for m in unique_at_queues.values() if m["source"] == s] for s in got}, want)


def _assert_key_order(published: list[dict[str, Any]]) -> None:
    """First publications per customer follow the produce order (order id, then sequence)."""
    first: dict[str, dict[str, Any]] = {}
    for detail in published:
        first.setdefault(detail["event_id"], detail)
    per_key: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for detail in first.values():
        per_key[detail["customer_id"]].append((detail["order_id"], detail["sequence"]))
    for key, positions in per_key.items():
        assert positions == sorted(positions, key=lambda p: (int(p[0].split("-")[2]), p[1])), key


async def test_poison_records_go_to_the_dlq_with_a_reason_and_the_partition_moves_on(
    kafka_settings: ProducerSettings,
    bootstrap: str,
    stage: tuple[str, str, Path],
    routing: Routing,
    dlq: str,
) -> None:
    lifecycle, _loyalty, rules_path = stage
    good = [envelope("payment.failed", "c-1", f"o-{i}", 3, reason="card") for i in range(5)]
    invalid = envelope("payment.failed", "c-1", "o-bad", 3, reason="REJECT-ME")
    values = [b"{not json", b"[1, 2]", orjson.dumps(invalid)] + [orjson.dumps(e) for e in good]
    await produce(kafka_settings, lifecycle, values, [b"c-1"] * len(values))  # one key: one partition
    proxy = FakePutEvents(upstream=routing.endpoint, faults=Faults(reject_marker="REJECT-ME"))
    url = proxy.start()
    try:
        settings = bridge_settings(bootstrap, stage, routing, url)
        bridge = Bridge(
            settings, BridgeRuleSet(load_bridge_rules(rules_path)), options=BridgeOptions(dlq_topic=dlq)
        )
        async with running(bridge):
            got = await asyncio.to_thread(routing.drain, len(good), 30)
            parked = await read_dlq(kafka_settings, dlq, want=3)
            await asyncio.sleep(1.5)  # one commit interval
    finally:
        proxy.stop()

    check_arrivals(got, good)
    letters = [(DeadLetter.from_headers(r.headers), r.value) for r in parked]
    reasons = {letter.source_offset: (letter.error_type, value) for letter, value in letters}
    assert reasons[0] == ("bad_json", b"{not json")
    assert reasons[1] == ("not_an_object", b"[1, 2]")
    assert reasons[2][0] == "rejected" and b"REJECT-ME" in reasons[2][1]
    assert all(letter.stage == "bridge" and letter.source_topic == lifecycle for letter, _ in letters)
    assert await committed(kafka_settings, bridge.group_id, lifecycle) == len(values)


@pytest.mark.reliability
async def test_kill_minus_nine_mid_stream_then_restart_loses_nothing(
    kafka_settings: ProducerSettings,
    bootstrap: str,
    stage: tuple[str, str, Path],
    routing: Routing,
    tmp_path: Path,
) -> None:
    lifecycle, loyalty_topic, rules_path = stage
    orders = order_lifecycle(customers=40, orders_per_customer=5)
    await produce_events(kafka_settings, lifecycle, orders)
    want = [e for e in orders if selected(e)]
    env = {
        **os.environ,
        "ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "ORDERSTREAM_APP_ID": f"kill-{uuid.uuid4().hex[:8]}",
        "ORDERSTREAM_BRIDGE_TOPICS": f"{lifecycle},{loyalty_topic}",
        "ORDERSTREAM_BRIDGE_RULES": str(rules_path),
        "ORDERSTREAM_EVENT_BUS": routing.bus,
        "ORDERSTREAM_AWS_ENDPOINT_URL": routing.endpoint,
        "ORDERSTREAM_METRICS_PORT": "0",
        "ORDERSTREAM_BRIDGE_MAX_IN_FLIGHT": "1",
    }
    seen: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with _bridge_process(env, tmp_path / "bridge.log") as first:
        early = await asyncio.to_thread(routing.drain, 40, 30)
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        assert first.returncode == -signal.SIGKILL
    _merge(seen, early)
    with _bridge_process(env, tmp_path / "bridge.log") as second:
        rest = await asyncio.to_thread(routing.drain, len(want), 40, frozenset(_ids(seen)))
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0
    _merge(seen, rest)
    assert _unique(seen) == len(want)
    unique = {m["detail"]["event_id"]: m for ms in seen.values() for m in ms}
    check_arrivals({s: [m for m in unique.values() if m["source"] == s] for s in seen}, want)


@contextlib.contextmanager
def _bridge_process(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as sink:
        process = subprocess.Popen([*ORCHESTRATOR, "bridge"], env=env, stdout=sink, stderr=sink)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)


def _merge(into: dict[str, list[dict[str, Any]]], more: dict[str, list[dict[str, Any]]]) -> None:
    for source, messages in more.items():
        into[source].extend(messages)


def _ids(got: dict[str, list[dict[str, Any]]]) -> set[str]:
    return {m["detail"]["event_id"] for ms in got.values() for m in ms}


def _unique(got: dict[str, list[dict[str, Any]]]) -> int:
    return len(_ids(got))
