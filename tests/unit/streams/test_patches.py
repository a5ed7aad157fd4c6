"""The faust changes of :mod:`streams.patches`: the inline record hand-over against a real ``mode`` service
(same results as faust's race of delivery against a flow suspension, whether the delivery blocks or not),
and the exactly_once shutdown commit against fake transactional producers."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from mode import Service

from streams import patches


class Flow(Service):
    """Stands in for faust's consumer: a service with a ``suspend_flow`` event."""

    def __post_init__(self) -> None:
        self.suspend_flow = asyncio.Event()


def test_a_delivery_that_does_not_block_runs_inline_and_the_other_side_is_closed() -> None:
    async def scenario() -> None:
        flow = Flow()
        delivered: list[int] = []

        async def deliver() -> str:
            delivered.append(1)
            return "done"

        suspended = flow.suspend_flow.wait()
        result = await patches._wait_first(flow, deliver(), suspended)
        assert (result.results, result.stopped, delivered) == (["done"], False, [1])
        assert suspended.cr_frame is None  # closed, so no "never awaited" warning
        assert not [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    asyncio.run(scenario())


def test_a_blocked_delivery_resumes_where_it_stopped_and_returns_its_value() -> None:
    async def scenario() -> None:
        flow = Flow()
        room = asyncio.get_running_loop().create_future()
        steps: list[str] = []

        async def deliver() -> str:
            steps.append("before")
            value = await room  # a full stream buffer
            steps.append(f"after {value}")
            return "delivered"

        asyncio.get_running_loop().call_later(0.05, room.set_result, "room")
        result = await patches._wait_first(flow, deliver(), flow.suspend_flow.wait())
        assert result.results == ["delivered"]
        assert steps == ["before", "after room"]

    asyncio.run(scenario())


def test_a_blocked_delivery_loses_to_a_suspension_and_is_cancelled() -> None:
    async def scenario() -> None:
        flow = Flow()
        never = asyncio.get_running_loop().create_future()
        outcome: list[str] = []

        async def deliver() -> None:
            try:
                await never
            except asyncio.CancelledError:
                outcome.append("cancelled")
                raise

        asyncio.get_running_loop().call_later(0.05, flow.suspend_flow.set)
        result = await patches._wait_first(flow, deliver(), flow.suspend_flow.wait())
        await asyncio.sleep(0)  # let the cancellation reach the delivery
        assert result.results == [True]  # the suspension won, as in faust's own race
        assert outcome == ["cancelled"]

    asyncio.run(scenario())


def test_while_flow_is_suspended_the_original_race_runs() -> None:
    async def scenario() -> None:
        flow = Flow()
        flow.suspend_flow.set()
        started: list[int] = []

        async def deliver() -> None:
            started.append(1)
            await asyncio.sleep(1)

        result = await patches._wait_first(flow, deliver(), flow.suspend_flow.wait())
        assert result.results == [True] and started in ([], [1])
        await asyncio.sleep(0)

    asyncio.run(scenario())


def test_a_delivery_that_fails_at_once_raises_its_error() -> None:
    async def scenario() -> None:
        flow = Flow()

        async def deliver() -> None:
            raise ValueError("bad record")

        suspended = flow.suspend_flow.wait()
        try:
            await patches._wait_first(flow, deliver(), suspended)
        except ValueError as exc:
            assert str(exc) == "bad record"
        else:
            raise AssertionError("the error was swallowed")
        assert suspended.cr_frame is None

    asyncio.run(scenario())


class FakeTransactionalProducer:
    """An aiokafka transactional producer as faust's commit path uses it: records what it was asked."""

    def __init__(self, in_transaction: bool) -> None:
        self.in_transaction = in_transaction
        self._txn_manager = self
        self.calls: list[object] = []

    def is_in_transaction(self) -> bool:
        return self.in_transaction

    async def send_offsets_to_transaction(self, offsets: dict[str, int], group_id: str) -> None:
        assert self.in_transaction, "aiokafka: Not in the middle of a transaction"
        self.calls.append(("offsets", offsets, group_id))

    async def commit_transaction(self) -> None:
        self.calls.append("commit")
        self.in_transaction = False

    async def begin_transaction(self) -> None:
        self.calls.append("begin")
        self.in_transaction = True


def _producers(**in_transaction: bool) -> Any:
    producers = {tid: FakeTransactionalProducer(flag) for tid, flag in in_transaction.items()}
    return SimpleNamespace(_transaction_producers=producers, _trn_locks=defaultdict(asyncio.Lock))


def test_the_shutdown_commit_leaves_offsets_of_a_producer_without_a_transaction_uncommitted() -> None:
    holder = _producers(open=True, ended=False)
    offsets = {"open": {"tp-0": 5}, "ended": {"tp-1": 7}}
    asyncio.run(patches._commit_transactions(holder, offsets, "g", start_new_transaction=False))
    assert holder._transaction_producers["open"].calls == [("offsets", {"tp-0": 5}, "g"), "commit"]
    assert holder._transaction_producers["ended"].calls == []


def test_a_running_commit_still_commits_and_begins_the_next_transaction() -> None:
    holder = _producers(a=True)
    asyncio.run(patches._commit_transactions(holder, {"a": {"tp-0": 3}}, "g"))
    assert holder._transaction_producers["a"].calls == [("offsets", {"tp-0": 3}, "g"), "commit", "begin"]


def _record(offset: int, copies: int) -> Any:
    """A faust record handed to ``copies`` streams, and the event they share (as faust's conductor does)."""
    from faust.types.tuples import Message

    message = Message("order-lifecycle", 0, offset, 0.0, None, None, b"k", b"v", None)
    message.incref(copies)
    return SimpleNamespace(message=message)


def _consumer(*messages: Any) -> Any:
    import weakref

    return SimpleNamespace(_unacked_messages=weakref.WeakSet(messages))


def test_a_rebalance_stops_waiting_for_a_record_whose_only_unprocessed_copy_was_dropped() -> None:
    from mode.utils.queues import FlowControlEvent, ThrowableQueue

    async def scenario() -> None:
        flow = FlowControlEvent(initially_suspended=False)
        router, loyalty = (ThrowableQueue(flow_control=flow, clear_on_resume=True) for _ in range(2))
        done, waiting, untouched = _record(1, 2), _record(2, 2), _record(3, 2)
        for event in (done, waiting, untouched):
            router.put_nowait(event)
            loyalty.put_nowait(event)
        for _ in range(3):  # the router takes all three; it finishes the first and is still on the second
            await router.get()
        done.message.ack(None)
        flow.suspend()
        patches._clear(loyalty)  # the rebalance empties loyalty's buffer
        consumer = _consumer(done.message, waiting.message, untouched.message)
        patches._clean_unacked_messages(consumer)
        # still held by the router, which has neither finished nor acknowledged it
        assert set(consumer._unacked_messages) == {waiting.message, untouched.message}
        untouched.message.ack(None)  # the router finishes the third
        patches._clean_unacked_messages(consumer)
        assert set(consumer._unacked_messages) == {waiting.message}
        # never acknowledged in full, so never committed: the next owner reads them again
        assert not done.message.acked and not untouched.message.acked

    asyncio.run(scenario())


def test_a_delivery_during_a_rebalance_is_given_up_instead_of_waiting_for_it_to_end() -> None:
    from mode.utils.queues import FlowControlEvent, ThrowableQueue

    async def scenario() -> None:
        flow = FlowControlEvent(initially_suspended=False)
        full = ThrowableQueue(maxsize=1, flow_control=flow, clear_on_resume=True)
        full.put_nowait(_record(1, 1))
        blocked = _record(2, 1)
        put = asyncio.ensure_future(patches._put(full, blocked))
        await asyncio.sleep(0.01)
        assert not put.done()  # waiting for room in the buffer
        flow.suspend()
        patches._clear(full)  # the rebalance empties the buffer and cancels the waiting delivery
        await asyncio.gather(put, return_exceptions=True)
        assert put.cancelled() and full.empty()
        late = _record(3, 1)
        await asyncio.wait_for(patches._put(full, late), timeout=1)  # returns at once, delivering nothing
        assert full.empty()
        consumer = _consumer(blocked.message, late.message)
        patches._clean_unacked_messages(consumer)
        assert not set(consumer._unacked_messages)

    asyncio.run(scenario())
