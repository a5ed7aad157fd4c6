"""Worker faults against the real broker, with real ``orderstream worker`` processes.

- a worker paused (SIGSTOP) inside and past its session timeout, while a second worker shares its group:
  the balances equal the oracle's; a paused member's late batch is refused by the broker (its partition's
  transactional producer was fenced by the new owner), so it can never write after its partitions moved;
- values no stage may choke on: integers near 2^64 where the contract bounds them, and a 1.5 MB record
  (the broker takes up to 2 MB): each lands in the DLQ with its reason (the big one as a truncated copy with
  headers saying so), nothing after them is held up, and the balances are the oracle's.

The long form (more pause lengths, kills, outages) is ``make chaos``.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import pytest
import streams_harness as h
from aiokafka import TopicPartition

from orderstream import kafka
from orderstream.domain import contract
from orderstream.domain.dlq import H_ORIGINAL_SIZE, H_TRUNCATED, DeadLetter
from orderstream.producer import produce
from orderstream.settings import ProducerSettings
from orderstream.synth import Chaos, Record, Workload, generate

pytestmark = [pytest.mark.integration, pytest.mark.reliability]

WORKLOAD = Workload(events=12_000, customers=300, seed=1515)
CHAOS = Chaos(duplicate_pct=5, out_of_order_pct=10, poison_pct=1)
PIPELINE_TOPICS = [*contract.SOURCE_TOPICS, contract.ORDER_LIFECYCLE]
SESSION_TIMEOUT = 10.0  # the worker's default (ORDERSTREAM_SESSION_TIMEOUT)


@pytest.fixture(scope="module")
def oracle() -> dict[str, dict[str, Any]]:
    return h.expected_ledgers(generate(WORKLOAD))


def _produce_in_background(
    settings: ProducerSettings, records: list[Record], rate: float
) -> threading.Thread:
    def run() -> None:
        report = asyncio.run(produce(settings, records, rate=rate))
        assert report.failed == 0

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


# --------------------------------------------------------------------------------------------- pauses


@pytest.mark.parametrize("pause_s", [4.0, 2 * SESSION_TIMEOUT], ids=["inside-session", "past-session"])
def test_a_paused_worker_never_writes_after_its_partitions_moved(
    kafka_settings: ProducerSettings, tmp_path: Path, oracle: dict[str, dict[str, Any]], pause_s: float
) -> None:
    asyncio.run(h.reset_topics(kafka_settings))
    app_id = h.unique_app_id("pause")
    first = h.Worker(app_id, kafka_settings.kafka_bootstrap_servers, tmp_path).start()
    second = h.Worker(app_id, kafka_settings.kafka_bootstrap_servers, tmp_path).start()
    workers = [first, second]
    try:
        h.wait_ready(first)
        h.wait_ready(second)
        producer = _produce_in_background(kafka_settings, list(generate(WORKLOAD, CHAOS)), rate=1500.0)
        time.sleep(3)  # both are working through live traffic now
        assert first.proc is not None
        os.kill(first.proc.pid, signal.SIGSTOP)
        time.sleep(pause_s)
        os.kill(first.proc.pid, signal.SIGCONT)
        producer.join(timeout=60)
        asyncio.run(h.wait_quiet(kafka_settings, {h.group_of(app_id): PIPELINE_TOPICS}, budget_s=180))
        balances = asyncio.run(h.ledgers_from_changelog(kafka_settings, h.group_of(app_id)))
        alive = [w.proc is not None and w.proc.poll() is None for w in workers]
    finally:
        for worker in workers:
            if worker.proc is not None and worker.proc.poll() is None:
                os.kill(worker.proc.pid, signal.SIGCONT)
            worker.stop()
    assert alive == [True, True], "a paused and resumed member carries on (it rejoins the group)"
    assert balances == oracle, h.balance_diff(balances, oracle)


# --------------------------------------------------------------------------------------------- values


def _variant(record: Record, **changes: Any) -> Record:
    """A copy of ``record`` as a new event (its own event_id) with fields of the envelope or data changed."""
    doc = orjson.loads(record.value)
    doc["event_id"] = str(uuid.uuid4())
    for path, value in changes.items():
        target, *rest = path.split("__")
        if rest:
            doc[target][rest[0]] = value
        else:
            doc[target] = value
    value = json.dumps(doc).encode()  # the standard library writes integers of any size, as JSON allows
    return Record(record.topic, record.key, value, "poison", doc["event_id"], "injected")


def _first(records: list[Record], event_type: str) -> Record:
    return next(r for r in records if r.kind == "valid" and orjson.loads(r.value)["event_type"] == event_type)


def test_huge_integers_and_a_1_5_mb_record_are_parked_and_nothing_after_them_is_held(
    kafka_settings: ProducerSettings, tmp_path: Path
) -> None:
    workload = Workload(events=3_000, customers=60, seed=1516)
    clean = list(generate(workload))
    created, captured = _first(clean, "order.created"), _first(clean, "payment.captured")
    poisons = {
        "sequence 2^64-1": _variant(captured, sequence=2**64 - 1),
        "total 10^19 cents": _variant(created, data__total_cents=10**19),
        "amount 10^19 cents": _variant(captured, data__amount_cents=10**19),
        "schema_version 10^20": _variant(created, schema_version=99999999999999999999),
        "1.5 MB value": _variant(created, data__note="x" * 1_500_000),
    }
    asyncio.run(h.reset_topics(kafka_settings))
    # The poisons go first: everything valid after them, on the same orders and partitions, must still flow.
    assert asyncio.run(produce(kafka_settings, [*poisons.values(), *clean])).failed == 0

    app_id = h.unique_app_id("values")
    worker = h.Worker(app_id, kafka_settings.kafka_bootstrap_servers, tmp_path).start()
    try:
        asyncio.run(h.wait_quiet(kafka_settings, {h.group_of(app_id): PIPELINE_TOPICS}, budget_s=120))
        balances = asyncio.run(h.ledgers_from_changelog(kafka_settings, h.group_of(app_id)))
        dlq = asyncio.run(h.read_topic(kafka_settings, contract.DLQ, isolation_level="read_committed"))
        alive = worker.proc is not None and worker.proc.poll() is None
    finally:
        worker.stop()
    assert alive, "no value crashes the worker"
    assert balances == h.expected_ledgers(clean), h.balance_diff(balances, h.expected_ledgers(clean))

    parked = {}
    for record in dlq:
        letter = DeadLetter.from_headers(record.headers or ())
        parked[(letter.source_topic, letter.source_partition, letter.source_offset)] = (letter, record)
    assert len(parked) == len(poisons), f"exactly the injected records are parked, got {len(parked)}"
    assert {letter.error_type for letter, _ in parked.values()} == {"schema_violation"}
    big = [record for _, record in parked.values() if dict(record.headers or ()).get(H_TRUNCATED) == b"true"]
    assert len(big) == 1, "the 1.5 MB record is parked as a truncated copy"
    headers = dict(big[0].headers or ())
    assert int(headers[H_ORIGINAL_SIZE]) > 1_500_000 > len(big[0].value)


def test_a_dead_letter_the_dlq_refuses_stops_its_partition_and_its_offset_is_not_committed(
    kafka_settings: ProducerSettings, tmp_path: Path
) -> None:
    """The DLQ topic takes records of at most 1 kB here: the park of a 300 kB record cannot be written, so its
    partition stops with a clear error and /health says so, and the group's offset stays before it."""
    workload = Workload(events=600, customers=20, seed=1517)
    clean = list(generate(workload))
    poison = _variant(_first(clean, "order.created"), data__note="y" * 300_000)
    asyncio.run(h.reset_topics(kafka_settings, configs={contract.DLQ: {"max.message.bytes": "1024"}}))
    assert asyncio.run(produce(kafka_settings, [*clean, poison])).failed == 0
    partition = asyncio.run(_partition_of(kafka_settings, poison))

    app_id = h.unique_app_id("dlqfull")
    worker = h.Worker(app_id, kafka_settings.kafka_bootstrap_servers, tmp_path).start()
    try:
        health = h.wait_health(worker, lambda body: bool(body.get("degraded")), "degraded", budget_s=90)
        committed = asyncio.run(
            h.committed_offset(kafka_settings, h.group_of(app_id), TopicPartition(poison.topic, partition))
        )
        ends = asyncio.run(_end(kafka_settings, poison.topic, partition))
    finally:
        worker.stop()
    reason = health["degraded"][str(partition)]
    assert reason.startswith("halted") and "TooLarge" in reason, reason
    assert not health["ready"]
    poison_offset = ends - 1  # the last record of its partition
    assert committed is None or committed <= poison_offset, (
        "the group's offset never passes the unparked record"
    )


async def _partition_of(settings: ProducerSettings, record: Record) -> int:
    from orderstream.domain.partitioning import partition_for

    return partition_for(record.key, settings.topic_partitions)


async def _end(settings: ProducerSettings, topic: str, partition: int) -> int:
    consumer = kafka.consumer(settings, group_id=None)
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        return (await consumer.end_offsets([tp]))[tp]
    finally:
        await consumer.stop()
