"""Benchmark of the EventBridge bridge; prints numbers and writes bench/results/bridge.json.

1. Throughput: events/s through the bridge (Kafka → select → batch → PutEvents) into a local PutEvents
   endpoint that accepts instantly, against that endpoint's own ceiling — the same PutEvents client and the
   same number of requests in flight, fed pre-built batches as fast as it can. Both are timed from the first
   to the last entry the endpoint receives (group join and startup excluded). Target ratio ≥ 0.9.
2. Latency: produce at a fixed rate (default 1 000 events/s) and measure produce → arrival in SQS through
   moto (EventBridge rule → SQS target), p50/p99.

Usage: ``.venv/bin/python bench/bridge.py [--events 20000] [--rate 1000] [--seconds 5] [--in-flight 4]``.
Needs the local broker (127.0.0.1:9092) and, for part 2, moto (ORDERSTREAM_AWS_ENDPOINT_URL or :5000).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
import orjson
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from consumers.bridge import Bridge, BridgeOptions  # noqa: E402
from consumers.eventbridge import Entry, PutEventsClient, plan_batches  # noqa: E402
from consumers.fake_endpoint import FakePutEvents  # noqa: E402
from orderstream import kafka  # noqa: E402
from orderstream.domain.rules import BridgeRuleSet, load_bridge_rules  # noqa: E402
from orderstream.settings import BridgeSettings, ProducerSettings  # noqa: E402

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def event(i: int) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "event_type": "payment.failed",
        "schema_version": 1,
        "occurred_at": "2025-01-01T12:00:00Z",
        "order_id": f"o-{i}",
        "customer_id": f"c-{i % 5000}",
        "sequence": 3,
        "data": {"reason": "card declined"},
        "produced_at": time.time(),
    }


class ArrivalClock:
    """Wraps the fake endpoint's tally to note the time of the first and the N-th forwarded entry."""

    def __init__(self, fake: FakePutEvents, want: int) -> None:
        self.fake, self.want = fake, want
        self.first: float | None = None
        self.done = threading.Event()

    def watch(self) -> float:
        while not self.done.is_set():
            count = self.fake.tally.forwarded
            if count and self.first is None:
                self.first = time.perf_counter()
            if count >= self.want:
                self.done.set()
                break
            time.sleep(0.001)
        assert self.first is not None
        return time.perf_counter() - self.first


async def create_topic(settings: ProducerSettings, base: str) -> str:
    name = f"bench-{base}-{uuid.uuid4().hex[:8]}"
    await kafka.create_topics(settings, [name], partitions=6, replication_factor=1)
    return name


async def produce_all(settings: ProducerSettings, topic: str, docs: list[dict[str, Any]]) -> None:
    producer = kafka.producer(settings, linger_ms=20)
    await producer.start()
    try:
        futures = [await producer.send(topic, orjson.dumps(d), key=d["customer_id"].encode()) for d in docs]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def rules_file(topic: str, bus: str, directory: Path) -> Path:
    path = directory / f"bench-rules-{uuid.uuid4().hex[:6]}.yaml"
    rule = {"name": "all-failed", "topics": [topic], "pattern": {"event_type": ["payment.failed"]}}
    path.write_text(yaml.safe_dump({"rules": [{**rule, "source": "orderstream.orders", "bus": bus}]}))
    return path


def settings_for(topic: str, rules: Path, endpoint: str, in_flight: int, bus: str) -> BridgeSettings:
    return BridgeSettings(
        app_id=f"bench-{uuid.uuid4().hex[:8]}",
        bridge_topics=topic,
        bridge_rules=rules,
        event_bus=bus,
        aws_endpoint_url=endpoint,
        bridge_max_in_flight=in_flight,
        metrics_port=0,
    )


# --------------------------------------------------------------------------------------------- part 1


async def endpoint_ceiling(endpoint: str, count: int, in_flight: int) -> float:
    """Events/s the endpoint takes from the same client, same concurrency, pre-built batches."""
    client = PutEventsClient("classic", region="us-east-1", endpoint_url=endpoint, max_in_flight=in_flight)
    entries = [
        Entry("orderstream.orders", "payment.failed", orjson.dumps({**event(i), "kafka": {}}).decode(), "b")
        for i in range(count)
    ]
    batches = [[entries[i] for i in b] for b in plan_batches(entries, client.limits, one_bus=False)]
    slots = asyncio.Semaphore(in_flight)

    async def send(batch: list[Entry]) -> None:
        async with slots:
            await client.put(batch)

    started = time.perf_counter()
    await asyncio.gather(*(send(b) for b in batches))
    elapsed = time.perf_counter() - started
    client.close()
    return count / elapsed


