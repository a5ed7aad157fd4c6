"""How fast the bridge parks records in the DLQ, against the real broker.

Two paths: records that cannot be mapped (not JSON: parked from the consume loop) and entries EventBridge
rejects (``InvalidArgument`` from a local fake endpoint that accepts or refuses at once: parked from a
PutEvents result). For each, ``--count`` records are produced to a fresh topic, a bridge runs in this
process, and the time is from its start to the moment the DLQ holds them all (parks/s).

    ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092 PYTHONPATH=. python bench/bridge_dlq.py --count 10000

Run it with ``PYTHONPATH`` pointing at another checkout to measure that checkout's bridge (the numbers in
docs/bridge.md compare the bridge before and after batched DLQ writes this way).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import bootstrap, write_results

from consumers.bridge import Bridge, BridgeOptions
from consumers.fake_endpoint import FakePutEvents, Faults
from orderstream import kafka
from orderstream.domain.rules import BridgeRuleSet, load_bridge_rules
from orderstream.settings import BridgeSettings, ProducerSettings

ROOT = Path(__file__).resolve().parents[1]
MARKER = "REJECT-ME"


def value(n: int, kind: str) -> bytes:
    if kind == "unmappable":
        return b"{not json " + str(n).encode()
    return orjson.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "event_type": "payment.failed",
            "schema_version": 1,
            "occurred_at": "2025-01-01T12:00:00Z",
            "order_id": f"o-{n}",
            "customer_id": f"c-{n % 500}",
            "sequence": 3,
            "data": {"reason": MARKER},
        }
    )


async def run(kind: str, count: int, broker: str, rules_dir: Path) -> dict[str, Any]:
    settings = ProducerSettings(kafka_bootstrap_servers=broker)
    suffix = uuid.uuid4().hex[:8]
    source, dlq = f"bench-dlq-src-{suffix}", f"bench-dlq-{suffix}"
    await kafka.create_topics(settings, [source], partitions=3, replication_factor=1)
    await kafka.create_topics(settings, [dlq], partitions=1, replication_factor=1)
    producer = kafka.producer(settings)
    await producer.start()
    try:
        futures = [
            await producer.send(source, value(n, kind), key=f"c-{n % 500}".encode()) for n in range(count)
        ]
        await asyncio.gather(*futures)
    finally:
        await producer.stop()
    document = yaml.safe_load((ROOT / "rules" / "bridge.yaml").read_text())
    for rule in document["rules"]:
        rule["topics"] = [source]
    rules = rules_dir / f"{suffix}.yaml"
    rules.write_text(yaml.safe_dump(document))
    endpoint = FakePutEvents(faults=Faults(reject_marker=MARKER))
    url = endpoint.start()
    bridge_settings = BridgeSettings(
        kafka_bootstrap_servers=broker,
        app_id=f"bench-{suffix}",
        bridge_topics=source,
        bridge_rules=rules,
        aws_endpoint_url=url,
        metrics_port=0,
    )
    bridge = Bridge(
        bridge_settings, BridgeRuleSet(load_bridge_rules(rules)), options=BridgeOptions(dlq_topic=dlq)
    )
    stop = asyncio.Event()
    started = time.perf_counter()
    task = asyncio.create_task(bridge.run_until(stop))
    try:
        while True:
            parked = sum(
                s.value for m in bridge.metrics.dlq.collect() for s in m.samples if s.name.endswith("_total")
            )
            if parked >= count:
                break
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        seconds = time.perf_counter() - started
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
        endpoint.stop()
    return {
        "kind": kind,
        "records": count,
        "seconds": round(seconds, 3),
        "parks_per_second": round(count / seconds),
    }


async def main() -> None:
    for name, default in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        os.environ.setdefault(name, default)  # the fake endpoint checks no signature, but one must be made
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--label", default="current")
    args = parser.parse_args()
    broker = bootstrap()
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("unmappable", "rejected"):
            result = await run(kind, args.count, broker, Path(tmp))
            print(
                f"{args.label}: {kind}: {result['records']} parked in {result['seconds']} s = "
                f"{result['parks_per_second']} parks/s"
            )
            runs.append(result)
    write_results(f"bridge_dlq_{args.label}", {"label": args.label, "runs": runs})


if __name__ == "__main__":
    asyncio.run(main())
