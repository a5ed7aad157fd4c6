"""A short ``orderstream demo``, checked against independent readers of the topics and queues it used."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import orjson
import pipeline as p
import pytest

from orderstream.domain import contract
from orderstream.domain.ledger import CustomerLedger
from orderstream.settings import ProducerSettings

pytestmark = [pytest.mark.integration, pytest.mark.timeout(240)]

DURATION_S = 10
RATE = 80


def _read_queue(url: str, endpoint: str) -> Counter[str]:
    """Detail-types on a queue, read and deleted: the test is the queue's last reader."""
    sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
    seen: dict[str, str] = {}
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60).get(
            "Messages", []
        )
        if not messages:
            return Counter(seen.values())
        for msg in messages:
            seen[msg["MessageId"]] = json.loads(msg["Body"])["detail-type"]
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)],
        )


def _selected_by_bridge_rules(lifecycle: list[Any], loyalty: list[Any]) -> Counter[str]:
    """What the default bridge rules select, computed here from the records (no bridge code involved)."""
    out: Counter[str] = Counter()
    for record in lifecycle:
        doc = orjson.loads(record.value)
        kind = doc["event_type"]
        if (kind == "order.created" and doc["data"]["is_test"] is False) or kind in (
            "payment.failed",
            "shipment.dispatched",
        ):
            out[kind] += 1
    out["loyalty.tier_changed"] = sum(
        orjson.loads(r.value)["event_type"] == "loyalty.tier_changed" for r in loyalty
    )
    return +out


@pytest.fixture(scope="module")
def demo_run(bootstrap: str, aws_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    settings = ProducerSettings(kafka_bootstrap_servers=bootstrap)
    asyncio.run(__import__("orderstream.kafka", fromlist=["create_topics"]).create_topics(settings))
    before = asyncio.run(p.snapshot(settings, list(contract.ALL_TOPICS)))
    out = tmp_path_factory.mktemp("demo")
    bus = f"demo-test-{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "ORDERSTREAM_AWS_ENDPOINT_URL": aws_endpoint,
        "COLUMNS": "120",
    }
    cmd = [
        sys.executable, "-m", "orderstream.cli", "demo",
        "--duration", str(DURATION_S), "--rate", str(RATE), "--reorder-timeout", "3",
        "--drain-timeout", "60", "--output-dir", str(out), "--event-bus", bus, "--no-live",
    ]  # fmt: skip
    done = subprocess.run(cmd, env=env, cwd=p.ROOT, capture_output=True, text=True, timeout=200, check=False)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads((out / "report.json").read_text())
    records = {t: asyncio.run(p.records_since(settings, t, before)) for t in contract.ALL_TOPICS}
    changelog = asyncio.run(
        p.read_topic(settings, f"{report['run']['run_id']}-loyalty-loyalty-ledger-changelog")
    )
    return {"report": report, "records": records, "changelog": changelog, "out": out, "stdout": done.stdout,
            "aws": aws_endpoint}  # fmt: skip


def test_report_and_plot_are_written_and_printed(demo_run: dict[str, Any]) -> None:
    out: Path = demo_run["out"]
    assert (out / "report.md").read_text().startswith("# orderstream demo")
    png = (out / "throughput.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert "Top 10 customers by points" in demo_run["stdout"]
    assert ".local/logs/demo" in demo_run["stdout"].replace("\n", "")


def test_the_demo_says_how_to_state_its_loyalty_balances(demo_run: dict[str, Any]) -> None:
    printed = " ".join(demo_run["stdout"].split())
    group = f"ORDERSTREAM_STATEMENTS_LOYALTY_GROUP={demo_run['report']['run']['run_id']}-loyalty"
    assert group in printed and "orderstream statements run --month 2026-11" in printed


def test_topic_counts_match_an_independent_consumer(demo_run: dict[str, Any]) -> None:
    report, records = demo_run["report"], demo_run["records"]
    assert report["topics"] == {t: len(rs) for t, rs in records.items()}
    produced = report["produced"]
    assert sum(len(records[t]) for t in contract.SOURCE_TOPICS) == sum(produced.values())
    assert produced["valid"] >= DURATION_S * RATE and produced["duplicate"] > 0


def test_every_valid_event_is_released_once_and_poison_is_parked(demo_run: dict[str, Any]) -> None:
    report, records = demo_run["report"], demo_run["records"]
    lifecycle_ids = [orjson.loads(r.value)["event_id"] for r in records[contract.ORDER_LIFECYCLE]]
    assert len(lifecycle_ids) == len(set(lifecycle_ids)) == report["produced"]["valid"]
    assert report["distinct_lifecycle_events"] == len(lifecycle_ids)
    assert report["dlq_reasons"] == p.dlq_reasons(records[contract.DLQ])
    assert len(records[contract.DLQ]) >= report["produced"].get("poison", 0)


def test_eventbridge_targets_received_what_the_rules_select(demo_run: dict[str, Any]) -> None:
    report, records = demo_run["report"], demo_run["records"]
    queues = report["run"]["queues"]
    received = {rule: _read_queue(url, demo_run["aws"]) for rule, url in queues.items()}
    assert {rule: dict(c) for rule, c in received.items()} == report["eventbridge"]
    assert {rule: sum(c.values()) for rule, c in received.items()} == report["run"]["queue_messages"]
    expected = _selected_by_bridge_rules(records[contract.ORDER_LIFECYCLE], records[contract.LOYALTY_EVENTS])
    assert received["notifications"] == expected
    assert received["crm"] == Counter({"loyalty.tier_changed": expected["loyalty.tier_changed"]})


def test_top_customers_match_the_loyalty_changelog(demo_run: dict[str, Any]) -> None:
    last: dict[bytes, bytes] = {r.key: r.value for r in demo_run["changelog"]}
    summaries = [CustomerLedger.from_dict(orjson.loads(v)).summary() for v in last.values() if v is not None]
    summaries.sort(key=lambda s: (-s["points"], s["customer_id"]))
    top = demo_run["report"]["top_customers"]
    assert top == summaries[: len(top)] and len(top) == min(10, len(summaries)) > 0
    latency = demo_run["report"]["latency_ms"]["source_to_order_lifecycle"]
    assert (
        latency["count"] == demo_run["report"]["produced"]["valid"] and 0 <= latency["p50"] <= latency["p99"]
    )
