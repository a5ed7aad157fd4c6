"""Prometheus endpoints of a running worker: counters match what it processed; lag and EMF are exposed."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import orjson
import pipeline as p
import pytest
from aiokafka import TopicPartition

from orderstream import kafka
from orderstream.demo import start_groups_at
from orderstream.domain import contract
from orderstream.producer import produce
from orderstream.settings import ProducerSettings
from orderstream.synth import Record
from streams import metrics as sm

VALID = 40
POISON = 3


def _envelope(order: str, customer: str, seq: int, kind: str, data: dict[str, object]) -> bytes:
    return orjson.dumps(
        {
            "event_id": str(uuid.uuid4()),
            "event_type": kind,
            "schema_version": 1,
            "occurred_at": "2026-11-27T00:00:00Z",
            "order_id": order,
            "customer_id": customer,
            "sequence": seq,
            "data": data,
        }
    )


def _records(tag: str) -> list[Record]:
    created = {"total_cents": 1000, "currency": "EUR", "region": "eu-west", "channel": "web", "is_test": False,
               "items": []}  # fmt: skip
    out = [
        Record(contract.ORDERS, f"cm-{i % 5}".encode(), _envelope(f"om-{tag}-{i}", f"cm-{i % 5}", 1,
               "order.created", created), "valid")
        for i in range(VALID)
    ]  # fmt: skip
    out += [Record(contract.PAYMENTS, b"cm-0", b'{"not": "an envelope"', "poison") for _ in range(POISON)]
    return out


@pytest.mark.integration
@pytest.mark.timeout(150)
def test_worker_metrics_match_processed_counts(bootstrap: str, tmp_path: Path) -> None:
    settings = ProducerSettings(kafka_bootstrap_servers=bootstrap)
    asyncio.run(kafka.create_topics(settings))
    app_id = p.unique_app_id("metrics")
    before = asyncio.run(p.snapshot(settings, list(contract.SOURCE_TOPICS)))
    offsets = {TopicPartition(t, n): o for (t, n), o in before.items()}
    asyncio.run(start_groups_at(settings, f"{app_id}-sequencer", offsets))
    worker = p.Worker(
        app_id, bootstrap, tmp_path, agents="sequencer", extra_env={"ORDERSTREAM_EMF_INTERVAL": "1"}
    )
    worker.start()
    try:
        p.wait_http(f"{worker.url}/health", ready_key="ready")
        report = asyncio.run(produce(settings, _records(app_id)))
        assert report.sent == VALID + POISON
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if p.get_json(f"{worker.url}/counters").get("sequencer.in", 0) >= VALID + POISON:
                break
            time.sleep(0.5)
        time.sleep(2)  # a commit interval, so the lag gauge can reach 0
        scraped = p.scrape(f"{worker.url}/metrics")
    finally:
        worker.stop()
    assert scraped['orderstream_stream_events_in_total{stage="sequencer"}'] == VALID + POISON
    assert scraped['orderstream_stream_events_out_total{stage="sequencer",target="order-lifecycle"}'] == VALID
    dlq = {k: v for k, v in scraped.items() if k.startswith("orderstream_stream_dlq_total")}
    assert sum(dlq.values()) == POISON and all('stage="sequencer"' in k for k in dlq)
    lag = {k: v for k, v in scraped.items() if k.startswith("orderstream_stream_consumer_lag{")}
    assert any('topic="orders"' in k for k in lag) and all(v >= 0 for v in lag.values())
    emf = [json.loads(line) for line in _log_lines(tmp_path) if line.startswith('{"_aws"')]
    assert emf and {d["Consumer Group"] for d in emf} == {f"{app_id}-sequencer"}
    assert {"orders", "payments", "shipments"} <= {d["Topic"] for d in emf}


def _log_lines(directory: Path) -> list[str]:
    return [line for log in directory.glob("worker-*.log") for line in log.read_text().splitlines()]


def test_counter_names_map_to_labelled_metrics() -> None:
    assert sm.classify("sequencer.in") == ("events_in", {"stage": "sequencer"})
    assert sm.classify("router.out.orders.high-value") == (
        "events_out",
        {"stage": "router", "target": "orders.high-value"},
    )
    assert sm.classify("loyalty.out") == ("events_out", {"stage": "loyalty", "target": "loyalty-events"})
    assert sm.classify("sequencer.dlq.bad_json") == ("dlq", {"stage": "sequencer", "reason": "bad_json"})
    assert sm.classify("sequencer.duplicates") == ("events", {"stage": "sequencer", "name": "duplicates"})


def test_emf_line_sums_lag_per_topic_under_msk_names() -> None:
    lines = sm.emf_lines("g-1", {("orders", 0): 3, ("orders", 1): 4, ("payments", 0): 0}, now_ms=1)
    docs = [json.loads(line) for line in lines]
    assert [(d["Topic"], d["SumOffsetLag"]) for d in docs] == [("orders", 7), ("payments", 0)]
    directive = docs[0]["_aws"]["CloudWatchMetrics"][0]
    assert directive["Dimensions"] == [["Consumer Group", "Topic"]]
    assert directive["Metrics"][0]["Name"] == "SumOffsetLag"
