"""``orderstream demo``: the whole pipeline on one machine, under chaos, with a live view and a report.

Steps: make sure a broker and moto answer (start the local ones if not), create the topics, an EventBridge
bus with the production rule patterns and one SQS queue per rule; start the sequencer, router and loyalty
agents and the bridge as separate processes; stream synthetic orders with duplicates, out-of-order pairs and
poison records for ``duration`` seconds while a live view shows throughput, lag, DLQ and deliveries; wait
for the pipeline to drain; report (read back from the topics and queues) and plot. Every process it started
is stopped at the end, also on Ctrl-C or SIGTERM.

A demo never deletes data: it uses a fresh app id (so fresh consumer groups and tables), starts those groups
at the current end of the topics, and counts only the records written after that point.
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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiokafka import TopicPartition

from orderstream import demo_report, kafka
from orderstream.demo_aws import DemoBus
from orderstream.domain import contract
from orderstream.errors import OrderstreamError
from orderstream.local import PROJECT_ROOT, KafkaBroker, LocalPaths, MotoServer, port_open, wait_for_kafka
from orderstream.settings import ProducerSettings, load

AGENTS = ("sequencer", "router", "loyalty")


class DemoError(OrderstreamError):
    """The demo could not run (a process died, a service did not come up)."""


@dataclass(frozen=True)
class DemoOptions:
    duration: float = 60.0
    rate: float = 50.0
    customers: int = 300
    seed: int = 7
    duplicate_pct: float = 2.0
    out_of_order_pct: float = 5.0
    poison_pct: float = 0.5
    test_order_pct: float = 2.0
    reorder_timeout: float = 5.0
    drain_timeout: float = 120.0
    output_dir: Path = PROJECT_ROOT / "demo-output"
    live: bool = True
    event_bus: str = "orderstream"

    @property
    def events(self) -> int:
        return max(1, int(self.duration * self.rate))


# ------------------------------------------------------------------------------------------ stack


@dataclass
class Stack:
    """The broker and AWS endpoint; remembers what it started so it stops exactly that."""

    bootstrap: str = ""
    aws_endpoint: str = ""
    started: list[Any] = field(default_factory=list)

    def up(self, say: Any) -> None:
        env_bootstrap = os.environ.get("ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS")
        if env_bootstrap:
            if not wait_for_kafka(env_bootstrap.split(",")[0], 30):
                raise DemoError(f"no Kafka broker answers at {env_bootstrap}")
            self.bootstrap = env_bootstrap
        else:
            broker = KafkaBroker.from_env()
            if not wait_for_kafka(broker.bootstrap, 3):
                say(broker.up())
                self.started.append(broker)
            else:
                say(f"kafka already answering on {broker.bootstrap}")
            self.bootstrap = broker.bootstrap
        env_endpoint = os.environ.get("ORDERSTREAM_AWS_ENDPOINT_URL")
        if env_endpoint:
            self.aws_endpoint = env_endpoint
        else:
            moto = MotoServer.from_env()
            if port_open("127.0.0.1", moto.port):
                # Something serves the port: the bus set-up below fails loudly if it is not moto. (moto's
                # own probe, /moto-api/data.json, grows with its state and can time out when busy.)
                say(f"using the AWS endpoint already on {moto.endpoint}")
            else:
                say(moto.up())
                self.started.append(moto)
            self.aws_endpoint = moto.endpoint

    def down(self, say: Any) -> None:
        for service in reversed(self.started):
            say(service.down())
        self.started.clear()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------------------------ processes


@dataclass
class Proc:
    """One pipeline process: its name, health URL and log file."""

    name: str
    popen: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


class Processes:
    """Starts the agents and the bridge, each in its own session (Ctrl-C reaches only the demo)."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.procs: list[Proc] = []

    def start(self, name: str, args: list[str], env: dict[str, str], port: int) -> Proc:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = self.log_dir / f"{name}.log"
        with log.open("wb") as out:
            popen = subprocess.Popen(
                [sys.executable, "-m", "orderstream.cli", *args],
                env={**os.environ, **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=PROJECT_ROOT,
                start_new_session=True,
            )
        proc = Proc(name, popen, port, log)
        self.procs.append(proc)
        return proc

    def check_alive(self) -> None:
        for proc in self.procs:
            if proc.popen.poll() is not None:
                raise DemoError(f"{proc.name} exited with {proc.popen.returncode}; see {proc.log}")

    def stop_all(self, timeout: float = 30.0) -> None:
        """SIGTERM everything, wait up to ``timeout`` in total, then SIGKILL what is left."""
        for proc in self.procs:
            if proc.popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            try:
                proc.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait()
        self.procs.clear()


def _common_env(run_id: str, bootstrap: str, data_dir: Path) -> dict[str, str]:
    return {
        "ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "ORDERSTREAM_APP_ID": run_id,
        "ORDERSTREAM_DATA_DIR": str(data_dir),
        "ORDERSTREAM_LOG_LEVEL": "warning",
        "PYTHONUNBUFFERED": "1",
    }


def start_pipeline(
    procs: Processes, run_id: str, stack: Stack, opts: DemoOptions, data_dir: Path
) -> dict[str, Proc]:
    """One process per agent, plus the bridge."""
    common = _common_env(run_id, stack.bootstrap, data_dir)
    started = {}
    for agent in AGENTS:
        port = free_port()
        env = {
            **common,
            "ORDERSTREAM_AGENTS": agent,
            "ORDERSTREAM_WEB_PORT": str(port),
            "ORDERSTREAM_REORDER_TIMEOUT": str(opts.reorder_timeout),
        }
        started[agent] = procs.start(agent, ["worker"], env, port)
    port = free_port()
    bridge_env = {
        **common,
        "ORDERSTREAM_EVENT_BUS": opts.event_bus,
        "ORDERSTREAM_AWS_ENDPOINT_URL": stack.aws_endpoint,
        "ORDERSTREAM_METRICS_PORT": str(port),
        "AWS_ACCESS_KEY_ID": os.environ.get("AWS_ACCESS_KEY_ID", "testing"),
        "AWS_SECRET_ACCESS_KEY": os.environ.get("AWS_SECRET_ACCESS_KEY", "testing"),
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    }
    started["bridge"] = procs.start("bridge", ["bridge"], bridge_env, port)
    return started


# ------------------------------------------------------------------------------------------ consumer groups


def groups(run_id: str) -> dict[str, list[str]]:
    """Consumer group → topics, for this run's processes (one agent per process: ``<app id>-<agent>``)."""
    return {
        f"{run_id}-sequencer": list(contract.SOURCE_TOPICS),
        f"{run_id}-router": [contract.ORDER_LIFECYCLE],
        f"{run_id}-loyalty": [contract.ORDER_LIFECYCLE],
        f"{run_id}-bridge": [contract.ORDER_LIFECYCLE, contract.LOYALTY_EVENTS],
    }


async def start_groups_at(settings: ProducerSettings, group: str, offsets: dict[TopicPartition, int]) -> None:
    """Commit ``offsets`` for a group that has no members yet, so it starts there instead of at 0."""
    consumer = kafka.consumer(settings, group_id=group)
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit(dict(offsets))
    finally:
        await consumer.stop()


class LagProbe:
    """Consumer lag per group (end offset minus committed), with one admin client and one consumer kept open."""

    def __init__(self, settings: ProducerSettings, wanted: dict[str, list[str]]) -> None:
        self._settings = settings
        self._wanted = wanted
        self._tps: dict[str, list[TopicPartition]] = {}
        self._admin = kafka.admin(settings)
        self._consumer = kafka.consumer(settings, group_id=None)

    async def __aenter__(self) -> LagProbe:
        await self._admin.start()
        await self._consumer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._consumer.stop()
        await self._admin.close()

    async def lag(self) -> dict[str, int | None]:
        out: dict[str, int | None] = {}
        for group, topics in self._wanted.items():
            ends = await self.end_offsets(topics)
            committed = await self._admin.list_consumer_group_offsets(group)
            if not committed:
                out[group] = None
                continue
            out[group] = sum(
                end - max(committed[tp].offset, 0) if tp in committed else end for tp, end in ends.items()
            )
        return out

    async def end_offsets(self, topics: list[str]) -> dict[TopicPartition, int]:
        key = ",".join(topics)
        if key not in self._tps:
            self._tps[key] = await demo_report.partitions(self._settings, topics)
        return await demo_report.ends_with(self._consumer, self._tps[key])


# ------------------------------------------------------------------------------------------ live view


async def _get(session: Any, url: str) -> bytes | None:
    try:
        async with session.get(url, timeout=3) as resp:
            return bytes(await resp.read()) if resp.status == 200 else None
    except Exception:
        return None


def bridge_totals(text: str) -> dict[str, float]:
    """The bridge's Prometheus counters we show: events in, PutEvents accepted, selected per rule."""
    from prometheus_client.parser import text_string_to_metric_families

    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "orderstream_bridge_events_in_total":
                out["bridge.in"] = out.get("bridge.in", 0) + sample.value
            elif sample.name == "orderstream_bridge_put_results_total" and sample.labels.get("code") == "ok":
                out["bridge.put_ok"] = out.get("bridge.put_ok", 0) + sample.value
            elif sample.name == "orderstream_bridge_selected_total":
                key = f"bridge.selected.{sample.labels.get('rule')}"
                out[key] = out.get(key, 0) + sample.value
    return out


@dataclass
class Sampler:
    """Collects one sample a second: counters of every process, lag per group, DLQ size, queue depth."""

    procs: dict[str, Proc]
    probe: LagProbe
    bus: DemoBus
    dlq_start: int
    started: float = field(default_factory=time.monotonic)
    samples: list[dict[str, Any]] = field(default_factory=list)
    produced: int = 0

    async def sample(self, session: Any) -> dict[str, Any]:
        counters: dict[str, float] = {}
        for agent in AGENTS:
            raw = await _get(session, f"{self.procs[agent].base_url}/counters")
            if raw:
                counters.update(orjson.loads(raw))
        raw = await _get(session, f"{self.procs['bridge'].base_url}/metrics")
        if raw:
            counters.update(bridge_totals(raw.decode()))
        dlq_ends = await self.probe.end_offsets([contract.DLQ])
        depth = await asyncio.to_thread(self.bus.depth)
        sample = {
            "t": round(time.monotonic() - self.started, 2),
            "counters": counters,
            "totals": {
                "produced": self.produced,
                "sequencer out": counters.get("sequencer.out", 0),
                "loyalty in": counters.get("loyalty.in", 0),
                "router in": counters.get("router.in", 0),
                "bridge put ok": counters.get("bridge.put_ok", 0),
            },
            "lag": await self.probe.lag(),
            "dlq": sum(dlq_ends.values()) - self.dlq_start,
            "queues": depth,
        }
        self.samples.append(sample)
        return sample

    def rate(self, stage: str, window: float = 5.0) -> float:
        if len(self.samples) < 2:
            return 0.0
        last = self.samples[-1]
        first = next((s for s in self.samples if s["t"] >= last["t"] - window), self.samples[0])
        span = last["t"] - first["t"]
        return (last["totals"][stage] - first["totals"][stage]) / span if span > 0 else 0.0


def render(sampler: Sampler, phase: str) -> Any:
    from rich.console import Group
    from rich.table import Table

    s = sampler.samples[-1] if sampler.samples else None
    stages = Table(title=f"orderstream demo — {phase} — {s['t'] if s else 0:.0f}s", expand=False)
    for col in ("stage", "total", "records/s"):
        stages.add_column(col, justify="right" if col != "stage" else "left")
    if s:
        for stage, total in s["totals"].items():
            stages.add_row(stage, f"{int(total):,}", f"{sampler.rate(stage):,.0f}")
    side = Table(title="lag · DLQ · EventBridge deliveries", expand=False)
    side.add_column("what")
    side.add_column("value", justify="right")
    if s:
        for group, lag in s["lag"].items():
            side.add_row(f"lag {group}", "-" if lag is None else f"{lag:,}")
        side.add_row("DLQ records", f"{s['dlq']:,}")
        for rule, n in s["queues"].items():
            side.add_row(f"rule {rule} → queue", f"{n:,}")
    return Group(stages, side)


def one_line(sampler: Sampler, phase: str) -> str:
    s = sampler.samples[-1]
    totals = " ".join(f"{k.replace(' ', '_')}={int(v)}" for k, v in s["totals"].items())
    lag = sum(v or 0 for v in s["lag"].values())
    return f"[{s['t']:5.0f}s {phase}] {totals} lag={lag} dlq={s['dlq']} queues={s['queues']}"


# ------------------------------------------------------------------------------------------ the run


def new_run_id() -> str:
    return "demo-" + datetime.now(UTC).strftime("%Y%m%d%H%M%S")


async def _wait_ready(procs: dict[str, Proc], processes: Processes, budget_s: float = 120.0) -> None:
    import aiohttp

    deadline = time.monotonic() + budget_s
    async with aiohttp.ClientSession() as session:
        pending = dict(procs)
        while pending and time.monotonic() < deadline:
            processes.check_alive()
            for name, proc in list(pending.items()):
                raw = await _get(session, f"{proc.base_url}/health")
                if raw is not None and (name == "bridge" or orjson.loads(raw).get("ready")):
                    pending.pop(name)
            await asyncio.sleep(0.5)
    if pending:
        raise DemoError(
            f"not ready after {budget_s:.0f}s: {', '.join(pending)} (logs in {processes.log_dir})"
        )


async def run(opts: DemoOptions, stack: Stack, say: Any) -> demo_report.Report:
    """The demo proper, once the broker and the AWS endpoint answer."""
    run_id = new_run_id()
    settings = load(ProducerSettings).model_copy(update={"kafka_bootstrap_servers": stack.bootstrap})
    created, _ = await kafka.create_topics(settings)
    if created:
        say(f"created topics {', '.join(created)}")
    bus = DemoBus(stack.aws_endpoint, opts.event_bus, run_id)
    await asyncio.to_thread(bus.create)
    say(f"EventBridge bus {opts.event_bus!r}: rules {', '.join(t.rule for t in bus.targets)} → SQS queues")
    start = await demo_report.end_offsets(settings, list(contract.ALL_TOPICS))
    wanted = groups(run_id)
    for group, topics in wanted.items():
        await start_groups_at(settings, group, {tp: o for tp, o in start.items() if tp.topic in topics})
    log_dir = LocalPaths.default().logs / "demo"
    processes = Processes(log_dir)
    say(f"run {run_id}: logs in {log_dir}/{{{','.join((*AGENTS, 'bridge'))}}}.log")
    try:
        procs = start_pipeline(processes, run_id, stack, opts, LocalPaths.default().root / "demo" / run_id)
        await _wait_ready(procs, processes)
        say("all processes ready; streaming orders")
        async with LagProbe(settings, wanted) as probe:
            dlq_start = sum(o for tp, o in start.items() if tp.topic == contract.DLQ)
            sampler = Sampler(procs, probe, bus, dlq_start)
            produced = await _produce_and_watch(opts, settings, sampler, processes, say)
            final = sampler.samples[-1]["counters"] if sampler.samples else {}
    finally:
        processes.stop_all()
    say("all pipeline processes stopped; reading back the topics and queues")
    return await _report(opts, stack, run_id, settings, start, produced, final, sampler.samples)


async def _produce_and_watch(
    opts: DemoOptions, settings: ProducerSettings, sampler: Sampler, processes: Processes, say: Any
) -> dict[str, Any]:
    from orderstream.producer import produce
    from orderstream.synth import Chaos, Workload, generate

    workload = Workload(
        events=opts.events, customers=opts.customers, seed=opts.seed, test_order_pct=opts.test_order_pct
    )
    chaos = Chaos(opts.duplicate_pct, opts.out_of_order_pct, opts.poison_pct)

    def counted() -> Any:
        for record in generate(workload, chaos):
            sampler.produced += 1
            yield record

    producing = asyncio.create_task(produce(settings, counted(), rate=opts.rate))
    await _watch(opts, sampler, processes, producing, say)
    report = producing.result()
    return {"report": report, **{f"kind.{k}": v for k, v in report.by_kind.items()}}


async def _watch(
    opts: DemoOptions, sampler: Sampler, processes: Processes, producing: asyncio.Task[Any], say: Any
) -> None:
    """Sample once a second while producing, then until the pipeline has drained (or the budget is up)."""
    import aiohttp
    from rich.live import Live

    live = Live(render(sampler, "starting"), refresh_per_second=2, transient=False) if opts.live else None
    drained_since: float | None = None
    produced_at: float | None = None
    last_line = 0.0
    async with aiohttp.ClientSession() as session:
        with live if live is not None else contextlib.nullcontext():
            while True:
                processes.check_alive()
                if producing.done() and producing.exception() is not None:
                    raise producing.exception()  # type: ignore[misc]
                phase = "draining" if producing.done() else "producing"
                await sampler.sample(session)
                if live is not None:
                    live.update(render(sampler, phase))
                elif time.monotonic() - last_line >= 5:
                    say(one_line(sampler, phase))
                    last_line = time.monotonic()
                if producing.done():
                    produced_at = produced_at or time.monotonic()
                    if _drained(sampler) and time.monotonic() - produced_at > opts.reorder_timeout + 1:
                        drained_since = drained_since or time.monotonic()
                        if time.monotonic() - drained_since >= 3:
                            return
                    else:
                        drained_since = None
                    if time.monotonic() - produced_at > opts.drain_timeout:
                        say(f"pipeline not drained after {opts.drain_timeout:.0f}s; reporting what arrived")
                        return
                await asyncio.sleep(1)


def _drained(sampler: Sampler) -> bool:
    """No lag anywhere and nothing changed between the last two samples."""
    if len(sampler.samples) < 2:
        return False
    last, before = sampler.samples[-1], sampler.samples[-2]
    no_lag = all(v == 0 for v in last["lag"].values())
    return no_lag and last["totals"] == before["totals"] and last["queues"] == before["queues"]


async def _report(
    opts: DemoOptions,
    stack: Stack,
    run_id: str,
    settings: ProducerSettings,
    start: dict[TopicPartition, int],
    produced: dict[str, Any],
    counters: dict[str, float],
    samples: list[dict[str, Any]],
) -> demo_report.Report:
    ends = await demo_report.end_offsets(settings, list(contract.ALL_TOPICS))
    records = await demo_report.read_range(settings, start, ends)
    changelog_topic = f"{run_id}-loyalty-loyalty-ledger-changelog"
    changelog_ends = await demo_report.end_offsets(settings, [changelog_topic])
    changelog = await demo_report.read_range(settings, {}, changelog_ends)
    bus = DemoBus(stack.aws_endpoint, opts.event_bus, run_id)
    bus.targets = [
        t for t in await asyncio.to_thread(_targets_for, bus) if t.queue_url.endswith(f"-{run_id}")
    ]
    deliveries = await asyncio.to_thread(bus.read)
    depth = await asyncio.to_thread(bus.depth)
    produce_report = produced.pop("report")
    run_info = {
        "run_id": run_id,
        "bootstrap": stack.bootstrap,
        "aws_endpoint": stack.aws_endpoint,
        "event_bus": opts.event_bus,
        "events": opts.events,
        "rate": opts.rate,
        "duplicate_pct": opts.duplicate_pct,
        "out_of_order_pct": opts.out_of_order_pct,
        "poison_pct": opts.poison_pct,
        "produce_seconds": round(produce_report.seconds, 2),
        "queues": {t.rule: t.queue_url for t in bus.targets},
        "queue_messages": depth,
        "start_offsets": {f"{tp.topic}:{tp.partition}": o for tp, o in sorted(start.items())},
        "end_offsets": {f"{tp.topic}:{tp.partition}": o for tp, o in sorted(ends.items())},
    }
    kinds = {k.removeprefix("kind."): int(v) for k, v in produced.items()}
    report = demo_report.build(run_info, kinds, records, changelog, deliveries)
    report.counters = {"final": dict(sorted(counters.items()))}
    if samples:
        report.plot = str(demo_report.plot(samples, opts.output_dir / "throughput.png"))
    return report


def _targets_for(bus: DemoBus) -> list[Any]:
    """The queues this run created (the rule targets), found again by name."""
    from orderstream.demo_aws import Target, rule_patterns

    out = []
    for rule in rule_patterns():
        url = bus._sqs.get_queue_url(QueueName=f"{bus.bus}-{rule}-{bus.run_id}")["QueueUrl"]
        arn = bus._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        out.append(Target(rule, url, arn, bus.log_group(rule)))
    return out


def main(opts: DemoOptions) -> int:
    """Run the demo; stop everything it started, also on Ctrl-C / SIGTERM. Returns the exit code."""
    from rich.console import Console
    from rich.markdown import Markdown

    console = Console()
    say = console.print
    stack = Stack()
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        stack.up(say)
        report = asyncio.run(run(opts, stack, say))
        md, js = demo_report.write(report, opts.output_dir)
        console.print(Markdown(demo_report.markdown(report)))
        say(f"report: {md} (and {js.name}); plot: {report.plot}")
        say(
            "monthly loyalty statements of this run (docs/patterns-on-ecs.md), with the stack up: "
            f"ORDERSTREAM_AWS_ENDPOINT_URL={stack.aws_endpoint} ORDERSTREAM_STATEMENTS_LOYALTY_GROUP="
            f"{report.run['run_id']}-loyalty orderstream statements run --month 2026-11, "
            "then look in s3://orderstream-statements/statements/2026-11/",
            soft_wrap=True,
        )
        return 0
    except KeyboardInterrupt:
        say("interrupted: stopping everything the demo started")
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
        stack.down(say)


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
