"""What each deployable runs and touches: the one list the infrastructure is checked against.

The Terraform example (``infra/terraform``), ``docker-compose.yml`` and the CLI describe the same four
services; :data:`BESIDE_THE_STREAM` lists the containers of the patterns beside the stream. Tests in
``tests/infra`` compare those files with these lists, so a topic, consumer group or setting renamed here
(or in :mod:`orderstream.settings`) breaks the build instead of a deployment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from pydantic_settings import BaseSettings

from orderstream.domain.contract import (
    DLQ,
    HIGH_VALUE,
    LOYALTY_EVENTS,
    ORDER_LIFECYCLE,
    SOURCE_TOPICS,
)
from orderstream.settings import (
    ENV_PREFIX,
    BridgeSettings,
    GoldWelcomeSettings,
    StatementsSettings,
    StatementsTaskSettings,
    WebhookSettings,
    WorkerSettings,
)

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


@dataclass(frozen=True, slots=True)
class EcsTask:
    """A container of the patterns beside the stream (docs/patterns-on-ecs.md): how it is started, what it
    runs and the settings class its ``ORDERSTREAM_*`` environment must fit."""

    name: str
    """The container name (and ECS service name, for the long-running ones)."""
    command: tuple[str, ...]
    settings: type[BaseSettings]
    started_by: str
    """``service`` (an ECS service), ``step functions`` (RunTask from the state machine) or ``eventbridge``."""
    module: str
    """The Terraform module under infra/terraform/modules that defines it."""


BESIDE_THE_STREAM: Final = MappingProxyType(
    {
        "statements-worker": EcsTask(
            "statements-worker",
            ("orderstream", "statements", "worker"),
            StatementsSettings,
            "service",
            "statements",
        ),
        "statements-task": EcsTask(
            "statements-worker",  # the same container; the state machine overrides its command
            ("orderstream", "statements", "task"),
            StatementsTaskSettings,
            "step functions",
            "statements",
        ),
        "gold-welcome": EcsTask(
            "gold-welcome",
            ("orderstream", "jobs", "gold-welcome"),
            GoldWelcomeSettings,
            "eventbridge",
            "event_task",
        ),
        "webhook": EcsTask(
            "partner-webhook", ("orderstream", "webhook", "serve"), WebhookSettings, "service", "webhook"
        ),
    }
)
"""Role → :class:`EcsTask`: the statements workers (both styles), the gold welcome job, the webhook receiver."""


def env_var(field: str) -> str:
    """The environment variable that sets a settings field (``app_id`` → ``ORDERSTREAM_APP_ID``)."""
    return f"{ENV_PREFIX}{field.upper()}"


def env_vars(settings: type[BaseSettings]) -> frozenset[str]:
    """Every environment variable a settings class reads."""
    return frozenset(env_var(name) for name in settings.model_fields)


def required_env_vars(settings: type[BaseSettings]) -> frozenset[str]:
    """The variables without a default: a deployment must set them."""
    return frozenset(env_var(name) for name, f in settings.model_fields.items() if f.is_required())


# ------------------------------------------------------------------------------------------ templates

_PLACEHOLDER: Final = re.compile(r"\$\{(?:(jsonencode)\(([a-z_]+)\)|([a-z_]+))\}")


def template_placeholders(text: str) -> dict[str, str]:
    """Variable name → ``"plain"`` or ``"jsonencode"`` for every placeholder of a Terraform template."""
    return {m[2] or m[3]: "jsonencode" if m[1] else "plain" for m in _PLACEHOLDER.finditer(text)}


def render_template(text: str, values: Mapping[str, Any]) -> str:
    """Render a template file the way Terraform's ``templatefile()`` does, for the subset the repository's
    templates (ASL, container overrides) use: ``${name}`` (a string or number, inserted as is) and
    ``${jsonencode(name)}`` (a list). Anything else (directives, other functions, unknown names) raises, so
    a template cannot render one way here and another way in Terraform."""
    leftover = _PLACEHOLDER.sub("", text)
    if "${" in leftover or "%{" in leftover:
        raise ValueError("template syntax other than ${name} and ${jsonencode(name)}")
    missing = sorted(set(template_placeholders(text)) - set(values))
    if missing:
        raise ValueError(f"no value for template variable(s) {missing}")

    def value(match: re.Match[str]) -> str:
        if match[1]:
            return json.dumps(list(values[match[2]]))
        return str(values[match[3]])

    return _PLACEHOLDER.sub(value, text)
