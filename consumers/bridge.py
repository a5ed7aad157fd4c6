"""The EventBridge bridge: consume → select → batch → publish → commit.

One consume loop fetches records, decides for each one (not selected → settled at once; unmappable →
DLQ; selected → an entry queued behind earlier records of its key) and commits what is safe. One pump task
turns eligible entries into PutEvents requests, at most ``bridge_max_in_flight`` at a time and paced by
:class:`AdaptiveRate`. Each request's outcome is handled per entry: accepted → settled; throttled or
internal → retried after a full-jitter backoff, still blocking later records of its key; rejected → DLQ.

A partition's offset is committed only up to the first record that is not settled, so a crash (even
``kill -9``) re-reads and resends instead of losing; the duplicates that can cause keep their event_id.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import CommitFailedError, KafkaError

from consumers.eventbridge import (
    AdaptiveRate,
    Entry,
    EntryResult,
    PutEventsClient,
    Verdict,
    entry_size,
    full_jitter,
)
from consumers.mapping import (
    KafkaOrigin,
    Unmappable,
    build_entry,
    claim_check_entry,
    claim_check_key,
    decode,
)
from consumers.metrics import BridgeMetrics, MetricsServer
from consumers.tracking import TP, KeyedQueue, OffsetTracker
from orderstream import gc_tuning, kafka
from orderstream.domain import contract
from orderstream.domain.dlq import DeadLetter
from orderstream.domain.rules import BridgeRuleSet, RulesFileError, load_bridge_rules
from orderstream.errors import ConfigError, OrderstreamError
from orderstream.preflight import check_broker
from orderstream.settings import BridgeSettings

log = logging.getLogger("orderstream.bridge")

STAGE = "bridge"
OrderKey = tuple[str, bytes | int | None]


@dataclass(frozen=True)
class BridgeOptions:
    """Tuning knobs that are not deployment settings (tests and the benchmark change them)."""

    max_buffered: int = 20_000
    """Open (fetched, unsettled) records above which fetching pauses."""
    fetch_max_records: int = 500
    """Records taken per fetch; the sender gets the event loop between fetches."""
    commit_interval: float = 1.0
    max_transient_attempts: int = 12
    """Internal/unknown errors are retried this many times, then parked in the DLQ; throttling never gives up."""
    put_read_timeout: float = 10.0
    backoff_base: float = 0.05
    backoff_cap: float = 5.0
    dlq_topic: str = contract.DLQ
    rate_ceiling: float = 100_000.0


@dataclass(eq=False, slots=True)
class Pending:
    """A selected record on its way to EventBridge."""

    origin: KafkaOrigin
    tp: TP
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    entry: Entry
    order_key: OrderKey
    size: int
    attempts: int = 0


@dataclass
class _Runtime:
    """What exists only while the bridge runs."""

    consumer: AIOKafkaConsumer
    producer: AIOKafkaProducer
    stopping: bool = False
    in_flight: set[asyncio.Task[None]] = field(default_factory=set)
    retry_timers: set[asyncio.TimerHandle] = field(default_factory=set)


class Bridge:
    """Kafka → EventBridge with per-entry retries, per-key order and commit-after-settle."""

    def __init__(
        self,
        settings: BridgeSettings,
        rules: BridgeRuleSet,
        *,
        options: BridgeOptions | None = None,
        put_client: PutEventsClient | None = None,
        s3_client: Any = None,
        metrics: BridgeMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.rules = rules
        self.options = options or BridgeOptions()
        self.client = put_client or PutEventsClient(
            settings.eventbridge_api,
            region=settings.aws_region,
            endpoint_url=settings.aws_endpoint_url,
            max_in_flight=settings.bridge_max_in_flight,
            read_timeout=self.options.put_read_timeout,
        )
        self._s3 = s3_client
        self.metrics = metrics or BridgeMetrics()
        self.rate = AdaptiveRate(ceiling=self.options.rate_ceiling)
        self.tracker = OffsetTracker()
        self._keys: KeyedQueue[OrderKey, Pending] = KeyedQueue()
        self._ready: deque[Pending] = deque()
        self._wake = asyncio.Event()
        self._slots = asyncio.Semaphore(settings.bridge_max_in_flight)
        self._selected: Counter[tuple[str, str]] = Counter()
        """Selections per (topic, rule) since the metric was last updated (once per fetched batch)."""
        self._rt: _Runtime | None = None

    @property
    def group_id(self) -> str:
        return f"{self.settings.app_id}-bridge"

    # ----------------------------------------------------------------------------------------- lifecycle

    async def run_until(self, stop: asyncio.Event) -> None:
        """Run until ``stop`` is set, then drain within the stop timeout and commit what is safe."""
        consumer = kafka.consumer(self.settings, group_id=self.group_id)
        producer = kafka.producer(self.settings)
        consumer.subscribe(self.settings.topic_list, listener=_CommitOnRevoke(self))
        await producer.start()
        try:
            await consumer.start()
        except BaseException:
            await producer.stop()
            raise
        self._rt = _Runtime(consumer, producer)
        pump = asyncio.create_task(self._pump(), name="bridge-pump")
        try:
            await self._consume(stop)
        finally:
            await self._drain()
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
            await self._commit()
            await consumer.stop()
            await producer.stop()
            await self.client.aclose()
            self._rt = None

    async def _consume(self, stop: asyncio.Event) -> None:
        rt = self._runtime()
        last_commit = time.monotonic()
        while not stop.is_set():
            self._apply_backpressure()
            batches = await rt.consumer.getmany(timeout_ms=200, max_records=self.options.fetch_max_records)
            for tp, records in batches.items():
                self.metrics.record_in(tp.topic, len(records))
                partition: TP = (tp.topic, tp.partition)
                for record in records:
                    diverted = self._ingest(partition, record)
                    if diverted is not None:  # rare: DLQ or claim check, done before the next record
                        await self._divert(partition, record, *diverted)
            self._count_selected()
            self.metrics.heartbeat()
            await asyncio.sleep(0)  # the sender gets the loop before the next fetch is read
            if time.monotonic() - last_commit >= self.options.commit_interval:
                await self._commit()
                self._update_lag()
                last_commit = time.monotonic()

    async def _drain(self) -> None:
        """Stop sending new requests, give in-flight ones the stop timeout, abandon the rest."""
        rt = self._runtime()
        rt.stopping = True
        for timer in rt.retry_timers:
            timer.cancel()
        self._wake.set()
        if rt.in_flight:
            _done, late = await asyncio.wait(set(rt.in_flight), timeout=self.settings.bridge_stop_timeout)
            for task in late:
                task.cancel()
            if late:
                log.warning("abandoned %d PutEvents request(s) at shutdown; they will be resent", len(late))
        self._keys.clear()
        self._ready.clear()

    def _runtime(self) -> _Runtime:
        if self._rt is None:
            raise RuntimeError("the bridge is not running")
        return self._rt

    # ----------------------------------------------------------------------------------------- consume side

    def _apply_backpressure(self) -> None:
        consumer = self._runtime().consumer
        if self.tracker.pending() >= self.options.max_buffered:
            consumer.pause(*consumer.assignment())
        elif consumer.paused():
            consumer.resume(*consumer.paused())

    def _ingest(
        self, tp: TP, record: ConsumerRecord[bytes, bytes]
    ) -> tuple[KafkaOrigin, Unmappable | tuple[Entry, dict[str, Any]]] | None:
        """Settle or queue one record without awaiting; what needs I/O first (DLQ, S3) is returned."""
        origin = KafkaOrigin(record.topic, record.partition, record.offset, record.key)
        self.tracker.add(tp, origin.offset)
        outcome = self._map(origin, record.value)
        if outcome is None:
            self.tracker.settle(tp, origin.offset)
            return None
        if isinstance(outcome, Unmappable):
            return origin, outcome
        entry = outcome[0]
        size = entry_size(entry)
        if size > self.client.limits.max_bytes:
            return origin, outcome
        self._queue(origin, tp, record, entry, size)
        return None

    async def _divert(
        self,
        tp: TP,
        record: ConsumerRecord[bytes, bytes],
        origin: KafkaOrigin,
        outcome: Unmappable | tuple[Entry, dict[str, Any]],
    ) -> None:
        """An unmappable record goes to the DLQ; an oversized entry to S3 (claim check) or the DLQ."""
        if isinstance(outcome, Unmappable):
            await self._park(origin, record.value, record.headers, outcome.reason, outcome.message)
            return
        entry, envelope = outcome
        claimed = await self._claim_check(entry, envelope, origin)
        if claimed is None:
            size, limit = entry_size(entry), self.client.limits.max_bytes
            message = f"entry is {size} bytes, over the {limit}-byte request limit"
            await self._park(origin, record.value, record.headers, "oversized", message)
            return
        self._queue(origin, tp, record, claimed, entry_size(claimed))

    def _queue(
        self, origin: KafkaOrigin, tp: TP, record: ConsumerRecord[bytes, bytes], entry: Entry, size: int
    ) -> None:
        """Behind the earlier records of its key; ready at once when it is the first."""
        order_key: OrderKey = (origin.topic, origin.key if origin.key is not None else origin.partition)
        pending = Pending(origin, tp, record.value, record.headers, entry, order_key, size)
        if self._keys.push(order_key, pending):
            self._ready.append(pending)
            self._wake.set()

    def _map(
        self, origin: KafkaOrigin, value: bytes | None
    ) -> tuple[Entry, dict[str, Any]] | Unmappable | None:
        """The entry for a record, None when no rule selects it, or why it cannot be mapped."""
        envelope = decode(value)
        if isinstance(envelope, Unmappable):
            return envelope
        rule = self.rules.select(origin.topic, envelope)
        if rule is None:
            return None
        self._selected[origin.topic, rule.name] += 1
        try:
            entry = build_entry(rule, envelope, origin, self.settings.event_bus)
        except Exception as exc:  # a value shape no rule author foresaw must not stop the partition
            return Unmappable("unmappable", f"{type(exc).__name__}: {exc}")
        return entry if isinstance(entry, Unmappable) else (entry, envelope)

    def _count_selected(self) -> None:
        for (topic, rule), count in self._selected.items():
            self.metrics.record_selected(topic, rule, count)
        self._selected.clear()

    async def _claim_check(self, entry: Entry, envelope: dict[str, Any], origin: KafkaOrigin) -> Entry | None:
        """Store the full detail in S3 and return a small entry pointing at it (None: no bucket configured)."""
        bucket = self.settings.bridge_claim_check_bucket
        if not bucket:
            return None
        key = claim_check_key(origin, envelope)
        body = entry.detail.encode("utf-8")
        await asyncio.to_thread(
            self._s3_client().put_object, Bucket=bucket, Key=key, Body=body, ContentType="application/json"
        )
        self.metrics.claim_checks.inc()
        return claim_check_entry(entry, envelope, origin, bucket, key)

    def _s3_client(self) -> Any:
        if self._s3 is None:
            import boto3

            self._s3 = boto3.session.Session().client(
                "s3", region_name=self.settings.aws_region, endpoint_url=self.settings.aws_endpoint_url
            )
        return self._s3

    # ----------------------------------------------------------------------------------------- send side

    async def _pump(self) -> None:
        """Turn eligible entries into requests while slots and rate allow."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._ready and not self._runtime().stopping:
                await self._slots.acquire()
                batch = self._take_batch()
                if not batch:
                    self._slots.release()
                    break
                await self.rate.acquire(len(batch))
                self._launch(batch)

    def _take_batch(self) -> list[Pending]:
        """The next request: ready entries in order, within the API limits (V2: one bus per request)."""
        limits = self.client.limits
        one_bus = self.client.mode == "v2"
        batch: list[Pending] = []
        skipped: list[Pending] = []
        used = 0
        while self._ready and len(batch) < limits.max_entries and len(skipped) < 2 * limits.max_entries:
            candidate = self._ready.popleft()
            size = candidate.size
            if batch and (
                used + size > limits.max_bytes or (one_bus and candidate.entry.bus != batch[0].entry.bus)
            ):
                skipped.append(candidate)
                continue
            batch.append(candidate)
            used += size
        self._ready.extendleft(reversed(skipped))
        return batch

    def _launch(self, batch: list[Pending]) -> None:
        rt = self._runtime()
        task = asyncio.create_task(self._send(batch))
        rt.in_flight.add(task)
        task.add_done_callback(rt.in_flight.discard)

    async def _send(self, batch: list[Pending]) -> None:
        self.metrics.in_flight.inc()
        try:
            started = time.perf_counter()
            results = await self.client.put([p.entry for p in batch])
            self.metrics.put_seconds.observe(time.perf_counter() - started)
            self._adapt_rate(results)
            accepted = 0
            for pending, result in zip(batch, results, strict=True):
                if result.error_code is None:  # the common case, kept free of per-entry awaits
                    accepted += 1
                    self._settle(pending)
                else:
                    await self._handle(pending, result)
            if accepted:
                self.metrics.record_result("ok", accepted)
        finally:
            self.metrics.in_flight.dec()
            self._slots.release()
            self._wake.set()

    def _adapt_rate(self, results: list[EntryResult]) -> None:
        if any(result.throttled for result in results):
            self.rate.on_throttled()
        elif all(result.verdict is Verdict.ACCEPTED for result in results):
            self.rate.on_success()
        self.metrics.rate.set(self.rate.rate)

    async def _handle(self, pending: Pending, result: EntryResult) -> None:
        """A failed entry: retry it later or park it in the DLQ."""
        code = result.error_code or "ok"
        self.metrics.record_result(code)
        verdict = result.verdict
        if verdict is Verdict.ACCEPTED:
            self._settle(pending)
        elif verdict is Verdict.RETRY and (
            result.throttled or pending.attempts < self.options.max_transient_attempts
        ):
            self._schedule_retry(pending, code)
        else:
            reason = "rejected" if verdict is Verdict.REJECT else "retries_exhausted"
            message = f"{code}: {result.message}".strip()
            if await self._park(pending.origin, pending.value, pending.headers, reason, message):
                self._settle(pending)

    def _schedule_retry(self, pending: Pending, code: str) -> None:
        rt = self._runtime()
        if rt.stopping:
            return  # abandoned: not settled, so not committed, so resent after restart
        pending.attempts += 1
        self.metrics.retries.labels(code).inc()
        delay = full_jitter(pending.attempts, base=self.options.backoff_base, cap=self.options.backoff_cap)

        def requeue() -> None:
            rt.retry_timers.discard(timer)
            self._ready.appendleft(pending)  # it is still the head of its key: let it go first
            self._wake.set()

        timer = asyncio.get_running_loop().call_later(delay, requeue)
        rt.retry_timers.add(timer)

    def _settle(self, pending: Pending) -> None:
        self.tracker.settle(pending.tp, pending.origin.offset)
        following = self._keys.pop_head(pending.order_key)
        if following is not None:
            self._ready.append(following)
            self._wake.set()

    # ----------------------------------------------------------------------------------------- DLQ, commits

    async def _park(
        self,
        origin: KafkaOrigin,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]],
        reason: str,
        message: str,
    ) -> bool:
        """Write the original record to the DLQ with the reason; settle it once the DLQ has it."""
        rt = self._runtime()
        letter = DeadLetter(STAGE, reason, message, origin.topic, origin.partition, origin.offset)
        attempt = 0
        while True:
            try:
                await rt.producer.send_and_wait(
                    self.options.dlq_topic, value=value, key=origin.key, headers=letter.headers(headers)
                )
                break
            except KafkaError as exc:
                attempt += 1
                if rt.stopping:
                    log.error("DLQ write abandoned at shutdown (%s); the record will be read again", exc)
                    return False
                await asyncio.sleep(full_jitter(attempt, base=0.1, cap=5.0))
        self.metrics.dlq.labels(reason).inc()
        log.warning(
            "parked %s[%d]@%d in the DLQ: %s: %s", *origin.as_detail().values(), reason, message[:200]
        )
        self.tracker.settle((origin.topic, origin.partition), origin.offset)
        return True

    async def _commit(self) -> None:
        positions = self.tracker.to_commit()
        if not positions or self._rt is None:
            return
        offsets = {
            TopicPartition(topic, partition): offset for (topic, partition), offset in positions.items()
        }
        try:
            await self._rt.consumer.commit(offsets)
        except (CommitFailedError, KafkaError) as exc:
            log.warning("commit failed (%s); it is retried at the next interval", exc)
            return
        self.tracker.mark_committed(positions)

    def _update_lag(self) -> None:
        consumer = self._runtime().consumer
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            safe = self.tracker.safe_offset((tp.topic, tp.partition))
            if high is not None and safe is not None:
                self.metrics.lag.labels(tp.topic, str(tp.partition)).set(max(0, high - safe))

    async def on_revoked(self, revoked: list[TopicPartition]) -> None:
        """Commit what is safe for partitions we lose; late results for them no longer count."""
        await self._commit()
        self.tracker.forget((tp.topic, tp.partition) for tp in revoked)


