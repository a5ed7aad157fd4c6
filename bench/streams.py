"""Benchmark: events/s through the worker (sequencer + loyalty, one process) against a bare aiokafka
consume → JSON → produce loop and the same topology in quixstreams (``bench/quix_peer.py``), on the same
broker and workload, in the same run.

    .venv/bin/python bench/streams.py [--events 100000] [--customers 5000] [--repeats 3]

The workload is produced once (clean, in order); then each side drains it from the start, alternating, each
repeat. The worker's and the peer's rates are taken from their consumer groups' committed offsets, from the
first commit to the moment everything is committed (start-up is not counted); the bare loop is timed from
its first record to its last. Printed: every run, the medians, the ratios (worker ÷ bare loop, worker ÷
peer), the DLQ count (a clean workload parks nothing), and the worker's time per phase per event. It resets
the contract topics: run it against a broker that holds nothing you need.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

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

ROOT = BENCH.parent
QUIX_VERSION = "3.28.1"
QUIX_VENV = ROOT / ".local" / f"bench-quixstreams-{QUIX_VERSION}"


async def drain_rate(
    settings: ProducerSettings, group: str, total: int, budget_s: float, topics: list[str]
) -> float:
    """Events/s the group commits on the sources, from its first commit until ``topics`` are all committed."""
    sources = list(contract.SOURCE_TOPICS)
    first: float | None = None
    done_at_first = 0
    deadline = time.monotonic() + budget_s
    while time.monotonic() < deadline:
        source_lag = await h.lag(settings, group, sources)
        if source_lag is not None and first is None and source_lag < total:
            first, done_at_first = time.monotonic(), total - source_lag
        if source_lag == 0 and first is not None and (await h.lag(settings, group, topics)) == 0:
            return (total - done_at_first) / (time.monotonic() - first)
        await asyncio.sleep(0.1)
    raise SystemExit(f"{group} did not drain {total} events within {budget_s}s")


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


def cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds of a process: its main thread, and all its other threads (faust's consumer thread...)."""
    tick = os.sysconf("SC_CLK_TCK")
    main = other = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        seconds = (int(fields[11]) + int(fields[12])) / tick
        if int(task.name) == pid:
            main += seconds
        else:
            other += seconds
    return {"main": main, "other_threads": other}


def run_worker(settings: ProducerSettings, total: int, tmp: Path) -> dict[str, Any]:
    app_id = h.unique_app_id("bench")
    agents = "sequencer,loyalty"
    worker = h.Worker(app_id, settings.kafka_bootstrap_servers, tmp, agents=agents).start()
    assert worker.proc is not None
    try:
        group = h.group_of(app_id, agents)
        rate = asyncio.run(
            drain_rate(settings, group, total, 600, [*contract.SOURCE_TOPICS, contract.ORDER_LIFECYCLE])
        )
        cpu = cpu_seconds(worker.proc.pid)
        with urllib.request.urlopen(f"{worker.url}/counters", timeout=10) as resp:
            counters = json.loads(resp.read())
    finally:
        worker.stop()
    return {"rate": rate, "cpu": cpu, "counters": counters}


def ensure_quix_venv() -> Path:
    python = QUIX_VENV / "bin" / "python"
    if not python.exists():
        print(f"creating {QUIX_VENV} (quixstreams {QUIX_VERSION}) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(QUIX_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", f"quixstreams=={QUIX_VERSION}"],
            check=True,
            timeout=900,
        )
    return python


