"""AWS clients for the patterns beside the stream (statements, jobs, webhook), and S3's write-once.

``endpoint_url`` is ``ORDERSTREAM_AWS_ENDPOINT_URL``: moto locally, unset (the SDK's default) on AWS.
Credentials come from the SDK's usual chain (the task role on ECS).
"""

from __future__ import annotations

import time
from typing import Any

from orderstream.errors import OrderstreamError


class AwsError(OrderstreamError):
    """An AWS call failed in a way the caller reports rather than handles."""

    retriable = True


def client(service: str, *, region: str, endpoint_url: str | None, **config: Any) -> Any:
    """A boto3 client; ``config`` goes to ``botocore.config.Config`` (timeouts, retries)."""
    import boto3
    from botocore.config import Config

    session = boto3.session.Session()
    return session.client(
        service, region_name=region, endpoint_url=endpoint_url, config=Config(**config) if config else None
    )


def error_code(exc: Exception) -> tuple[str, int]:
    """``(code, http status)`` of a botocore ``ClientError``; ``("", 0)`` for anything else."""
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code", ""))
    status = int(response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return code, status


def put_once(s3: Any, bucket: str, key: str, body: bytes, attempts: int = 3) -> bool:
    """Create ``key`` unless it exists (``If-None-Match: *``). True if this call created it.

    S3 answers 412 when the key exists (someone created it first: nothing to do) and 409 when a concurrent
    conditional write to the same key is in flight (try again: one of them wins, the other then sees 412).
    """
    from botocore.exceptions import ClientError

    for attempt in range(attempts):
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*", ContentType="application/json")
            return True
        except ClientError as exc:
            code, status = error_code(exc)
            if code == "PreconditionFailed" or status == 412:
                return False
            if (code == "ConditionalRequestConflict" or status == 409) and attempt + 1 < attempts:
                time.sleep(0.2 * (attempt + 1))
                continue
            raise AwsError(f"s3://{bucket}/{key}: {code or status}: {exc}") from None
    raise AwsError(f"s3://{bucket}/{key}: still conflicting after {attempts} attempts")
