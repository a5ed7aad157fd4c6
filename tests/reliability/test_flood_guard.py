"""The DLQ flood guard on a real worker: a partition that parks everything stops (halt) or raises the alarm
(alert), and `orderstream dlq resume` lets a halted one go on with nothing lost."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import streams_harness as h
from aiokafka import TopicPartition

from orderstream.domain import contract
from orderstream.domain.partitioning import partition_for
from orderstream.producer import produce
from orderstream.settings import ProducerSettings
from orderstream.synth import Record, Workload, generate

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

BAD = 300
GUARD = {"ORDERSTREAM_DLQ_GUARD_MAX_CONSECUTIVE": "50", "ORDERSTREAM_DLQ_GUARD_WINDOW": "200"}
PIPELINE_TOPICS = [*contract.SOURCE_TOPICS, contract.ORDER_LIFECYCLE]


def _workload() -> tuple[list[Record], list[Record], int]:
    clean = list(generate(Workload(events=2_000, customers=40, seed=1518)))
    key = next(r.key for r in clean if r.topic == contract.ORDERS)
    bad = [Record(contract.ORDERS, key, b"{not json %d" % i, "poison", None, "bad_json") for i in range(BAD)]
    return clean, bad, partition_for(key, 6)


def _health(worker: h.Worker) -> dict[str, Any]:
    with urllib.request.urlopen(f"{worker.url}/health", timeout=2) as resp:
        body: dict[str, Any] = json.loads(resp.read())
        return body


def _counters(worker: h.Worker) -> dict[str, Any]:
    with urllib.request.urlopen(f"{worker.url}/counters", timeout=2) as resp:
        body: dict[str, Any] = json.loads(resp.read())
        return body


def _wait(predicate: Any, what: str, budget_s: float = 60) -> Any:
    deadline = time.monotonic() + budget_s
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
            if last:
                return last
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{what}: not within {budget_s}s (last: {last})")


def _dlq_count(settings: ProducerSettings) -> int:
    return len(asyncio.run(h.read_topic(settings, contract.DLQ, isolation_level="read_committed")))


def test_halt_pauses_the_flooded_partition_until_dlq_resume_and_loses_nothing(
    kafka_settings: ProducerSettings, tmp_path: Path
) -> None:
    clean, bad, partition = _workload()
    asyncio.run(h.reset_topics(kafka_settings))
    assert asyncio.run(produce(kafka_settings, bad)).failed == 0
    app_id = h.unique_app_id("flood")
    worker = h.Worker(app_id, kafka_settings.kafka_bootstrap_servers, tmp_path, extra_env=GUARD).start()
    group = h.group_of(app_id)
    tp = TopicPartition(contract.ORDERS, partition)
    try:
        health = _wait(lambda: (b := _health(worker))["degraded"] and b, "the flooded partition is reported")
        reason = health["degraded"][str(partition)]
        assert reason.startswith("dlq flood guard") and "in a row" in reason, reason
        assert list(health["degraded"]) == [str(partition)], "only the flooded partition stops"
        assert _counters(worker)["partitions"][str(partition)]["state"] == "paused"

        assert asyncio.run(produce(kafka_settings, clean)).failed == 0
        others = list(contract.SOURCE_TOPICS)
        _wait(
            lambda: all(
                n == 0
                for t, n in (asyncio.run(h.lag_by_partition(kafka_settings, group, others)) or {}).items()
                if t.partition != partition
            ),
            "the other partitions keep flowing",
        )
        held = asyncio.run(h.committed_offset(kafka_settings, group, tp)) or 0
        assert held <= BAD, f"nothing after the flood is committed while paused (at {held})"
        assert _counters(worker)["partitions"][str(partition)]["state"] == "paused"

        env = {"ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS": kafka_settings.kafka_bootstrap_servers, "PATH": ""}
        resumed = subprocess.run(
            [sys.executable, "-m", "orderstream.cli", "dlq", "resume", "--app-id", app_id],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert resumed.returncode == 0, resumed.stderr
        _wait(lambda: not _health(worker)["degraded"], "the partition resumes")
        asyncio.run(h.wait_quiet(kafka_settings, {group: PIPELINE_TOPICS}, budget_s=120))
        balances = asyncio.run(h.ledgers_from_changelog(kafka_settings, group))
    finally:
        worker.stop()
    assert balances == h.expected_ledgers(clean), h.balance_diff(balances, h.expected_ledgers(clean))
    assert _dlq_count(kafka_settings) == BAD


def test_alert_only_raises_the_alarm_and_goes_on(kafka_settings: ProducerSettings, tmp_path: Path) -> None:
    clean, bad, _partition = _workload()
    asyncio.run(h.reset_topics(kafka_settings))
    assert asyncio.run(produce(kafka_settings, [*bad, *clean])).failed == 0
    app_id = h.unique_app_id("alarm")
    env = {**GUARD, "ORDERSTREAM_DLQ_GUARD": "alert"}
    worker = h.Worker(app_id, kafka_settings.kafka_bootstrap_servers, tmp_path, extra_env=env).start()
    group = h.group_of(app_id)
    try:
        asyncio.run(h.wait_quiet(kafka_settings, {group: PIPELINE_TOPICS}, budget_s=120))
        balances = asyncio.run(h.ledgers_from_changelog(kafka_settings, group))
        trips = _counters(worker).get("plane.flood_guard_trips", 0)
        metrics = urllib.request.urlopen(f"{worker.url}/metrics", timeout=2).read().decode()
    finally:
        worker.stop()
    assert trips >= 1, "the alarm went off"
    assert 'orderstream_stream_events_total{name="flood_guard_trips",stage="plane"}' in metrics
    log = "\n".join(p.read_text(errors="replace") for p in tmp_path.glob("worker-*.log"))
    assert "DLQ flood guard alarm (alert only" in log
    assert balances == h.expected_ledgers(clean), h.balance_diff(balances, h.expected_ledgers(clean))
    assert _dlq_count(kafka_settings) == BAD