def run_peer(settings: ProducerSettings, total: int, python: Path, tmp: Path) -> float:
    group = f"bench-quix-{uuid.uuid4().hex[:6]}"
    out_topic = f"bench-quix-out-{uuid.uuid4().hex[:6]}"
    asyncio.run(kafka.create_topics(settings, [out_topic]))
    log = (tmp / f"{group}.log").open("wb")
    proc = subprocess.Popen(
        [
            str(python),
            str(BENCH / "quix_peer.py"),
            settings.kafka_bootstrap_servers,
            group,
            out_topic,
            str(tmp / group),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        return asyncio.run(drain_rate(settings, group, total, 900, list(contract.SOURCE_TOPICS)))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def offline_split(workload: Workload) -> dict[str, float]:
    """µs per event of the worker's pure steps on this workload, measured alone (no broker)."""
    from orderstream.domain.contract import parse_document
    from orderstream.domain.ledger import CustomerLedger, LedgerChanges
    from orderstream.domain.sequencing import OrderState, accept

    values = [r.value for r in generate(workload)]
    t0 = time.perf_counter()
    docs = [orjson.loads(v) for v in values]
    t1 = time.perf_counter()
    events = [parse_document(d) for d in docs]
    t2 = time.perf_counter()
    orders: dict[str, OrderState] = {}
    customers: dict[str, LedgerChanges] = {}
    for event in events:
        state, outcome = accept(orders.get(event.order_id, OrderState()), event, 0.0, 30.0)  # type: ignore[union-attr]
        orders[event.order_id] = state  # type: ignore[union-attr]
        for released in outcome.released:
            changes = customers.get(released.event.customer_id)
            if changes is None:
                changes = customers[released.event.customer_id] = LedgerChanges(
                    CustomerLedger(released.event.customer_id)
                )
            for derived in changes.apply(released.event):
                derived.to_bytes()
    t3 = time.perf_counter()
    for state in orders.values():
        orjson.dumps(state.to_dict())
    for changes in customers.values():
        orjson.dumps(changes.ledger().to_dict())
    t4 = time.perf_counter()
    n = len(values)
    return {
        "decode": (t1 - t0) / n * 1e6,
        "validate": (t2 - t1) / n * 1e6,
        "rules": (t3 - t2) / n * 1e6,
        "state_encode_upper_bound": (t4 - t3) / n * 1e6,
    }


def stage_table(run: dict[str, Any], total: int) -> dict[str, float]:
    seconds = run["counters"].get("plane.seconds", {})
    per = {phase: value / total * 1e6 for phase, value in seconds.items()}
    per["fetch_and_other_threads_cpu"] = run["cpu"]["other_threads"] / total * 1e6
    per["main_thread_cpu"] = run["cpu"]["main"] / total * 1e6
    return per


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-peer", action="store_true", help="skip the quixstreams peer")
    args = parser.parse_args()
    settings = ProducerSettings(kafka_bootstrap_servers=bootstrap())
    workload = Workload(events=args.events, customers=args.customers, seed=4242)
    python = None if args.no_peer else ensure_quix_venv()

    asyncio.run(h.reset_topics(settings))
    report = asyncio.run(produce(settings, generate(workload)))
    total = report.sent
    print(f"produced {total} events ({report.rate:,.0f}/s)")

    runs: dict[str, list[float]] = {"bare": [], "worker": [], "peer": []}
    ratios: list[float] = []
    peer_ratios: list[float] = []
    last_worker: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for repeat in range(args.repeats):
            bare = asyncio.run(bare_loop(settings, total))
            worker = run_worker(settings, total, tmp)
            last_worker = worker
            peer = run_peer(settings, total, python, tmp) if python is not None else None
            runs["bare"].append(bare)
            runs["worker"].append(worker["rate"])
            ratios.append(worker["rate"] / bare)
            line = f"run {repeat + 1}: bare {bare:,.0f}/s, worker {worker['rate']:,.0f}/s (ratio {ratios[-1]:.2f})"
            if peer is not None:
                runs["peer"].append(peer)
                peer_ratios.append(worker["rate"] / peer)
                line += f", quixstreams {peer:,.0f}/s (worker/peer {peer_ratios[-1]:.2f})"
            print(line, flush=True)
    dlq = len(asyncio.run(h.read_topic(settings, contract.DLQ)))
    median = {name: statistics.median(values) for name, values in runs.items() if values}
    ratio = statistics.median(ratios)
    peer_ratio = statistics.median(peer_ratios) if peer_ratios else None
    stages = stage_table(last_worker, total)
    split = offline_split(workload)
    print(f"median: bare {median['bare']:,.0f}/s, worker {median['worker']:,.0f}/s", end="")
    print(f", quixstreams {median['peer']:,.0f}/s" if "peer" in median else "")
    print(f"ratio (worker / bare loop) {ratio:.2f}  (bar 0.25, target 0.5)")
    if peer_ratio is not None:
        print(f"peer_ratio (worker / quixstreams) {peer_ratio:.2f}  (target 1.0)")
    print(f"DLQ records after the runs: {dlq} (a clean workload: must be 0)")
    print("worker, µs per event (last run): " + ", ".join(f"{k} {v:.1f}" for k, v in stages.items()))
    print("pure steps alone, µs per event: " + ", ".join(f"{k} {v:.1f}" for k, v in split.items()))
    write_results(
        "streams",
        {
            "events": total,
            "customers": args.customers,
            "repeats": args.repeats,
            "runs": runs,
            "worker_events_per_s": median["worker"],
            "bare_events_per_s": median["bare"],
            "peer_events_per_s": median.get("peer"),
            "peer": f"quixstreams {QUIX_VERSION}",
            "ratio": ratio,
            "peer_ratio": peer_ratio,
            "dlq_records": dlq,
            "worker_us_per_event": stages,
            "pure_us_per_event": split,
            "target_ratio": 0.5,
            "bar_ratio": 0.25,
        },
    )


if __name__ == "__main__":
    main()
