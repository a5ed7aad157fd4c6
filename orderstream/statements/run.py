"""``orderstream statements run``: start one month's execution and follow it to the end.

On AWS the state machine exists (Terraform) and ECS runs its tasks. Against moto
(``ORDERSTREAM_AWS_ENDPOINT_URL`` set), :mod:`orderstream.statements.local` first stands in for Terraform
(creates the state machine and what it refers to) and, while the execution runs, for ECS (runs the tasks
moto records).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from orderstream.domain.statements import Month
from orderstream.errors import ConfigError, OrderstreamError
from orderstream.settings import StatementsSettings
from orderstream.statements.worker import sfn_client


@dataclass
class RunResult:
    execution_arn: str
    status: str
    output: dict[str, Any] | None = None
    error: str | None = None
    cause: str | None = None
    tasks: list[dict[str, Any]] = field(default_factory=list)
    """Local runs: every ECS task moto recorded and this process ran (command, step, exit code)."""

    @property
    def complete(self) -> bool:
        return (
            self.status == "SUCCEEDED" and self.output is not None and self.output.get("failed_shards") == 0
        )

    @property
    def failed_shards(self) -> list[dict[str, Any]]:
        return [r for r in (self.output or {}).get("results") or [] if r.get("failed")]

    def lines(self) -> list[str]:
        out = [f"execution {self.execution_arn}: {self.status}"]
        if self.output is not None:
            out.append(json.dumps(self.output, sort_keys=True))
        if self.error or self.cause:
            out.append(f"error {self.error}: {self.cause}")
        for failed in self.failed_shards:
            out.append(
                f"shard {failed.get('shard')} failed after retries: {failed.get('error')}: {failed.get('cause')}"
            )
        return out


def execution_name(month: Month) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"statements-{month}-{stamp}-{uuid.uuid4().hex[:6]}"


def start(sfn: Any, state_machine_arn: str, month: Month) -> str:
    answer = sfn.start_execution(
        stateMachineArn=state_machine_arn,
        name=execution_name(month),
        input=json.dumps({"month": str(month)}),
    )
    return str(answer["executionArn"])


def follow(
    sfn: Any, execution_arn: str, timeout: float, tick: Callable[[], None] = lambda: None, every: float = 1.0
) -> RunResult:
    """Poll the execution until it ends (calling ``tick`` between polls) or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        tick()
        described = sfn.describe_execution(executionArn=execution_arn)
        status = described["status"]
        if status != "RUNNING":
            output = described.get("output")
            return RunResult(
                execution_arn,
                status,
                json.loads(output) if output else None,
                described.get("error"),
                described.get("cause"),
            )
        if time.monotonic() > deadline:
            raise OrderstreamError(f"execution {execution_arn} still RUNNING after {timeout:.0f}s")
        time.sleep(every)


def run(settings: StatementsSettings, month: Month, *, emulate: bool, timeout: float) -> RunResult:
    """Start ``month``'s execution and wait for it; ``emulate`` = provision and run the ECS tasks locally."""
    if emulate:
        from orderstream.statements import local

        return local.run(settings, month, timeout=timeout)
    if not settings.statements_state_machine_arn:
        raise ConfigError(
            "ORDERSTREAM_STATEMENTS_STATE_MACHINE_ARN", "set it to the statements state machine"
        )
    sfn = sfn_client(settings)
    return follow(sfn, start(sfn, settings.statements_state_machine_arn, month), timeout, every=5.0)
