"""``orderstream jobs gold-welcome`` as ECS would run it (a process, its command from the overrides), against
moto's S3 over HTTP: one voucher per customer, whatever runs twice; bad input exits 2 with one clear line.
(moto cannot deliver an EventBridge event to an ECS target, so the rule side is a contract test in
tests/infra.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from typing import Any

import boto3
import pytest

pytestmark = pytest.mark.integration

CUSTOMER = "c-000042"


def args(event_id: str | None = None, **overrides: str) -> list[str]:
    fields = {
        "--event-id": event_id or str(uuid.uuid4()),
        "--customer-id": CUSTOMER,
        "--to-tier": "gold",
        "--occurred-at": "2026-11-28T10:15:00.250Z",
        **overrides,
    }
    return [part for option, value in fields.items() for part in (option, value)]


@pytest.fixture
def bucket(aws_endpoint: str) -> tuple[Any, str]:
    s3 = boto3.client("s3", endpoint_url=aws_endpoint, region_name="us-east-1")
    name = f"vouchers-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    return s3, name


def job(aws_endpoint: str, bucket: str, argv: list[str]) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "ORDERSTREAM_AWS_ENDPOINT_URL": aws_endpoint, "ORDERSTREAM_VOUCHERS_BUCKET": bucket}
    return subprocess.run(
        [sys.executable, "-m", "orderstream.cli", "jobs", "gold-welcome", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def objects(s3: Any, bucket: str) -> dict[str, tuple[str, bytes]]:
    listed = s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {o["Key"]: (o["ETag"], s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()) for o in listed}


def test_a_voucher_is_issued_once_and_a_second_run_does_nothing(
    aws_endpoint: str, bucket: tuple[Any, str]
) -> None:
    s3, name = bucket
    event_id = str(uuid.uuid4())
    first = job(aws_endpoint, name, args(event_id))
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["issued"] is True
    issued = objects(s3, name)
    key = f"vouchers/gold-welcome/{CUSTOMER}.json"
    assert list(issued) == [key]
    voucher = json.loads(issued[key][1])
    assert voucher["customer_id"] == CUSTOMER and voucher["issued_for"]["event_id"] == event_id

    redelivered = job(aws_endpoint, name, args(event_id))  # the same event again (EventBridge, a retry)
    gold_again = job(aws_endpoint, name, args())  # gold a second time, after a dip to silver
    for run in (redelivered, gold_again):
        assert run.returncode == 0, run.stderr
        outcome = json.loads(run.stdout)
        assert outcome["issued"] is False and outcome["reason"].startswith("already issued")
    assert objects(s3, name) == issued, "the voucher object is untouched"


@pytest.mark.parametrize(
    ("argv", "says"),
    [
        (args(**{"--to-tier": "silver"}), "--to-tier must be gold"),
        (args(event_id="<event_id>"), "--event-id must be a UUID"),
        (args(**{"--occurred-at": "soon"}), "--occurred-at"),
        (args()[2:], "--event-id"),  # an option missing altogether
    ],
)
def test_bad_input_is_one_clear_line_and_exit_2_and_issues_nothing(
    aws_endpoint: str, bucket: tuple[Any, str], argv: list[str], says: str
) -> None:
    s3, name = bucket
    run = job(aws_endpoint, name, argv)
    assert run.returncode == 2
    assert says in run.stderr and "Traceback" not in run.stderr
    assert objects(s3, name) == {}
