"""Sending records to Kafka: synthetic workloads or a JSONL file of raw records, byte for byte.

Idempotent producer with ``acks=all``; keys are customer ids so one customer's events share a partition
number on every source topic. Sends are pipelined (the producer batches), and every send is awaited before
the report is printed, so a count in the report is a count the broker acknowledged.
"""

from __future__ import annotations

import asyncio
import base64
import difflib
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder

from orderstream import kafka, logfilter
from orderstream.domain import contract
from orderstream.errors import ConfigError, OrderstreamError
from orderstream.settings import ProducerSettings
from orderstream.synth import Chaos, Record, Workload, generate

MAX_PENDING = 20_000
"""Sends in flight before we wait for acknowledgements (bounds memory; the producer batches underneath)."""


class InputFileError(OrderstreamError):
    """A line of a ``--file`` JSONL input is not a ``{"topic","key","value"}`` record."""


@dataclass
class ProduceReport:
    sent: int = 0
    failed: int = 0
    by_topic: Counter[str] = field(default_factory=Counter)
    by_kind: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else 0.0

    def summary(self) -> str:
        topics = ", ".join(f"{t}={n}" for t, n in sorted(self.by_topic.items()))
        kinds = ", ".join(f"{k}={n}" for k, n in sorted(self.by_kind.items()))
        line = (
            f"sent {self.sent} records in {self.seconds:.2f}s ({self.rate:,.0f} records/s); "
            f"failed {self.failed}; topics: {topics}; kinds: {kinds}"
        )
        if self.errors:
            line += f"; first error: {self.errors[0]}"
        return line


def synthetic(workload: Workload, chaos: Chaos) -> Iterator[Record]:
    return generate(workload, chaos)


def _field_bytes(doc: dict[str, object], name: str, line_no: int, path: Path) -> bytes | None:
    """A JSONL field as bytes: a string is UTF-8 text sent as is; ``{"base64": ...}`` carries any bytes."""
    value = doc.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, dict) and isinstance(value.get("base64"), str):
        return base64.b64decode(value["base64"])
    if isinstance(value, dict | list):
        return orjson.dumps(value)
    raise InputFileError(f"{path}:{line_no}: {name!r} must be a string, an object, or {{'base64': ...}}")


def read_jsonl(path: Path) -> Iterator[Record]:
    """Records from a JSONL file. ``value`` may be a string (sent as is, malformed JSON included), a JSON
    object (serialised compactly), or ``{"base64": "..."}`` for arbitrary bytes."""
    for line_no, doc in _jsonl_objects(path):
        value = _field_bytes(doc, "value", line_no, path)
        key = _field_bytes(doc, "key", line_no, path)
        yield Record(doc["topic"], key or b"", value or b"", "valid")


