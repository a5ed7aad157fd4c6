"""Benchmark of the EventBridge bridge; prints numbers and writes bench/results/bridge.json.

1. Throughput: events/s through the bridge (Kafka → select → batch → PutEvents) into a local PutEvents
   endpoint that accepts instantly, against that endpoint's own ceiling — the same PutEvents client and the
   same number of requests in flight, fed pre-built batches as fast as it can. The endpoint runs in a
   process of its own (as EventBridge is not in ours) and both runs are timed by it, from the first to the
   last entry it accepted (group join and startup excluded). Ceiling and bridge runs alternate
   ``--repeats`` times; the medians are reported. Target ratio ≥ 0.9. Both runs are CPU-bound here, so the
   CPU the ceiling's client spends per event and the CPU of the least work any bridge adds (fetch, decode,
   re-encode: ``fetch_and_decode_floor``) are reported too, with the ratio those two alone would allow.
   The same comparison is then made with the endpoint holding each answer ``--answer-delay-ms`` (default
   20 ms, a stand-in for a network round trip): there the requests in flight, not the CPU, set the pace.
2. Latency: produce at a fixed rate (default 1 000 events/s) and measure produce → arrival in SQS (the
   queue's SentTimestamp) through moto (EventBridge rule → SQS target), p50/p99. When moto cannot keep up
   with that rate (latency grows over the run), the lower ``--moto-rates`` are tried, highest first, and
   the highest sustained one is reported.

Usage: ``.venv/bin/python bench/bridge.py [--events 60000] [--repeats 3] [--rate 1000] [--seconds 10]
[--in-flight 4] [--answer-delay-ms 20] [--delayed-events 6000] [--moto-rates 500,300,200,100]``.
Needs the local broker (127.0.0.1:9092) and, for part 2, moto (ORDERSTREAM_AWS_ENDPOINT_URL or :5000).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
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
from consumers.fake_endpoint import FakePutEvents, Faults  # noqa: E402
from orderstream import gc_tuning, kafka  # noqa: E402
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


class _CountingEndpoint(FakePutEvents):
    """The accept-everything endpoint, noting in shared memory how many entries arrived and when the first
    and the latest arrived (``time.perf_counter`` is the system-wide monotonic clock on Linux)."""

    def __init__(self, counters: Any, answer_delay: float) -> None:
        super().__init__(
            upstream=None, faults=Faults(late_calls=float(answer_delay > 0), late_seconds=answer_delay)
        )
        self.counters = counters

    async def _publish(self, request: Any, payload: dict[str, Any]) -> list[dict[str, Any]]:
        accepted = await super()._publish(request, payload)
        forwarded, first, last = self.counters
        now = time.perf_counter()
        if forwarded.value == 0:
            first.value = now
        forwarded.value += len(accepted)
        last.value = now
        return accepted


def _serve_endpoint(conn: Any, counters: Any, answer_delay: float) -> None:
    endpoint = _CountingEndpoint(counters, answer_delay)
    conn.send(endpoint.start())
    conn.recv()  # any message means stop
    endpoint.stop()


class EndpointProcess:
    """The fake endpoint in a process of its own.

    In production EventBridge does not share the bridge's interpreter; in-process (a thread), the endpoint's
    CPU and its GIL hand-overs with the client would be charged to whoever runs next to it, and polling its
    tally from a thread would tax the bridge but not the ceiling run. Both runs are timed here the same
    way, from the first to the N-th entry the endpoint accepted.
    """

    def __init__(self, answer_delay: float = 0.0) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.counters = (ctx.RawValue("q", 0), ctx.RawValue("d", 0.0), ctx.RawValue("d", 0.0))
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(
            target=_serve_endpoint, args=(child, self.counters, answer_delay), daemon=True
        )
        self.url = ""

    def start(self) -> str:
        self._process.start()
        self.url = self._conn.recv()
        return self.url

    def stop(self) -> None:
        self._conn.send("stop")
        self._process.join(timeout=10)

    def reset(self) -> None:
        for counter in self.counters:
            counter.value = 0

    async def arrival_seconds(self, want: int, patience: float = 300.0) -> float:
        """Wait until ``want`` entries arrived; seconds from the first to the last of them."""
        forwarded, first, last = self.counters
        deadline = time.monotonic() + patience
        while forwarded.value < want:
            if time.monotonic() > deadline:
                raise TimeoutError(f"only {forwarded.value} of {want} entries arrived")
            await asyncio.sleep(0.05)
        return float(last.value - first.value)


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


async def endpoint_ceiling(endpoint: EndpointProcess, count: int, in_flight: int) -> tuple[float, float]:
    """Events/s the endpoint takes from the same client, same concurrency, pre-built batches; and the
    client's own CPU time per event (µs), which is all this process spends on sending."""
    client = PutEventsClient(
        "classic", region="us-east-1", endpoint_url=endpoint.url, max_in_flight=in_flight, validate=False
    )
    entries = [
        Entry("orderstream.orders", "payment.failed", orjson.dumps({**event(i), "kafka": {}}).decode(), "b")
        for i in range(count)
    ]
    batches = [[entries[i] for i in b] for b in plan_batches(entries, client.limits, one_bus=False)]
    slots = asyncio.Semaphore(in_flight)

    async def send(batch: list[Entry]) -> None:
        async with slots:
            await client.put(batch)

    endpoint.reset()
    cpu = time.process_time()
    await asyncio.gather(*(send(b) for b in batches))
    cpu = time.process_time() - cpu
    elapsed = await endpoint.arrival_seconds(count)
    await client.aclose()
    return count / elapsed, 1e6 * cpu / count


