"""Exit codes against the real broker: ``produce --file`` naming a topic that does not exist sends nothing
and exits 2 (a config error, one line); records the broker refuses make ``produce`` exit 1."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest
import streams_harness as h

from orderstream.settings import ProducerSettings

pytestmark = pytest.mark.integration


def produce_file(path: Path, bootstrap: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    return subprocess.run(
        [sys.executable, "-m", "orderstream.cli", "produce", "--no-progress", "--file", str(path)],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_an_unknown_topic_in_a_file_sends_nothing_and_exits_2(
    bootstrap: str, kafka_settings: ProducerSettings, new_topics: Callable[..., list[str]], tmp_path: Path
) -> None:
    (topic,) = new_topics("file-target", partitions=1)
    lines = [{"topic": topic, "key": "c-1", "value": {"n": i}} for i in range(3)]
    lines.insert(2, {"topic": "ordres", "key": "c-1", "value": "{}"})
    path = tmp_path / "records.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(line) for line in lines) + b"\n")

    result = produce_file(path, bootstrap)

    errors = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert result.returncode == 2 and len(errors) == 1, result.stderr[-2000:]
    assert errors[0] == (
        f"orderstream: config error: --file: {path}:3: topic 'ordres' does not exist; did you mean 'orders'?"
    )
    assert asyncio.run(h.read_topic(kafka_settings, topic)) == []


def test_a_record_the_broker_refuses_makes_produce_exit_1(
    bootstrap: str, kafka_settings: ProducerSettings, new_topics: Callable[..., list[str]], tmp_path: Path
) -> None:
    (topic,) = new_topics("file-refused", partitions=1)
    path = tmp_path / "records.jsonl"
    rows = [
        {"topic": topic, "key": "c-1", "value": "small"},
        {"topic": topic, "key": "c-2", "value": "x" * (3 * 1024 * 1024)},  # over the broker's 2 MB limit
    ]
    path.write_bytes(b"\n".join(orjson.dumps(row) for row in rows) + b"\n")

    result = produce_file(path, bootstrap)

    assert result.returncode == 1, result.stdout + result.stderr[-2000:]
    assert "failed 1;" in result.stdout
    assert "orderstream: 1 record(s) were not acknowledged" in result.stderr
    assert [r.value for r in asyncio.run(h.read_topic(kafka_settings, topic))] == [b"small"]
