"""One transactional producer per owned partition number: a batch is one transaction, and a zombie is fenced.

A batch of partition *p* (its outputs, its dead letters, its table changes, and under exactly_once its input
offsets) is sent as one transaction of the producer whose ``transactional.id`` is ``<group>-p<p>``. The
worker that takes partition *p* over starts a producer with that same id; the broker then aborts whatever
transaction the previous owner had open and refuses every later write of its producer (``ProducerFenced``).
So a member that was paused past its session timeout can never write state or output after its partitions
moved: its batch is refused at the broker, not by a check it could race. Readers use ``read_committed``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition
from aiokafka.errors import (
    InvalidProducerEpoch,
    InvalidProducerIdMapping,
    KafkaError,
    ProducerFenced,
    TransactionalIdAuthorizationFailed,
)

from orderstream import kafka
from orderstream.domain import contract
from orderstream.domain.dlq import DeadLetter, replay_count
from orderstream.settings import WorkerSettings
from streams.stages.batch import Batch

log = logging.getLogger("orderstream.streams.txn")

BUILDER_BYTES = 512 * 1024
"""Bytes per record batch handed to the producer (one future per batch, not per record)."""
MAX_REQUEST_BYTES = 4 * 1024 * 1024
"""The producer's own request limit: above any record the broker accepts, so the broker decides."""
FENCED_ERRORS = (ProducerFenced, InvalidProducerEpoch, InvalidProducerIdMapping)


class Fenced(Exception):
    """Another worker owns this partition now (its producer took over our transactional id)."""


class Halted(Exception):
    """A batch cannot be written for a reason retrying will not fix; the partition stops here."""

    retriable = False


def transactional_id(group: str, partition: int) -> str:
    return f"{group}-p{partition}"


@dataclass(frozen=True, slots=True)
class Sent:
    """What a committed batch wrote: the last changelog offset per table (for RocksDB's checkpoint), and the
    position after this batch's records in each topic the worker also reads itself (fused)."""

    changelog_offsets: Mapping[str, int] = field(default_factory=dict)
    self_read: Mapping[TopicPartition, int] = field(default_factory=dict)
    send_seconds: float = 0.0
    """Handing the records to the producer (record batches built, queued)."""
    commit_seconds: float = 0.0
    """Waiting for the broker: acknowledgements, offsets and the transaction's commit."""


