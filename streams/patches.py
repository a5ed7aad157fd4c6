"""Changes to faust-streaming 0.15 that the worker depends on, applied by :func:`apply` when the app is built:
fixes to its offset bookkeeping, to its wait for the streams on a rebalance and to its exactly_once shutdown
(:func:`_commit_transactions`), and a cheaper hand-over of fetched records to the streams (:func:`_wait_first`).

faust commits a partition up to the end of the first run of consecutive acknowledged offsets, and it removes
that run from its list of acknowledged offsets *before* the commit is attempted. Two things then stop a
partition's committed offset for good while its records keep being processed:

1. a commit that does not happen (a rebalance in between: "Discarded commit for revoked partitions") loses
   the removed run, leaving a hole between the committed offset and the next acknowledged one;
2. records delivered twice after a restart or rebalance are acknowledged twice, and the duplicate offsets
   split every later run into runs of one.

We put an uncommitted run back (unless the partition went to another worker; mid-rebalance, when nothing is
assigned, it may come straight back to us without a seek, so the run must survive), drop duplicates before
computing, and, should a hole still appear, read the partition again from its committed offset.
Found by ``tests/integration/test_streams.py::test_kill_9_mid_stream_then_restart_gives_identical_balances``:
a restarted worker joins while the killed one still holds a session, and the rebalance that follows its
eviction hit (1) in about one run in three.

On a rebalance faust empties the streams' buffers and then waits (``Consumer.wait_empty``) until every record
it handed to a stream is acknowledged or garbage-collected. A record read by two agents (``order-lifecycle``
feeds the router and loyalty) whose one copy was processed and whose other copy was dropped from a buffer is
neither while anything still refers to it: the event bound to a variable of the agent that processed it, or a
delivery waiting for buffer space, which faust keeps waiting until the rebalance is over. The rebalance in turn
waits for this worker, so the worker stalled until the group evicted it (60 s later), with the other worker
taking its partitions while it still held them. We count the copies dropped from buffers (and the deliveries
given up instead of waiting) and stop waiting for a record once all its unacknowledged copies are dropped
ones (:func:`_clean_unacked_messages`). Such records stay unacknowledged, so their offsets are not committed
and the partition's next owner reads them again. Found by the two-worker rebalance test, which stalled in
about one run in three and failed when the evicted worker never got going again.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import weakref
from collections.abc import Generator, Iterable
from typing import Any

from faust.exceptions import ProducerSendError
from faust.transport.consumer import Consumer
from faust.transport.drivers.aiokafka import Producer as TransactionalProducer
from faust.types.tuples import Message
from mode.services import WaitResults
from mode.utils.queues import FlowControlQueue, ThrowableQueue

log = logging.getLogger("orderstream.streams")
_repairs: set[asyncio.Future[None]] = set()
_original_new_offset = Consumer._new_offset


def _new_offset(self: Any, tp: Any) -> int | None:
    acked = self._acked[tp]
    if len(acked) > 1:
        acked[:] = sorted(set(acked))
    committed = self._committed_offset.get(tp)
    if acked and committed is not None and acked[0] - committed > 1 and _nothing_in_flight(self, tp):
        _repair_hole(self, tp, committed, acked[0])
        return None
    result: int | None = _original_new_offset(self, tp)
    return result


def _nothing_in_flight(self: Any, tp: Any) -> bool:
    return not any(message.tp == tp for message in list(self._unacked_messages))


def _repair_hole(self: Any, tp: Any, committed: int, first_acked: int) -> None:
    """Records between the committed offset and the first acknowledged one were lost from faust's books.

    Seen twice in a row with nothing in flight, they are read again from the committed offset (processing is
    idempotent; at-least-once allows it) rather than committed over, which could skip records never processed.
    """
    holes: dict[Any, tuple[int, int]] = self.__dict__.setdefault("_orderstream_holes", {})
    if holes.get(tp) != (committed, first_acked):
        holes[tp] = (committed, first_acked)
        return
    del holes[tp]
    log.warning(
        "%s: offsets %d..%d unaccounted for; reading again from %d", tp, committed, first_acked - 1, committed
    )
    self._acked[tp].clear()
    self._acked_index[tp].clear()
    task = asyncio.ensure_future(self.seek(tp, committed))
    _repairs.add(task)
    task.add_done_callback(_repairs.discard)


def _restore_uncommitted(self: Any, offsets: dict[Any, int]) -> None:
    assigned = self.assignment()
    for tp, offset in offsets.items():
        committed = self._committed_offset.get(tp)
        if assigned and tp not in assigned:
            continue  # moved to another worker: it resumes from the broker's committed offset
        if committed is not None and committed >= offset:
            continue
        start = committed if committed is not None else offset
        run = [o for o in range(start, offset) if o not in self._acked_index[tp]]
        self._acked[tp].extend(run)
        self._acked_index[tp].update(run)


async def _commit_tps(self: Any, tps: Iterable[Any], start_new_transaction: bool) -> bool:
    commit_offsets = self._filter_committable_offsets(tps)
    if not commit_offsets:
        return False
    try:
        await self._handle_attached(commit_offsets)
    except ProducerSendError as exc:
        await self.crash(exc)
        return False
    try:
        did_commit: bool = await self._commit_offsets(
            commit_offsets, start_new_transaction=start_new_transaction
        )
    finally:
        _restore_uncommitted(self, commit_offsets)
    return did_commit


_original_wait_first = Consumer.wait_first


async def _wait_first(self: Any, *coros: Any, timeout: Any = None) -> Any:  # noqa: ASYNC109 (faust's signature)
    """faust hands each fetched record to its streams with ``wait_first(deliver(record), suspend_flow.wait())``:
    four tasks and an ``asyncio.wait`` per record, about 30 % of a no-op worker's CPU. Delivery only blocks
    when a stream's buffer is full or flow is suspended, so while flow runs the delivery is started inline:
    if it finishes without blocking (the common case) that is the result the race would have produced; if
    it blocks, the race goes on exactly as before, with the delivery resumed where it stopped.
    """
    if len(coros) != 2 or timeout is not None or not inspect.iscoroutine(coros[0]):
        return await _original_wait_first(self, *coros, timeout=timeout)
    deliver, suspended = coros
    if self.suspend_flow.is_set() or self.should_stop:
        return await _original_wait_first(self, deliver, suspended)
    try:
        blocked_on = deliver.send(None)
    except StopIteration as done:
        suspended.close()
        return WaitResults([deliver], [done.value], False)
    except BaseException:
        suspended.close()
        raise
    return await _original_wait_first(self, _Resumed(deliver, blocked_on), suspended)


class _Resumed:
    """An awaitable that continues a coroutine which was started by hand and is waiting on ``blocked_on``."""

    def __init__(self, coro: Any, blocked_on: Any) -> None:
        self._coro, self._blocked_on = coro, blocked_on

    def __await__(self) -> Generator[Any, None, Any]:
        coro, waiting = self._coro, self._blocked_on
        while True:
            try:
                yield waiting  # the task running us waits on what the coroutine waits on
            except BaseException as exc:  # e.g. the cancellation of the losing side of the race
                step = functools.partial(coro.throw, exc)
            else:
                step = functools.partial(coro.send, None)
            try:
                waiting = step()
            except StopIteration as done:
                return done.value


_original_commit_transactions = TransactionalProducer.commit_transactions


async def _commit_transactions(
    self: Any, tid_to_offset_map: Any, group_id: str, start_new_transaction: bool = True
) -> None:
    """faust's last commit on shutdown (``start_new_transaction=False``) sends each partition's offsets to
    its open transaction. A producer that has none there makes aiokafka refuse ("Not in the middle of a
    transaction"); faust then fails to stop and waits for the watchdog. Such offsets are left uncommitted
    instead, exactly as a crash would leave them: the next owner processes those records again.
    """
    if not start_new_transaction:
        ready = {}
        for tid, offsets in tid_to_offset_map.items():
            producer = self._transaction_producers.get(tid)
            if producer is not None and not producer._txn_manager.is_in_transaction():
                log.warning("%s has no open transaction; offsets %s left for the next owner", tid, offsets)
                continue
            ready[tid] = offsets
        tid_to_offset_map = ready
    await _original_commit_transactions(
        self, tid_to_offset_map, group_id, start_new_transaction=start_new_transaction
    )


_dropped: weakref.WeakKeyDictionary[Message, int] = weakref.WeakKeyDictionary()
"""Per record: how many of its copies were dropped from stream buffers and will never be acknowledged."""


def _drop(item: Any) -> None:
    message = getattr(item, "message", None)
    if isinstance(message, Message):
        _dropped[message] = _dropped.get(message, 0) + 1


_original_clear = ThrowableQueue.clear


def _clear(self: Any) -> None:
    """A stream buffer emptied on a rebalance: note each event dropped (its record stays unacknowledged)."""
    for item in self._queue:
        _drop(item)
    _original_clear(self)  # also cancels the deliveries waiting for space (see _put)


async def _put(self: Any, value: Any) -> None:
    """Deliver an event to a stream buffer, unless a rebalance has suspended delivery.

    faust's delivery to a full buffer waits, holding the event, until the rebalance is over, and then the stream
    skips it as belonging to an earlier generation. Giving it up at once ends the same way without the wait.
    """
    if not self._flow_control.is_active() and hasattr(value, "message"):
        _drop(value)
        return
    try:
        await FlowControlQueue.put(self, value)
    except asyncio.CancelledError:  # the buffer was emptied while this waited for space
        _drop(value)
        raise


def _clean_unacked_messages(self: Any) -> None:
    """Stop waiting for records that are acknowledged, or whose only unacknowledged copies were dropped."""
    self._unacked_messages -= {
        message
        for message in self._unacked_messages
        if message.acked or message.refcount <= _dropped.get(message, 0)
    }


def apply() -> None:
    ThrowableQueue.clear = _clear  # type: ignore[method-assign]
    ThrowableQueue.put = _put  # type: ignore[method-assign]
    Consumer._clean_unacked_messages = _clean_unacked_messages  # type: ignore[method-assign]
    Consumer._new_offset = _new_offset  # type: ignore[method-assign]
    Consumer._commit_tps = _commit_tps  # type: ignore[method-assign]
    Consumer.wait_first = _wait_first  # type: ignore[method-assign]
    TransactionalProducer.commit_transactions = _commit_transactions  # type: ignore[method-assign]