def _jsonl_objects(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if not path.exists():
        raise InputFileError(f"{path}: no such file")
    with path.open("rb") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                doc = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise InputFileError(f"{path}:{line_no}: not a JSON line ({exc})") from None
            if not isinstance(doc, dict) or not isinstance(doc.get("topic"), str):
                raise InputFileError(f"{path}:{line_no}: expected an object with a string 'topic'")
            yield line_no, doc


async def check_file_topics(settings: ProducerSettings, path: Path) -> None:
    """Before anything is sent: every line of ``path`` is a record and every topic it names exists.

    Raises :class:`ConfigError` for ``--file`` naming the first line at fault, so a typo in a topic sends
    nothing instead of half a file.
    """
    first_use: dict[str, int] = {}
    try:
        for line_no, doc in _jsonl_objects(path):
            _field_bytes(doc, "value", line_no, path)
            _field_bytes(doc, "key", line_no, path)
            first_use.setdefault(doc["topic"], line_no)
    except InputFileError as exc:
        raise ConfigError("--file", str(exc)) from None
    existing = await kafka.partition_counts(settings, list(first_use))
    for topic, line_no in sorted(first_use.items(), key=lambda item: item[1]):
        if topic not in existing:
            close = difflib.get_close_matches(topic, contract.ALL_TOPICS, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else " (run: orderstream topics create)"
            raise ConfigError("--file", f"{path}:{line_no}: topic {topic!r} does not exist{hint}")


async def produce(
    settings: ProducerSettings,
    records: Iterable[Record],
    rate: float = 0.0,
    total: int | None = None,
    progress: bool = False,
) -> ProduceReport:
    """Send ``records``; pace to ``rate`` records/s when > 0. Returns acknowledged counts."""
    logfilter.install()  # a broker outage is a few lines per 10 s, not an error per retry
    compression = None if settings.producer_compression == "none" else settings.producer_compression
    producer = kafka.producer(
        settings,
        linger_ms=settings.producer_linger_ms,
        max_batch_size=settings.producer_batch_bytes,
        compression_type=compression,
        max_request_size=4 * 1024 * 1024,
    )
    report = ProduceReport()
    await producer.start()
    started = time.perf_counter()
    bar = _Progress(total) if progress else None
    sender = _BatchSender(producer, report)
    try:
        for index, record in enumerate(records):
            if rate > 0:
                ahead = index / rate - (time.perf_counter() - started)
                if ahead > 0:
                    await sender.flush()
                    await asyncio.sleep(ahead)
            await sender.add(record)
            if sender.pending_records >= MAX_PENDING:
                await sender.flush()
                if bar is not None:
                    bar.update(report.sent)
        await sender.flush()
    finally:
        report.seconds = time.perf_counter() - started
        if bar is not None:
            bar.update(report.sent)
            bar.close()
        await producer.stop()
    return report


class _BatchSender:
    """Fills one record batch per partition and hands whole batches to the producer.

    Partitions are chosen with Kafka's default partitioner (murmur2 of the key), so a customer lands on the
    same partition number on every co-partitioned topic, as with any other client. Building batches directly
    saves a future and a partitioner call per record; `bench/produce.py` measures what that buys.
    """

    def __init__(self, producer: AIOKafkaProducer, report: ProduceReport) -> None:
        self._producer = producer
        self._report = report
        self._partitioner = DefaultPartitioner()
        self._partitions: dict[str, list[int]] = {}
        self._open: dict[tuple[str, int], tuple[BatchBuilder, list[Record]]] = {}
        self._in_flight: list[tuple[list[Record], asyncio.Future[object]]] = []
        self.pending_records = 0

    async def _partition(self, record: Record) -> int:
        partitions = self._partitions.get(record.topic)
        if partitions is None:
            found = await self._producer.partitions_for(record.topic)
            if not found:
                raise InputFileError(
                    f"topic {record.topic!r} does not exist (run: orderstream topics create)"
                )
            partitions = self._partitions[record.topic] = sorted(found)
        if not record.key:
            return partitions[self.pending_records % len(partitions)]
        return int(self._partitioner(record.key, partitions, partitions))

    async def add(self, record: Record) -> None:
        partition = await self._partition(record)
        slot = (record.topic, partition)
        entry = self._open.get(slot)
        if entry is None:
            entry = self._open[slot] = (self._producer.create_batch(), [])
        builder, members = entry
        if builder.append(key=record.key or None, value=record.value, timestamp=None) is None:
            await self._ship(slot)
            builder, members = self._open[slot] = (self._producer.create_batch(), [])
            if builder.append(key=record.key or None, value=record.value, timestamp=None) is None:
                # Larger than a whole batch: let the producer send it on its own.
                self._open.pop(slot)
                fut = await self._producer.send(record.topic, record.value, record.key or None, partition)
                self._in_flight.append(([record], fut))
                self.pending_records += 1
                return
        members.append(record)
        self.pending_records += 1

    async def _ship(self, slot: tuple[str, int]) -> None:
        builder, members = self._open.pop(slot)
        if members:
            fut = await self._producer.send_batch(builder, slot[0], partition=slot[1])
            self._in_flight.append((members, fut))

    async def flush(self) -> None:
        """Send every open batch and wait for all acknowledgements; count them."""
        for slot in list(self._open):
            await self._ship(slot)
        if self._in_flight:
            await asyncio.wait([fut for _, fut in self._in_flight])
        report = self._report
        for members, fut in self._in_flight:
            exc = fut.exception()
            if exc is None:
                report.sent += len(members)
                for record in members:
                    report.by_topic[record.topic] += 1
                    report.by_kind[record.kind] += 1
            else:
                report.failed += len(members)
                if len(report.errors) < 5:
                    report.errors.append(f"{members[0].topic}: {exc!r}")
        self._in_flight.clear()
        self.pending_records = 0


class _Progress:
    """A rich progress bar with the live rate; quiet when stdout is not a terminal."""

    def __init__(self, total: int | None) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._progress = Progress(
            TextColumn("producing"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} rec/s"),
            TimeElapsedColumn(),
            transient=False,
        )
        self._task = self._progress.add_task("produce", total=total, rate="-")
        self._started = time.perf_counter()
        self._progress.start()

    def update(self, done: int) -> None:
        elapsed = time.perf_counter() - self._started
        rate = f"{done / elapsed:,.0f}" if elapsed > 0 else "-"
        self._progress.update(self._task, completed=done, rate=rate)

    def close(self) -> None:
        self._progress.stop()
