"""What each deployable runs and touches: the one list the infrastructure is checked against.

The Terraform example (``infra/terraform``), ``docker-compose.yml`` and the CLI describe the same four
services. Tests in ``tests/infra`` compare those files with :data:`SERVICES`, so a topic, consumer group or
setting renamed here (or in :mod:`orderstream.settings`) breaks the build instead of a deployment.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from pydantic_settings import BaseSettings

from orderstream.domain.contract import (
    DLQ,
    HIGH_VALUE,
    LOYALTY_EVENTS,
    ORDER_LIFECYCLE,
    SOURCE_TOPICS,
)
from orderstream.settings import ENV_PREFIX, BridgeSettings, WorkerSettings

DEFAULT_APP_ID: Final = "orderstream"


@dataclass(frozen=True, slots=True)
class Deployable:
    """One independently scaled process: its command line, settings and Kafka footprint."""

    name: str
    command: tuple[str, ...]
    settings: type[BaseSettings]
    agents: tuple[str, ...]
    reads: tuple[str, ...]
    writes: tuple[str, ...]
    faust_internal_topics: bool
    """A faust worker also creates changelog and assignor topics prefixed by its group id."""
    health_port_field: str
    """The settings field naming the port that serves ``GET /health``."""

    def group_id(self, app_id: str = DEFAULT_APP_ID) -> str:
        """The consumer group (and prefix of internal topics and transactional ids)."""
        return f"{app_id}-{self.name}"

    @property
    def topics(self) -> frozenset[str]:
        return frozenset(self.reads) | frozenset(self.writes)


def _worker(name: str, reads: tuple[str, ...], writes: tuple[str, ...]) -> Deployable:
    return Deployable(
        name=name,
        command=("orderstream", "worker"),
        settings=WorkerSettings,
        agents=(name,),
        reads=reads,
        writes=(*writes, DLQ),
        faust_internal_topics=True,
        health_port_field="web_port",
    )


SERVICES: Final = MappingProxyType(
    {
        "sequencer": _worker("sequencer", SOURCE_TOPICS, (ORDER_LIFECYCLE,)),
        "router": _worker("router", (ORDER_LIFECYCLE,), (HIGH_VALUE,)),
        "loyalty": _worker("loyalty", (ORDER_LIFECYCLE,), (LOYALTY_EVENTS,)),
        "bridge": Deployable(
            name="bridge",
            command=("orderstream", "bridge"),
            settings=BridgeSettings,
            agents=(),
            reads=(ORDER_LIFECYCLE, LOYALTY_EVENTS),
            writes=(DLQ,),
            faust_internal_topics=False,
            health_port_field="metrics_port",
        ),
    }
)
"""Service name → :class:`Deployable`; the names are those of the ECS services and compose services."""


def env_var(field: str) -> str:
    """The environment variable that sets a settings field (``app_id`` → ``ORDERSTREAM_APP_ID``)."""
    return f"{ENV_PREFIX}{field.upper()}"


def env_vars(settings: type[BaseSettings]) -> frozenset[str]:
    """Every environment variable a settings class reads."""
    return frozenset(env_var(name) for name in settings.model_fields)


def required_env_vars(settings: type[BaseSettings]) -> frozenset[str]:
    """The variables without a default: a deployment must set them."""
    return frozenset(env_var(name) for name, f in settings.model_fields.items() if f.is_required())
