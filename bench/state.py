"""Benchmark: the loyalty table at scale. A million customers, with the RocksDB and the memory store.

    .venv/bin/python bench/state.py [--customers 1000000] [--stores rocksdb,memory]

For each store: a loyalty worker (``ORDERSTREAM_AGENTS=loyalty``) builds the table through its real write
path from one ``order.created`` per customer on ``order-lifecycle``; then the bench prints the worker's
resident memory (RSS), the changelog's size on the broker, and how long a *fresh* worker (same group, empty
data directory) takes from its start until it has recovered the table and served its first record (a probe
event sent as it starts). Targets: RSS < 600 MB with RocksDB, recovery < 30 s. It resets the contract
topics: run it against a broker that holds nothing you need.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

import orjson

BENCH = Path(__file__).resolve().parent
sys.path[:] = [str(BENCH.parent / "tests" / "integration")] + [
    p for p in sys.path if Path(p or ".").resolve() != BENCH
]
import streams_harness as h  # noqa: E402

from orderstream import kafka  # noqa: E402
from orderstream.domain import contract  # noqa: E402
from orderstream.settings import ProducerSettings  # noqa: E402

sys.path.append(str(BENCH))
from _common import bootstrap, write_results  # noqa: E402

AGENTS = "loyalty"


def created(customer: str) -> bytes:
    return orjson.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "event_type": "order.created",
            "schema_version": 1,
            "occurred_at": "2026-11-27T10:00:00Z",
            "order_id": f"o-{customer}",
            "customer_id": customer,
            "sequence": 1,
            "data": {"total_cents": 1234, "currency": "EUR", "region": "eu-west", "channel": "web", "is_test": False,
                     "items": [{"sku": "a", "quantity": 1, "unit_price_cents": 1234}]},
        }
    )  # fmt: skip


async def fill(settings: ProducerSettings, customers: int, prefix: str) -> None:
    producer = kafka.producer(settings, linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    try:
        pending = []
        for i in range(customers):
            customer = f"{prefix}{i:07d}"
            pending.append(
                await producer.send(contract.ORDER_LIFECYCLE, created(customer), key=customer.encode())
            )
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def counters(worker: h.Worker) -> dict[str, object]:
    with urllib.request.urlopen(f"{worker.url}/counters", timeout=10) as resp:
        body: dict[str, object] = json.loads(resp.read())
        return body


async def changelog_bytes(settings: ProducerSettings, topic: str) -> int:
    """Bytes of the changelog's records now (keys + values), read back."""
    total = 0
    for record in await h.read_topic(settings, topic, isolation_level="read_committed"):
        total += len(record.key or b"") + len(record.value or b"")
    return total


def run(settings: ProducerSettings, customers: int, store: str, tmp: Path) -> dict[str, float]:
    asyncio.run(h.reset_topics(settings))
    app_id = h.unique_app_id(f"state-{store}")
    env = {"ORDERSTREAM_STORE": store}
    began = time.monotonic()
    builder = h.Worker(app_id, settings.kafka_bootstrap_servers, tmp, agents=AGENTS, extra_env=env,
                       data_dir=tmp / f"{store}-a").start()  # fmt: skip
    assert builder.proc is not None
    try:
        asyncio.run(fill(settings, customers, "c"))
        group = h.group_of(app_id, AGENTS)
        asyncio.run(h.wait_quiet(settings, {group: [contract.ORDER_LIFECYCLE]}, budget_s=1800, settle_s=1))
        build_s = time.monotonic() - began
        rss = rss_mb(builder.proc.pid)
    finally:
        builder.stop()
    changelog = f"{group}-loyalty-ledger-changelog"
    size = asyncio.run(changelog_bytes(settings, changelog))

    fresh = h.Worker(app_id, settings.kafka_bootstrap_servers, tmp, agents=AGENTS, extra_env=env,
                     data_dir=tmp / f"{store}-b").start()  # fmt: skip
    started = time.monotonic()
    assert fresh.proc is not None
    try:
        asyncio.run(fill(settings, 1, "probe-"))
        deadline = started + 600
        served = None
        while time.monotonic() < deadline:
            try:
                if int(counters(fresh).get("loyalty.in", 0)) >= 1:  # type: ignore[call-overload]
                    served = time.monotonic() - started
                    break
            except OSError:
                pass
            time.sleep(0.2)
        if served is None:
            raise SystemExit("the fresh worker served nothing within 600 s")
        fresh_rss = rss_mb(fresh.proc.pid)
    finally:
        fresh.stop()
    result = {
        "customers": customers,
        "build_seconds": round(build_s, 1),
        "builder_rss_mb": round(rss, 1),
        "recovered_rss_mb": round(fresh_rss, 1),
        "changelog_mb": round(size / 2**20, 1),
        "recovery_to_first_record_seconds": round(served, 2),
    }
    print(f"{store}: " + ", ".join(f"{k} {v}" for k, v in result.items()), flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--stores", default="rocksdb,memory")
    args = parser.parse_args()
    settings = ProducerSettings(kafka_bootstrap_servers=bootstrap())
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for store in args.stores.split(","):
            results[store] = run(settings, args.customers, store, Path(tmp))
    print("targets: RSS < 600 MB with RocksDB, recovery < 30 s")
    write_results("state", {"stores": results, "target_rss_mb": 600, "target_recovery_seconds": 30})


if __name__ == "__main__":
    main()
