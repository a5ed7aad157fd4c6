"""The foundation against a real broker: bytes survive, customers co-partition, restarts lose nothing."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from orderstream import kafka
from orderstream.producer import produce, read_jsonl
from orderstream.settings import ProducerSettings
from orderstream.synth import Chaos, Record, Workload, generate

pytestmark = [pytest.mark.integration, pytest.mark.local_broker]


async def consume_all(settings: ProducerSettings, topics: list[str], expected: int, wait_s: float = 60.0):
    """Read every record of ``topics`` from the beginning until ``expected`` arrived (or time is up)."""
    consumer = kafka.consumer(settings, *topics, group_id=None, fetch_max_wait_ms=200)
    await consumer.start()
    out = []
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while len(out) < expected and loop.time() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                out.extend(records)
    finally:
        await consumer.stop()
    return out


def retarget(records, topic_map: dict[str, str]) -> list[Record]:
    return [Record(topic_map[r.topic], r.key, r.value, r.kind, r.event_id) for r in records]


def test_produced_events_come_back_byte_for_byte(
    kafka_settings: ProducerSettings, new_topics: Callable[..., list[str]]
) -> None:
    orders, payments, shipments = new_topics("orders", "payments", "shipments")
    mapping = {"orders": orders, "payments": payments, "shipments": shipments}
    sent = retarget(generate(Workload(events=3000, customers=200, seed=11), Chaos(poison_pct=2)), mapping)
    report = asyncio.run(produce(kafka_settings, sent))
    assert report.sent == len(sent) and report.failed == 0
    got = asyncio.run(consume_all(kafka_settings, [orders, payments, shipments], len(sent)))
    assert sorted((r.topic, r.key, r.value) for r in got) == sorted((r.topic, r.key, r.value) for r in sent)


def test_same_customer_lands_on_same_partition_number_in_every_source_topic(
    kafka_settings: ProducerSettings, new_topics: Callable[..., list[str]]
) -> None:
    orders, payments, shipments = new_topics("orders", "payments", "shipments", partitions=6)
    mapping = {"orders": orders, "payments": payments, "shipments": shipments}
    sent = retarget(generate(Workload(events=4000, customers=300, seed=5)), mapping)
    asyncio.run(produce(kafka_settings, sent))
    got = asyncio.run(consume_all(kafka_settings, [orders, payments, shipments], len(sent)))
    partitions_of: dict[bytes, set[int]] = defaultdict(set)
    topics_of: dict[bytes, set[str]] = defaultdict(set)
    for record in got:
        partitions_of[record.key].add(record.partition)
        topics_of[record.key].add(record.topic)
    spanning = [key for key, topics in topics_of.items() if len(topics) == 3]
    assert len(spanning) > 100, "the workload should put most customers on all three topics"
    assert all(len(partitions_of[key]) == 1 for key in partitions_of), "a customer spread over partitions"
    assert len({p for parts in partitions_of.values() for p in parts}) == 6, "keys should use every partition"


def test_jsonl_file_delivers_malformed_values_intact(
    kafka_settings: ProducerSettings, new_topics: Callable[..., list[str]], tmp_path: Path
) -> None:
    (topic,) = new_topics("raw")
    lines = [
        {"topic": topic, "key": "c-1", "value": '{"event_id": "broken'},
        {"topic": topic, "key": "c-2", "value": "not json at all \u00e9\u4e2d"},
        {"topic": topic, "key": "c-3", "value": {"event_type": "order.created", "x": 1.5}},
        {"topic": topic, "key": "c-4", "value": {"base64": "AP8Q/w=="}},
        {"topic": topic, "key": "c-5", "value": ""},
    ]
    path = tmp_path / "records.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    env = {**os.environ, "ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS": kafka_settings.kafka_bootstrap_servers}
    result = subprocess.run(
        [sys.executable, "-m", "orderstream.cli", "produce", "--file", str(path), "--no-progress"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "sent 5 records" in result.stdout
    got = asyncio.run(consume_all(kafka_settings, [topic], 5))
    by_key = {r.key: r.value for r in got}
    assert by_key == {
        b"c-1": b'{"event_id": "broken',
        b"c-2": "not json at all \u00e9\u4e2d".encode(),
        b"c-3": b'{"event_type":"order.created","x":1.5}',
        b"c-4": b"\x00\xff\x10\xff",
        b"c-5": b"",
    }
    assert [r.value for r in read_jsonl(path)] == [by_key[r.key] for r in read_jsonl(path)]


def test_broker_restart_between_produce_and_consume_loses_nothing_acknowledged(
    broker, kafka_settings: ProducerSettings, new_topics: Callable[..., list[str]]
) -> None:
    if broker.restart is None:
        pytest.skip(f"the {broker.kind} backend cannot be restarted from the tests")
    orders, payments, shipments = new_topics("orders", "payments", "shipments")
    mapping = {"orders": orders, "payments": payments, "shipments": shipments}
    sent = retarget(generate(Workload(events=5000, customers=100, seed=3)), mapping)
    report = asyncio.run(produce(kafka_settings, sent))
    assert report.sent == len(sent)
    broker.restart()
    got = asyncio.run(consume_all(kafka_settings, [orders, payments, shipments], len(sent), wait_s=90))
    assert len(got) == len(sent)
    assert {r.value for r in got} == {r.value for r in sent}


def test_offsets_survive_for_a_committed_group(
    kafka_settings: ProducerSettings, new_topics: Callable[..., list[str]]
) -> None:
    """Manual commits are durable: a new consumer in the same group resumes after the committed offset."""
    (topic,) = new_topics("commits", partitions=1)
    sent = [Record(topic, b"k", f"v{i}".encode(), "valid") for i in range(10)]
    asyncio.run(produce(kafka_settings, sent))

    async def read_and_commit(n: int) -> list[bytes]:
        consumer: AIOKafkaConsumer = kafka.consumer(kafka_settings, topic, group_id=f"g-{topic}")
        await consumer.start()
        try:
            values: list[bytes] = []
            while len(values) < n:
                for records in (await consumer.getmany(timeout_ms=500, max_records=n - len(values))).values():
                    values.extend(r.value for r in records)
            await consumer.commit()
            return values
        finally:
            await consumer.stop()

    first = asyncio.run(read_and_commit(4))
    rest = asyncio.run(read_and_commit(6))
    assert first + rest == [r.value for r in sent]
