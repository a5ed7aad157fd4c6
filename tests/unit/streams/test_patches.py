"""The faust change of :mod:`streams.patches`: the inline record hand-over against a real ``mode`` service
(same results as faust's race of delivery against a flow suspension, whether the delivery blocks or not),
and the version fence."""

from __future__ import annotations

import asyncio
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


def test_apply_refuses_a_faust_or_mode_it_was_not_written_for(monkeypatch: Any) -> None:
    import pytest

    monkeypatch.setattr(
        patches, "_installed", lambda name: "0.16.0" if name == "faust-streaming" else "0.7.1"
    )
    with pytest.raises(patches.UnsupportedFaust, match=r"faust-streaming 0\.16\.0"):
        patches.apply()
