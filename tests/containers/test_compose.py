"""``docker compose up`` for real: the project's stack, one container per service, a seeded workload through it.

Runs docker-compose.yml with infra/compose/host-network.yml (this machine's engine has no bridge; the override
only changes networking, see tests/infra) on free 127.0.0.1 ports, the images built by
``orderstream.containers.images`` (the Kafka image stands in for apache/kafka). It checks every healthcheck,
what reached the EventBridge target queues in moto, the loyalty balances served over the loyalty service's
HTTP port against the domain's oracle, and that ``down -v`` stops every container with SIGTERM in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest

from orderstream.containers import compose
from orderstream.containers.aws_init import queue_name
from orderstream.containers.engine import Engine
from orderstream.containers.kafka import free_port
from orderstream.domain.contract import LOYALTY_EVENTS
from orderstream.local import PROJECT_ROOT
from orderstream.settings import KafkaSettings
from orderstream.synth import Chaos, Workload, generate

pytestmark = [pytest.mark.compose, pytest.mark.timeout(600)]

LONG_RUNNING = ("kafka", "moto", "sequencer", "router", "loyalty", "bridge")
ONE_SHOT = ("topics", "aws-init")
PORTS = ("KAFKA", "KAFKA_HOST", "CONTROLLER", "MOTO", "SEQUENCER", "ROUTER", "LOYALTY", "BRIDGE")
WORKLOAD = Workload(events=3000, customers=150, seed=1616)
CHAOS = Chaos(duplicate_pct=5, out_of_order_pct=10, poison_pct=1)
SELECTED = (
    "order.created",
    "payment.failed",
    "shipment.dispatched",
)  # the default bridge rules' lifecycle events


def compose_command() -> list[str]:
    """``docker compose`` (v2) where the plugin answers, else Debian's ``docker-compose`` (v1)."""
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True, check=False).returncode == 0
    ):
        return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    if legacy is None:
        pytest.fail(
            "neither `docker compose` nor docker-compose is installed (make docker-up installs it as root)"
        )
    return [legacy]


@dataclass
class Stack:
    project: str
    env: dict[str, str]
    ports: dict[str, int]
    engine: Engine
    file: Path
    log: Path
    down_seconds: float | None = None
    events: list[dict[str, Any]] = field(default_factory=list)

    def compose(self, *args: str, timeout: float = 300) -> str:
        cmd = [
            *compose_command(),
            "-f",
            str(self.file),
            "--project-directory",
            str(PROJECT_ROOT),
            "-p",
            self.project,
            *args,
        ]
        done = subprocess.run(
            cmd, env=self.env, capture_output=True, text=True, timeout=timeout, cwd=PROJECT_ROOT, check=False
        )
        with self.log.open("a") as out:
            out.write(f"$ {' '.join(args)}\n{done.stdout}{done.stderr}\n")
        assert done.returncode == 0, f"compose {' '.join(args)} failed: {done.stderr[-3000:]}"
        return done.stdout

    def containers(self, client: Any) -> dict[str, Any]:
        found = client.containers.list(
            all=True, filters={"label": f"com.docker.compose.project={self.project}"}
        )
        return {
            c.labels["com.docker.compose.service"]: c
            for c in found
            if c.labels.get("com.docker.compose.oneoff") != "True"
        }

    @property
    def moto(self) -> str:
        return f"http://127.0.0.1:{self.ports['MOTO']}"


