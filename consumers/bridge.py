"""The EventBridge bridge: consume → select → batch → publish → commit.

One consume loop fetches records, decides for each one (not selected → settled at once; unmappable →
DLQ; selected → an entry queued behind earlier records of its key) and commits what is safe. One pump task
turns eligible entries into PutEvents requests, at most ``bridge_max_in_flight`` at a time and paced by
:class:`AdaptiveRate`. Each request's outcome is handled per entry: accepted → settled; retriable
(throttled, internal, 5xx, a connection that failed) → retried after a full-jitter backoff, for as long as
it takes, still blocking later records of its key; rejected → DLQ.

A partition's offset is committed only up to the first record that is not settled, so a crash (even
``kill -9``) re-reads and resends instead of losing; the duplicates that can cause keep their event_id.
An outage therefore waits instead of parking: nothing is given up by count, and ``/ready`` says why the
bridge is degraded. DLQ writes are batched (one fetched batch, one PutEvents result) and a record is
settled only once its DLQ copy is acknowledged; a value too big for the DLQ goes there truncated, with
headers saying so.
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
from aiokafka.errors import CommitFailedError, KafkaError, MessageSizeTooLargeError, RecordTooLargeError
from aiokafka.record.default_records import DefaultRecordBatchBuilder

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
from orderstream import gc_tuning, kafka, logfilter
from orderstream.domain import contract
from orderstream.domain.dlq import DeadLetter, truncated
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
    put_read_timeout: float = 10.0
    backoff_base: float = 0.05
    backoff_cap: float = 5.0
    """Retriable failures (connection, 5xx, throttling) are retried after ``uniform(0, min(cap, base·2^n))``
    seconds, without an attempt limit: an outage waits, it does not park."""
    endpoint_down_after: float = 5.0
    """Seconds of nothing but retriable PutEvents failures after which ``/ready`` reports the endpoint down."""
    broker_down_after: float = 10.0
    """Seconds of failing commits or an unknown group coordinator after which ``/ready`` reports the broker."""
    dlq_topic: str = contract.DLQ
    dlq_max_bytes: int = 1_000_000
    """DLQ records are kept under this size (the producer's 1 MiB request limit, less room for the batch);
    a bigger value is written truncated, with ``orderstream.truncated`` headers."""
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


@dataclass(eq=False, slots=True)
class Park:
    """A record on its way to the DLQ."""

    origin: KafkaOrigin
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    reason: str
    message: str
    limit: int
    """Size the DLQ record must fit in; halved when the broker still refuses it as too large."""


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
        readiness = self.metrics.readiness
        readiness.endpoint.down_after = self.options.endpoint_down_after
        readiness.broker.down_after = self.options.broker_down_after
        self._commit_problem: str | None = None
        self._last_status = "ready"
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
            parks: list[Park] = []
            for tp, records in batches.items():
                self.metrics.record_in(tp.topic, len(records))
                partition: TP = (tp.topic, tp.partition)
                for record in records:
                    diverted = self._ingest(partition, record)
                    if diverted is not None:  # rare: DLQ or claim check
                        park = await self._divert(partition, record, *diverted)
                        if park is not None:
                            parks.append(park)
            if parks:  # the whole fetched batch's parks in one DLQ write, settled once acknowledged
                await self._park_all(parks)
            self._count_selected()
            self.metrics.heartbeat()
            self._observe_broker()
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
    ) -> Park | None:
        """An unmappable record goes to the DLQ (returned, to be written with the rest of its batch); an
        oversized entry to S3 (claim check) or the DLQ."""
        if isinstance(outcome, Unmappable):
            return self._park_of(origin, record.value, record.headers, outcome.reason, outcome.message)
        entry, envelope = outcome
        claimed = await self._claim_check(entry, envelope, origin)
        if claimed is None:
            size, limit = entry_size(entry), self.client.limits.max_bytes
            message = f"entry is {size} bytes, over the {limit}-byte request limit"
            return self._park_of(origin, record.value, record.headers, "oversized", message)
        self._queue(origin, tp, record, claimed, entry_size(claimed))
        return None

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
            self._observe_endpoint(results)
            accepted = 0
            rejected: list[tuple[Pending, Park]] = []
            for pending, result in zip(batch, results, strict=True):
                if result.error_code is None:  # the common case, kept free of per-entry awaits
                    accepted += 1
                    self._settle(pending)
                else:
                    park = self._handle(pending, result)
                    if park is not None:
                        rejected.append((pending, park))
            if accepted:
                self.metrics.record_result("ok", accepted)
            if rejected:  # one DLQ write for the request's rejections; each settled once it is durable
                durable = await self._park_all([park for _pending, park in rejected])
                for (pending, _park), ok in zip(rejected, durable, strict=True):
                    if ok:
                        self._settle(pending)
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

    def _observe_endpoint(self, results: list[EntryResult]) -> None:
        """The endpoint is reachable when any entry got a final answer (accepted or rejected)."""
        for result in results:
            if result.verdict is not Verdict.RETRY:
                self.metrics.readiness.endpoint.observe(None)
                return
        if results:
            first = results[0]
            self.metrics.readiness.endpoint.observe(f"{first.error_code}: {first.message}".strip())

    def _handle(self, pending: Pending, result: EntryResult) -> Park | None:
        """A failed entry: retry it later (a retriable error, however long it lasts), or the DLQ record
        to write for it (a permanent rejection)."""
        code = result.error_code or "ok"
        self.metrics.record_result(code)
        verdict = result.verdict
        if verdict is Verdict.ACCEPTED:
            self._settle(pending)
            return None
        if verdict is Verdict.RETRY:
            self._schedule_retry(pending, code)
            return None
        message = f"{code}: {result.message}".strip()
        return self._park_of(pending.origin, pending.value, pending.headers, "rejected", message)

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

    def _park_of(
        self,
        origin: KafkaOrigin,
        value: bytes | None,
        headers: Sequence[tuple[str, bytes]],
        reason: str,
        message: str,
    ) -> Park:
        return Park(origin, value, headers, reason, message, self.options.dlq_max_bytes)

    def _dlq_record(self, park: Park) -> tuple[bytes | None, list[tuple[str, bytes]]]:
        """The DLQ value and headers of ``park``: the original value, or a truncated copy if it is too big."""
        origin = park.origin
        letter = DeadLetter(STAGE, park.reason, park.message, origin.topic, origin.partition, origin.offset)
        headers = letter.headers(park.headers)
        value = park.value
        size = DefaultRecordBatchBuilder.estimate_size_in_bytes(origin.key, value, headers)
        if value is None or size <= park.limit:
            return value, headers
        overhead = size - len(value) + 256  # our headers, the truncation headers and the record framing
        if overhead > park.limit // 2:  # the original headers alone are too big: keep only ours
            headers = letter.headers(())
            overhead = DefaultRecordBatchBuilder.estimate_size_in_bytes(origin.key, b"", headers) + 256
        cut, marks = truncated(value, park.limit - overhead)
        return cut, headers + marks

    async def _park_all(self, parks: list[Park]) -> list[bool]:
        """Write ``parks`` to the DLQ together (sends, then one wait for all acknowledgements); failed writes
        are tried again with backoff until the DLQ has them or the bridge stops.

        Each record is settled once its DLQ write is acknowledged; the flags say which were (False only
        when the bridge stopped first: not settled, so not committed, so read again after a restart).
        """
        rt = self._runtime()
        durable = [False] * len(parks)
        todo = list(range(len(parks)))
        attempt = 0
        while todo:
            sends: list[asyncio.Future[Any] | BaseException] = []
            for index in todo:
                value, headers = self._dlq_record(parks[index])
                try:
                    sends.append(
                        await rt.producer.send(
                            self.options.dlq_topic, value=value, key=parks[index].origin.key, headers=headers
                        )
                    )
                except KafkaError as exc:  # refused before sending (too large for the producer, closed ...)
                    sends.append(exc)
            pending = [s for s in sends if isinstance(s, asyncio.Future)]
            outcomes = iter(await asyncio.gather(*pending, return_exceptions=True))
            failed: list[int] = []
            last_error: BaseException | None = None
            for index, send in zip(todo, sends, strict=True):
                error = send if isinstance(send, BaseException) else next(outcomes)
                if not isinstance(error, BaseException):
                    durable[index] = True
                    self._parked(parks[index])
                    continue
                if isinstance(error, asyncio.CancelledError):
                    raise error
                if isinstance(error, MessageSizeTooLargeError | RecordTooLargeError):
                    parks[index].limit //= 2  # the broker's limit is lower than ours: cut further
                failed.append(index)
                last_error = error
            todo = failed
            if not todo:
                break
            self.metrics.dlq_write_retries.inc(len(todo))
            if rt.stopping:
                log.error(
                    "%d DLQ write(s) abandoned at shutdown (%s); the records will be read again",
                    len(todo),
                    last_error,
                )
                break
            attempt += 1
            log.warning("%d DLQ write(s) failed (%s); trying again", len(todo), last_error)
            await asyncio.sleep(full_jitter(attempt, base=0.1, cap=5.0))
        return durable

    def _parked(self, park: Park) -> None:
        origin = park.origin
        self.metrics.dlq.labels(park.reason).inc()
        log.warning(
            "parked %s[%d]@%d in the DLQ: %s: %s",
            *origin.as_detail().values(),
            park.reason,
            park.message[:200],
        )
        self.tracker.settle((origin.topic, origin.partition), origin.offset)

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
            self._commit_problem = f"commit failed: {type(exc).__name__}: {exc}"
            return
        self._commit_problem = None
        self.tracker.mark_committed(positions)

    def _observe_broker(self) -> None:
        """Broker reachability: commits failing, or the group coordinator unknown (aiokafka marks it dead
        when heartbeats or coordinator requests fail); then the readiness gauges and a log line on change."""
        problem = self._commit_problem
        if problem is None:
            # aiokafka has no public view of its group coordinator
            coordinator = getattr(self._runtime().consumer, "_coordinator", None)
            if coordinator is not None and getattr(coordinator, "coordinator_id", 0) is None:
                problem = "the consumer group's coordinator is unknown (heartbeats failing)"
        self.metrics.readiness.broker.observe(problem)
        snapshot = self.metrics.refresh_readiness()
        status = snapshot["status"]
        if status != self._last_status:
            if status == "ready":
                log.info("ready again")
            else:
                log.warning("degraded: %s", "; ".join(snapshot["reasons"]))
            self._last_status = status

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
    logfilter.install()
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
