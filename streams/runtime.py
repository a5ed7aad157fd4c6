"""What the agents of one worker share: the faust app, its tables, counters and the data plane.

``build`` (in :mod:`streams.worker`) creates one :class:`Runtime`, lets each configured agent declare itself
on it (:mod:`streams.sequencer`, :mod:`streams.router`, :mod:`streams.loyalty`), then wires the data plane.
The agents depend on the runtime; the runtime knows no agent.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import faust

from orderstream import kafka
from orderstream.settings import WorkerSettings
from streams.app import WorkerApp, faust_id, make_app
from streams.stages.batch import StateView
from streams.tables import CustomerPartitionedTable, declare

V = TypeVar("V")

RAW: dict[str, Any] = {
    "key_type": bytes,
    "value_type": bytes,
    "key_serializer": "raw",
    "value_serializer": "raw",
}


@dataclass
class Counters:
    """Per-stage counts this process has seen; served on /counters and /metrics."""

    counts: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.time)

    def inc(self, name: str, by: int = 1) -> None:
        self.counts[name] += by


async def serve(stream: Any) -> None:
    """An agent's body. The data plane takes the agent's records out of each fetch and runs its stage on
    them in batches, so nothing arrives here; the agent stays the declared unit (its name, its input, its
    place in faust's assignment and lifecycle)."""
    async for _ in stream:
        pass


class Runtime:
    """The faust app and what the agents declare on it."""

    def __init__(self, settings: WorkerSettings) -> None:
        self.settings = settings
        self.group = faust_id(settings)
        self.app: WorkerApp = make_app(settings)
        self.counters = Counters()
        self.tables: dict[str, CustomerPartitionedTable] = {}
        self.stages: dict[str, Callable[[], Any]] = {}
        self.topics_to_create: dict[str, dict[str, str]] = {}
        self.plane: Any = None
        """The :class:`streams.dataplane.plane.DataPlane`, wired by :func:`streams.worker.build`."""

    @property
    def fused(self) -> bool:
        """The sequencer runs here: its releases feed the router and loyalty stages in memory."""
        return "sequencer" in self.settings.agent_set

    def topic(self, *names: str) -> faust.TopicT:
        return self.app.topic(*names, **RAW)

    def channel(self) -> faust.ChannelT[Any]:
        """The in-memory input of an agent fed by the sequencer in this process."""
        return self.app.channel()

    def table(self, name: str, *, per_order: bool) -> CustomerPartitionedTable:
        table = declare(self.app, name, self.settings.topic_partitions, per_order=per_order)
        self.tables[name] = table
        self.topics_to_create[table.changelog_topic.get_topic_name()] = {"cleanup.policy": "compact"}
        return table

    def view(
        self,
        table: CustomerPartitionedTable,
        decode: Callable[[bytes], V],
        encode: Callable[[V], bytes],
        cache_limit: int,
    ) -> StateView[V]:
        return StateView(table.name, table.data.get, decode, encode, cache_limit)

    def stage(self, name: str, factory: Callable[[], Any]) -> None:
        """Register the stage an agent runs (built when the first partition is assigned)."""
        self.stages[name] = factory

    def changelog_topic(self, table: str) -> str:
        return str(self.tables[table].changelog_topic.get_topic_name())

    async def create_topics(self) -> None:
        """Create the topics this process writes to and faust would not declare in time: changelogs (faust's
        own creation races its metadata on start), and the router's target topics (missing ones)."""
        for name, configs in self.topics_to_create.items():
            await kafka.create_topics(self.settings, [name], configs=configs)
