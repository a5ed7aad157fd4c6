"""``make chaos``: the long-form fault run (issue 15). Real processes are killed, paused and cut off from their
endpoint on 127.0.0.1, under live load, and what came out is checked against an oracle.

    .venv/bin/python bench/chaos.py [--quick] [--repeat N] [--rows kill,pause,outage]

Rows (each bounded in count and time):

- ``worker kill -9``: one worker under live load (a synthetic workload with duplicates, out-of-order and
  poison records, produced at a rate) is killed with SIGKILL ``--kills`` times at intervals and restarted
  each time on the same state directory. Recovery = seconds from the restart until its ``/health`` says ready.
- ``worker pause``: two workers in one group; one is SIGSTOPped for each of ``--pauses`` seconds (the
  session timeout is 10 s) while a slice of the workload is produced, then SIGCONTed. Recovery = seconds
  from the SIGCONT until the group is quiet (every source and output record committed).
- ``EventBridge outage``: ``orderstream bridge`` as a real process, its AWS endpoint a TCP proxy run here in
  front of moto. An outage closes the proxy's listener and its open connections (connection refused) for
  ``--outage-s`` seconds, then it listens again; moto keeps its state, so deliveries are counted in the SQS
  queues by event id. Recovery = seconds from the proxy's return until the bridge's ``/ready`` is 200.

Definitions:

- rows kill and pause: *events checked* = the workload's valid events. Read ``order-lifecycle``
  read_committed: *lost* = valid event ids missing from it, *double-counted* = event ids in it more than
  once. Then the loyalty ledgers of the changelog are compared with the oracle's (``expected_ledgers``): a
  customer that is missing or whose summary differs counts 1 as *lost* if its points are at or below the
  oracle's, 1 as *double-counted* if above. *Duplicate deliveries at EventBridge* is n/a (0).
- row outage: *events checked* = the selected events (those the bridge rules send). *lost* = selected ids
  never delivered to a queue, plus ids the bridge parked in the DLQ for a retriable reason (an outage must
  wait, not park); ids parked for a non-retriable reason are reported, not counted as lost. *duplicate
  deliveries* = deliveries minus distinct ids (at-least-once: allowed, expected small). *double-counted* is 0
  by construction: nothing downstream applies the events (n/a).

Writes ``bench/results/chaos.json``; exits 1 if any row lost or double-counted anything. Needs the local
broker and moto (``orderstream local up``); it resets the contract topics.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

# Reused, not copied: the harness modules of the integration and reliability tests (worker processes,
# topic resets, waiting for quiet, the oracle, moto routing, the bridge process). Their directories go on
# sys.path; this file's own directory goes off it first, or ``bench/streams.py`` would hide the ``streams``
# package the harness imports (as bench/streams.py does).
BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:] = [str(ROOT / "tests" / "integration"), str(ROOT / "tests" / "reliability")] + [
    p for p in sys.path if Path(p or ".").resolve() != BENCH
]
import streams_harness as h  # noqa: E402
import test_bridge as tb  # noqa: E402
import test_bridge_outage as tbo  # noqa: E402

from orderstream import kafka  # noqa: E402
from orderstream.domain import contract  # noqa: E402
from orderstream.domain.dlq import DeadLetter  # noqa: E402
from orderstream.producer import produce  # noqa: E402
from orderstream.settings import ProducerSettings  # noqa: E402
from orderstream.synth import Chaos, Record, Workload, generate  # noqa: E402

sys.path.append(str(BENCH))
from _common import write_results  # noqa: E402

PIPELINE_TOPICS = [*contract.SOURCE_TOPICS, contract.ORDER_LIFECYCLE]
CHAOS = Chaos(duplicate_pct=5, out_of_order_pct=10, poison_pct=1)
RETRIABLE_MARKERS = ("retries_exhausted", "connect", "timeout", "throttl", "internal", "unavailable")
"""A DLQ reason (error type + message) with one of these is a retriable failure the bridge gave up on."""


@dataclass
class Row:
    fault: str
    times_injected: int = 0
    events_checked: int = 0
    lost: int = 0
    double_counted: int = 0
    duplicate_deliveries: int = 0
    worst_recovery_s: float = 0.0
    recovery: str = ""
    notes: list[str] = field(default_factory=list)

    def recovered(self, seconds: float) -> None:
        self.times_injected += 1
        self.worst_recovery_s = round(max(self.worst_recovery_s, seconds), 1)


# --------------------------------------------------------------------------------------------- checks


def check_pipeline(settings: ProducerSettings, group: str, records: list[Record], row: Row) -> None:
    """Fill in events checked, lost and double-counted of a worker row (see the module docstring)."""
    valid = {r.event_id for r in records if r.kind == "valid" and r.event_id}
    lifecycle = asyncio.run(
        h.read_topic(settings, contract.ORDER_LIFECYCLE, isolation_level="read_committed")
    )
    seen = Counter(orjson.loads(r.value)["event_id"] for r in lifecycle)
    row.events_checked += len(valid)
    lost_ids, double_ids = valid - set(seen), [i for i, n in seen.items() if n > 1]
    got = asyncio.run(h.ledgers_from_changelog(settings, group))
    want = h.expected_ledgers(records)
    below = above = 0
    for customer in set(want) | set(got):
        mine, theirs = got.get(customer), want.get(customer)
        if mine == theirs:
            continue
        if mine is not None and (theirs is None or mine["points"] > theirs["points"]):
            above += 1
        else:
            below += 1
    row.lost += len(lost_ids) + below
    row.double_counted += len(double_ids) + above
    if lost_ids or double_ids or below or above:
        row.notes.append(
            f"{len(lost_ids)} ids missing, {len(double_ids)} twice; ledgers: {h.balance_diff(got, want)}"
        )


class Load:
    """``records`` produced at ``rate`` on a thread of its own; ``finish`` joins it and notes failed sends
    (a record never acknowledged is not in the workload the pipeline saw: it would show up as lost)."""

    def __init__(self, settings: ProducerSettings, records: list[Record], rate: float) -> None:
        self.failed: list[int] = []
        self.thread = threading.Thread(target=self._run, args=(settings, records, rate), daemon=True)
        self.thread.start()

    def _run(self, settings: ProducerSettings, records: list[Record], rate: float) -> None:
        self.failed.append(asyncio.run(produce(settings, records, rate=rate)).failed)

    def finish(self, row: Row, timeout: float = 300) -> None:
        self.thread.join(timeout)
        if self.thread.is_alive() or not self.failed:
            row.notes.append("the producer did not finish")
        elif self.failed[0]:
            row.notes.append(f"{self.failed[0]} records were not acknowledged by the broker")


# --------------------------------------------------------------------------------------------- rows


def row_kill(settings: ProducerSettings, args: argparse.Namespace, logs: Path) -> Row:
    row = Row("worker kill -9", recovery="restart -> /health ready")
    workload = Workload(events=args.events, customers=args.customers, seed=1501)
    records = list(generate(workload, CHAOS))
    asyncio.run(h.reset_topics(settings))
    app_id = h.unique_app_id("chaos-kill")
    bootstrap = settings.kafka_bootstrap_servers
    worker = h.Worker(app_id, bootstrap, logs, data_dir=logs / f"state-{app_id}").start()
    try:
        h.wait_ready(worker)
        rate = len(records) / (args.kills * args.kill_every + 2)  # the load lasts past the last kill
        producer = Load(settings, records, rate)
        for _ in range(args.kills):
            time.sleep(args.kill_every)
            worker.kill()
            restarted = time.monotonic()
            worker.start()
            h.wait_ready(worker, budget_s=120)
            row.recovered(time.monotonic() - restarted)
        producer.finish(row)
        asyncio.run(h.wait_quiet(settings, {h.group_of(app_id): PIPELINE_TOPICS}, budget_s=300))
        check_pipeline(settings, h.group_of(app_id), records, row)
    finally:
        worker.stop()
    return row


def row_pause(settings: ProducerSettings, args: argparse.Namespace, logs: Path) -> Row:
    row = Row("worker pause (SIGSTOP)", recovery="SIGCONT -> group quiet")
    workload = Workload(events=args.events, customers=args.customers, seed=1502)
    records = list(generate(workload, CHAOS))
    asyncio.run(h.reset_topics(settings))
    app_id = h.unique_app_id("chaos-pause")
    group = {h.group_of(app_id): PIPELINE_TOPICS}
    bootstrap = settings.kafka_bootstrap_servers
    workers = [h.Worker(app_id, bootstrap, logs).start() for _ in range(2)]
    lead, settle = 3.0, 2.0
    try:
        for worker in workers:
            h.wait_ready(worker)
        pauses = args.pauses
        step = -(-len(records) // len(pauses))
        for n, pause_s in enumerate(pauses):
            # one slice of the workload per pause, paced to last until the SIGCONT
            part = records[n * step : (n + 1) * step]
            producer = Load(settings, part, rate=len(part) / (lead + pause_s))
            time.sleep(lead)
            paused = workers[n % 2].proc
            assert paused is not None
            os.kill(paused.pid, signal.SIGSTOP)
            time.sleep(pause_s)
            os.kill(paused.pid, signal.SIGCONT)
            resumed = time.monotonic()
            producer.finish(row)
            asyncio.run(h.wait_quiet(settings, group, budget_s=300, settle_s=settle))
            row.recovered(time.monotonic() - resumed - settle)
        dead = [w.port for w in workers if w.proc is None or w.proc.poll() is not None]
        if dead:
            row.notes.append(f"workers on ports {dead} exited")
        check_pipeline(settings, h.group_of(app_id), records, row)
    finally:
        for worker in workers:
            if worker.proc is not None and worker.proc.poll() is None:
                os.kill(worker.proc.pid, signal.SIGCONT)
            worker.stop()
    return row


class Proxy:
    """A TCP proxy on a free 127.0.0.1 port to ``target``, on its own event loop thread; ``down()`` closes
    the listener and every open connection (connection refused until ``up()``)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = h.free_port()
        self.loop = asyncio.new_event_loop()
        self.server: asyncio.Server | None = None
        self.writers: set[asyncio.StreamWriter] = set()
        threading.Thread(target=self.loop.run_forever, daemon=True).start()

    def _call(self, fn: Callable[[], Any]) -> Any:
        async def wrapped() -> Any:
            return await fn()

        return asyncio.run_coroutine_threadsafe(wrapped(), self.loop).result(10)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self.writers |= {writer, up_writer}
        try:
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self.writers -= {writer, up_writer}

    def up(self) -> None:
        async def start() -> None:
            self.server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

        self._call(start)

    def down(self) -> None:
        async def stop() -> None:
            if self.server is not None:
                self.server.close()
                self.server = None
            for writer in list(self.writers):
                writer.transport.abort()
            self.writers.clear()

        self._call(stop)