async def bridge_throughput(fake: FakePutEvents, count: int, in_flight: int, tmp: Path) -> float:
    producer_settings = ProducerSettings()
    topic = await create_topic(producer_settings, "throughput")
    await produce_all(producer_settings, topic, [event(i) for i in range(count)])
    before = fake.tally.forwarded
    clock = ArrivalClock(fake, before + count)
    bridge = Bridge(
        settings_for(topic, rules_file(topic, "b", tmp), fake.url, in_flight, "b"),
        BridgeRuleSet(load_bridge_rules(rules_file(topic, "b", tmp))),
        options=BridgeOptions(dlq_topic="orderstream.dlq"),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run_until(stop))
    elapsed = await asyncio.to_thread(clock.watch)
    stop.set()
    await task
    return count / elapsed


# --------------------------------------------------------------------------------------------- part 2


async def moto_latency(endpoint: str, rate: int, seconds: float, in_flight: int, tmp: Path) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    events_client = boto3.client("events", region_name="us-east-1", endpoint_url=endpoint)
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=endpoint)
    bus = f"bench-{suffix}"
    events_client.create_event_bus(Name=bus)
    queue = sqs.create_queue(QueueName=f"bench-{suffix}")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events_client.put_rule(
        Name=f"r-{suffix}", EventBusName=bus, EventPattern='{"source":["orderstream.orders"]}'
    )
    events_client.put_targets(Rule=f"r-{suffix}", EventBusName=bus, Targets=[{"Id": "q", "Arn": arn}])

    producer_settings = ProducerSettings()
    topic = await create_topic(producer_settings, "latency")
    settings = settings_for(topic, rules_file(topic, bus, tmp), endpoint, in_flight, bus)
    bridge = Bridge(settings, BridgeRuleSet(load_bridge_rules(settings.bridge_rules)))
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run_until(stop))
    await asyncio.sleep(4)  # let the group settle so latency is not dominated by the first join

    total = int(rate * seconds)
    latencies: list[float] = []
    receiver = threading.Thread(
        target=_receive, args=(sqs, queue, total, latencies, seconds + 40), daemon=True
    )
    receiver.start()
    producer = kafka.producer(producer_settings, linger_ms=1)
    await producer.start()
    started = time.perf_counter()
    for i in range(total):
        target = started + i / rate
        if (wait := target - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        doc = event(i)
        await producer.send(topic, orjson.dumps(doc), key=doc["customer_id"].encode())
    await producer.flush()
    produce_seconds = time.perf_counter() - started
    await producer.stop()
    await asyncio.to_thread(receiver.join)
    stop.set()
    await task
    ordered = sorted(latencies)
    return {
        "target_rate": rate,
        "produced": total,
        "achieved_produce_rate": round(total / produce_seconds, 1),
        "arrived": len(ordered),
        "p50_ms": round(1000 * ordered[len(ordered) // 2], 1) if ordered else None,
        "p99_ms": round(1000 * ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))], 1)
        if ordered
        else None,
        "mean_ms": round(1000 * statistics.fmean(ordered), 1) if ordered else None,
    }


def _receive(sqs: Any, queue: str, total: int, latencies: list[float], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(latencies) < total and time.monotonic() < deadline:
        reply = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1)
        now = time.time()
        messages = reply.get("Messages", [])
        for message in messages:
            latencies.append(now - orjson.loads(message["Body"])["detail"]["produced_at"])
        if messages:
            sqs.delete_message_batch(
                QueueUrl=queue,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )


# --------------------------------------------------------------------------------------------- main


async def main(args: argparse.Namespace) -> dict[str, Any]:
    tmp = ROOT / "bench" / "results"
    tmp.mkdir(parents=True, exist_ok=True)
    fake = FakePutEvents(upstream=None)
    url = fake.start()
    try:
        ceiling = await endpoint_ceiling(url, args.events, args.in_flight)
        through = await bridge_throughput(fake, args.events, args.in_flight, tmp)
    finally:
        fake.stop()
    results: dict[str, Any] = {
        "throughput": {
            "events": args.events,
            "in_flight": args.in_flight,
            "api": "classic (10 entries per request)",
            "endpoint_ceiling_events_per_s": round(ceiling, 1),
            "bridge_events_per_s": round(through, 1),
            "ratio": round(through / ceiling, 3),
            "target_ratio": 0.9,
        }
    }
    print(json.dumps(results["throughput"], indent=2))
    endpoint = os.environ.get("ORDERSTREAM_AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    for rate in (args.rate, args.moto_rate):
        key = f"latency_via_moto_at_{rate}_per_s"
        results[key] = await moto_latency(endpoint, rate, args.seconds, args.in_flight, tmp)
        print(key, json.dumps(results[key], indent=2))
    for leftover in tmp.glob("bench-rules-*.yaml"):
        leftover.unlink()
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--moto-rate", type=int, default=100, help="a second latency run at a rate moto itself can sustain"
    )
    outcome = asyncio.run(main(parser.parse_args()))
    out = ROOT / "bench" / "results" / "bridge.json"
    out.write_text(json.dumps(outcome, indent=2) + "\n")
    print(f"wrote {out}")
