"""An EventBridge outage longer than the bridge used to wait: moto (a real process) is killed with SIGKILL
for 30 s while a real ``orderstream bridge`` process is delivering, then restarted on the same port.

Nothing may be parked (the old bridge gave up after ~20 s and parked the entries as ``retries_exhausted``),
every selected event must arrive, ``/health`` stays 200 and ``/ready`` is 503 during the outage and 200
after it.

How deliveries are counted: moto keeps its state in memory, so the bus, its rules, the queues and any
message not yet received are gone when it is killed, and the restarted moto knows no bus (a PutEvents to it
would be *rejected*, correctly parked). So the bridge process is frozen (SIGSTOP) twice, which it cannot
tell from a slow scheduler: before the kill, to receive every message moto has already routed (so what moto
accepted before dying is counted), and around the restart, while the bus, rules and queues are created
again. The test prints how long each freeze took; one longer than the 10 s session timeout only adds a
rebalance of the bridge's one-member group, which it must survive as well. Delivered = the distinct event ids received
before the kill plus after the restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
import yaml
from aiokafka import AIOKafkaConsumer, TopicPartition

from orderstream import kafka
from orderstream.domain import contract
from orderstream.domain.dlq import DeadLetter
from orderstream.settings import ProducerSettings

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

ROOT = Path(__file__).resolve().parents[2]
OUTAGE_SECONDS = 30.0
CUSTOMERS, EVENTS_PER_CUSTOMER = 1000, 6
SOURCES = ("orderstream.orders", "orderstream.loyalty")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


# --------------------------------------------------------------------------------------------- moto


class Moto:
    """moto in server mode as a process of this test, on a port of its own."""

    def __init__(self, log: Path) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, within: float = 30.0) -> None:
        cmd = [sys.executable, "-m", "orderstream.moto_server", "-H", "127.0.0.1", "-p", str(self.port)]
        with self.log.open("ab") as sink:
            self.process = subprocess.Popen(
                cmd, stdout=sink, stderr=sink, env={**os.environ, "MOTO_PORT": str(self.port)}, cwd=ROOT
            )
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1) as reply:
                    if reply.status == 200:
                        return
            except OSError:
                pass
            assert self.process.poll() is None, f"moto exited; see {self.log}"
            time.sleep(0.1)
        raise AssertionError(f"moto did not answer in {within} s; see {self.log}")

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class Routing:
    """A bus with one rule per Source, each to its own SQS queue (created again after a restart)."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        suffix = uuid.uuid4().hex[:8]
        self.bus = f"outage-{suffix}"
        self.names = {source: f"q-{source.split('.')[1]}-{suffix}" for source in SOURCES}
        self.queues: dict[str, str] = {}

    def create(self) -> None:
        events = boto3.client("events", region_name="us-east-1", endpoint_url=self.endpoint)
        sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=self.endpoint)
        events.create_event_bus(Name=self.bus)
        for source, name in self.names.items():
            url = sqs.create_queue(QueueName=name)["QueueUrl"]
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
            rule = f"r-{name}"
            pattern = orjson.dumps({"source": [source]}).decode()
            events.put_rule(Name=rule, EventBusName=self.bus, EventPattern=pattern)
            events.put_targets(
                Rule=rule, EventBusName=self.bus, Targets=[{"Id": "q", "Arn": attributes["QueueArn"]}]
            )
            self.queues[source] = url

    def receive(
        self, into: set[str], until: Callable[[], bool], within: float, quiet_rounds: int = 0
    ) -> None:
        """Receive messages into ``into`` (event ids) until ``until()`` or ``within`` seconds; with
        ``quiet_rounds`` > 0, stop early once that many rounds in a row found nothing. Received messages
        stay invisible for the rest of the test instead of being deleted (half the calls)."""
        sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=self.endpoint)
        deadline, quiet = time.monotonic() + within, 0
        while time.monotonic() < deadline and not until():
            got = 0
            for url in self.queues.values():
                reply = sqs.receive_message(
                    QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0, VisibilityTimeout=900
                )
                for message in reply.get("Messages", []):
                    into.add(orjson.loads(message["Body"])["detail"]["event_id"])
                    got += 1
            quiet = 0 if got else quiet + 1
            if quiet_rounds and quiet >= quiet_rounds:
                return
            if not got:
                time.sleep(0.1)