class _CommitOnRevoke(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, bridge: Bridge) -> None:
        self._bridge = bridge

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        await self._bridge.on_revoked(list(revoked))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        log.info("assigned %s", sorted(f"{tp.topic}[{tp.partition}]" for tp in assigned))


# --------------------------------------------------------------------------------------------- entry point


EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2
"""As every orderstream command: stopped cleanly, failed while running, misconfigured."""


def run(settings: BridgeSettings) -> int:
    """``orderstream bridge``: run until SIGTERM/SIGINT, drain, commit, return the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        rules = BridgeRuleSet(load_bridge_rules(settings.bridge_rules))
    except RulesFileError as exc:
        print(f"orderstream: config error: ORDERSTREAM_BRIDGE_RULES: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    unheard = sorted(set(rules.source_topics) - set(settings.topic_list))
    if unheard:
        log.warning("rules name topics the bridge does not subscribe to: %s", ", ".join(unheard))
    try:
        return asyncio.run(_serve(settings, rules))
    except ConfigError as exc:
        print(f"orderstream: config error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except (OrderstreamError, KafkaError) as exc:
        print(f"bridge: {exc}", file=sys.stderr)
        return EXIT_FAILURE


async def _serve(settings: BridgeSettings, rules: BridgeRuleSet) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await check_broker(settings)  # a config mistake is one line and exit 2, not a retry loop
    bridge = Bridge(settings, rules)
    server = None
    if settings.metrics_port:
        server = MetricsServer(bridge.metrics, settings.metrics_port, host=settings.metrics_host)
        try:
            await server.start()
        except OSError as exc:
            raise ConfigError(
                "ORDERSTREAM_METRICS_PORT",
                f"cannot listen on {settings.metrics_host}:{settings.metrics_port}: {exc.strerror or exc}",
            ) from None
    gc_tuning.tune()
    try:
        await bridge.run_until(stop)
    finally:
        if server is not None:
            await server.stop()
    log.info("bridge stopped cleanly")
    return EXIT_OK
