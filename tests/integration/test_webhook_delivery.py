"""``orderstream webhook serve`` for real (a process on 127.0.0.1, S3 in moto), and moto's API-destination
delivery to it.

What moto's delivery (``MOTO_EVENTS_INVOKE_HTTP=true``, set by ``orderstream local up``) proves: the
Terraform rule pattern matches a tier change as the bridge publishes it, the target resolves to the API
destination, and its endpoint and method are called over HTTP with the target's header parameters. What it
does not: moto sends no body, does not apply the connection's API key, and has no rate limit, retries or
DLQ. The receiver's own handling of bodies, keys and repeats is tested here against the served process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from streams_harness import free_port

from consumers.mapping import KafkaOrigin, build_entry
from orderstream.domain.contract import LOYALTY_EVENTS, LoyaltyEvent
from orderstream.domain.rules import BridgeRuleSet, load_bridge_rules
from orderstream.settings import BridgeSettings

pytestmark = pytest.mark.integration

KEY = "partner-key-" + "x" * 24
PATTERN = (
    Path(__file__).resolve().parents[2]
    / "infra/terraform/examples/complete/ecs_patterns/partner_webhook.pattern.json"
)


def loyalty_event(kind: str = "loyalty.tier_changed", event_id: str | None = None) -> dict[str, Any]:
    data = {"from_tier": "silver", "to_tier": "gold", "points": 2000} if kind.endswith("tier_changed") else {
        "points_delta": 20, "points": 2000,
    }  # fmt: skip
    return LoyaltyEvent.model_validate(
        {
            "event_id": event_id or str(uuid.uuid4()),
            "event_type": kind,
            "occurred_at": datetime(2026, 11, 28, 10, 15, tzinfo=UTC),
            "customer_id": "c-000042",
            "order_id": "o-1",
            "caused_by": str(uuid.uuid4()),
            "data": data,
        }
    ).model_dump(mode="json")


def as_published(envelope: dict[str, Any], bus: str) -> dict[str, Any]:
    """The PutEvents entry the bridge makes of a ``loyalty-events`` record with its default rules (the rule
    that publishes tier changes; other loyalty events get the same Source and their own DetailType)."""
    rules = BridgeRuleSet(load_bridge_rules(BridgeSettings.model_fields["bridge_rules"].default))
    rule = rules.select(LOYALTY_EVENTS, loyalty_event())
    assert rule is not None, "the bridge publishes every tier change"
    entry = build_entry(rule, envelope, KafkaOrigin(LOYALTY_EVENTS, 0, 7, b"c-000042"), bus)
    assert not hasattr(entry, "reason"), entry
    return {
        "Source": entry.source,
        "DetailType": entry.detail_type,
        "Detail": entry.detail,
        "EventBusName": bus,
    }


def wrapped(envelope: dict[str, Any]) -> dict[str, Any]:
    """The EventBridge event the API destination sends as its body."""
    return {"version": "0", "id": str(uuid.uuid4()), "source": "orderstream.loyalty",
            "detail-type": envelope["event_type"], "detail": envelope}  # fmt: skip


class Receiver:
    def __init__(self, aws_endpoint: str, bucket: str, log: Path) -> None:
        self.port = free_port()
        env = {
            **os.environ,
            "ORDERSTREAM_WEBHOOK_PORT": str(self.port),
            "ORDERSTREAM_WEBHOOK_API_KEY": KEY,
            "ORDERSTREAM_WEBHOOK_BUCKET": bucket,
            "ORDERSTREAM_AWS_ENDPOINT_URL": aws_endpoint,
        }
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "orderstream.cli", "webhook", "serve"], env=env, stdout=out, stderr=out
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                self.health()
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"webhook receiver did not answer; see {log}")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/webhooks/loyalty"

    def health(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=5) as resp:
            return dict(json.loads(resp.read()))

    def post(self, body: dict[str, Any], key: str = KEY) -> tuple[int, dict[str, Any]]:
        request = urllib.request.Request(
            self.url, data=json.dumps(body).encode(), method="POST", headers={"x-api-key": key}
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as resp:
                return resp.status, json.loads(resp.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def stop(self) -> int:
        self.proc.terminate()
        return self.proc.wait(timeout=20)


@pytest.fixture
def store(aws_endpoint: str) -> tuple[Any, str]:
    s3 = boto3.client("s3", endpoint_url=aws_endpoint, region_name="us-east-1")
    bucket = f"webhook-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    return s3, bucket


@pytest.fixture
def receivers(aws_endpoint: str, store: tuple[Any, str], tmp_path: Path) -> Iterator[list[Receiver]]:
    """Two receiver processes sharing one bucket: two tasks of the ECS service."""
    started = [Receiver(aws_endpoint, store[1], tmp_path / f"receiver-{i}.log") for i in range(2)]
    yield started
    for receiver in started:
        assert receiver.stop() == 0, "the receiver stops cleanly on SIGTERM"


def test_the_served_receiver_records_each_event_once_across_tasks(
    receivers: list[Receiver], store: tuple[Any, str]
) -> None:
    s3, bucket = store
    one, other = receivers
    event = wrapped(loyalty_event())
    event_id = event["detail"]["event_id"]
    assert one.post(event) == (200, {"status": "accepted", "event_id": event_id})
    assert one.post(event)[1]["status"] == "duplicate"
    assert other.post({**event, "id": str(uuid.uuid4())})[1]["status"] == "duplicate", "shared through S3"
    assert one.post(event, key="nope" * 8)[0] == 401
    assert one.post(wrapped(loyalty_event("loyalty.points_awarded")))[0] == 400
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    assert keys == [f"webhook/loyalty/{event_id}.json"]
    stored = json.loads(s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read())
    assert stored["detail"]["event_id"] == event_id
    assert one.health()["counts"] == {"accepted": 1, "duplicate": 1, "unauthorized": 1, "rejected": 1}


def test_moto_calls_the_api_destination_for_a_tier_change_the_rule_matches(
    receivers: list[Receiver], aws_endpoint: str
) -> None:
    receiver = receivers[0]
    events = boto3.client("events", endpoint_url=aws_endpoint, region_name="us-east-1")
    bus = f"partner-{uuid.uuid4().hex[:6]}"
    events.create_event_bus(Name=bus)
    connection = events.create_connection(
        Name=bus,
        AuthorizationType="API_KEY",
        AuthParameters={"ApiKeyAuthParameters": {"ApiKeyName": "x-api-key", "ApiKeyValue": KEY}},
    )["ConnectionArn"]
    destination = events.create_api_destination(
        Name=bus,
        ConnectionArn=connection,
        InvocationEndpoint=receiver.url,
        HttpMethod="POST",
        InvocationRateLimitPerSecond=10,
    )["ApiDestinationArn"]
    events.put_rule(Name=bus, EventBusName=bus, EventPattern=PATTERN.read_text())
    # moto does not apply the connection's key: the target's header parameter carries it instead.
    target = {"Id": "partner", "Arn": destination, "HttpParameters": {"HeaderParameters": {"x-api-key": KEY}}}
    events.put_targets(Rule=bus, EventBusName=bus, Targets=[target])

    before = receiver.health()["counts"]
    answer = events.put_events(Entries=[as_published(loyalty_event("loyalty.points_awarded"), bus)])
    assert answer["FailedEntryCount"] == 0
    assert receiver.health()["counts"] == before, "the rule sends tier changes only"
    answer = events.put_events(Entries=[as_published(loyalty_event(), bus)])
    assert answer["FailedEntryCount"] == 0
    counts = receiver.health()["counts"]
    if counts == before:
        pytest.fail(
            "moto made no HTTP call: start it with MOTO_EVENTS_INVOKE_HTTP=true (orderstream local up does)"
        )
    # The call arrived with the key; moto sends no body, which the receiver refuses (400).
    assert counts == {**before, "rejected": before.get("rejected", 0) + 1}