# --------------------------------------------------------------------------------------------- Kafka


def events() -> list[dict[str, Any]]:
    """Selected lifecycle events only (payment.failed, shipment.dispatched), several per customer."""
    out = []
    for c in range(CUSTOMERS):
        for n in range(EVENTS_PER_CUSTOMER):
            kind = "payment.failed" if n % 2 == 0 else "shipment.dispatched"
            data = {"reason": "card"} if kind == "payment.failed" else {"carrier": "ups", "tracking_id": "t"}
            out.append(
                {
                    "event_id": str(uuid.uuid4()),
                    "event_type": kind,
                    "schema_version": 1,
                    "occurred_at": "2025-01-01T12:00:00Z",
                    "order_id": f"o-{c}-{n // 2}",
                    "customer_id": f"c-{c}",
                    "sequence": 3 if kind == "payment.failed" else 4,
                    "data": data,
                }
            )
    return out


async def produce(settings: ProducerSettings, topic: str, docs: list[dict[str, Any]]) -> None:
    producer = kafka.producer(settings)
    await producer.start()
    try:
        sends = [await producer.send(topic, orjson.dumps(d), key=d["customer_id"].encode()) for d in docs]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


async def dlq_ends(settings: ProducerSettings) -> dict[TopicPartition, int]:
    """End offsets of the (shared) DLQ topic, created if it does not exist yet."""
    await kafka.create_topics(settings, [contract.DLQ])
    count = (await kafka.partition_counts(settings, [contract.DLQ]))[contract.DLQ]
    consumer = AIOKafkaConsumer(**kafka.connection_options(settings))
    await consumer.start()
    try:
        tps = [TopicPartition(contract.DLQ, p) for p in range(count)]
        ends: dict[TopicPartition, int] = await consumer.end_offsets(tps)
        return ends
    finally:
        await consumer.stop()


async def parked_since(settings: ProducerSettings, start: dict[TopicPartition, int], topic: str) -> int:
    """DLQ records written after ``start`` whose source is ``topic`` (the DLQ topic is shared)."""
    end = await dlq_ends(settings)
    wanted = {tp: off for tp, off in end.items() if off > start.get(tp, 0)}
    if not wanted:  # (an aiokafka consumer stopped right after its start may raise CancelledError)
        return 0
    consumer = AIOKafkaConsumer(**kafka.connection_options(settings), enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(wanted))
        for tp in wanted:
            consumer.seek(tp, start.get(tp, 0))
        count, deadline = 0, time.monotonic() + 20
        while wanted and time.monotonic() < deadline:
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                for record in records:
                    if DeadLetter.from_headers(record.headers).source_topic == topic:
                        count += 1
                if records and records[-1].offset + 1 >= wanted.get(tp, 0):
                    wanted.pop(tp, None)
        return count
    finally:
        await consumer.stop()


# --------------------------------------------------------------------------------------------- bridge


def http_status(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=2) as reply:
            return reply.status, orjson.loads(reply.read())
    except urllib.error.HTTPError as exc:
        return exc.code, orjson.loads(exc.read() or b"{}")


@contextlib.contextmanager
def bridge_process(env: dict[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "orderstream.cli", "bridge"], env=env, stdout=sink, stderr=sink, cwd=ROOT
        )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGCONT)
            process.kill()
            process.wait(10)


@contextlib.contextmanager
def frozen(process: subprocess.Popen[bytes]) -> Iterator[None]:
    process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        process.send_signal(signal.SIGCONT)


