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
