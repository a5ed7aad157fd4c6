"""Helpers for integration tests that run the pipeline as processes and check it from the outside.

Builds on ``streams_harness`` (topic reset, worker subprocesses, waiting for quiet) and adds what the demo,
metrics and DLQ tests need: a bridge subprocess, offset snapshots and "records written since" reads, and a
Prometheus scrape. Every reader here is deliberately independent of ``orderstream.demo_report``: the tests
use it to check the demo's own numbers.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import streams_harness as h
from aiokafka import TopicPartition

from orderstream import kafka
from orderstream.domain.dlq import DeadLetter
from orderstream.settings import KafkaSettings

ROOT = h.ROOT
free_port = h.free_port
reset_topics = h.reset_topics
Worker = h.Worker
wait_quiet = h.wait_quiet
read_topic = h.read_topic
unique_app_id = h.unique_app_id

Positions = dict[tuple[str, int], int]


async def snapshot(settings: KafkaSettings, topics: list[str]) -> Positions:
    """End offset of every partition of ``topics`` now: "before" for :func:`records_since`."""
    counts = await kafka.partition_counts(settings, topics)
    tps = [TopicPartition(t, p) for t in topics for p in range(counts.get(t, 0))]
    consumer = kafka.consumer(settings, group_id=None)
    await consumer.start()
    try:
        ends = await consumer.end_offsets(tps) if tps else {}
    finally:
        await consumer.stop()
    return {(tp.topic, tp.partition): offset for tp, offset in ends.items()}


async def records_since(settings: KafkaSettings, topic: str, before: Positions) -> list[Any]:
    """Records of ``topic`` written after the ``before`` snapshot."""
    return [
        r for r in await h.read_topic(settings, topic) if r.offset >= before.get((r.topic, r.partition), 0)
    ]


def event_types(records: list[Any]) -> Counter[str]:
    out: Counter[str] = Counter()
    for record in records:
        try:
            out[str(orjson.loads(record.value).get("event_type"))] += 1
        except orjson.JSONDecodeError:
            out["<not json>"] += 1
    return out


def dlq_reasons(records: list[Any]) -> dict[str, int]:
    reasons: Counter[str] = Counter()
    for record in records:
        letter = DeadLetter.from_headers(record.headers or ())
        reasons[f"{letter.stage}/{letter.error_type}"] += 1
    return dict(reasons)


def scrape(url: str) -> dict[str, float]:
    """A Prometheus text page as ``{'name{label="v",...}': value}`` (labels sorted)."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(url, timeout=10) as resp:
        text = resp.read().decode()
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f'{k}="{v}"' for k, v in sorted(sample.labels.items()))
            out[f"{sample.name}{{{labels}}}" if labels else sample.name] = sample.value
    return out


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as resp:
        return orjson.loads(resp.read())


def wait_http(url: str, budget_s: float = 90, ready_key: str | None = None) -> Any:
    """Poll ``url`` until it answers 200 (and, if given, its JSON has a truthy ``ready_key``)."""
    deadline = time.monotonic() + budget_s
    while time.monotonic() < deadline:
        try:
            body = get_json(url)
            if ready_key is None or body.get(ready_key):
                return body
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} not ready after {budget_s}s")


@dataclass
class Bridge:
    """One ``orderstream bridge`` subprocess (metrics and /health on ``port``)."""

    app_id: str
    bootstrap: str
    aws_endpoint: str
    event_bus: str
    log_dir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.log_dir / f"bridge-{self.port}.log"

    def start(self) -> Bridge:
        env = {
            **os.environ,
            "ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "ORDERSTREAM_APP_ID": self.app_id,
            "ORDERSTREAM_AWS_ENDPOINT_URL": self.aws_endpoint,
            "ORDERSTREAM_EVENT_BUS": self.event_bus,
            "ORDERSTREAM_METRICS_PORT": str(self.port),
            **self.extra_env,
        }
        self.proc = h.run_cli("bridge", env, self.log_dir / f"bridge-{self.port}.log")
        return self

    def stop(self, timeout: float = 30) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.terminate()
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
