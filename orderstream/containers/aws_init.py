"""The compose stack's AWS side (``aws-init`` in docker-compose.yml), against moto or any endpoint.

Creates the event bus, the bridge's claim-check bucket, and for each production rule pattern
(``infra/terraform/examples/complete/patterns/*.json``, as the Terraform example deploys them) the rule with
one SQS queue ``<bus>-<rule>`` as its target, so what the bridge publishes can be read back. Every step is
idempotent: a second ``docker compose up`` against the same moto changes nothing.
Settings: ``ORDERSTREAM_AWS_ENDPOINT_URL``, ``ORDERSTREAM_AWS_REGION``, ``ORDERSTREAM_EVENT_BUS``,
``ORDERSTREAM_BRIDGE_CLAIM_CHECK_BUCKET``.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Any

from orderstream.demo_aws import rule_patterns


def queue_name(bus: str, rule: str) -> str:
    return f"{bus}-{rule}"


def create(endpoint: str | None, region: str, bus: str, bucket: str | None) -> dict[str, str]:
    """Bus, bucket, rules and their queues; returns rule name → queue URL."""
    import boto3

    kw: dict[str, Any] = {"endpoint_url": endpoint, "region_name": region}
    events, sqs, s3 = boto3.client("events", **kw), boto3.client("sqs", **kw), boto3.client("s3", **kw)
    if bus not in {b["Name"] for b in events.list_event_buses()["EventBuses"]}:
        events.create_event_bus(Name=bus)
    if bucket:
        with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
            s3.create_bucket(Bucket=bucket)
    queues = {}
    for rule, pattern in rule_patterns().items():
        url = sqs.create_queue(QueueName=queue_name(bus, rule))["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events.put_rule(Name=rule, EventBusName=bus, EventPattern=pattern, State="ENABLED")
        events.put_targets(Rule=rule, EventBusName=bus, Targets=[{"Id": "queue", "Arn": arn}])
        queues[rule] = url
    return queues


def main() -> None:
    env = os.environ
    try:
        queues = create(
            env.get("ORDERSTREAM_AWS_ENDPOINT_URL"),
            env.get("ORDERSTREAM_AWS_REGION", "us-east-1"),
            env.get("ORDERSTREAM_EVENT_BUS", "orderstream"),
            env.get("ORDERSTREAM_BRIDGE_CLAIM_CHECK_BUCKET"),
        )
    except Exception as exc:  # one line for the compose log, not a traceback
        print(f"aws-init: {type(exc).__name__}: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    for rule, url in queues.items():
        print(f"rule {rule} -> {url}")


if __name__ == "__main__":
    main()
