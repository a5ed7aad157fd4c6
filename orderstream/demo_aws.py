"""The demo's AWS side: an EventBridge bus whose rules deliver to SQS queues, all in moto (or any endpoint).

The rule patterns are the production ones (``infra/terraform/examples/complete/patterns/*.json``): one rule per
file, named after it, each with two targets: an SQS queue (what a real consumer would read) and a CloudWatch
Logs group (an archive of the same deliveries). The report reads the log group — moto's SQS receive gets slow
with thousands of messages waiting — and leaves the queues untouched for anyone to read afterwards; since
both are targets of the same rule, they receive the same events.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orderstream.local import PROJECT_ROOT

PATTERNS_DIR = PROJECT_ROOT / "infra" / "terraform" / "examples" / "complete" / "patterns"


def rule_patterns(directory: Path = PATTERNS_DIR) -> dict[str, str]:
    """Rule name → event pattern JSON, one per ``*.json`` file."""
    return {path.stem: path.read_text() for path in sorted(directory.glob("*.json"))}


@dataclass(frozen=True)
class Target:
    rule: str
    queue_url: str
    queue_arn: str
    log_group: str = ""


@dataclass
class Delivery:
    """One message an EventBridge rule put on its queue."""

    rule: str
    detail_type: str
    event_id: str
    sent_ms: int


@dataclass
class Deliveries:
    by_rule: dict[str, list[Delivery]] = field(default_factory=dict)

    def counts(self) -> dict[str, dict[str, int]]:
        """rule → detail-type → messages."""
        return {
            rule: dict(sorted(Counter(d.detail_type for d in items).items()))
            for rule, items in sorted(self.by_rule.items())
        }


class DemoBus:
    """Creates the bus, rules and queues for one demo run, and reads the queues back."""

    def __init__(self, endpoint: str, bus: str, run_id: str, region: str = "us-east-1") -> None:
        import boto3

        self.bus = bus
        self.run_id = run_id
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region
        )
        self._events = session.client("events", endpoint_url=endpoint)
        self._sqs = session.client("sqs", endpoint_url=endpoint)
        self._logs = session.client("logs", endpoint_url=endpoint)
        self.targets: list[Target] = []

    def create(self, patterns: dict[str, str] | None = None) -> list[Target]:
        """Bus (if missing), one rule per pattern, one fresh queue per rule for this run."""
        patterns = patterns if patterns is not None else rule_patterns()
        existing = {b["Name"] for b in self._events.list_event_buses()["EventBuses"]}
        if self.bus not in existing:
            self._events.create_event_bus(Name=self.bus)
        for rule, pattern in patterns.items():
            url = self._sqs.create_queue(QueueName=f"{self.bus}-{rule}-{self.run_id}")["QueueUrl"]
            arn = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
            group = self.log_group(rule)
            self._logs.create_log_group(logGroupName=group)
            group_arn = f"arn:aws:logs:{self._logs.meta.region_name}:123456789012:log-group:{group}"
            self._events.put_rule(Name=rule, EventBusName=self.bus, EventPattern=pattern, State="ENABLED")
            # Targets are replaced each run (same ids): an earlier run's queue and log group stop receiving.
            self._events.put_targets(
                Rule=rule,
                EventBusName=self.bus,
                Targets=[{"Id": "queue", "Arn": arn}, {"Id": "archive", "Arn": group_arn}],
            )
            self.targets.append(Target(rule, url, arn, group))
        return self.targets

    def log_group(self, rule: str) -> str:
        return f"/orderstream/demo/{self.bus}/{self.run_id}/{rule}"

    def depth(self) -> dict[str, int]:
        """Messages waiting per rule's queue (cheap; used by the live view)."""
        out = {}
        for target in self.targets:
            attrs = self._sqs.get_queue_attributes(
                QueueUrl=target.queue_url,
                AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
            )["Attributes"]
            out[target.rule] = int(attrs.get("ApproximateNumberOfMessages", 0)) + int(
                attrs.get("ApproximateNumberOfMessagesNotVisible", 0)
            )
        return out

    def read(self) -> Deliveries:
        """Every delivery of every rule, from its archive log group (the queues are left as they are)."""
        return Deliveries(
            {t.rule: read_log_group(self._logs, t.rule, self.log_group(t.rule)) for t in self.targets}
        )


def read_log_group(logs: Any, rule: str, group: str) -> list[Delivery]:
    """Every event EventBridge wrote to ``group``; the log event's timestamp is the delivery time."""
    out = []
    for page in logs.get_paginator("filter_log_events").paginate(logGroupName=group):
        for item in page.get("events", []):
            body = json.loads(item["message"])
            detail = body.get("detail") or {}
            out.append(
                Delivery(
                    rule, str(body.get("detail-type", "")), str(detail.get("event_id", "")), item["timestamp"]
                )
            )
    return out
