"""Stream time for one partition number: its co-partitioned inputs merged in record-timestamp order.

The sequencer's reorder gaps are measured in *stream time*, the timestamps of the records it has read, so
that a backlog (an outage, a catch-up after a deploy) gives the same result as live traffic. Kafka Streams
is the model:

- the inputs of one partition number (``orders``/``payments``/``shipments`` partition *p*) are merged in
  timestamp order: the next record taken is the one with the earliest timestamp among the inputs' heads;
- a record is taken only once every other input has been read past its timestamp: an input with data on
  the broker that has not been fetched yet blocks the merge (the merge *idles* rather than run ahead of it);
  an input that is caught up (its position reached the end at a recent fetch) has nothing older than that
  fetch to deliver, so it blocks only records stamped after it (less a grace).

The merged order is therefore the timestamp order (ties in input order) whatever the fetch timing: live or
behind a backlog, and again when a partition is re-read after a crash.

:meth:`Merger.stream_time` is the largest timestamp taken so far. :meth:`Merger.watermark` is the time up to
which *every* input has been read: an event held since ``t`` may wait out its timeout only once the watermark
passes ``t + timeout``. Wall-clock time enters only through caught-up inputs (the moment of their last fetch,
less a grace for broker/worker clock skew and fetch latency), so when every input is caught up stream time
follows the clock and a gap expires on time with no traffic at all.

Pure and deterministic: the caller feeds fetched records (:meth:`Merger.offer`) and fetch results
(:meth:`Merger.fetched`) and passes the wall clock in; nothing is read from the environment.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, Generic, TypeVar

T = TypeVar("T")

CAUGHT_UP_GRACE: Final = 0.2
"""Seconds subtracted from a caught-up input's last fetch when it bounds the merge: covers the fetch's own
latency and clock skew between the brokers (which stamp LogAppendTime) and this worker. Live records wait
this long, plus up to one fetch, before they are merged."""

FRESH_FOR: Final = 5.0
"""Seconds a "caught up" answer stays valid. An input whose last fetch is older (a slow or unreachable
partition leader) blocks the merge again, as if it had unfetched data, until a new fetch answers."""


@dataclass(slots=True)
class _Input(Generic[T]):
    """One input partition: records fetched but not yet taken, and what the last fetch said."""

    name: str
    order: int
    buffered: deque[tuple[float, T]] = field(default_factory=deque)
    last_taken: float | None = None
    """Timestamp of the last record taken from this input (its own stream time)."""
    at_end_since: float | None = None
    """Wall time of the last fetch that found this input at its end; None while data is known to be left."""

    def caught_up(self, now: float) -> bool:
        return not self.buffered and self.at_end_since is not None and now - self.at_end_since <= FRESH_FOR

    def low_bound(self, now: float) -> float | None:
        """A time no record still to come from this input is older than (None: nothing known yet)."""
        if self.buffered:
            return self.buffered[0][0]
        if self.caught_up(now):
            assert self.at_end_since is not None
            return self.at_end_since - CAUGHT_UP_GRACE
        return self.last_taken


@dataclass(frozen=True, slots=True)
class InputStatus:
    """What :meth:`Merger.status` reports per input (for metrics and ``/counters``)."""

    name: str
    stream_time: float | None
    buffered: int
    caught_up: bool
    head: float | None


class Merger(Generic[T]):
    """The co-partitioned inputs of one partition number, merged in record-timestamp order.

    ``inputs`` are the input names in tie-break order: records with equal timestamps are taken in this
    order of their inputs, then in the order they were offered.
    """

    def __init__(self, inputs: Sequence[str]) -> None:
        if not inputs or len(set(inputs)) != len(inputs):
            raise ValueError(f"inputs must be distinct names, got {list(inputs)!r}")
        self._inputs = {name: _Input[T](name, i) for i, name in enumerate(inputs)}
        self._stream_time: float | None = None

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._inputs)

    @property
    def stream_time(self) -> float | None:
        """The largest record timestamp taken so far (None before the first record)."""
        return self._stream_time

    def offer(self, name: str, records: Iterable[tuple[float, T]]) -> None:
        """Records fetched from input ``name``, in offset order, as ``(timestamp seconds, item)``."""
        self._inputs[name].buffered.extend(records)

    def fetched(self, name: str, *, at_end: bool, at: float) -> None:
        """A fetch of input ``name`` answered at wall time ``at``; ``at_end``: its position reached the end."""
        state = self._inputs[name]
        state.at_end_since = at if at_end else None

    def buffered(self, name: str) -> int:
        return len(self._inputs[name].buffered)

    def take(self, limit: int, now: float) -> list[T]:
        """Up to ``limit`` items in merged order: each only once every other input has been read past its
        timestamp (or, caught up, was fetched after it less the grace). The order is therefore the
        timestamp order whatever the fetch timing, live or in a backlog, and a replay re-reads a partition's
        records in the order they were first processed."""
        taken: list[T] = []
        inputs = list(self._inputs.values())
        while len(taken) < limit:
            head: _Input[T] | None = None
            for state in inputs:
                if state.buffered and (head is None or state.buffered[0][0] < head.buffered[0][0]):
                    head = state
            if head is None:
                return taken
            timestamp = head.buffered[0][0]
            for state in inputs:
                if state is head or state.buffered:
                    continue  # a buffered input's next record is no earlier than the head
                bound = state.low_bound(now)
                if bound is None or bound < timestamp or (bound == timestamp and state.order < head.order):
                    return taken  # idle: this input may still deliver something earlier (or tied, first)
            _, item = head.buffered.popleft()
            head.last_taken = timestamp
            if self._stream_time is None or timestamp > self._stream_time:
                self._stream_time = timestamp
            taken.append(item)
        return taken

    def watermark(self, now: float) -> float | None:
        """The time up to which every input has been read (None while any input has told nothing yet).

        Everything older than the watermark on every input has been taken; a gap may be passed once the
        watermark reaches its deadline.
        """
        bounds = [state.low_bound(now) for state in self._inputs.values()]
        if any(bound is None for bound in bounds):
            return None
        return min(bound for bound in bounds if bound is not None)

    def status(self, now: float) -> list[InputStatus]:
        return [
            InputStatus(
                state.name,
                state.last_taken,
                len(state.buffered),
                state.caught_up(now),
                state.buffered[0][0] if state.buffered else None,
            )
            for state in self._inputs.values()
        ]

    def input_lag(self, now: float) -> float:
        """Seconds between the furthest-read and the least-read input (0 when in step or caught up)."""
        bounds = [state.low_bound(now) for state in self._inputs.values()]
        known = [bound for bound in bounds if bound is not None]
        return max(known) - min(known) if len(known) > 1 else 0.0
