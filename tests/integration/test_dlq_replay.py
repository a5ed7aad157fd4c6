"""DLQ replay end to end: a poison payment is parked, fixed, replayed and counted once — also when replayed twice."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pipeline as p
import pytest
from aiokafka import TopicPartition

from orderstream import dlq_tools, kafka
from orderstream.demo import start_groups_at
from orderstream.domain import contract
from orderstream.producer import produce
from orderstream.settings import ProducerSettings
from orderstream.synth import Record

pytestmark = [pytest.mark.integration, pytest.mark.timeout(180)]

AMOUNT = 12_345


def _event(customer: str, order: str, seq: int, kind: str, data: dict[str, Any], event_id: str) -> bytes:
    return orjson.dumps(
        {"event_id": event_id, "event_type": kind, "schema_version": 1, "occurred_at": "2026-11-27T00:00:00Z",
         "order_id": order, "customer_id": customer, "sequence": seq, "data": data}
    )  # fmt: skip


def _cli(*args: str, env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "orderstream.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _wait(predicate: Any, budget_s: float = 60) -> Any:
    deadline = time.monotonic() + budget_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"condition not met within {budget_s}s")


def test_fixed_poison_record_is_processed_once_even_when_replayed_twice(
    bootstrap: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = ProducerSettings(kafka_bootstrap_servers=bootstrap)
    asyncio.run(kafka.create_topics(settings))
    app_id = p.unique_app_id("dlqreplay")
    topics = [*contract.SOURCE_TOPICS, contract.ORDER_LIFECYCLE]
    before = asyncio.run(p.snapshot(settings, [*topics, contract.DLQ]))
    starts = {TopicPartition(t, n): o for (t, n), o in before.items() if t in topics}
    asyncio.run(start_groups_at(settings, f"{app_id}-worker", starts))
    worker = p.Worker(app_id, bootstrap, tmp_path, agents="sequencer,loyalty").start()
    env = {**os.environ, "ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS": bootstrap}
    customer, order, pay_id = f"cr-{uuid.uuid4().hex[:8]}", f"or-{uuid.uuid4().hex[:8]}", str(uuid.uuid4())
    created = {"total_cents": AMOUNT, "currency": "EUR", "region": "eu-west", "channel": "web",
               "is_test": False, "items": []}  # fmt: skip
    captured = {"amount_cents": AMOUNT, "currency": "EUR", "payment_id": "p-1"}
    poison = _event(
        customer, order, 2, "payment.captured", {**captured, "amount_cents": AMOUNT / 100}, pay_id
    )
    try:
        p.wait_http(f"{worker.url}/health", ready_key="ready")
        asyncio.run(
            produce(settings, [
                Record(contract.ORDERS, customer.encode(), _event(customer, order, 1, "order.created", created,
                       str(uuid.uuid4())), "valid"),
                Record(contract.PAYMENTS, customer.encode(), poison, "poison"),
            ])
        )  # fmt: skip

        def parked() -> list[dlq_tools.DlqEntry]:
            entries = asyncio.run(
                dlq_tools.read_dlq(settings, dlq_tools.Selection(reason="schema_violation"))
            )
            return [e for e in entries if e.key == customer.encode()]

        [entry] = _wait(parked)
        assert entry.letter.stage == "sequencer" and entry.letter.source_topic == contract.PAYMENTS
        listed = _cli("dlq", "list", "--reason", "schema_violation", "--json", "--limit", "0", env=env)
        assert any(orjson.loads(line)["key"] == customer for line in listed.splitlines())

        fixed = tmp_path / "fixed.json"
        fixed.write_bytes(_event(customer, order, 2, "payment.captured", captured, pay_id))
        at = f"{entry.partition}:{entry.offset}"
        assert "would replay" in _cli(
            "dlq", "replay", "--at", at, "--value-file", str(fixed), "--dry-run", env=env
        )
        assert "replayed 1" in _cli("dlq", "replay", "--at", at, "--value-file", str(fixed), env=env)

        def balance() -> dict[str, Any] | None:
            try:
                body: dict[str, Any] = p.get_json(f"{worker.url}/loyalty/{customer}")
            except OSError:
                return None
            return body if body.get("points") else None

        assert _wait(balance)["points"] == AMOUNT // 100
        duplicates_before = p.get_json(f"{worker.url}/counters").get("sequencer.duplicates", 0)
        assert "replayed 1" in _cli("dlq", "replay", "--at", at, "--value-file", str(fixed), env=env)
        _wait(lambda: p.get_json(f"{worker.url}/counters").get("sequencer.duplicates", 0) > duplicates_before)
        time.sleep(1)
        assert p.get_json(f"{worker.url}/loyalty/{customer}")["points"] == AMOUNT // 100
        assert "replay cap reached" in _cli("dlq", "replay", "--at", at, "--max-replays", "0", env=env)
    finally:
        worker.stop()
    lifecycle = asyncio.run(p.records_since(settings, contract.ORDER_LIFECYCLE, before))
    ours = [orjson.loads(r.value) for r in lifecycle if orjson.loads(r.value)["order_id"] == order]
    assert [e["event_type"] for e in ours] == ["order.created", "payment.captured"]
    replayed = [
        r
        for r in asyncio.run(p.records_since(settings, contract.PAYMENTS, before))
        if r.key == customer.encode()
    ]
    counts = [dict(r.headers).get(dlq_tools.H_REPLAYS) for r in replayed]
    assert counts == [None, b"1", b"1"]  # the poison, then two replays of the same DLQ record


def test_loyalty_group_reset_dry_run_execute_and_refusal_while_active(bootstrap: str) -> None:
    from orderstream import replay

    settings = ProducerSettings(kafka_bootstrap_servers=bootstrap)
    asyncio.run(kafka.create_topics(settings))
    group = f"{p.unique_app_id('reset')}-loyalty"
    topic = contract.ORDER_LIFECYCLE
    ends = asyncio.run(p.snapshot(settings, [topic]))
    asyncio.run(start_groups_at(settings, group, {TopicPartition(t, n): o for (t, n), o in ends.items()}))

    earliest = asyncio.run(replay.plan(settings, group, [topic], replay.Target(earliest=True)))
    assert {(m.partition, m.current) for m in earliest} == {(n, o) for (_, n), o in ends.items()}
    assert all(m.rereads == m.end - m.target and m.shift == m.current - m.target for m in earliest)
    unchanged = asyncio.run(replay.plan(settings, group, [topic], replay.Target(earliest=True)))
    positions = [(m.partition, m.current, m.target) for m in earliest]
    assert [(m.partition, m.current, m.target) for m in unchanged] == positions  # a dry run moves nothing

    asyncio.run(replay.apply(settings, group, earliest))
    after = asyncio.run(replay.plan(settings, group, [topic], replay.Target(earliest=True)))
    assert all(m.current == m.target for m in after)
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    future = asyncio.run(replay.plan(settings, group, [topic], replay.Target(at=tomorrow)))
    assert all(m.target == m.end and m.rereads == 0 for m in future)

    async def reset_while_member_is_live() -> None:
        consumer = kafka.consumer(settings, topic, group_id=group)
        await consumer.start()
        try:
            await consumer.getmany(timeout_ms=3000)  # joins the group
            with pytest.raises(replay.ReplayError, match="live member"):
                await replay.apply(settings, group, earliest)
        finally:
            await consumer.stop()

    asyncio.run(reset_while_member_is_live())
