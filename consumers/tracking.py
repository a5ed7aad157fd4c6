"""Bookkeeping for the bridge's two promises: safe commits and per-key order.

:class:`OffsetTracker` knows, per partition, which fetched records are still open; a partition's commit
position only moves past a record once it and every earlier record of the partition are settled (accepted
by EventBridge, parked in the DLQ, or not selected).

:class:`KeyedQueue` lets at most one record per key be on its way to EventBridge: a later record of the same
key waits until the earlier one is settled, retries included, so a retry can never overtake or be overtaken.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Hashable, Iterable
from typing import Generic, TypeVar

TP = tuple[str, int]
"""(topic, partition)."""


class _PartitionLog:
    __slots__ = ("committed", "open", "order", "safe")

    def __init__(self) -> None:
        self.order: deque[int] = deque()
        self.open: set[int] = set()
        self.safe: int | None = None
        self.committed: int | None = None


class OffsetTracker:
    """Offsets fetched but not yet settled, per partition. Records must be added in offset order."""

    def __init__(self) -> None:
        self._logs: dict[TP, _PartitionLog] = {}

    def add(self, tp: TP, offset: int) -> None:
        log = self._logs.get(tp)
        if log is None:
            log = self._logs[tp] = _PartitionLog()
        log.order.append(offset)
        log.open.add(offset)

    def settle(self, tp: TP, offset: int) -> None:
        """Mark one record done. Unknown partitions (revoked meanwhile) are ignored."""
        log = self._logs.get(tp)
        if log is None or offset not in log.open:
            return
        log.open.discard(offset)
        while log.order and log.order[0] not in log.open:
            log.safe = log.order.popleft() + 1

    def pending(self, tp: TP | None = None) -> int:
        """Open records of one partition, or of all of them."""
        if tp is not None:
            log = self._logs.get(tp)
            return len(log.open) if log else 0
        return sum(len(log.open) for log in self._logs.values())

    def safe_offset(self, tp: TP) -> int | None:
        """The offset to commit for ``tp`` (next record to read), None if nothing was settled yet."""
        log = self._logs.get(tp)
        return log.safe if log else None

    def to_commit(self) -> dict[TP, int]:
        """Commit positions that moved since :meth:`mark_committed` last recorded them."""
        return {
            tp: log.safe
            for tp, log in self._logs.items()
            if log.safe is not None and log.safe != log.committed
        }

    def mark_committed(self, positions: dict[TP, int]) -> None:
        for tp, offset in positions.items():
            if tp in self._logs:
                self._logs[tp].committed = offset

    def forget(self, tps: Iterable[TP]) -> None:
        """Drop partitions this consumer no longer owns; late settlements for them are ignored."""
        for tp in tps:
            self._logs.pop(tp, None)

    @property
    def partitions(self) -> list[TP]:
        return list(self._logs)


K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class KeyedQueue(Generic[K, T]):
    """Per-key FIFO queues in which only the head of each key is eligible to be sent.

    Most keys have one record at a time, so a key's head is only noted as busy; a queue is made for a key
    only once a second record of it arrives while the head is still out.
    """

    def __init__(self) -> None:
        self._busy: set[K] = set()
        self._waiting: dict[K, deque[T]] = {}

    def push(self, key: K, item: T) -> bool:
        """Queue ``item``; True when it is the head of its key (send it now), False when it must wait."""
        if key not in self._busy:
            self._busy.add(key)
            return True
        waiting = self._waiting.get(key)
        if waiting is None:
            self._waiting[key] = deque((item,))
        else:
            waiting.append(item)
        return False

    def pop_head(self, key: K) -> T | None:
        """Remove the settled head of ``key``; return the next item of that key, now eligible, if any."""
        waiting = self._waiting.get(key)
        if waiting is None:
            self._busy.discard(key)
            return None
        following = waiting.popleft()
        if not waiting:
            del self._waiting[key]
        return following

    def clear(self) -> None:
        """Forget every queued item (on shutdown: what was not settled is simply not committed)."""
        self._busy.clear()
        self._waiting.clear()

    def __len__(self) -> int:
        return len(self._busy) + sum(len(queue) for queue in self._waiting.values())
