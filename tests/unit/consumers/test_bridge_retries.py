"""The bridge's outage and DLQ behaviour with fakes for Kafka and PutEvents: retriable failures are retried
without an attempt limit, rejections of one result are parked in one DLQ write and settled only once it is
acknowledged, failed DLQ writes are retried, oversized DLQ values are truncated, and readiness follows
the endpoint and the broker."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiokafka import TopicPartition
from aiokafka.errors import KafkaTimeoutError, MessageSizeTooLargeError

from consumers.bridge import Bridge, BridgeOptions, _Runtime
from consumers.eventbridge import CLASSIC_LIMITS, UNKNOWN_OUTCOME, Entry, EntryResult
from consumers.metrics import BridgeMetrics, Link, Readiness
from orderstream.domain.dlq import H_ORIGINAL_SHA256, H_ORIGINAL_SIZE, H_TRUNCATED, DeadLetter
from orderstream.domain.rules import BridgeRuleSet, load_bridge_rules
from orderstream.settings import BridgeSettings

RULES = Path(__file__).resolve().parents[3] / "rules" / "bridge.yaml"
TOPIC = "order-lifecycle"

# --------------------------------------------------------------------------------------------- fakes


class ScriptedPutEvents:
    """PutEvents that answers from a script: a callable of (call number, entries) → results."""

    mode = "classic"
    limits = CLASSIC_LIMITS

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.calls: list[list[Entry]] = []

    async def put(self, entries: Sequence[Entry]) -> list[EntryResult]:
        self.calls.append(list(entries))
        await asyncio.sleep(0)
        results: list[EntryResult] = self.answer(len(self.calls), list(entries))
        return results

    async def aclose(self) -> None:
        return None


@dataclass
class FakeProducer:
    """``send`` returns a future the way aiokafka's does; failures and a size limit can be injected."""

    fail_first: int = 0
    """This many sends fail (as a timeout) before any succeeds."""
    refuse_above: int | None = None
    """Values longer than this are refused by the 'broker' (MessageSizeTooLargeError from the future)."""
    hold: bool = False
    """Leave futures unresolved until :meth:`release`."""
    sent: list[tuple[str, bytes | None, bytes | None, list[tuple[str, bytes]]]] = field(default_factory=list)
    acked: list[bytes | None] = field(default_factory=list)
    outstanding: int = 0
    max_outstanding: int = 0
    _held: list[tuple[asyncio.Future[Any], bytes | None]] = field(default_factory=list)

    async def send(
        self, topic: str, value: bytes | None = None, key: bytes | None = None, headers: Any = None
    ) -> asyncio.Future[Any]:
        self.sent.append((topic, key, value, list(headers or [])))
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.outstanding += 1
        self.max_outstanding = max(self.max_outstanding, self.outstanding)
        if self.hold:
            self._held.append((future, value))
        else:
            asyncio.get_running_loop().call_soon(self._resolve, future, value)
        return future

    def _resolve(self, future: asyncio.Future[Any], value: bytes | None) -> None:
        self.outstanding -= 1
        if self.fail_first > 0:
            self.fail_first -= 1
            future.set_exception(KafkaTimeoutError())
        elif self.refuse_above is not None and value is not None and len(value) > self.refuse_above:
            future.set_exception(MessageSizeTooLargeError())
        else:
            self.acked.append(value)
            future.set_result(None)

    def release(self) -> None:
        held, self._held = self._held, []
        for future, value in held:
            self._resolve(future, value)


class FakeCoordinator:
    coordinator_id: int | None = 1


class FakeConsumer:
    def __init__(self, batches: list[dict[Any, list[Any]]] | None = None, stop: asyncio.Event | None = None):
        self._coordinator = FakeCoordinator()
        self._batches = list(batches or [])
        self._stop = stop
        self.commits: list[dict[Any, int]] = []
        self.commit_error: Exception | None = None

    def assignment(self) -> set[Any]:
        return set()

    def paused(self) -> set[Any]:
        return set()

    def pause(self, *_tps: Any) -> None: ...

    def resume(self, *_tps: Any) -> None: ...

    def highwater(self, _tp: Any) -> int | None:
        return None

    async def getmany(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, list[Any]]:
        if self._batches:
            return self._batches.pop(0)
        if self._stop is not None:
            self._stop.set()
        await asyncio.sleep(0)
        return {}

    async def commit(self, offsets: dict[Any, int]) -> None:
        if self.commit_error is not None:
            raise self.commit_error
        self.commits.append(dict(offsets))


@dataclass
class Record:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]] = ()


