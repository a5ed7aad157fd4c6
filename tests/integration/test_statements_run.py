"""Monthly statements for real: a seeded workload through a real worker on the real broker fills the loyalty
table's changelog; then ``orderstream statements run --month 2026-11`` against moto. moto's interpreter runs
the state machine (the same ASL template Terraform deploys, RunTask style); its ``ecs:runTask`` only records
tasks, so the command runs each recorded task as a process with the container overrides moto recorded (task
token and step input), and the workers report back to moto with SendTaskSuccess/SendTaskFailure.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
import streams_harness as h
from aiokafka.partitioner import murmur2

from orderstream import kafka
from orderstream.domain import contract
from orderstream.domain.statements import Month, statement_key
from orderstream.producer import produce
from orderstream.settings import ProducerSettings
from orderstream.statements import local
from orderstream.statements.source import changelog_topic
from orderstream.synth import Workload, generate

pytestmark = pytest.mark.integration

WORKLOAD = Workload(events=3_000, customers=150, seed=19)
MONTH = Month(2026, 11)
PARTITIONS = 6


@pytest.fixture(scope="module")
def pipeline(kafka_settings: ProducerSettings, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Fresh topics, the workload, one worker (all agents) until everything is committed, then stopped."""
    settings = kafka_settings.model_copy(update={"topic_partitions": PARTITIONS})
    asyncio.run(h.reset_topics(settings))
    report = asyncio.run(produce(settings, generate(WORKLOAD)))
    assert report.failed == 0
    app_id = h.unique_app_id("stmt")
    worker = h.Worker(app_id, settings.kafka_bootstrap_servers, tmp_path_factory.mktemp("worker")).start()
    try:
        topics = [*contract.SOURCE_TOPICS, contract.ORDER_LIFECYCLE]
        asyncio.run(h.wait_quiet(settings, {h.group_of(app_id): topics}))
    finally:
        assert worker.stop() == 0
    group = h.group_of(app_id)
    return {
        "group": group,
        "ledgers": asyncio.run(h.ledgers_from_changelog(settings, group)),
        "expected": h.expected_ledgers(generate(WORKLOAD)),
        "events": month_events(settings),
    }


def month_events(settings: ProducerSettings) -> dict[str, dict[str, dict[str, Any]]]:
    """customer → event_id → loyalty event of the month, read straight from ``loyalty-events`` (in topic
    order: all of a customer's events are on one partition; a repeated event id keeps its first place)."""
    found: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for record in asyncio.run(h.read_topic(settings, contract.LOYALTY_EVENTS)):
        event = orjson.loads(record.value)
        if event["occurred_at"].startswith(str(MONTH)):
            found[event["customer_id"]].setdefault(event["event_id"], event)
    return found


def aws_client(endpoint: str, service: str) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1")


def run_statements(endpoint: str, bootstrap: str, group: str, bucket: str, log: Path) -> tuple[int, str]:
    env = {
        **os.environ,
        "ORDERSTREAM_AWS_ENDPOINT_URL": endpoint,
        "ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "ORDERSTREAM_STATEMENTS_LOYALTY_GROUP": group,
        "ORDERSTREAM_STATEMENTS_BUCKET": bucket,
    }
    done = subprocess.run(
        [sys.executable, "-m", "orderstream.cli", "statements", "run", "--month", str(MONTH)],
        env=env,
        capture_output=True,
        text=True,
        timeout=400,
        check=False,
    )
    log.write_text(done.stdout + done.stderr)
    return done.returncode, done.stdout


def parse_run(stdout: str) -> tuple[str, dict[str, Any]]:
    first, second = stdout.splitlines()[:2]
    assert first.startswith("execution ") and first.endswith(": SUCCEEDED"), stdout
    return first.split()[1].rstrip(":"), json.loads(second)


def bucket_contents(s3: Any, bucket: str) -> dict[str, bytes]:
    keys = [
        o["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", [])
    ]
    return {key: s3.get_object(Bucket=bucket, Key=key)["Body"].read() for key in keys}


def ecs_tasks(ecs: Any) -> dict[str, dict[str, Any]]:
    cluster = local.NAME
    arns = [
        a
        for status in ("RUNNING", "STOPPED")
        for a in ecs.list_tasks(cluster=cluster, desiredStatus=status)["taskArns"]
    ]
    described = [
        t
        for i in range(0, len(arns), 100)
        for t in ecs.describe_tasks(cluster=cluster, tasks=arns[i : i + 100])["tasks"]
    ]
    return {t["taskArn"]: t for t in described}


def overrides_env(task: dict[str, Any]) -> dict[str, str]:
    (container,) = task["overrides"]["containerOverrides"]
    return {e["name"]: e["value"] for e in container["environment"]}


def listen_for_issued(endpoint: str) -> str:
    """An SQS queue behind a rule on the bus for ``loyalty.statements_issued``; returns its URL."""
    events, sqs = aws_client(endpoint, "events"), aws_client(endpoint, "sqs")
    try:
        events.describe_event_bus(Name="orderstream")
    except events.exceptions.ResourceNotFoundException:
        events.create_event_bus(Name="orderstream")
    name = f"statements-issued-{uuid.uuid4().hex[:6]}"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    pattern = {"source": ["orderstream.statements"], "detail-type": ["loyalty.statements_issued"]}
    events.put_rule(Name=name, EventBusName="orderstream", EventPattern=json.dumps(pattern))
    events.put_targets(Rule=name, EventBusName="orderstream", Targets=[{"Id": "q", "Arn": arn}])
    return url