def wait_for(check: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


# --------------------------------------------------------------------------------------------- test


@pytest.mark.timeout(150)
def test_an_endpoint_outage_longer_than_the_old_give_up_waits_parks_nothing_and_delivers_all(
    kafka_settings: ProducerSettings,
    bootstrap: str,
    new_topics: Callable[..., list[str]],
    tmp_path: Path,
) -> None:
    (topic,) = new_topics("order-lifecycle", partitions=3)
    document = yaml.safe_load((ROOT / "rules" / "bridge.yaml").read_text())
    for rule in document["rules"]:
        rule["topics"] = [topic]
    rules = tmp_path / "bridge.yaml"
    rules.write_text(yaml.safe_dump(document))
    docs = events()
    want = {d["event_id"] for d in docs}
    asyncio.run(produce(kafka_settings, topic, docs))
    dlq_start = asyncio.run(dlq_ends(kafka_settings))

    moto = Moto(tmp_path / "moto.log")
    moto.start()
    routing = Routing(moto.endpoint)
    routing.create()
    metrics_port = free_port()
    base = f"http://127.0.0.1:{metrics_port}"
    env = {
        **os.environ,
        "ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "ORDERSTREAM_APP_ID": f"outage-{uuid.uuid4().hex[:8]}",
        "ORDERSTREAM_BRIDGE_TOPICS": topic,
        "ORDERSTREAM_BRIDGE_RULES": str(rules),
        "ORDERSTREAM_EVENT_BUS": routing.bus,
        "ORDERSTREAM_AWS_ENDPOINT_URL": moto.endpoint,
        "ORDERSTREAM_METRICS_PORT": str(metrics_port),
        "ORDERSTREAM_METRICS_HOST": "127.0.0.1",
        "ORDERSTREAM_BRIDGE_MAX_IN_FLIGHT": "1",
    }
    seen: set[str] = set()
    during: list[tuple[int, int]] = []
    log = tmp_path / "bridge.log"
    try:
        with bridge_process(env, log) as bridge:
            # delivering: the first few hundred arrive
            routing.receive(seen, lambda: len(seen) >= 300, 40)
            frozen_at = time.monotonic()
            with frozen(bridge):  # receive everything moto has routed, then kill it
                time.sleep(0.5)
                routing.receive(seen, lambda: False, 20, 5)
                moto.kill()
            freezes = [time.monotonic() - frozen_at]
            before_kill = len(seen)
            assert 300 <= before_kill <= len(want) - 1000, f"{before_kill} arrived: not mid-delivery"
            outage_started = time.monotonic()
            while time.monotonic() - outage_started < OUTAGE_SECONDS:
                ready, _ = http_status(f"{base}/ready")
                health, _ = http_status(f"{base}/health")
                during.append((ready, health))
                time.sleep(1.0)
            _, degraded = http_status(f"{base}/ready")
            frozen_at = time.monotonic()
            with frozen(bridge):  # restart on the same port and create the bus again before it sends
                moto.start()
                routing.create()
            freezes.append(time.monotonic() - frozen_at)
            routing.receive(seen, lambda: want <= seen, 60)
            wait_for(lambda: http_status(f"{base}/ready")[0] == 200, 20, "/ready did not return to 200")
            with urllib.request.urlopen(f"{base}/metrics", timeout=2) as reply:
                metrics_text = reply.read().decode()
            bridge.send_signal(signal.SIGTERM)
            assert bridge.wait(30) == 0
    finally:
        moto.stop()

    parked = asyncio.run(parked_since(kafka_settings, dlq_start, topic))
    print(
        f"outage {OUTAGE_SECONDS:.0f} s; events {len(want)}; delivered before the kill {before_kill}, "
        f"in all {len(seen & want)}; parked {parked}; (/ready, /health) during the outage "
        f"{sorted(set(during))}; bridge frozen {[round(f, 1) for f in freezes]} s"
    )
    assert parked == 0
    assert want <= seen, f"{len(want - seen)} of {len(want)} selected events never arrived"
    assert all(health == 200 for _ready, health in during), during
    assert (503, 200) in during, during  # degraded, yet alive
    assert degraded["status"] == "degraded"
    assert any(reason.startswith("endpoint_unreachable") for reason in degraded["reasons"]), degraded
    assert "orderstream_bridge_ready 1.0" in metrics_text
    assert "parked" not in log.read_text()
