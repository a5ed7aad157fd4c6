"""Router agent: consumer-side filtering of order events into rule topics (``rules/router.yaml``).

Its input is ``order-lifecycle``, or, where the sequencer runs in the same process, the sequencer's releases
in memory. The stage is :class:`streams.stages.router.RouterStage`; test orders never leave it.
"""

from __future__ import annotations

from typing import Any

from orderstream.domain import contract
from orderstream.domain.rules import RouterRuleSet, load_router_rules
from streams.runtime import Runtime, serve
from streams.stages.router import STAGE, TABLE, RouterStage


def _identity(raw: bytes) -> bytes:
    return raw


def declare(rt: Runtime) -> None:
    rules = RouterRuleSet(load_router_rules(rt.settings.router_rules))
    test_orders = rt.table(TABLE, per_order=True)
    for name in rules.target_topics:
        rt.topics_to_create.setdefault(name, {})
    source = rt.channel() if rt.fused else rt.topic(contract.ORDER_LIFECYCLE)

    @rt.app.agent(source, name=STAGE)
    async def router(stream: Any) -> None:
        await serve(stream)

    rt.stage(STAGE, lambda: RouterStage(rules, rt.view(test_orders, _identity, _identity, 200_000)))
