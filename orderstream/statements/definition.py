"""The state machine's definition: one ASL template file, rendered here exactly as Terraform renders it.

``infra/terraform/modules/statements/statements.asl.json.tftpl`` is read by Terraform's ``templatefile()`` and
by :func:`render` (the local stack and the tests), with :func:`orderstream.deploy.render_template`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Final, Literal

from orderstream.deploy import render_template, template_placeholders
from orderstream.local import PROJECT_ROOT

TEMPLATE: Final = (
    PROJECT_ROOT / "infra" / "terraform" / "modules" / "statements" / "statements.asl.json.tftpl"
)

WorkerStyle = Literal["activity", "run_task"]


@dataclass(frozen=True)
class DefinitionVars:
    """The template's variables: the same names as ``local.definition_vars`` in the Terraform module."""

    worker_style: WorkerStyle
    activity_arn: str
    cluster_arn: str
    task_definition_arn: str
    container_name: str
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]
    event_bus_name: str
    bucket: str
    max_concurrency: int = 10
    heartbeat_seconds: int = 300
    timeout_seconds: int = 3600
    retry_interval_seconds: int = 30
    retry_max_attempts: int = 3
    retry_backoff_rate: float = 2.0

    def __post_init__(self) -> None:
        if self.worker_style not in ("activity", "run_task"):
            raise ValueError(f"worker_style must be activity or run_task, got {self.worker_style!r}")


def placeholders(text: str) -> dict[str, str]:
    """Variable name → ``"plain"`` or ``"jsonencode"`` for every placeholder of the template text."""
    return template_placeholders(text)


def render(values: DefinitionVars, template: Path = TEMPLATE) -> str:
    """The definition as JSON text. Fails on a placeholder it does not know or any other template syntax."""
    known = {f.name for f in fields(DefinitionVars)}
    text = template.read_text()
    unknown = set(template_placeholders(text)) - known
    if unknown:
        raise ValueError(f"{template.name}: unknown variable(s) {sorted(unknown)}")
    rendered = render_template(text, asdict(values))
    json.loads(rendered)  # a placeholder in the wrong place shows here, not in Step Functions
    return rendered


def parsed(values: DefinitionVars, template: Path = TEMPLATE) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(render(values, template))
    return loaded