class Deliveries(set[str]):
    """The distinct event ids received (a set, as ``Routing.receive`` fills it) and how often each came."""

    def __init__(self) -> None:
        super().__init__()
        self.count: Counter[str] = Counter()

    def add(self, event_id: str) -> None:
        self.count[event_id] += 1
        super().add(event_id)


def row_outage(settings: ProducerSettings, args: argparse.Namespace, logs: Path) -> Row:
    row = Row("EventBridge endpoint outage", recovery="proxy back -> bridge /ready 200")
    moto = os.environ.get("ORDERSTREAM_AWS_ENDPOINT_URL", "http://127.0.0.1:5000")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        os.environ.setdefault(name, "testing")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    topic, loyalty_topic = f"chaos-lifecycle-{uuid.uuid4().hex[:6]}", f"chaos-loyalty-{uuid.uuid4().hex[:6]}"
    asyncio.run(kafka.create_topics(settings, [topic, loyalty_topic]))
    rules = tb.write_rules(logs / "bridge.yaml", topic, loyalty_topic)
    docs = tb.order_lifecycle(args.bridge_customers, 5)
    want = {d["event_id"] for d in docs if tb.selected(d)}
    records = [
        Record(topic, d["customer_id"].encode(), orjson.dumps(d), "valid", d["event_id"]) for d in docs
    ]
    routing = tbo.Routing(moto)
    routing.create()
    proxy = Proxy(int(moto.rsplit(":", 1)[1].split("/")[0]))
    proxy.up()
    metrics_port = h.free_port()
    base = f"http://127.0.0.1:{metrics_port}"
    env = {
        **os.environ,
        "ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "ORDERSTREAM_APP_ID": h.unique_app_id("chaos-outage"),
        "ORDERSTREAM_BRIDGE_TOPICS": topic,
        "ORDERSTREAM_BRIDGE_RULES": str(rules),
        "ORDERSTREAM_EVENT_BUS": routing.bus,
        "ORDERSTREAM_AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.port}",
        "ORDERSTREAM_METRICS_PORT": str(metrics_port),
        "ORDERSTREAM_METRICS_HOST": "127.0.0.1",
    }
    seen = Deliveries()
    never: Callable[[], bool] = lambda: False  # noqa: E731
    # the load lasts through every outage
    rate = len(records) / (args.outages * (args.outage_s + args.outage_gap) + args.outage_gap)
    with tbo.bridge_process(env, logs / "bridge.log") as bridge:
        producer = Load(settings, records, rate)
        for _ in range(args.outages):
            routing.receive(seen, never, args.outage_gap)  # delivering
            proxy.down()
            cut_at = len(seen)
            routing.receive(seen, never, args.outage_s - 1)  # what moto had routed before
            ready, _ = tbo.http_status(f"{base}/ready")
            health, _ = tbo.http_status(f"{base}/health")
            proxy.up()
            row.notes.append(
                f"outage {row.times_injected + 1}: {cut_at} of {len(want)} delivered when it began, "
                f"/ready {ready} and /health {health} at its end"
            )
            back = time.monotonic()
            tbo.wait_for(lambda: tbo.http_status(f"{base}/ready")[0] == 200, 120, "/ready stayed down")
            row.recovered(time.monotonic() - back)
        producer.finish(row)
        routing.receive(seen, lambda: want <= seen, 180)
        routing.receive(seen, never, 10, quiet_rounds=20)  # late copies
        bridge.send_signal(signal.SIGTERM)
        if bridge.wait(30) != 0:
            row.notes.append(f"bridge exited {bridge.returncode} on SIGTERM")
    proxy.down()

    retriable: set[str] = set()
    permanent: set[str] = set()
    for record in asyncio.run(h.read_topic(settings, contract.DLQ)):
        letter = DeadLetter.from_headers(record.headers or ())
        if letter.source_topic != topic:
            continue
        event_id = orjson.loads(record.value).get("event_id", "?")
        reason = f"{letter.error_type} {letter.message}".lower()
        (retriable if any(m in reason for m in RETRIABLE_MARKERS) else permanent).add(event_id)
    missing = want - seen - permanent
    row.events_checked += len(want)
    row.lost += len(missing | (retriable & want))
    row.duplicate_deliveries += sum(seen.count.values()) - len(seen)
    row.notes.append("double-counted n/a: nothing downstream applies the events (0)")
    if permanent:
        row.notes.append(f"{len(permanent)} parked for a non-retriable reason")
    if retriable:
        row.notes.append(f"{len(retriable)} parked for a retriable reason (counted lost)")
    return row


