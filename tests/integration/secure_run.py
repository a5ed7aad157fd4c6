"""One end-to-end run over a secure listener: ``orderstream produce``, ``worker`` and ``bridge`` as real
processes speaking SASL_SSL (SCRAM-SHA-512, the local CA) to the broker, the bridge publishing to moto.

The run is checked from the outside over the PLAINTEXT listener: which event ids reached order-lifecycle,
loyalty-events and the SQS queues behind EventBridge, and what every process (and the broker) logged.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pipeline as p
import streams_harness as h
from test_bridge import make_routing, selected

from orderstream.domain import contract
from orderstream.settings import ProducerSettings
from orderstream.synth import Chaos, Workload, generate

AUTH_LINE = "Authenticated as"
"""What aiokafka logs (INFO) after each successful SASL login: one per new connection."""


@dataclass
class RunResult:
    expected: set[str]
    """event_ids of every valid event produced."""
    lifecycle: Counter[str]
    """event_id → copies in order-lifecycle."""
    loyalty: list[dict[str, Any]]
    at_queues: Counter[str]
    """event_id → deliveries at the SQS targets of the EventBridge rules."""
    expected_at_queues: set[str]
    ledgers: dict[str, dict[str, Any]]
    oracle: dict[str, dict[str, Any]]
    exit_codes: dict[str, int]
    logs: dict[str, Path] = field(default_factory=dict)

    def tail(self, process: str, lines: int = 15) -> str:
        return "\n".join(self.logs[process].read_text(errors="replace").splitlines()[-lines:])

    def logins(self, process: str) -> int:
        return self.logs[process].read_text(errors="replace").count(AUTH_LINE)


def produce_cli(env: dict[str, str], args: list[str], log: Path, timeout: float = 180) -> int:
    with log.open("ab") as out:
        done = subprocess.run(
            [sys.executable, "-m", "orderstream.cli", "produce", "--no-progress", *args],
            env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False, cwd=h.ROOT,
        )  # fmt: skip
    return done.returncode


def run_pipeline(
    *,
    secure_env: dict[str, str],
    plaintext: str,
    aws_endpoint: str,
    log_dir: Path,
    workload: Workload,
    rate: float = 0.0,
) -> RunResult:
    """Fresh contract topics; worker + bridge + producer over ``secure_env``; wait until all is committed."""
    plain = ProducerSettings(kafka_bootstrap_servers=plaintext)
    asyncio.run(h.reset_topics(plain))
    routing = make_routing(aws_endpoint)
    app_id = h.unique_app_id("sec")
    bootstrap = secure_env["ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS"]
    env = {**secure_env, "ORDERSTREAM_LOG_LEVEL": "info"}
    worker = h.Worker(app_id, bootstrap, log_dir, extra_env=env).start()
    bridge = p.Bridge(app_id, bootstrap, aws_endpoint, routing.bus, log_dir, extra_env=secure_env).start()
    producer_log = log_dir / "produce.log"
    try:
        p.wait_http(f"{worker.url}/health", budget_s=120)
        p.wait_http(f"{bridge.url}/health", budget_s=60)
        args = ["--count", str(workload.events), "--customers", str(workload.customers)]
        args += ["--seed", str(workload.seed), "--rate", str(rate)]
        produce_rc = produce_cli({**os.environ, **secure_env}, args, producer_log)
        groups = {
            h.group_of(app_id): [*contract.SOURCE_TOPICS, contract.ORDER_LIFECYCLE],
            f"{app_id}-bridge": [contract.ORDER_LIFECYCLE, contract.LOYALTY_EVENTS],
        }
        asyncio.run(h.wait_quiet(plain, groups, budget_s=180))
        lifecycle = [
            orjson.loads(r.value) for r in asyncio.run(h.read_topic(plain, contract.ORDER_LIFECYCLE))
        ]
        loyalty = [orjson.loads(r.value) for r in asyncio.run(h.read_topic(plain, contract.LOYALTY_EVENTS))]
        want_at_queues = {e["event_id"] for e in lifecycle + loyalty if selected(e)}
        got = routing.drain(len(want_at_queues), timeout=90)
        time.sleep(1.0)
        late = routing.drain(1, timeout=1.5)  # anything sent twice would still be on its way
        ledgers = asyncio.run(h.ledgers_from_changelog(plain, h.group_of(app_id)))
    finally:
        codes = {"worker": worker.stop(), "bridge": bridge.stop()}
    codes["produce"] = produce_rc
    records = list(generate(workload, Chaos()))
    at_queues: Counter[str] = Counter()
    for messages in (*got.values(), *late.values()):
        at_queues.update(m["detail"]["event_id"] for m in messages)
    return RunResult(
        expected={orjson.loads(r.value)["event_id"] for r in records},
        lifecycle=Counter(e["event_id"] for e in lifecycle),
        loyalty=loyalty,
        at_queues=at_queues,
        expected_at_queues=want_at_queues,
        ledgers=ledgers,
        oracle=h.expected_ledgers(records),
        exit_codes=codes,
        logs={
            "worker": log_dir / f"worker-{worker.port}.log",
            "bridge": bridge.log,
            "produce": producer_log,
        },
    )
