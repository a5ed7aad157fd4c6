"""The two steps a statements worker runs, whichever way it got them (Activity or RunTask):

- ``plan``: decide the month and take the high watermarks of every partition; returns the shards;
- ``shard``: read one shard up to those watermarks and write one statement per customer to S3; returns a
  shard summary (counts only: the state machine's payload stays small whatever the shard's size).

Each step's input and output are JSON objects (the state machine's), see ``statements.asl.json.tftpl``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from orderstream import aws
from orderstream.domain import statements as domain
from orderstream.domain.statements import Month, Shard, ShardSummary
from orderstream.settings import StatementsSettings
from orderstream.statements import source
from orderstream.statements.errors import BadInput, StatementsError

log = logging.getLogger("orderstream.statements")

Heartbeat = Callable[[], None]
WRITE_CHUNK = 200
"""Statements written between two heartbeats."""


def run_step(
    settings: StatementsSettings, request: Mapping[str, Any], heartbeat: Heartbeat
) -> dict[str, Any]:
    """Run the step ``request["step"]`` names and return its output."""
    if not isinstance(request, Mapping):
        raise BadInput(f"a step's input must be a JSON object, got {type(request).__name__}")
    step = request.get("step")
    if step == "plan":
        return plan(settings, request)
    if step == "shard":
        return shard(settings, request, heartbeat)
    raise BadInput(f"unknown step {step!r}; expected 'plan' or 'shard'")


def month_of(request: Mapping[str, Any]) -> Month:
    """``month`` (YYYY-MM) if given, else the month before ``scheduled_time`` (the schedule's run time)."""
    try:
        if request.get("month"):
            return Month.parse(str(request["month"]))
        if request.get("scheduled_time"):
            return Month.before(domain.parse_timestamp(str(request["scheduled_time"])))
    except ValueError as exc:
        raise BadInput(str(exc)) from None
    raise BadInput("the input names neither 'month' (YYYY-MM) nor 'scheduled_time'")


def plan(settings: StatementsSettings, request: Mapping[str, Any]) -> dict[str, Any]:
    """The execution's input arrives as ``input``: ``{"month": "YYYY-MM"}`` by hand, or the schedule's
    ``{"scheduled_time": ...}``."""
    given = request.get("input")
    month = month_of(given if isinstance(given, Mapping) else request)
    ranges = asyncio.run(source.watermarks(settings))
    shards = domain.plan_shards(ranges, settings.statements_max_shards)
    log.info("statements %s: %d partitions in %d shards", month, len(ranges), len(shards))
    return {
        "month": str(month),
        "changelog_topic": source.changelog_topic(settings.loyalty_group),
        "shards": [s.to_dict() for s in shards],
    }


def shard(settings: StatementsSettings, request: Mapping[str, Any], heartbeat: Heartbeat) -> dict[str, Any]:
    month = month_of(request)
    try:
        work = Shard.from_dict(request["shard"])
    except (KeyError, TypeError, ValueError) as exc:
        raise BadInput(f"bad shard in the input: {exc}") from None
    data = asyncio.run(source.read_shard(settings, work.partitions, month, heartbeat))
    assert data.changes is not None
    documents: dict[str, bytes] = {}
    with_changes = changes = 0
    for customer_id in sorted(data.ledgers):
        ledger = data.ledger(customer_id)
        listed = data.changes.of(customer_id)
        complete = data.partition_of[customer_id] not in data.incomplete_partitions
        documents[domain.statement_key(month, customer_id)] = domain.encode(
            domain.statement(month, ledger.summary(), listed, complete)
        )
        with_changes += 1 if listed else 0
        changes += len(listed)
    write_all(settings, documents, heartbeat)
    summary = ShardSummary(
        shard=work.shard,
        partitions=tuple(p.partition for p in work.partitions),
        statements=len(documents),
        customers_with_changes=with_changes,
        changes=changes,
        changes_complete=not data.incomplete_partitions,
    )
    log.info("statements %s shard %d: %d statements", month, work.shard, len(documents))
    return summary.to_dict()


def write_all(settings: StatementsSettings, documents: Mapping[str, bytes], heartbeat: Heartbeat) -> None:
    """PUT every statement (overwriting: a re-run writes the same bytes to the same keys)."""
    s3 = aws.client(
        "s3",
        region=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        max_pool_connections=settings.statements_write_concurrency,
        retries={"max_attempts": 5, "mode": "standard"},
    )
    bucket = settings.statements_bucket

    def put(item: tuple[str, bytes]) -> None:
        s3.put_object(Bucket=bucket, Key=item[0], Body=item[1], ContentType="application/json")

    items = list(documents.items())
    with ThreadPoolExecutor(settings.statements_write_concurrency) as pool:
        for start in range(0, len(items), WRITE_CHUNK):
            try:
                list(pool.map(put, items[start : start + WRITE_CHUNK]))
            except Exception as exc:
                code, status = aws.error_code(exc)
                raise StatementsError(f"writing to s3://{bucket}: {code or status or exc}") from None
            heartbeat()
