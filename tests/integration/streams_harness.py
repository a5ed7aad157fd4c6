"""Running the real pipeline in tests: fresh topics, worker subprocesses, waiting for quiet, reading state.

Workers use the contract's fixed topic names, so a scenario starts by deleting and recreating them, and
gives its workers a unique ``ORDERSTREAM_APP_ID`` so consumer groups and changelogs start empty.
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
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import TopicPartition
from aiokafka.errors import UnknownTopicOrPartitionError

from orderstream import kafka
from orderstream.domain import contract, ledger, sequencing
from orderstream.domain.contract import ParseError, parse_event
from orderstream.domain.ledger import CustomerLedger
from orderstream.settings import KafkaSettings, WorkerSettings
from orderstream.synth import Record
from streams.app import faust_id

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def reset_topics(
    settings: KafkaSettings,
    names: Iterable[str] = contract.ALL_TOPICS,
    configs: dict[str, dict[str, str]] | None = None,
) -> None:
    """Delete and recreate ``names`` (co-partitioned, ``settings.topic_partitions`` each); ``configs`` per
    topic override the project's topic defaults."""
    names = list(names)
    admin = kafka.admin(settings)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        doomed = [n for n in names if n in existing]
        if doomed:
            with contextlib.suppress(UnknownTopicOrPartitionError):
                await admin.delete_topics(doomed)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and set(doomed) & set(await admin.list_topics()):  # noqa: ASYNC110
            await asyncio.sleep(0.2)
    finally:
        await admin.close()
    configs = configs or {}
    plain = [n for n in names if n not in configs]
    for _ in range(50):  # the controller may need a moment before the names are free again
        try:
            await kafka.create_topics(settings, plain)
            for name, topic_configs in configs.items():
                await kafka.create_topics(settings, [name], configs=topic_configs)
            break
        except Exception:
            await asyncio.sleep(0.3)
    await asyncio.sleep(0.5)


def run_cli(command: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``orderstream <command>`` as a subprocess with ``env``, its output appended to ``log``."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "orderstream.cli", command],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )


@dataclass
class Worker:
    """One ``orderstream worker`` subprocess."""

    app_id: str
    bootstrap: str
    log_dir: Path
    agents: str = "sequencer,router,loyalty"
    extra_env: dict[str, str] = field(default_factory=dict)
    port: int = field(default_factory=free_port)
    data_dir: Path | None = None
    """Table state on disk (RocksDB); a restarted worker that should find its old state passes the same one."""
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Worker:
        env = {
            **os.environ,
            "ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "ORDERSTREAM_APP_ID": self.app_id,
            "ORDERSTREAM_AGENTS": self.agents,
            "ORDERSTREAM_WEB_PORT": str(self.port),
            "ORDERSTREAM_DATA_DIR": str(self.data_dir or self.log_dir / f"data-{self.port}"),
            "ORDERSTREAM_LOG_LEVEL": "warning",
            **self.extra_env,
        }
        self.proc = run_cli("worker", env, self.log_dir / f"worker-{self.port}.log")
        return self

    def kill(self) -> None:
        """``kill -9``: no shutdown, no commit, no flush."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout: float = 40) -> int:
        """SIGTERM and wait; returns the exit code (SIGKILL after ``timeout``)."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise


def wait_ready(worker: Worker, budget_s: float = 60) -> dict[str, Any]:
    """Wait until the worker's ``/health`` says it is ready (partitions assigned, recovered and running)."""
    return wait_health(worker, lambda body: bool(body.get("ready")), "ready", budget_s)


def wait_health(
    worker: Worker, until: Callable[[dict[str, Any]], bool], what: str, budget_s: float = 60
) -> dict[str, Any]:
    """Poll the worker's ``/health`` until ``until(body)``; returns that body."""
    import json
    import urllib.request

    deadline = time.monotonic() + budget_s
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"{worker.url}/health", timeout=2) as resp:
                body = json.loads(resp.read())
            if until(body):
                return body
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"worker not {what} after {budget_s}s: {body}")


async def committed_offset(settings: KafkaSettings, group: str, tp: TopicPartition) -> int | None:
    """The group's committed offset of ``tp`` (None when it committed none)."""
    admin = kafka.admin(settings)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    meta = offsets.get(tp)
    return None if meta is None else meta.offset


def group_of(app_id: str, agents: str = "sequencer,router,loyalty") -> str:
    """The consumer group (faust app id) of a worker running ``agents``, as the worker itself names it."""
    return faust_id(WorkerSettings(app_id=app_id, agents=agents))


