"""The faust app: one image, one app; ``ORDERSTREAM_AGENTS`` decides which agents this process runs.

Layout follows the faust examples: app → topics → tables → agents (in ``sequencer.py``, ``router.py`` and
``loyalty.py``); the agents are a few lines each and the rules live in ``orderstream.domain``.

Naming: the faust app id — and so the consumer group, the table changelog topics and, with exactly_once,
the transactional ids — is ``<ORDERSTREAM_APP_ID>-<agent>`` when a process runs one agent (as each Fargate
service does) and ``<ORDERSTREAM_APP_ID>-worker`` when it runs several.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import faust
from aiokafka.partitioner import murmur2
from faust.sensors import Monitor
from faust.types import EventT

from orderstream import kafka
from orderstream.domain import contract
from orderstream.domain.dlq import DeadLetter, replay_count
from orderstream.settings import AGENT_NAMES, WorkerSettings

log = logging.getLogger("orderstream.streams")
V = TypeVar("V")

BATCH_MAX = 1000
"""Events per batch an agent takes: state is decoded and written once per key per batch."""
BATCH_WITHIN = 0.05
"""Seconds an agent waits to fill a batch before processing what it has."""

RAW: dict[str, Any] = {
    "key_type": bytes,
    "value_type": bytes,
    "key_serializer": "raw",
    "value_serializer": "raw",
}


async def each_batch(stream: Any, handle: Callable[[list[EventT[Any]]], Awaitable[None]]) -> None:
    """Run ``handle`` on the stream's events a batch at a time (``take_events``), keeping none afterwards.

    On a rebalance faust waits until every record a stream took is acknowledged or garbage-collected. A
    finished batch left bound to a variable while the next one is awaited keeps its records alive, and a
    record whose other subscriber's copy was dropped in the rebalance is then never let go of (see
    :mod:`streams.patches`, which also covers the cases outside our code).
    """
    async for batch in stream.take_events(BATCH_MAX, within=BATCH_WITHIN):
        await handle(batch)
        del batch


def faust_id(settings: WorkerSettings) -> str:
    agents = [name for name in AGENT_NAMES if name in settings.agent_set]
    role = agents[0] if len(agents) == 1 else "worker"
    return f"{settings.app_id}-{role}"


def _store_url(settings: WorkerSettings) -> str:
    if settings.store == "memory":
        return "memory://"
    from streams.stores import URL_SCHEME  # registers the store with faust

    return f"{URL_SCHEME}://"


KEY_SEP = b"\x1f"
"""Separates the customer id from the rest of a table key (``customer<US>order``)."""


def table_key(customer_id: str, *rest: str) -> bytes:
    return KEY_SEP.join([customer_id.encode(), *(part.encode() for part in rest)])


def customer_partition(key: bytes, partitions: int) -> int:
    """Kafka's default partitioner (murmur2) on the customer part of a key: where the customer's events are."""
    return int(murmur2(key.split(KEY_SEP, 1)[0]) & 0x7FFFFFFF) % partitions


class CustomerPartitionedTable(faust.Table):  # type: ignore[type-arg]
    """A table whose changelog partition is the customer's partition, whatever the rest of the key.

    faust would otherwise take the partition of the record being processed, which rules out writing from a
    batch (``take_events``) or a timer. Deriving it from the key keeps every write where recovery after a
    rebalance looks for it: the changelog partition numbered like the customer's source partitions.
    """

    def partition_for_key(self, key: bytes) -> int:
        return customer_partition(key, self.partitions or self.app.conf.topic_partitions)


class DecodedValues(Generic[V]):
    """A table's values decoded, kept while the stored bytes stay the same.

    Decoding a value (JSON, then the domain object) costs more than the rest of handling most events, and
    the same customers and orders come back batch after batch. A cached value is used only while the table
    still holds exactly the bytes it was decoded from, so recovery, a rebalance or a skipped write can
    never serve a stale one. Domain values are immutable, so handing out the same object is safe.
    """

    def __init__(self, table: CustomerPartitionedTable, decode: Callable[[bytes], V], limit: int) -> None:
        self._table, self._decode, self._limit = table, decode, limit
        self._entries: dict[bytes, tuple[bytes, V]] = {}

    def get(self, key: bytes) -> V | None:
        raw = self._table.get(key)
        if raw is None:
            return None
        entry = self._entries.pop(key, None)
        value = entry[1] if entry is not None and entry[0] == raw else self._decode(raw)
        self._remember(key, raw, value)
        return value

    def remember(self, changes: dict[bytes, bytes], values: dict[bytes, V]) -> None:
        """Note values just written as ``changes`` (their encoded form)."""
        for key, raw in changes.items():
            self._entries.pop(key, None)
            self._remember(key, raw, values[key])

    def _remember(self, key: bytes, raw: bytes, value: V) -> None:
        self._entries[key] = (raw, value)
        if len(self._entries) > self._limit:  # drop the least recently used quarter
            for stale in list(itertools.islice(self._entries, self._limit // 4)):
                del self._entries[stale]


@dataclass
class Counters:
    """Per-stage counts this process has seen; served on /health and /metrics."""

    counts: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.time)

    def inc(self, name: str, by: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + by


class LeanMonitor(Monitor):
    """faust's Monitor sensor without its per-record statistics.

    The Monitor keeps counts and timings per record, stream, task and table access for faust's own web
    views, which this app does not serve; those hooks cost about 8 % of the worker's events/s in
    ``bench/streams.py`` (3 010 to 3 225 without them, 2 760 to 2 960 with them). What faust itself reads
    is kept: when each partition's stream last took a record, for its "stream is not processing" warnings.
    Our counters and Prometheus metrics (:mod:`streams.metrics`) are kept per batch.
    """

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        pass

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        self.stream_inbound_time[tp] = time.monotonic()

    def on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any, state: Any = None) -> None:
        pass

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        pass

    def on_table_get(self, table: Any, key: Any) -> None:
        pass

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        pass


class Streams:
    """The app plus the topics every agent may use. Built once per process by :func:`build`."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.counters = Counters()
        self.topics_to_create: dict[str, dict[str, str]] = {}
        datadir = (settings.data_dir / faust_id(settings)).resolve()
        datadir.mkdir(parents=True, exist_ok=True)
        self.app = faust.App(
            faust_id(settings),
            broker=kafka.faust_broker_urls(settings),
            broker_credentials=kafka.faust_credentials(settings),
            store=_store_url(settings),
            datadir=str(datadir),
            processing_guarantee=settings.processing_guarantee,
            topic_partitions=settings.topic_partitions,
            topic_replication_factor=settings.topic_replication_factor,
            topic_allow_declare=True,
            web_enabled=True,
            web_host=settings.web_host,
            web_bind=settings.web_host,
            web_port=settings.web_port,
            web_in_thread=False,
            consumer_auto_offset_reset="earliest",
            producer_acks=-1,
            producer_linger_ms=5,
            broker_commit_every=1000,
            # A killed worker's partitions move to the others after this long (faust's default is 60 s).
            broker_session_timeout=settings.session_timeout,
            broker_heartbeat_interval=max(1.0, settings.session_timeout / 4),
            broker_commit_interval=1.0,
            stream_buffer_maxsize=4096,
            broker_max_poll_records=1000,
            table_standby_replicas=1,
            worker_redirect_stdouts=False,
            loghandlers=[],
            Monitor=LeanMonitor,
        )

    def topic(self, name: str, *more: str, internal: bool = False) -> faust.TopicT:
        return self.app.topic(
            name,
            *more,
            partitions=self.settings.topic_partitions if internal else None,
            internal=internal,
            **RAW,
        )

    def table(self, name: str) -> CustomerPartitionedTable:
        """A customer-partitioned table of raw bytes (values serialised with orjson by the agents)."""
        schema: faust.Schema[bytes, bytes] = faust.Schema(
            key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
        )
        table = CustomerPartitionedTable(
            self.app,
            name=name,
            partitions=self.settings.topic_partitions,
            schema=schema,
            key_type=bytes,  # faust picks the "raw" codec for recovery from these types
            value_type=bytes,
            beacon=self.app.tables.beacon,
        )
        self.app.tables.add(table)
        self.topics_to_create[table.changelog_topic.get_topic_name()] = {"cleanup.policy": "compact"}
        return table

    async def create_topics(self) -> None:
        """Create the topics this process writes to and faust would not declare in time: changelogs and ticks
        (faust's own creation races its metadata on start), and the router's target topics (missing ones)."""
        from orderstream import kafka

        for name, configs in self.topics_to_create.items():
            await kafka.create_topics(self.settings, [name], configs=configs)

    def owned_partitions(self) -> frozenset[int]:
        """Partition numbers of the input topics this worker is assigned now (they are co-partitioned).

        Changelog partitions do not count: a worker also reads those it only keeps as a standby.
        """
        inputs = (*contract.SOURCE_TOPICS, contract.ORDER_LIFECYCLE)
        return frozenset(tp.partition for tp in self.app.consumer.assignment() if tp.topic in inputs)

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        *,
        partition: int | None = None,
        headers: Any = None,
    ) -> Awaitable[Any]:
        """Hand one record to the producer; returns its delivery future.

        The producer is the one faust's ``Topic.send`` uses (the transaction manager under exactly_once);
        going to it directly skips faust's per-message bookkeeping, which cost more than the send itself.
        """
        producer = await self.app.maybe_start_producer()
        delivery: Awaitable[Any] = await producer.send(topic, key, value, partition, None, headers)
        return delivery

    async def write_owned(self, table: CustomerPartitionedTable, changes: dict[bytes, bytes]) -> None:
        """Write ``changes`` to ``table`` and its changelog; return once the changelog has them all.

        Called after a batch's output was acknowledged. The changelog records are sent directly and awaited,
        rather than through ``table[key] = value``: that queues them in faust's producer buffer, which sends
        one record at a time, stalls the consumer once 100 are waiting, and whose flush before a commit
        gives up after 0.1 s. Awaiting them here keeps offsets behind the state they depend on (the batch's
        records are acknowledged only after this returns).

        Keys of partitions taken away by a rebalance meanwhile are skipped: a batch in flight when its
        partitions move would otherwise write state *after* the new owner recovered, and a stale value
        could land last in the changelog. The new owner re-processes those records from the last commit.
        """
        changelog = table.changelog_topic.get_topic_name()
        deliveries = []
        for key, value in changes.items():
            partition = table.partition_for_key(key)
            # Asked per key: handing a record to the producer can wait, and a rebalance can finish meanwhile.
            owned = self.owned_partitions()
            # Nothing assigned means a rebalance is in progress and the partition may come straight back
            # without a seek: skipping then would lose the batch, so only a definite move skips.
            if owned and partition not in owned:
                self.counters.inc(f"{table.name}.stale_writes_skipped")
                continue
            table.data[key] = value
            delivery = await self.send(changelog, key, value, partition=partition)
            # faust's hook: a RocksDB store records the changelog offset its files are current to.
            delivery.add_done_callback(table._on_changelog_sent)  # type: ignore[attr-defined]
            deliveries.append(delivery)
        await asyncio.gather(*deliveries)

    async def dead_letter(
        self, event: EventT[Any], stage: str, error_type: str, message: str
    ) -> Awaitable[Any]:
        """Park the record ``event`` came from in the DLQ: original key and value bytes, reasons in headers.

        Returns the delivery future: callers await it before recording that the record was handled.
        """
        msg = event.message
        headers: Any = msg.headers or []
        original = list(headers.items()) if isinstance(headers, dict) else list(headers)
        letter = DeadLetter(
            stage, error_type, message, msg.topic, msg.partition, msg.offset, replay_count(original)
        )
        self.counters.inc(f"{stage}.dlq.{error_type}")
        return await self.send(contract.DLQ, msg.key, msg.value, headers=letter.headers(original))


def build(settings: WorkerSettings) -> Streams:
    """The app with the agents ``settings.agents`` names, plus health and metrics pages."""
    from streams import loyalty, patches, router, sequencer, web

    patches.apply()
    streams = Streams(settings)
    if "sequencer" in settings.agent_set:
        sequencer.register(streams)
    if "router" in settings.agent_set:
        router.register(streams)
    if "loyalty" in settings.agent_set:
        loyalty.register(streams)
    web.register(streams)
    return streams