async def bridge_throughput(
    endpoint: EndpointProcess, count: int, in_flight: int, tmp: Path
) -> tuple[float, str]:
    """Events/s through the bridge from a topic holding ``count`` events, and that topic."""
    producer_settings = ProducerSettings()
    topic = await create_topic(producer_settings, "throughput")
    await produce_all(producer_settings, topic, [event(i) for i in range(count)])
    endpoint.reset()
    rules = rules_file(topic, "b", tmp)
    bridge = Bridge(
        settings_for(topic, rules, endpoint.url, in_flight, "b"),
        BridgeRuleSet(load_bridge_rules(rules)),
        options=BridgeOptions(dlq_topic="orderstream.dlq"),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(bridge.run_until(stop))
    elapsed = await endpoint.arrival_seconds(count)
    stop.set()
    await task
    return count / elapsed, topic


async def fetch_and_decode_floor(topic: str, count: int) -> float:
    """CPU µs per event of the least any bridge must do besides sending: fetch the records with aiokafka,
    decode each value and encode it again with the ``kafka`` field added (no selection, no bookkeeping)."""
    settings = BridgeSettings(
        app_id=f"bench-floor-{uuid.uuid4().hex[:8]}", bridge_topics=topic, metrics_port=0
    )
    consumer = kafka.consumer(settings, group_id=settings.app_id)
    consumer.subscribe([topic])
    await consumer.start()
    seen, started = 0, 0.0
    try:
        while seen < count:
            batches = await consumer.getmany(timeout_ms=500, max_records=2_000)
            if batches and not started:
                started = time.process_time()
            for records in batches.values():
                for record in records:
                    envelope = orjson.loads(record.value or b"{}")
                    envelope["kafka"] = {
                        "topic": record.topic,
                        "partition": record.partition,
                        "offset": record.offset,
                    }
                    orjson.dumps(envelope)
                seen += len(records)
        return 1e6 * (time.process_time() - started) / count
    finally:
        await consumer.stop()


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
    samples: list[tuple[float, float]] = []
    receiver = threading.Thread(target=_receive, args=(sqs, queue, total, samples, seconds + 40), daemon=True)
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
    ordered = sorted(latency for _, latency in samples)
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
        "sustained": len(ordered) == total and not _backlog_grew(samples),
    }


def _backlog_grew(samples: list[tuple[float, float]]) -> bool:
    """True when latency rose over the run (moto fell behind): the median of the last fifth of events, in
    produce order, is more than 0.5 s above that of the first fifth."""
    if len(samples) < 10:
        return True
    in_order = [latency for _, latency in sorted(samples)]
    fifth = len(in_order) // 5
    return statistics.median(in_order[-fifth:]) > statistics.median(in_order[:fifth]) + 0.5