def test_a_month_run_states_every_customer_as_the_ledgers_say_and_a_rerun_changes_nothing(
    pipeline: dict[str, Any], aws_endpoint: str, bootstrap: str, tmp_path: Path
) -> None:
    expected, events = pipeline["expected"], pipeline["events"]
    assert pipeline["ledgers"] == expected, h.balance_diff(pipeline["ledgers"], expected)
    s3, ecs, sqs = (aws_client(aws_endpoint, s) for s in ("s3", "ecs", "sqs"))
    bucket = f"statements-{uuid.uuid4().hex[:8]}"
    queue = listen_for_issued(aws_endpoint)
    before = set(ecs_tasks(ecs)) if local.NAME in str(ecs.list_clusters()["clusterArns"]) else set()

    code, stdout = run_statements(aws_endpoint, bootstrap, pipeline["group"], bucket, tmp_path / "run1.log")
    assert code == 0, stdout
    execution, output = parse_run(stdout)
    assert output["statements"] == len(expected) and output["failed_shards"] == 0
    assert output["shards"] == PARTITIONS and output["changes"] == sum(len(e) for e in events.values())
    assert sum(r["statements"] for r in output["results"]) == len(expected)

    # Every step ran as an ECS task moto recorded, with the token and its input as container overrides.
    sfn = aws_client(aws_endpoint, "stepfunctions")
    assert sfn.describe_execution(executionArn=execution)["status"] == "SUCCEEDED"
    tasks = {arn: t for arn, t in ecs_tasks(ecs).items() if arn not in before}
    steps = sorted(
        json.loads(overrides_env(t)["ORDERSTREAM_STATEMENTS_TASK_INPUT"])["step"] for t in tasks.values()
    )
    assert steps == ["plan"] + ["shard"] * PARTITIONS
    assert all(overrides_env(t)["ORDERSTREAM_STATEMENTS_TASK_TOKEN"] for t in tasks.values())
    assert {t["lastStatus"] for t in tasks.values()} == {"STOPPED"}

    written = bucket_contents(s3, bucket)
    assert set(written) == {statement_key(MONTH, c) for c in expected}
    for customer, ledger in expected.items():
        doc = json.loads(written[statement_key(MONTH, customer)])
        assert {k: doc[k] for k in ledger} == ledger, customer
        theirs = events.get(customer, {})
        assert [e["event_id"] for e in doc["changes"]["events"]] == list(theirs), "topic order, each once"
        # Every event of the workload is in November: the month's net change is the whole balance.
        assert doc["changes"]["net_points"] == ledger["points"], customer
        tier_moves = doc["changes"]["tier_changes"]
        assert (tier_moves[-1]["to_tier"] if tier_moves else "bronze") == ledger["tier"], customer

    message = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5)["Messages"][0]
    issued = json.loads(message["Body"])
    assert (
        issued["detail-type"] == "loyalty.statements_issued" and issued["source"] == "orderstream.statements"
    )
    assert {k: issued["detail"][k] for k in ("month", "statements", "failed_shards", "bucket")} == {
        "month": str(MONTH), "statements": len(expected), "failed_shards": 0, "bucket": bucket,
    }  # fmt: skip

    code, stdout = run_statements(aws_endpoint, bootstrap, pipeline["group"], bucket, tmp_path / "run2.log")
    assert code == 0, stdout
    _, again = parse_run(stdout)
    assert {k: v for k, v in again.items() if k != "execution"} == {
        k: v for k, v in output.items() if k != "execution"
    }
    assert bucket_contents(s3, bucket) == written, "a re-run rewrites the same objects with the same bytes"


def test_a_shard_that_keeps_failing_is_retried_then_reported_and_the_others_are_written(
    pipeline: dict[str, Any],
    kafka_settings: ProducerSettings,
    aws_endpoint: str,
    bootstrap: str,
    tmp_path: Path,
) -> None:
    broken = 2
    changelog = changelog_topic(pipeline["group"])

    async def poison() -> int:
        producer = kafka.producer(kafka_settings)
        await producer.start()
        try:
            sent = await producer.send_and_wait(
                changelog, b"{not a ledger", key=b"c-poisoned", partition=broken
            )
            return int(sent.offset)
        finally:
            await producer.stop()

    offset = asyncio.run(poison())
    s3, ecs = aws_client(aws_endpoint, "s3"), aws_client(aws_endpoint, "ecs")
    bucket = f"statements-{uuid.uuid4().hex[:8]}"
    before = set(ecs_tasks(ecs))
    code, stdout = run_statements(aws_endpoint, bootstrap, pipeline["group"], bucket, tmp_path / "run.log")
    assert code == 1, "an incomplete run must not exit 0"
    _, output = parse_run(stdout)  # the execution itself completes: the failure is in its output
    assert output["failed_shards"] == 1
    (failed,) = [r for r in output["results"] if r["failed"]]
    assert failed["shard"] == broken and failed["partitions"] == [broken]
    assert failed["error"] == "Statements.BadRecord" and "c-poisoned" in failed["cause"]
    assert f"shard {broken} failed after retries" in stdout

    tasks = [t for arn, t in ecs_tasks(ecs).items() if arn not in before]
    tries = [json.loads(overrides_env(t)["ORDERSTREAM_STATEMENTS_TASK_INPUT"]) for t in tasks]
    on_broken = [r for r in tries if r["step"] == "shard" and r["shard"]["shard"] == broken]
    assert len(on_broken) == 1 + local.LOCAL_TIMING["retry_max_attempts"], "the state machine's Retry"

    expected = pipeline["expected"]
    outside = {c for c in expected if (murmur2(c.encode()) & 0x7FFFFFFF) % PARTITIONS != broken}
    assert set(bucket_contents(s3, bucket)) == {statement_key(MONTH, c) for c in outside}
    assert offset >= 0