@pytest.fixture(scope="module")
def stack(
    engine: Engine,
    docker_client: Any,
    service_image: str,
    moto_image: str,
    kafka_image: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    ports = {name: free_port() for name in PORTS}
    project = f"orderstream-test-{uuid.uuid4().hex[:6]}"
    env = {**os.environ, "DOCKER_HOST": engine.host, "ORDERSTREAM_KAFKA_IMAGE": kafka_image}
    env.update({f"HOSTNET_{name}_PORT": str(port) for name, port in ports.items()})
    work = tmp_path_factory.mktemp("compose")
    stack = Stack(
        project, env, ports, engine, compose.write_merged(work / "host-network.yml"), work / "compose.log"
    )
    try:
        stack.compose("up", "-d", "--no-build")
        yield stack
    finally:
        if stack.down_seconds is None:
            stack.compose("down", "-v")


def _wait_healthy(stack: Stack, client: Any, budget_s: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + budget_s
    while True:
        containers = stack.containers(client)
        for container in containers.values():
            container.reload()
        health = {name: c.attrs["State"].get("Health", {}).get("Status") for name, c in containers.items()}
        if all(health.get(name) == "healthy" for name in LONG_RUNNING):
            return containers
        if time.monotonic() > deadline:
            raise AssertionError(f"not healthy after {budget_s:.0f}s: {health}")
        time.sleep(1)


def test_every_service_runs_in_its_own_container_and_turns_healthy(stack: Stack, docker_client: Any) -> None:
    containers = _wait_healthy(stack, docker_client)
    assert set(containers) == set(LONG_RUNNING) | set(ONE_SHOT)
    assert len({c.id for c in containers.values()}) == len(containers)
    for name in ONE_SHOT:
        state = containers[name].attrs["State"]
        assert (state["Status"], state["ExitCode"]) == ("exited", 0), f"{name}: {state}"
    for name in LONG_RUNNING:
        assert containers[name].attrs["HostConfig"]["NetworkMode"] == "host"
    topics = containers["topics"].logs().decode()
    assert "created order-lifecycle" in topics or "exists  order-lifecycle" in topics


def _valid_events() -> list[dict[str, Any]]:
    return [orjson.loads(r.value) for r in generate(WORKLOAD, CHAOS) if r.kind == "valid"]


def _drain(sqs: Any, url: str, want: int, budget_s: float = 120) -> dict[str, dict[str, Any]]:
    """Messages of a queue by EventBridge event id, received and deleted until ``want`` or the budget."""
    seen: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + budget_s
    while len(seen) < want and time.monotonic() < deadline:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
            "Messages", []
        )
        for msg in messages:
            body = json.loads(msg["Body"])
            seen[body["detail"]["event_id"]] = body
        if messages:
            sqs.delete_message_batch(
                QueueUrl=url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
            )
    return seen


def _balances(port: int, customers: list[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for cid in customers:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/loyalty/{cid}", timeout=10) as resp:
                out[cid] = orjson.loads(resp.read())
        except urllib.error.HTTPError as exc:
            if exc.code != 404:
                raise
    return out


def test_seeded_workload_reaches_eventbridge_targets_and_loyalty_balances(
    stack: Stack, docker_client: Any
) -> None:
    import streams_harness as h  # tests/integration: the domain's oracle

    _wait_healthy(stack, docker_client)
    stack.compose(
        "run", "--rm", "--no-deps", "producer", "produce", "--count", str(WORKLOAD.events),
        "--customers", str(WORKLOAD.customers), "--seed", str(WORKLOAD.seed), "--duplicate-pct", "5",
        "--out-of-order-pct", "10", "--poison-pct", "1", "--no-progress",
    )  # fmt: skip
    expected = h.expected_ledgers(generate(WORKLOAD, CHAOS))
    deadline = time.monotonic() + 180
    while True:
        got = _balances(stack.ports["LOYALTY"], sorted(expected))
        if got == expected or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert got == expected, h.balance_diff(got, expected)

    selected = {
        e["event_id"]: e["event_type"]
        for e in _valid_events()
        if e["event_type"] in SELECTED and not (e["event_type"] == "order.created" and e["data"]["is_test"])
    }
    settings = KafkaSettings(kafka_bootstrap_servers=f"127.0.0.1:{stack.ports['KAFKA']}")
    tier_changes = {
        doc["event_id"]: doc["event_type"]
        for doc in (orjson.loads(r.value) for r in asyncio.run(h.read_topic(settings, LOYALTY_EVENTS)))
        if doc["event_type"] == "loyalty.tier_changed"
    }
    assert selected and tier_changes
    sqs = boto3.client("sqs", endpoint_url=stack.moto, region_name="us-east-1")
    queue = {
        rule: sqs.get_queue_url(QueueName=queue_name("orderstream", rule))["QueueUrl"]
        for rule in ("notifications", "crm")
    }
    notifications = _drain(sqs, queue["notifications"], len(selected) + len(tier_changes))
    crm = _drain(sqs, queue["crm"], len(tier_changes))
    assert {k: v["detail-type"] for k, v in notifications.items()} == {**selected, **tier_changes}
    assert {k: v["detail-type"] for k, v in crm.items()} == tier_changes


def test_down_stops_every_container_with_sigterm_within_the_grace_period(
    stack: Stack, docker_client: Any
) -> None:
    containers = stack.containers(docker_client)
    grace = _grace_periods()
    ids = {c.id: name for name, c in containers.items() if name in LONG_RUNNING}
    events: list[dict[str, Any]] = []
    stream = docker_client.events(
        decode=True, filters={"label": f"com.docker.compose.project={stack.project}"}
    )

    def read() -> None:
        with contextlib.suppress(Exception):  # the stream is closed under it when down has finished
            events.extend(stream)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    started = time.monotonic()
    stack.compose("down", "-v")  # each service's own stop_grace_period
    stack.down_seconds = time.monotonic() - started
    print(f"compose down -v: {stack.down_seconds:.1f}s (grace {max(grace.values())}s)")  # shown with -rP
    time.sleep(1)
    stream.close()
    assert stack.down_seconds < max(grace.values())
    kills = {
        (ids[e["id"]], e["Actor"]["Attributes"].get("signal"))
        for e in events
        if e.get("Action") == "kill" and e.get("id") in ids
    }
    exits = {
        ids[e["id"]]: int(e["Actor"]["Attributes"]["exitCode"])
        for e in events
        if e.get("Action") == "die" and e.get("id") in ids
    }
    assert set(exits) == set(LONG_RUNNING), exits
    assert {name for name, signal in kills if signal != "15"} == set(), kills
    assert {name: code for name, code in exits.items() if code not in (0, 143)} == {}, exits
    assert stack.containers(docker_client) == {}
    volumes = docker_client.volumes.list(filters={"label": f"com.docker.compose.project={stack.project}"})
    assert volumes == []


def _grace_periods() -> dict[str, int]:
    """Each long-running service's stop_grace_period in seconds, from docker-compose.yml."""
    services = compose.load(compose.BASE_FILE)["services"]
    return {
        name: int(str(services[name].get("stop_grace_period", "10s")).rstrip("s")) for name in LONG_RUNNING
    }
