"""``orderstream webhook serve``: the partner endpoint behind the EventBridge API destination.

``POST /webhooks/loyalty`` takes the EventBridge event of a ``loyalty.tier_changed`` (the API destination's
default body: the whole event, the loyalty event in ``detail``):

- the API key header (``ORDERSTREAM_WEBHOOK_API_KEY_HEADER``, default ``x-api-key``) must carry the key the
  EventBridge connection sends (``ORDERSTREAM_WEBHOOK_API_KEY``, from Secrets Manager on ECS): else 401;
- a body that is not such an event gets 400 (EventBridge does not retry a 4xx other than 429: the event goes
  to the target's DLQ);
- each loyalty ``event_id`` is recorded once. EventBridge delivers at least once and the bridge may publish a
  record twice after a crash (same ``event_id``, new EventBridge id), so a repeat answers 200 ``duplicate``;
- the answer comes within ``ORDERSTREAM_WEBHOOK_ANSWER_BUDGET`` seconds (default 3, EventBridge waits 5): a
  slow store answers 503, which EventBridge retries.

Events are recorded in S3 (``ORDERSTREAM_WEBHOOK_BUCKET``, one object per event id, ``If-None-Match: *``, so
every task of the service agrees on what was seen) or, without a bucket, in this process's memory.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections import Counter, OrderedDict
from typing import Any, Final, Protocol

from aiohttp import web
from pydantic import ValidationError

from orderstream import aws
from orderstream.domain.contract import LoyaltyEvent
from orderstream.settings import WebhookSettings

log = logging.getLogger("orderstream.webhook")

PATH: Final = "/webhooks/loyalty"
EVENT_TYPE: Final = "loyalty.tier_changed"
MAX_BODY: Final = 256 * 1024 + 4096
"""An EventBridge event is at most 256 KB."""


class DeliveryError(ValueError):
    """The body is not an EventBridge event carrying a ``loyalty.tier_changed``."""


class Store(Protocol):
    async def remember(self, event_id: str, body: bytes) -> bool:
        """Record the event; True if it was not recorded before."""


class MemoryStore:
    """Event ids seen by this process (the most recent ``limit``)."""

    def __init__(self, limit: int = 100_000) -> None:
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._limit = limit

    async def remember(self, event_id: str, body: bytes) -> bool:
        if event_id in self._seen:
            self._seen.move_to_end(event_id)
            return False
        self._seen[event_id] = None
        if len(self._seen) > self._limit:
            self._seen.popitem(last=False)
        return True


class S3Store:
    """One object per event id, created with ``If-None-Match: *``: shared by every task of the service."""

    def __init__(self, settings: WebhookSettings, bucket: str) -> None:
        self._bucket = bucket
        self._s3 = aws.client(
            "s3",
            region=settings.aws_region,
            endpoint_url=settings.aws_endpoint_url,
            connect_timeout=1,
            read_timeout=2,
            retries={"max_attempts": 1, "mode": "standard"},
        )

    async def remember(self, event_id: str, body: bytes) -> bool:
        key = f"webhook/loyalty/{event_id}.json"
        return await asyncio.to_thread(aws.put_once, self._s3, self._bucket, key, body)


def parse_delivery(body: bytes) -> LoyaltyEvent:
    """The loyalty event inside an EventBridge event, or :class:`DeliveryError` saying what is wrong."""
    if not body:
        raise DeliveryError("empty body: expected the EventBridge event as JSON")
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise DeliveryError(f"body is not JSON: {exc}") from None
    if not isinstance(doc, dict) or not isinstance(doc.get("detail"), dict):
        raise DeliveryError("body must be an EventBridge event with a 'detail' object")
    if doc.get("detail-type") != EVENT_TYPE:
        raise DeliveryError(f"detail-type must be {EVENT_TYPE}, got {doc.get('detail-type')!r}")
    try:
        event = LoyaltyEvent.model_validate(doc["detail"])
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"]) or "detail"
        raise DeliveryError(f"detail.{where}: {first['msg']}") from None
    if event.event_type != EVENT_TYPE:
        raise DeliveryError(f"detail.event_type must be {EVENT_TYPE}, got {event.event_type!r}")
    return event


class Receiver:
    """The request handler and its counters (served on ``/health``)."""

    def __init__(self, settings: WebhookSettings, store: Store) -> None:
        self._key = settings.webhook_api_key.get_secret_value().encode()
        self._header = settings.webhook_api_key_header
        self._budget = settings.webhook_answer_budget
        self._store = store
        self.counts: Counter[str] = Counter()
        self.started = time.time()

    def _answer(self, outcome: str, status: int, **body: Any) -> web.Response:
        self.counts[outcome] += 1
        return web.json_response({"status": outcome, **body}, status=status)

    async def deliver(self, request: web.Request) -> web.Response:
        given = request.headers.get(self._header, "").encode()
        if not given or not hmac.compare_digest(given, self._key):
            return self._answer("unauthorized", 401, error=f"missing or wrong {self._header}")
        body = await request.read()
        try:
            event = parse_delivery(body)
        except DeliveryError as exc:
            return self._answer("rejected", 400, error=str(exc))
        try:
            new = await asyncio.wait_for(self._store.remember(event.event_id, body), self._budget)
        except (TimeoutError, aws.AwsError) as exc:
            log.warning("could not record %s in time: %s", event.event_id, exc or "timeout")
            return self._answer("unavailable", 503, error="could not record the event in time; retry")
        outcome = "accepted" if new else "duplicate"
        if new:
            log.info("%s: %s %s → %s", event.event_id, event.customer_id, event.data.get("from_tier"),
                     event.data.get("to_tier"))  # fmt: skip
        return self._answer(outcome, 200, event_id=event.event_id)

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response(
            {"status": "ok", "uptime_s": round(time.time() - self.started, 1), "counts": dict(self.counts)}
        )


RECEIVER: Final = web.AppKey("receiver", Receiver)


def build(settings: WebhookSettings, store: Store | None = None) -> web.Application:
    if store is None:
        bucket = settings.webhook_bucket
        store = S3Store(settings, bucket) if bucket else MemoryStore()
    receiver = Receiver(settings, store)
    app = web.Application(client_max_size=MAX_BODY)
    app[RECEIVER] = receiver
    app.router.add_post(PATH, receiver.deliver)
    app.router.add_get("/health", receiver.health)
    return app


def serve(settings: WebhookSettings) -> None:
    """Serve until SIGTERM/SIGINT (aiohttp finishes the requests in flight)."""
    app = build(settings)
    print(f"webhook receiver on http://{settings.webhook_host}:{settings.webhook_port}{PATH}", flush=True)
    web.run_app(
        app,
        host=settings.webhook_host,
        port=settings.webhook_port,
        shutdown_timeout=10,
        print=None,
        access_log=None,
    )
