"""What one batch of one partition decides, and how stages read committed state.

Every state a stage keeps is keyed by customer first, so it lives in the customer's partition: a batch of
partition *p* reads and writes only keys of partition *p*, its outputs go to partition *p* of the output
topics (all co-partitioned), and it is committed as one transaction of partition *p*'s producer.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, Protocol, TypeVar

V = TypeVar("V")
Headers = Sequence[tuple[str, bytes]]


class RecordLike(Protocol):
    """The fields of a consumed Kafka record the stages read (aiokafka's ConsumerRecord has them)."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...
    @property
    def timestamp(self) -> int: ...
    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...
    @property
    def headers(self) -> Sequence[tuple[str, bytes]]: ...


@dataclass(frozen=True, slots=True)
class Output:
    """A record to send to ``topic`` (partition: the batch's)."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: Headers | None = None


@dataclass(frozen=True, slots=True)
class DeadLetterRequest:
    """A consumed record to park in the DLQ, and why."""

    record: RecordLike
    stage: str
    error_type: str
    message: str


@dataclass(eq=False, slots=True)
class Batch:
    """Everything one batch of partition ``partition`` decided, in the order it must be sent."""

    partition: int
    outputs: list[Output] = field(default_factory=list)
    dead_letters: list[DeadLetterRequest] = field(default_factory=list)
    pending: dict[str, dict[bytes, Any]] = field(default_factory=dict)
    """Per table: the decoded values this batch changed (the batch reads them back before committed state)."""
    writes: dict[str, dict[bytes, bytes]] = field(default_factory=dict)
    """Per table: the encoded values to write, filled by :meth:`seal`."""
    counts: Counter[str] = field(default_factory=Counter)
    records_in: int = 0
    positions: dict[str, int] = field(default_factory=dict)
    """Per input topic: the offset after the last record of this batch (what committing it makes safe)."""

    def send(
        self, topic: str, key: bytes | None, value: bytes | None, headers: Headers | None = None
    ) -> None:
        self.outputs.append(Output(topic, key, value, headers))

    def park(self, record: RecordLike, stage: str, error_type: str, message: str) -> None:
        self.dead_letters.append(DeadLetterRequest(record, stage, error_type, message))
        self.counts[f"{stage}.dlq.{error_type}"] += 1

    def changes(self, table: str) -> dict[bytes, Any]:
        found = self.pending.get(table)
        if found is None:
            found = self.pending[table] = {}
        return found

    @property
    def empty(self) -> bool:
        return not (self.outputs or self.dead_letters or any(self.pending.values()))


class StateView(Generic[V]):
    """A table's committed values, decoded, plus how to encode new ones.

    Decoding a value costs more than handling most events, and the same customers and orders come back batch
    after batch, so decoded values are kept while the stored bytes stay the same: a cached value is used only
    if the table still holds exactly the bytes it was decoded from, so recovery or a rebalance can never
    serve a stale one. Domain values are immutable, so handing out the same object is safe.
    """

    def __init__(
        self,
        name: str,
        read: Callable[[bytes], bytes | None],
        decode: Callable[[bytes], V],
        encode: Callable[[V], bytes],
        cache_limit: int = 100_000,
    ) -> None:
        self.name = name
        self._read, self._decode, self.encode = read, decode, encode
        self._limit = cache_limit
        self._cache: dict[bytes, tuple[bytes, V]] = {}

    def get(self, key: bytes) -> V | None:
        raw = self._read(key)
        if raw is None:
            return None
        entry = self._cache.pop(key, None)
        value = entry[1] if entry is not None and entry[0] == raw else self._decode(raw)
        self._remember(key, raw, value)
        return value

    def lookup(self, batch: Batch, key: bytes) -> V | None:
        """The value as this batch sees it: its own change first, else the committed one."""
        pending = batch.pending.get(self.name)
        if pending is not None and key in pending:
            value: V = pending[key]
            return value
        return self.get(key)

    def seal(self, batch: Batch) -> None:
        """Encode this table's changes of ``batch`` into ``batch.writes``."""
        pending = batch.pending.get(self.name)
        if pending:
            batch.writes[self.name] = {key: self.encode(value) for key, value in pending.items()}

    def committed(self, batch: Batch) -> None:
        """The batch's writes are committed (and stored by the caller): keep their decoded values."""
        pending = batch.pending.get(self.name) or {}
        for key, raw in batch.writes.get(self.name, {}).items():
            self._cache.pop(key, None)
            self._remember(key, raw, pending[key])

    def forget(self) -> None:
        self._cache.clear()

    def _remember(self, key: bytes, raw: bytes, value: V) -> None:
        self._cache[key] = (raw, value)
        if len(self._cache) > self._limit:  # drop the least recently used quarter
            for stale in list(itertools.islice(self._cache, self._limit // 4)):
                del self._cache[stale]