def _receive(sqs: Any, queue: str, total: int, samples: list[tuple[float, float]], timeout: float) -> None:
    """Collect produce → arrival-in-SQS latencies.

    Arrival is the queue's own ``SentTimestamp`` (when the message entered SQS), so a slow receive loop
    cannot inflate the numbers. Messages are deleted as they are read: moto's SQS slows down as a queue
    grows.
    """
    deadline = time.monotonic() + timeout
    seen: set[str] = set()
    while len(seen) < total and time.monotonic() < deadline:
        reply = sqs.receive_message(
            QueueUrl=queue,
            MaxNumberOfMessages=10,
            WaitTimeSeconds=1,
            AttributeNames=["SentTimestamp"],
        )
        messages = reply.get("Messages", [])
        if messages:
            sqs.delete_message_batch(
                QueueUrl=queue,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
        for message in messages:
            if message["MessageId"] in seen:
                continue
            seen.add(message["MessageId"])
            arrived = int(message["Attributes"]["SentTimestamp"]) / 1000
            produced = float(orjson.loads(message["Body"])["detail"]["produced_at"])
            samples.append((produced, arrived - produced))


# --------------------------------------------------------------------------------------------- main


async def compare(
    args: argparse.Namespace, tmp: Path, *, events: int, answer_delay: float = 0.0
) -> dict[str, Any]:
    """Ceiling and bridge runs, alternating ``args.repeats`` times, against one endpoint process."""
    endpoint = EndpointProcess(answer_delay)
    endpoint.start()
    ceilings: list[tuple[float, float]] = []
    bridged: list[float] = []
    topic = ""
    try:
        await endpoint_ceiling(endpoint, 2_000, args.in_flight)  # warm-up (first connections), not reported
        gc_tuning.tune()  # as `orderstream bridge` does after start-up; the same for both runs
        for _ in range(args.repeats):
            ceilings.append(await endpoint_ceiling(endpoint, events, args.in_flight))
            rate, topic = await bridge_throughput(endpoint, events, args.in_flight, tmp)
            bridged.append(rate)
    finally:
        endpoint.stop()
    ceiling = statistics.median(rate for rate, _ in ceilings)
    through = statistics.median(bridged)
    result: dict[str, Any] = {
        "events": events,
        "in_flight": args.in_flight,
        "api": "classic (10 entries per request)",
        "endpoint": "FakePutEvents in its own process"
        + (f", each answer held {round(answer_delay * 1000)} ms" if answer_delay else ", answering at once"),
        "endpoint_ceiling_events_per_s": round(ceiling, 1),
        "bridge_events_per_s": round(through, 1),
        "ratio": round(through / ceiling, 3),
        "target_ratio": 0.9,
        "runs": [
            {"ceiling": round(c), "bridge": round(b), "ratio": round(b / c, 3)}
            for (c, _), b in zip(ceilings, bridged, strict=True)
        ],
    }
    if not answer_delay:  # CPU-bound: what the bridge can add per event and stay at the target
        sending = statistics.median(cpu for _, cpu in ceilings)
        floor = await fetch_and_decode_floor(topic, events)
        result["ceiling_client_cpu_us_per_event"] = round(sending, 2)
        result["bridge_us_per_event"] = round(1e6 / through, 2)
        result["fetch_and_decode_floor_cpu_us_per_event"] = round(floor, 2)
        result["ratio_bound_with_only_that_floor"] = round(sending / (sending + floor), 3)
    return result


async def main(args: argparse.Namespace) -> dict[str, Any]:
    tmp = ROOT / "bench" / "results"
    tmp.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"throughput": await compare(args, tmp, events=args.events)}
    print(json.dumps(results["throughput"], indent=2))
    delay = args.answer_delay_ms / 1000
    results["throughput_with_answer_delay"] = await compare(
        args, tmp, events=args.delayed_events, answer_delay=delay
    )
    print(json.dumps(results["throughput_with_answer_delay"], indent=2))
    moto = os.environ.get("ORDERSTREAM_AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    results["highest_sustained_moto_rate"] = None
    for rate in [args.rate, *sorted(args.moto_rates, reverse=True)]:
        key = f"latency_via_moto_at_{rate}_per_s"
        results[key] = await moto_latency(moto, rate, args.seconds, args.in_flight, tmp)
        print(key, json.dumps(results[key], indent=2))
        if results[key]["sustained"]:
            results["highest_sustained_moto_rate"] = rate
            break
    for leftover in tmp.glob("bench-rules-*.yaml"):
        leftover.unlink()
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=60_000)
    parser.add_argument("--in-flight", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rate", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--answer-delay-ms", type=float, default=20.0)
    parser.add_argument("--delayed-events", type=int, default=6_000)
    parser.add_argument(
        "--moto-rates",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[500, 300, 200, 100],
        help="if moto cannot sustain --rate: these, highest first, until one is sustained",
    )
    outcome = asyncio.run(main(parser.parse_args()))
    out = ROOT / "bench" / "results" / "bridge.json"
    out.write_text(json.dumps(outcome, indent=2) + "\n")
    print(f"wrote {out}")