ROWS: dict[str, Callable[[ProducerSettings, argparse.Namespace, Path], Row]] = {
    "kill": row_kill,
    "pause": row_pause,
    "outage": row_outage,
}

# --------------------------------------------------------------------------------------------- main


def merge(rows: list[Row]) -> Row:
    """Repeats of one row as one: counts summed, the worst recovery kept."""
    out = Row(rows[0].fault, recovery=rows[0].recovery)
    for row in rows:
        for name in ("times_injected", "events_checked", "lost", "double_counted", "duplicate_deliveries"):
            setattr(out, name, getattr(out, name) + getattr(row, name))
        out.worst_recovery_s = max(out.worst_recovery_s, row.worst_recovery_s)
        out.notes += [n for n in row.notes if n not in out.notes]
    return out


def table(rows: list[Row]) -> str:
    head = (
        "fault",
        "times injected",
        "events checked",
        "lost",
        "double-counted",
        "duplicate deliveries at EventBridge",
        "worst recovery s",
    )
    body = [
        (
            r.fault,
            str(r.times_injected),
            str(r.events_checked),
            str(r.lost),
            str(r.double_counted),
            str(r.duplicate_deliveries),
            f"{r.worst_recovery_s:.1f}",
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    lines = [" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in [head, *body]]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    lines += [f"  {r.fault}: recovery = {r.recovery}" for r in rows]
    lines += [f"  {r.fault}: {note}" for r in rows for note in r.notes]
    return "\n".join(lines)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small workloads, one injection per row")
    parser.add_argument("--repeat", type=int, default=1, help="run every row N times")
    parser.add_argument("--rows", default="kill,pause,outage", help="comma-separated: kill,pause,outage")
    parser.add_argument("--events", type=int, default=20_000, help="valid events per worker row")
    parser.add_argument("--customers", type=int, default=400)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--kill-every", type=float, default=10.0, help="seconds between kills")
    parser.add_argument("--pauses", default="4,12,25", help="pause lengths, s (session timeout 10 s)")
    parser.add_argument("--outages", type=int, default=2)
    parser.add_argument("--outage-s", type=float, default=30.0)
    parser.add_argument("--outage-gap", type=float, default=8.0, help="delivering before each outage, s")
    parser.add_argument("--bridge-customers", type=int, default=600, help="x 5 orders x 4 events")
    args = parser.parse_args(argv)
    if args.quick:
        args.events, args.customers, args.kills, args.kill_every = 4_000, 150, 1, 5.0
        args.pauses, args.outages, args.outage_s, args.outage_gap = "12", 1, 15.0, 4.0
        args.bridge_customers = 100
    args.pauses = [float(p) for p in str(args.pauses).split(",")]
    args.rows = [r.strip() for r in args.rows.split(",") if r.strip()]
    unknown = [r for r in args.rows if r not in ROWS]
    if unknown:
        parser.error(f"unknown rows {unknown}; choose from {sorted(ROWS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    bootstrap = os.environ.get("ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    settings = ProducerSettings(kafka_bootstrap_servers=bootstrap)
    logs = Path(tempfile.mkdtemp(prefix="orderstream-chaos-"))
    print(f"chaos: rows {args.rows}, repeat {args.repeat}{' (quick)' if args.quick else ''}; logs in {logs}")
    rows = []
    for name in args.rows:
        runs = []
        for n in range(args.repeat):
            started, where = time.monotonic(), logs / f"{name}-{n}"
            where.mkdir(parents=True)
            runs.append(ROWS[name](settings, args, where))
            print(f"  {name} #{n + 1}: {asdict(runs[-1])} in {time.monotonic() - started:.0f} s", flush=True)
        rows.append(merge(runs))
    print(table(rows))
    write_results("chaos", {"options": vars(args), "logs": str(logs), "rows": [asdict(r) for r in rows]})
    return 1 if any(r.lost or r.double_counted for r in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