class PartitionProducer:
    """The transactional producer of one partition number, and how a batch is written with it."""

    def __init__(
        self,
        settings: WorkerSettings,
        group: str,
        partition: int,
        changelogs: Mapping[str, str],
        *,
        exactly_once: bool,
        dlq_max_value_bytes: int,
        self_read: tuple[str, ...] = (),
    ) -> None:
        self.partition = partition
        self.group = group
        self.transactional_id = transactional_id(group, partition)
        self._changelogs = dict(changelogs)
        self._exactly_once = exactly_once
        self._dlq_max = dlq_max_value_bytes
        self._self_read = self_read
        self._producer = kafka.producer(
            settings,
            transactional_id=self.transactional_id,
            linger_ms=0,
            max_batch_size=BUILDER_BYTES,
            max_request_size=MAX_REQUEST_BYTES,
            transaction_timeout_ms=60_000,
        )
        self._partition_counts: dict[str, int] = {}
        self._started = False

    async def start(self) -> None:
        """Start the producer and take over the transactional id (this is what fences a previous owner)."""
        await self._producer.start()
        self._started = True
        try:
            await self._producer.begin_transaction()  # waits for the producer id: the old owner is fenced now
            await self._producer.abort_transaction()
        except FENCED_ERRORS as exc:
            raise Fenced(f"{self.transactional_id}: {exc}") from exc

    async def stop(self) -> None:
        if self._started:
            self._started = False
            try:
                await self._producer.stop()
            except Exception as exc:  # stopping a fenced or broken producer may fail; nothing depends on it
                log.debug("stopping %s: %r", self.transactional_id, exc)

    async def write(self, batch: Batch, offsets: Mapping[TopicPartition, int]) -> Sent:
        """Write ``batch`` as one transaction; with exactly_once the input ``offsets`` go in it too.

        Raises :class:`Fenced` when another worker owns the partition now, :class:`Halted` when the batch can
        never be written (a record too large for the broker, say), and KafkaError for the rest (retriable:
        the caller writes the same batch again).
        """
        producer = self._producer
        try:
            await producer.begin_transaction()
        except FENCED_ERRORS as exc:
            raise Fenced(f"{self.transactional_id}: {exc}") from exc
        try:
            started = time.perf_counter()
            futures, last = await self._send_all(batch)
            sent_at = time.perf_counter()
            results = await asyncio.gather(*futures)
            # A fused worker reads its own releases in memory; its group's position on that topic moves past
            # them (and the commit marker that follows: this producer is the partition's only writer).
            self_read = {
                TopicPartition(topic, results[last[topic][0]].topic_partition.partition): (
                    results[last[topic][0]].offset + last[topic][1] + 1
                )
                for topic in self._self_read
                if topic in last
            }
            if self._exactly_once and (offsets or self_read):
                await producer.send_offsets_to_transaction({**offsets, **self_read}, self.group)
            await producer.commit_transaction()
        except FENCED_ERRORS as exc:
            raise Fenced(f"{self.transactional_id}: {exc}") from exc
        except BaseException as exc:
            await self._abort(exc)
            if isinstance(exc, TransactionalIdAuthorizationFailed) or _too_large(exc):
                raise Halted(f"partition {self.partition}: {type(exc).__name__}: {exc}") from exc
            raise
        changelog_offsets = {
            table: results[last[topic][0]].offset + last[topic][1] - 1
            for table, topic in self._changelogs.items()
            if topic in last
        }
        done = time.perf_counter()
        return Sent(changelog_offsets, self_read, sent_at - started, done - sent_at)

    async def _send_all(self, batch: Batch) -> tuple[list[Any], dict[str, tuple[int, int]]]:
        """Hand every record of the batch to the producer in record batches; return their futures and, per
        topic, which future holds its last records and how many."""
        builders: dict[str, Any] = {}
        counts: dict[str, int] = {}
        futures: list[Any] = []
        last: dict[str, tuple[int, int]] = {}

        async def flush(topic: str) -> None:
            builder = builders.pop(topic)
            partition = await self._partition_for(topic)
            futures.append(await self._producer.send_batch(builder, topic, partition=partition))
            last[topic] = (len(futures) - 1, counts[topic])
            counts[topic] = 0

        async def append(topic: str, key: bytes | None, value: bytes | None, headers: Sequence[Any]) -> None:
            builder = builders.get(topic)
            if builder is None:
                builder = builders[topic] = self._producer.create_batch()
            if builder.append(key=key, value=value, timestamp=None, headers=headers) is None:
                await flush(topic)
                builder = builders[topic] = self._producer.create_batch()
                builder.append(key=key, value=value, timestamp=None, headers=headers)  # first always fits
            counts[topic] = counts.get(topic, 0) + 1

        for out in batch.outputs:
            await append(out.topic, out.key, out.value, list(out.headers) if out.headers else [])
        for request in batch.dead_letters:
            key, value, headers = self._dead_letter(
                request.record, request.stage, request.error_type, request.message
            )
            await append(contract.DLQ, key, value, headers)
        for table, writes in batch.writes.items():
            topic = self._changelogs[table]
            for key, raw in writes.items():
                await append(topic, key, raw, [])
        for topic in list(builders):
            await flush(topic)
        return futures, last

    def _dead_letter(self, record: Any, stage: str, error_type: str, message: str) -> tuple[Any, Any, Any]:
        original = list(record.headers or ())
        letter = DeadLetter(
            stage, error_type, message, record.topic, record.partition, record.offset, replay_count(original)
        )
        value = record.value
        headers = letter.headers(original)
        if value is not None and len(value) > self._dlq_max:
            from orderstream.domain.dlq import truncated

            value, extra = truncated(value, self._dlq_max)
            headers = headers + extra
        return record.key, value, headers

    async def _partition_for(self, topic: str) -> int:
        """Partition ``p`` of ``topic`` (co-partitioned topics have at least as many partitions)."""
        count = self._partition_counts.get(topic)
        if count is None:
            parts = await self._producer.partitions_for(topic)
            count = self._partition_counts[topic] = len(parts)
        return self.partition % count

    async def _abort(self, cause: BaseException) -> None:
        try:
            await self._producer.abort_transaction()
        except Exception as exc:
            log.warning("%s: abort after %r failed: %r", self.transactional_id, cause, exc)


def _too_large(exc: BaseException) -> bool:
    return isinstance(exc, KafkaError) and type(exc).__name__ in (
        "MessageSizeTooLargeError",
        "RecordTooLargeError",
        "RecordBatchTooLargeError",
    )