def envelope(n: int, event_type: str = "payment.failed") -> bytes:
    return orjson.dumps(
        {
            "event_id": f"00000000-0000-0000-0000-{n:012d}",
            "event_type": event_type,
            "schema_version": 1,
            "occurred_at": "2025-01-01T12:00:00Z",
            "order_id": f"o-{n}",
            "customer_id": f"c-{n}",
            "sequence": 3,
            "data": {"reason": "card"},
        }
    )


def make_bridge(
    put: ScriptedPutEvents,
    producer: FakeProducer,
    consumer: FakeConsumer | None = None,
    **options: Any,
) -> Bridge:
    settings = BridgeSettings(bridge_topics=TOPIC, bridge_rules=RULES, metrics_port=0)
    defaults: dict[str, Any] = {"backoff_base": 0.0005, "backoff_cap": 0.002, "dlq_topic": "dlq"}
    bridge = Bridge(
        settings,
        BridgeRuleSet(load_bridge_rules(RULES)),
        options=BridgeOptions(**{**defaults, **options}),
        put_client=put,  # type: ignore[arg-type]
    )
    bridge._rt = _Runtime(consumer or FakeConsumer(), producer)  # type: ignore[arg-type]
    return bridge


def feed(bridge: Bridge, count: int, partition: int = 0) -> list[Record]:
    """Ingest ``count`` selected records (as the consume loop does) and return them."""
    records = [Record(TOPIC, partition, n, f"c-{n}".encode(), envelope(n)) for n in range(count)]
    for record in records:
        assert bridge._ingest((TOPIC, partition), record) is None  # type: ignore[arg-type]
    return records


async def until(condition: Any, within: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.001)


async def pumping(bridge: Bridge) -> asyncio.Task[None]:
    return asyncio.create_task(bridge._pump())


