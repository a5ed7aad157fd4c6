"""The streams pipeline against a real broker: chaos, crashes and rebalances do not change the balances.

Each scenario produces a synthetic workload into fresh topics, runs real ``orderstream worker`` processes,
waits until their consumer groups have committed everything, then reads the loyalty table's changelog. The
oracle is the pure domain applied to the same valid events in their clean order.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import defaultdict
from pathlib import Path

import orjson
import pytest
import streams_harness as h

from orderstream.domain import contract
from orderstream.domain.dlq import DeadLetter
from orderstream.producer import produce
from orderstream.settings import ProducerSettings
from orderstream.synth import Chaos, Workload, generate

pytestmark = pytest.mark.integration

WORKLOAD = Workload(events=20_000, customers=500, seed=2026)
CHAOS = Chaos(duplicate_pct=5, out_of_order_pct=10, poison_pct=1)
POISON_ERROR = {
    "bad_json": "bad_json",
    "schema_violation": "schema_violation",
    "oversized": "schema_violation",
    "unsupported_version": "unsupported_version",
    "unknown_type": "unknown_type",
}
PIPELINE_TOPICS = [*contract.SOURCE_TOPICS, contract.ORDER_LIFECYCLE]


@pytest.fixture(scope="module")
def oracle() -> dict[str, dict[str, object]]:
    return h.expected_ledgers(generate(WORKLOAD))


def run_scenario(settings: ProducerSettings, tmp: Path, chaos: Chaos | None, app_id: str) -> h.Worker:
    """Fresh topics, produce everything, one worker; returns the (running) worker once all is committed."""
    asyncio.run(h.reset_topics(settings))
    report = asyncio.run(produce(settings, generate(WORKLOAD, chaos)))
    assert report.failed == 0
    worker = h.Worker(app_id, settings.kafka_bootstrap_servers, tmp).start()
    asyncio.run(h.wait_quiet(settings, {h.group_of(app_id): PIPELINE_TOPICS}))
    return worker


def test_chaos_and_clean_streams_give_the_same_balances(
    kafka_settings: ProducerSettings, tmp_path: Path, oracle: dict[str, dict[str, object]]
) -> None:
    noisy_id = h.unique_app_id("noisy")
    worker = run_scenario(kafka_settings, tmp_path, CHAOS, noisy_id)
    try:
        noisy = asyncio.run(h.ledgers_from_changelog(kafka_settings, h.group_of(noisy_id)))
        dlq = asyncio.run(h.read_topic(kafka_settings, contract.DLQ))
        sources = {
            (r.topic, r.partition, r.offset): r.value
            for topic in contract.SOURCE_TOPICS
            for r in asyncio.run(h.read_topic(kafka_settings, topic))
        }
        # Spot-check the HTTP view against the changelog while the worker is up.
        import json
        import urllib.request

        for customer in sorted(noisy)[:5]:
            with urllib.request.urlopen(f"{worker.url}/loyalty/{customer}", timeout=10) as resp:
                assert json.loads(resp.read()) == noisy[customer]
    finally:
        assert worker.stop() == 0, "worker should stop cleanly on SIGTERM"

    poison = [r for r in generate(WORKLOAD, CHAOS) if r.kind == "poison"]
    valid_values = {r.value for r in generate(WORKLOAD)}
    assert len(poison) > 100
    parked_by: dict[tuple[bytes, bytes], list] = defaultdict(list)
    for parked in dlq:
        parked_by[(parked.key, parked.value)].append(parked)
    for record in poison:
        candidates = parked_by.get((record.key, record.value))
        assert candidates, f"poison {record.poison} not in the DLQ"
        parked = candidates.pop()
        letter = DeadLetter.from_headers(parked.headers)
        assert letter.stage == "sequencer"
        assert letter.error_type == POISON_ERROR[record.poison or ""], (record.poison, letter)
        assert letter.message
        assert letter.source_topic == record.topic
        assert sources[(letter.source_topic, letter.source_partition, letter.source_offset)] == record.value
    assert not [r for r in dlq if r.value in valid_values], "a valid event was parked in the DLQ"

    clean_id = h.unique_app_id("clean")
    worker = run_scenario(kafka_settings, tmp_path, None, clean_id)
    try:
        clean = asyncio.run(h.ledgers_from_changelog(kafka_settings, h.group_of(clean_id)))
        routed = asyncio.run(h.read_topic(kafka_settings, contract.HIGH_VALUE))
    finally:
        worker.stop()
    assert noisy == clean, h.balance_diff(noisy, clean)
    assert clean == oracle, h.balance_diff(clean, oracle)

    # Router: exactly the non-test orders of 50 000 cents or more, each once, nothing else.
    created = [orjson.loads(r.value) for r in generate(WORKLOAD) if b'"order.created"' in r.value]
    expected = {
        d["event_id"] for d in created if d["data"]["total_cents"] >= 50_000 and not d["data"]["is_test"]
    }
    test_orders = {d["order_id"] for d in created if d["data"]["is_test"]}
    got = [orjson.loads(r.value) for r in routed]
    assert len(expected) > 50
    assert sorted(d["event_id"] for d in got) == sorted(expected)
    assert not [d for d in got if d["order_id"] in test_orders]


def _produce_slowly(settings: ProducerSettings, rate: float) -> None:
    asyncio.run(produce(settings, generate(WORKLOAD, CHAOS), rate=rate))


@pytest.mark.reliability
@pytest.mark.parametrize("store", ["memory", "rocksdb"])
def test_kill_9_mid_stream_then_restart_gives_identical_balances(
    kafka_settings: ProducerSettings, tmp_path: Path, oracle: dict[str, dict[str, object]], store: str
) -> None:
    asyncio.run(h.reset_topics(kafka_settings))
    app_id = h.unique_app_id(f"crash-{store}")
    env, data = {"ORDERSTREAM_STORE": store}, tmp_path / "state"
    worker = h.Worker(
        app_id, kafka_settings.kafka_bootstrap_servers, tmp_path, extra_env=env, data_dir=data
    ).start()
    producer = threading.Thread(target=_produce_slowly, args=(kafka_settings, 2500.0))
    producer.start()
    time.sleep(random.uniform(6, 11))  # the worker is mid-stream: part of the load is in, part is not
    worker.kill()
    producer.join(timeout=120)
    restarted = h.Worker(
        app_id, kafka_settings.kafka_bootstrap_servers, tmp_path, extra_env=env, data_dir=data
    ).start()
    try:
        asyncio.run(h.wait_quiet(kafka_settings, {h.group_of(app_id): PIPELINE_TOPICS}))
        balances = asyncio.run(h.ledgers_from_changelog(kafka_settings, h.group_of(app_id)))
        loyalty_events = asyncio.run(h.read_topic(kafka_settings, contract.LOYALTY_EVENTS))
    finally:
        stopped = restarted.stop()
    assert balances == oracle, h.balance_diff(balances, oracle)
    assert stopped == 0, "the restarted worker should stop cleanly on SIGTERM"
    by_id: dict[str, set[bytes]] = defaultdict(set)
    for record in loyalty_events:
        by_id[orjson.loads(record.value)["event_id"]].add(record.value)
    assert by_id, "loyalty events were emitted"
    assert all(len(values) == 1 for values in by_id.values()), "two different loyalty events share an id"


@pytest.mark.reliability
def test_exactly_once_gives_the_same_balances_and_commits_each_loyalty_event_once(
    kafka_settings: ProducerSettings, tmp_path: Path, oracle: dict[str, dict[str, object]]
) -> None:
    asyncio.run(h.reset_topics(kafka_settings))
    assert asyncio.run(produce(kafka_settings, generate(WORKLOAD, CHAOS))).failed == 0
    app_id = h.unique_app_id("eos")
    env = {"ORDERSTREAM_PROCESSING_GUARANTEE": "exactly_once"}
    worker = h.Worker(app_id, kafka_settings.kafka_bootstrap_servers, tmp_path, extra_env=env).start()
    try:
        written = frozenset({contract.ORDER_LIFECYCLE})
        quiet = h.wait_quiet(kafka_settings, {h.group_of(app_id): PIPELINE_TOPICS}, transactional=written)
        asyncio.run(quiet)
        balances = asyncio.run(h.ledgers_from_changelog(kafka_settings, h.group_of(app_id)))
    finally:
        stopped = worker.stop()
    loyalty_events = asyncio.run(
        h.read_topic(kafka_settings, contract.LOYALTY_EVENTS, isolation_level="read_committed")
    )
    assert balances == oracle, h.balance_diff(balances, oracle)
    ids = [orjson.loads(record.value)["event_id"] for record in loyalty_events]
    assert ids, "loyalty events were committed"
    # No crash and transactions: every derived event is committed exactly once.
    assert len(ids) == len(set(ids)), f"{len(ids) - len(set(ids))} loyalty events committed twice"
    assert stopped == 0, "worker should stop cleanly on SIGTERM (see streams.patches._commit_transactions)"


@pytest.mark.reliability
def test_two_workers_in_one_group_with_a_rebalance_give_the_same_balances(
    kafka_settings: ProducerSettings, tmp_path: Path, oracle: dict[str, dict[str, object]]
) -> None:
    asyncio.run(h.reset_topics(kafka_settings))
    app_id = h.unique_app_id("pair")
    first = h.Worker(app_id, kafka_settings.kafka_bootstrap_servers, tmp_path).start()
    producer = threading.Thread(target=_produce_slowly, args=(kafka_settings, 2500.0))
    producer.start()
    time.sleep(5)
    second = h.Worker(app_id, kafka_settings.kafka_bootstrap_servers, tmp_path).start()  # rebalance now
    producer.join(timeout=120)
    try:
        asyncio.run(h.wait_quiet(kafka_settings, {h.group_of(app_id): PIPELINE_TOPICS}, budget_s=180))
        balances = asyncio.run(h.ledgers_from_changelog(kafka_settings, h.group_of(app_id)))
    finally:
        first.stop()
        second.stop()
    assert balances == oracle, h.balance_diff(balances, oracle)