async def lag_by_partition(
    settings: KafkaSettings, group: str, topics: Iterable[str]
) -> dict[TopicPartition, int] | None:
    """Records per partition of ``topics`` the group has not committed (None until it committed anything)."""
    admin = kafka.admin(settings)
    consumer = kafka.consumer(settings, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        tps = await topic_partitions(settings, topics)
        ends = await consumer.end_offsets(tps)
        if not committed:
            return None
        return {tp: ends[tp] - (committed[tp].offset if tp in committed else 0) for tp in tps}
    finally:
        await consumer.stop()
        await admin.close()


async def lag(settings: KafkaSettings, group: str, topics: Iterable[str]) -> int | None:
    """Records of ``topics`` the group has not committed yet (None until it committed anything)."""
    detail = await lag_by_partition(settings, group, topics)
    return None if detail is None else sum(detail.values())


WORKER_OUTPUTS: frozenset[str] = frozenset({contract.ORDER_LIFECYCLE, contract.LOYALTY_EVENTS, contract.DLQ})
"""Topics the worker writes with its transactional producers."""


async def wait_quiet(
    settings: KafkaSettings,
    groups: dict[str, list[str]],
    budget_s: float = 120,
    settle_s: float = 3,
    transactional: frozenset[str] = WORKER_OUTPUTS,
) -> None:
    """Wait until every group has committed every record of its topics, twice ``settle_s`` apart.

    A partition of a ``transactional`` topic ends in a commit marker that consumers skip but never commit
    past, so one offset of lag there is caught up. The worker writes its outputs in transactions (every
    batch of a partition is one), so they are transactional by default.
    """

    async def caught_up(group: str, topics: list[str]) -> bool:
        detail = await lag_by_partition(settings, group, topics)
        return detail is not None and all(
            n <= (1 if tp.topic in transactional else 0) for tp, n in detail.items()
        )

    deadline = time.monotonic() + budget_s
    quiet_since: float | None = None
    while time.monotonic() < deadline:
        if all([await caught_up(group, topics) for group, topics in groups.items()]):
            quiet_since = quiet_since or time.monotonic()
            if time.monotonic() - quiet_since >= settle_s:
                return
        else:
            quiet_since = None
        await asyncio.sleep(1)
    detail = {g: await lag_by_partition(settings, g, t) for g, t in groups.items()}
    behind = {
        g: {f"{tp.topic}/{tp.partition}": n for tp, n in (d or {}).items() if n} for g, d in detail.items()
    }
    raise AssertionError(f"pipeline not quiet after {budget_s}s: behind {behind}")


async def topic_partitions(settings: KafkaSettings, topics: Iterable[str]) -> list[TopicPartition]:
    """Every partition of ``topics``; fails if a topic does not exist (an empty list would hide it)."""
    names = list(topics)
    counts = await kafka.partition_counts(settings, names)
    missing = [t for t in names if not counts.get(t)]
    assert not missing, f"topics missing: {missing}"
    return [TopicPartition(t, p) for t in names for p in range(counts[t])]


async def read_topic(
    settings: KafkaSettings, topic: str, idle_s: float = 2.0, isolation_level: str = "read_uncommitted"
) -> list[Any]:
    """Every record of ``topic`` now (reads until the end offsets taken at start); ``read_committed`` skips
    records of aborted transactions."""
    consumer = kafka.consumer(settings, group_id=None, isolation_level=isolation_level)
    await consumer.start()
    try:
        tps = await topic_partitions(settings, [topic])
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[Any] = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            positions = [await consumer.position(tp) for tp in tps]
            if all(pos >= ends[tp] for pos, tp in zip(positions, tps, strict=True)):
                break
            batch = await consumer.getmany(timeout_ms=int(idle_s * 500))
            for records in batch.values():
                out.extend(records)
        return out
    finally:
        await consumer.stop()


async def ledgers_from_changelog(settings: KafkaSettings, group: str) -> dict[str, dict[str, Any]]:
    """Each customer's loyalty summary, read from the loyalty table's changelog (last committed value per key:
    the changelog is written in transactions, and an aborted write, such as a fenced worker's, never counts)."""
    last: dict[bytes, bytes | None] = {}
    changelog = f"{group}-loyalty-ledger-changelog"
    for record in await read_topic(settings, changelog, isolation_level="read_committed"):
        last[record.key] = record.value
    return {
        key.decode(): CustomerLedger.from_dict(orjson.loads(value)).summary()
        for key, value in last.items()
        if value is not None
    }


def expected_ledgers(records: Iterable[Record]) -> dict[str, dict[str, Any]]:
    """The oracle: the pure domain applied to the valid events in their clean order."""
    states: dict[str, sequencing.OrderState] = {}
    ledgers: dict[str, CustomerLedger] = {}
    for record in records:
        event = parse_event(record.value)
        if isinstance(event, ParseError) or record.kind != "valid":
            continue
        state = states.get(event.order_id, sequencing.OrderState())
        state, outcome = sequencing.accept(state, event, 0.0, 1e9)
        states[event.order_id] = state
        for released in outcome.released:
            current = ledgers.get(released.event.customer_id, CustomerLedger(released.event.customer_id))
            ledgers[released.event.customer_id], _ = ledger.apply(current, released.event)
    return {cid: led.summary() for cid, led in ledgers.items()}


def unique_app_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def balance_diff(got: dict[str, dict[str, Any]], want: dict[str, dict[str, Any]], limit: int = 5) -> str:
    """A readable account of how two balance maps differ (for assertion messages)."""
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    wrong = sorted(c for c in set(got) & set(want) if got[c] != want[c])
    lines = [f"{len(missing)} missing, {len(extra)} unexpected, {len(wrong)} different customers"]
    lines += [f"  missing {c}: want {want[c]}" for c in missing[:limit]]
    lines += [f"  {c}: got {got[c]} want {want[c]}" for c in wrong[:limit]]
    return "\n".join(lines)