async def stop_pump(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# --------------------------------------------------------------------------------------------- retries


async def test_a_long_outage_is_retried_past_any_attempt_count_and_nothing_is_parked() -> None:
    """Connection refused for 40 calls in a row (the old code gave up after 12 and parked the entry)."""

    def answer(call: int, entries: list[Entry]) -> list[EntryResult]:
        if call <= 40:
            return [EntryResult(UNKNOWN_OUTCOME, "ClientConnectorError: connection refused")] * len(entries)
        return [EntryResult()] * len(entries)

    put, producer = ScriptedPutEvents(answer), FakeProducer()
    bridge = make_bridge(put, producer)
    feed(bridge, 1)
    pump = await pumping(bridge)
    try:
        await until(lambda: bridge.tracker.safe_offset((TOPIC, 0)) == 1)
    finally:
        await stop_pump(pump)
    assert len(put.calls) == 41
    assert producer.sent == []
    assert bridge.metrics.retries.labels(UNKNOWN_OUTCOME)._value.get() == 40


@pytest.mark.parametrize("code", ["ServiceUnavailable", "InternalFailure", "ThrottlingException"])
async def test_every_retriable_code_keeps_the_entry_and_its_offset_open(code: str) -> None:
    put = ScriptedPutEvents(lambda _call, entries: [EntryResult(code, "x")] * len(entries))
    producer = FakeProducer()
    bridge = make_bridge(put, producer)
    feed(bridge, 3)
    pump = await pumping(bridge)
    try:
        await until(lambda: len(put.calls) >= 30)
    finally:
        await stop_pump(pump)
    assert producer.sent == []
    assert bridge.tracker.pending() == 3 and bridge.tracker.safe_offset((TOPIC, 0)) is None


async def test_retries_keep_per_key_order() -> None:
    """Two records of one key: the second is not sent before the first, retried many times, is accepted."""

    def answer(call: int, entries: list[Entry]) -> list[EntryResult]:
        return [EntryResult(UNKNOWN_OUTCOME, "down") if call <= 20 else EntryResult()] * len(entries)

    put, producer = ScriptedPutEvents(answer), FakeProducer()
    bridge = make_bridge(put, producer)
    for offset, n in enumerate((1, 2)):
        record = Record(TOPIC, 0, offset, b"same-key", envelope(n))
        assert bridge._ingest((TOPIC, 0), record) is None  # type: ignore[arg-type]
    pump = await pumping(bridge)
    try:
        await until(lambda: bridge.tracker.safe_offset((TOPIC, 0)) == 2)
    finally:
        await stop_pump(pump)
    sent_ids = [orjson.loads(e.detail)["order_id"] for call in put.calls for e in call]
    assert sent_ids == ["o-1"] * 21 + ["o-2"]


# --------------------------------------------------------------------------------------------- DLQ


def rejecting(indexes: set[int]) -> Any:
    def answer(_call: int, entries: list[Entry]) -> list[EntryResult]:
        return [
            EntryResult("InvalidArgument", "bad") if i in indexes else EntryResult()
            for i in range(len(entries))
        ]

    return answer


async def test_rejections_of_one_result_are_one_dlq_write_and_settle_only_when_acknowledged() -> None:
    put, producer = ScriptedPutEvents(rejecting({1, 3, 5, 7})), FakeProducer(hold=True)
    bridge = make_bridge(put, producer)
    feed(bridge, 10)
    pump = await pumping(bridge)
    try:
        await until(lambda: len(producer.sent) == 4)
        await asyncio.sleep(0.01)
        assert bridge.tracker.safe_offset((TOPIC, 0)) == 1  # offset 1 is parked but not yet durable
        assert producer.max_outstanding == 4  # all four were sent before any acknowledgement was awaited
        producer.release()
        await until(lambda: bridge.tracker.safe_offset((TOPIC, 0)) == 10)
    finally:
        await stop_pump(pump)
    letters = [DeadLetter.from_headers(headers) for _t, _k, _v, headers in producer.sent]
    assert [letter.source_offset for letter in letters] == [1, 3, 5, 7]
    assert {letter.error_type for letter in letters} == {"rejected"}
    assert bridge.metrics.dlq.labels("rejected")._value.get() == 4


async def test_unmappable_records_of_one_fetched_batch_are_written_together() -> None:
    stop = asyncio.Event()
    records = [Record(TOPIC, 0, n, b"k", b"{not json") for n in range(50)]
    consumer = FakeConsumer([{TopicPartition(TOPIC, 0): records}], stop=stop)
    put, producer = ScriptedPutEvents(rejecting(set())), FakeProducer()
    bridge = make_bridge(put, producer, consumer)
    await bridge._consume(stop)
    assert len(producer.acked) == 50
    assert producer.max_outstanding == 50  # one batch of sends, then one wait (was one send_and_wait each)
    assert bridge.tracker.safe_offset((TOPIC, 0)) == 50


async def test_failed_dlq_writes_are_retried_until_durable() -> None:
    put, producer = ScriptedPutEvents(rejecting({0, 1, 2})), FakeProducer(fail_first=5)
    bridge = make_bridge(put, producer)
    feed(bridge, 3)
    pump = await pumping(bridge)
    try:
        await until(lambda: bridge.tracker.safe_offset((TOPIC, 0)) == 3)
    finally:
        await stop_pump(pump)
    assert len(producer.acked) == 3 and len(producer.sent) == 8
    assert bridge.metrics.dlq_write_retries._value.get() == 5


async def test_a_dlq_write_that_never_succeeds_leaves_the_record_unsettled_at_shutdown() -> None:
    put, producer = ScriptedPutEvents(rejecting({0})), FakeProducer(fail_first=10**9)
    bridge = make_bridge(put, producer)
    feed(bridge, 2)
    pump = await pumping(bridge)
    try:
        await until(lambda: len(producer.sent) >= 3)
        bridge._runtime().stopping = True
        await until(lambda: not bridge._runtime().in_flight)
    finally:
        await stop_pump(pump)
    assert bridge.tracker.safe_offset((TOPIC, 0)) is None  # never committed past the record not parked
    assert bridge.tracker.pending() == 1  # offset 1 was accepted; offset 0 stays open


async def test_a_value_too_big_for_the_dlq_goes_there_truncated_with_headers() -> None:
    producer = FakeProducer(refuse_above=300_000)  # the broker's limit is lower than the bridge's
    bridge = make_bridge(ScriptedPutEvents(rejecting(set())), producer, dlq_max_bytes=1_000_000)
    big = b"{" + b"x" * 2_000_000  # not JSON: unmappable, and twice what the DLQ takes
    park = bridge._park_of(bridge_origin(7, b"k"), big, [("trace", b"1")], "bad_json", "not JSON")
    bridge.tracker.add((TOPIC, 0), 7)
    assert await bridge._park_all([park]) == [True]
    (_topic, key, value, headers) = producer.sent[-1]
    assert key == b"k" and value is not None and len(value) <= 300_000 and big.startswith(value)
    h = dict(headers)
    assert h[H_TRUNCATED] == b"true"
    assert h[H_ORIGINAL_SIZE] == str(len(big)).encode()
    assert h[H_ORIGINAL_SHA256] == hashlib.sha256(big).hexdigest().encode()
    assert h["trace"] == b"1" and DeadLetter.from_headers(headers).source_offset == 7
    assert len(producer.sent) >= 2  # the first, cut to the bridge's own limit, was refused by the broker
    assert bridge.tracker.safe_offset((TOPIC, 0)) == 8


def bridge_origin(offset: int, key: bytes | None) -> Any:
    from consumers.mapping import KafkaOrigin

    return KafkaOrigin(TOPIC, 0, offset, key)


async def test_a_value_that_fits_is_written_unchanged() -> None:
    producer = FakeProducer()
    bridge = make_bridge(ScriptedPutEvents(rejecting(set())), producer)
    park = bridge._park_of(bridge_origin(1, None), b"{bad", [], "bad_json", "not JSON")
    assert await bridge._park_all([park]) == [True]
    assert producer.sent[0][2] == b"{bad" and H_TRUNCATED not in dict(producer.sent[0][3])


# --------------------------------------------------------------------------------------------- readiness


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_link_is_down_only_after_failing_for_longer_than_its_grace() -> None:
    clock = Clock()
    link = Link("endpoint_unreachable", 5.0, clock)
    link.observe("UnknownOutcome: refused")
    clock.now += 4.9
    assert link.up and link.reason() is None
    link.observe("UnknownOutcome: refused")
    clock.now += 0.2
    assert not link.up
    assert link.reason() == "endpoint_unreachable: failing for 5.1 s (UnknownOutcome: refused)"
    link.observe(None)
    assert link.up and link.failing_for() == 0.0


def test_readiness_names_every_reason() -> None:
    clock = Clock()
    readiness = Readiness(endpoint_down_after=1, broker_down_after=2, clock=clock)
    assert readiness.snapshot()["status"] == "ready"
    readiness.endpoint.observe("ServiceUnavailable: x")
    readiness.broker.observe("commit failed")
    clock.now += 3
    snapshot = readiness.snapshot()
    assert snapshot["status"] == "degraded"
    assert [r.split(":")[0] for r in snapshot["reasons"]] == ["endpoint_unreachable", "broker_unreachable"]
    assert snapshot["endpoint_up"] is False and snapshot["broker_up"] is False


async def test_the_bridge_reports_the_endpoint_down_during_an_outage_and_up_after() -> None:
    clock = Clock()
    calls_down = 10

    def answer(call: int, entries: list[Entry]) -> list[EntryResult]:
        clock.now += 1.0  # each failed call takes a second of the fake clock
        if call <= calls_down:
            return [EntryResult(UNKNOWN_OUTCOME, "connection refused")] * len(entries)
        return [EntryResult()] * len(entries)

    metrics = BridgeMetrics(readiness=Readiness(clock=clock))
    put = ScriptedPutEvents(answer)
    bridge = Bridge(
        BridgeSettings(bridge_topics=TOPIC, bridge_rules=RULES, metrics_port=0),
        BridgeRuleSet(load_bridge_rules(RULES)),
        options=BridgeOptions(backoff_base=0.0005, backoff_cap=0.002, endpoint_down_after=3.0),
        put_client=put,  # type: ignore[arg-type]
        metrics=metrics,
    )
    bridge._rt = _Runtime(FakeConsumer(), FakeProducer())  # type: ignore[arg-type]
    feed(bridge, 1)
    seen: list[str] = []
    pump = await pumping(bridge)
    try:
        while bridge.tracker.safe_offset((TOPIC, 0)) != 1:
            seen.append(metrics.refresh_readiness()["status"])
            await asyncio.sleep(0.0005)
        final = metrics.refresh_readiness()
    finally:
        await stop_pump(pump)
    assert "degraded" in seen
    assert final["status"] == "ready" and metrics.ready._value.get() == 1
    assert metrics.endpoint_up._value.get() == 1


def test_the_broker_is_down_when_commits_fail_or_the_coordinator_is_unknown() -> None:
    clock = Clock()
    metrics = BridgeMetrics(readiness=Readiness(clock=clock))
    consumer = FakeConsumer()
    bridge = Bridge(
        BridgeSettings(bridge_topics=TOPIC, bridge_rules=RULES, metrics_port=0),
        BridgeRuleSet(load_bridge_rules(RULES)),
        options=BridgeOptions(broker_down_after=10.0),
        put_client=ScriptedPutEvents(rejecting(set())),  # type: ignore[arg-type]
        metrics=metrics,
    )
    bridge._rt = _Runtime(consumer, FakeProducer())  # type: ignore[arg-type]
    consumer._coordinator.coordinator_id = None
    bridge._observe_broker()
    clock.now += 11
    bridge._observe_broker()
    assert metrics.broker_up._value.get() == 0 and metrics.ready._value.get() == 0
    assert "coordinator" in metrics.readiness.reasons()[0]
    consumer._coordinator.coordinator_id = 1
    bridge._observe_broker()
    assert metrics.ready._value.get() == 1
    bridge._commit_problem = "commit failed: KafkaConnectionError"
    bridge._observe_broker()
    clock.now += 11
    bridge._observe_broker()
    assert metrics.readiness.reasons() == [
        "broker_unreachable: failing for 11.0 s (commit failed: KafkaConnectionError)"
    ]
