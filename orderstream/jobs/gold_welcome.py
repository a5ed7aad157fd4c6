"""``orderstream jobs gold-welcome``: the one-off Fargate task an EventBridge rule starts per tier change to gold.

The rule (``loyalty.tier_changed`` with ``detail.data.to_tier = gold``) has an ECS RunTask target whose input
transformer turns the event into container overrides: the command ``jobs gold-welcome --event-id …
--customer-id … --to-tier … --occurred-at …`` (``infra/terraform/examples/complete/ecs_patterns``).

The job issues the customer's gold welcome voucher exactly once. The voucher is one S3 object per customer,
created with ``If-None-Match: *``: EventBridge delivering the event twice, a RunTask retried, or the customer
reaching gold a second time all find the object there and change nothing.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.parse
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from orderstream import aws
from orderstream.errors import OrderstreamError
from orderstream.settings import GoldWelcomeSettings

VOUCHER_FORMAT: Final = 1
VOUCHER_VALUE_CENTS: Final = 2_000
VOUCHERS_NAMESPACE: Final = uuid.UUID("9b0f3e7a-51c2-4d8e-b6a4-3c7d2e1f0a58")
"""Namespace of voucher codes (uuid5 of the customer id): the same customer always gets the same code."""
KEY_PREFIX: Final = "vouchers/gold-welcome"
_CUSTOMER_ID = re.compile(r"[^\x00-\x1f\x7f]{1,256}")
_PLACEHOLDER = re.compile(r"<[A-Za-z0-9_.-]+>")
"""An input transformer placeholder left as is: the event lacked the field its path points at."""


class JobInputError(OrderstreamError):
    """The job was started with input it cannot use (exit code 2: retrying the same input cannot help)."""


@dataclass(frozen=True)
class GoldWelcomeRequest:
    """The fields of the ``loyalty.tier_changed`` event the job needs, validated."""

    event_id: str
    customer_id: str
    to_tier: str
    occurred_at: datetime

    @classmethod
    def parse(cls, *, event_id: str, customer_id: str, to_tier: str, occurred_at: str) -> GoldWelcomeRequest:
        """Validate what the input transformer passed; :class:`JobInputError` names the first bad field."""
        try:
            canonical_id = str(uuid.UUID(event_id))
        except (TypeError, ValueError):
            raise JobInputError(f"--event-id must be a UUID, got {event_id!r}") from None
        if (
            not isinstance(customer_id, str)
            or not _CUSTOMER_ID.fullmatch(customer_id)
            or _PLACEHOLDER.fullmatch(customer_id)
        ):
            raise JobInputError(f"--customer-id must be 1-256 printable characters, got {customer_id!r}")
        if to_tier != "gold":
            raise JobInputError(f"--to-tier must be gold (this job welcomes gold customers), got {to_tier!r}")
        try:
            moment = datetime.fromisoformat(occurred_at.replace("Z", "+00:00"))
        except (AttributeError, ValueError):
            raise JobInputError(f"--occurred-at must be an RFC 3339 timestamp, got {occurred_at!r}") from None
        if moment.tzinfo is None:
            raise JobInputError(f"--occurred-at must carry a time zone, got {occurred_at!r}")
        return cls(canonical_id, customer_id, to_tier, moment.astimezone(UTC))


def voucher_key(customer_id: str) -> str:
    return f"{KEY_PREFIX}/{urllib.parse.quote(customer_id, safe='')}.json"


def voucher_code(customer_id: str) -> str:
    digest = uuid.uuid5(VOUCHERS_NAMESPACE, customer_id).bytes
    text = base64.b32encode(digest).decode().rstrip("=")
    return f"GOLD-{text[:4]}-{text[4:8]}-{text[8:12]}"


def voucher(request: GoldWelcomeRequest) -> dict[str, Any]:
    return {
        "format": VOUCHER_FORMAT,
        "kind": "gold_welcome",
        "customer_id": request.customer_id,
        "code": voucher_code(request.customer_id),
        "value_cents": VOUCHER_VALUE_CENTS,
        "issued_for": {
            "event_id": request.event_id,
            "occurred_at": request.occurred_at.isoformat().replace("+00:00", "Z"),
        },
    }


def issue(settings: GoldWelcomeSettings, request: GoldWelcomeRequest) -> dict[str, Any]:
    """Create the voucher unless the customer has one. Returns what happened (printed as one JSON line)."""
    s3 = aws.client(
        "s3",
        region=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        retries={"max_attempts": 5, "mode": "standard"},
    )
    key = voucher_key(request.customer_id)
    body = json.dumps(voucher(request), sort_keys=True).encode()
    created = aws.put_once(s3, settings.vouchers_bucket, key, body)
    return {
        "customer_id": request.customer_id,
        "event_id": request.event_id,
        "voucher": f"s3://{settings.vouchers_bucket}/{key}",
        "issued": created,
        "reason": "issued" if created else "already issued: nothing to do",
    }
