"""Benchmark: events/s through the sequencer + loyalty agents on one worker, against a bare aiokafka
consume → json → produce loop on the same broker, in the same run, and against a no-op faust agent
(``bench/faust_noop.py``: faust's own per-record cost, the ceiling for any faust agent here).

    .venv/bin/python bench/streams.py [--events 100000]

The workload is produced first (clean, in order), then each side drains it. The worker's rate is taken
from its consumer group's committed offsets, from the first commit to the moment both stages have committed
everything (so faust's start-up is not counted); the bare loop is timed from its first record to its last.
It resets the contract topics: run it against a broker that holds nothing you need.
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson

# Run as a script, this file's directory comes first on sys.path and its name would hide the ``streams``
# package: import that package (through the test harness) before the directory goes back on the path.
BENCH = Path(__file__).resolve().parent
sys.path[:] = [str(BENCH.parent / "tests" / "integration")] + [
    p for p in sys.path if Path(p or ".").resolve() != BENCH
]
import streams_harness as h  # noqa: E402

from orderstream import kafka  # noqa: E402
from orderstream.domain import contract  # noqa: E402
from orderstream.producer import produce  # noqa: E402
from orderstream.settings import ProducerSettings  # noqa: E402
from orderstream.synth import Workload, generate  # noqa: E402

sys.path.append(str(BENCH))
from _common import bootstrap, write_results  # noqa: E402


async def drain_rate(settings: ProducerSettings, group: str, total: int, budget_s: float) -> float:
    """Events/s the group commits, from its first commit until sources and lifecycle are fully committed."""
    sources, lifecycle = list(contract.SOURCE_TOPICS), [contract.ORDER_LIFECYCLE]
    first: float | None = None
    done_at_first = 0
    deadline = time.monotonic() + budget_s
    while time.monotonic() < deadline:
        source_lag = await h.lag(settings, group, sources)
        if source_lag is not None and first is None and source_lag < total:
            first, done_at_first = time.monotonic(), total - source_lag
        if source_lag == 0 and await h.lag(settings, group, lifecycle) == 0 and first is not None:
            return (total - done_at_first) / (time.monotonic() - first)
        await asyncio.sleep(0.25)
    raise SystemExit(f"worker did not drain {total} events within {budget_s}s")


async def bare_loop(settings: ProducerSettings, total: int) -> float:
    """A minimal stage: consume the sources, decode JSON, produce to a topic, commit."""
    out_topic = f"bench-bare-out-{uuid.uuid4().hex[:6]}"
    await kafka.create_topics(settings, [out_topic])
    consumer = kafka.consumer(
        settings, *contract.SOURCE_TOPICS, group_id=f"bench-bare-{uuid.uuid4().hex[:6]}"
    )
    producer = kafka.producer(settings)
    await consumer.start()
    await producer.start()
    try:
        seen, started = 0, 0.0
        while seen < total:
            batch = await consumer.getmany(timeout_ms=500, max_records=2000)
            futures = []
            for records in batch.values():
                for record in records:
                    if not started:
                        started = time.perf_counter()
                    doc = orjson.loads(record.value)
                    futures.append(await producer.send(out_topic, orjson.dumps(doc), key=record.key))
                    seen += 1
            if futures:
                await asyncio.gather(*futures)
                await consumer.commit()
        return seen / (time.perf_counter() - started)
    finally:
        await consumer.stop()
        await producer.stop()


def faust_noop_rate(bootstrap: str, total: int) -> float:
    """Events/s of a no-op faust agent over the same topics (``bench/faust_noop.py``, its own process)."""
    script = BENCH / "faust_noop.py"
    out = subprocess.run(
        [sys.executable, str(script), bootstrap, str(total), str(h.free_port())],
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = [line for line in out.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise SystemExit(f"the no-op faust agent printed no rate: {out.stderr[-2000:]}")
    rate: float = orjson.loads(lines[-1])["events_per_s"]
    return rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=5_000)
    args = parser.parse_args()
    settings = ProducerSettings(kafka_bootstrap_servers=bootstrap())
    workload = Workload(events=args.events, customers=args.customers, seed=4242)

    asyncio.run(h.reset_topics(settings))
    report = asyncio.run(produce(settings, generate(workload)))
    print(f"produced {report.sent} events ({report.rate:,.0f}/s)")

    bare = asyncio.run(bare_loop(settings, report.sent))
    print(f"bare aiokafka consume -> json -> produce: {bare:,.0f} events/s")
    noop = faust_noop_rate(settings.kafka_bootstrap_servers, report.sent)
    print(f"no-op faust agent (take_events, one pass, nothing produced): {noop:,.0f} events/s")

    app_id = h.unique_app_id("bench")
    with tempfile.TemporaryDirectory() as tmp:
        worker = h.Worker(
            app_id, settings.kafka_bootstrap_servers, Path(tmp), agents="sequencer,loyalty"
        ).start()
        try:
            rate = asyncio.run(
                drain_rate(settings, h.group_of(app_id, "sequencer,loyalty"), report.sent, 600)
            )
        finally:
            worker.stop()
    ratio = rate / bare
    print(f"worker (sequencer + loyalty): {rate:,.0f} events/s")
    print(f"ratio {ratio:.2f} (target >= 0.5; stretch: >= 15 000 events/s)")
    write_results(
        "streams",
        {
            "events": report.sent,
            "customers": args.customers,
            "worker_events_per_s": rate,
            "bare_events_per_s": bare,
            "faust_noop_events_per_s": noop,
            "ratio": ratio,
            "target_ratio": 0.5,
        },
    )


if __name__ == "__main__":
    main()
