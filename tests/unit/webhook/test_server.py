"""The webhook receiver in process (aiohttp's test server, a real HTTP socket on 127.0.0.1): key, body,
idempotency on the loyalty event id, and the answer budget."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from orderstream.settings import WebhookSettings
from orderstream.webhook import server

KEY = "k" * 32


def tier_changed(event_id: str | None = None, **detail: Any) -> dict[str, Any]:
    """An EventBridge event as the bridge publishes it (Detail = envelope + kafka)."""
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "source": "orderstream.loyalty",
        "detail-type": "loyalty.tier_changed",
        "time": "2026-11-28T10:15:00Z",
        "detail": {
            "event_id": event_id or str(uuid.uuid4()),
            "event_type": "loyalty.tier_changed",
            "schema_version": 1,
            "occurred_at": "2026-11-28T10:15:00.250Z",
            "customer_id": "c-000042",
            "order_id": "o-1",
            "caused_by": str(uuid.uuid4()),
            "data": {"from_tier": "silver", "to_tier": "gold", "points": 2000},
            "kafka": {"topic": "loyalty-events", "partition": 2, "offset": 17},
            **detail,
        },
    }


class SlowStore:
    async def remember(self, event_id: str, body: bytes) -> bool:
        await asyncio.sleep(5)
        return True


Client = Callable[..., Any]


@pytest.fixture
async def client() -> AsyncIterator[Callable[..., Any]]:
    clients: list[TestClient[Any, Any]] = []

    async def make(store: Any = None, budget: float = 3.0) -> TestClient[Any, Any]:
        settings = WebhookSettings(webhook_api_key=KEY, webhook_answer_budget=budget)
        test_client = TestClient(TestServer(server.build(settings, store or server.MemoryStore())))
        await test_client.start_server()
        clients.append(test_client)
        return test_client

    yield make
    for c in clients:
        await c.close()


async def post(c: TestClient[Any, Any], body: Any, key: str | None = KEY) -> tuple[int, dict[str, Any]]:
    headers = {"x-api-key": key} if key is not None else {}
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with c.post(server.PATH, data=data, headers=headers) as resp:
        return resp.status, await resp.json()


async def test_an_event_is_accepted_once_and_a_redelivery_is_a_duplicate(client: Client) -> None:
    c = await client()
    event = tier_changed()
    assert await post(c, event) == (200, {"status": "accepted", "event_id": event["detail"]["event_id"]})
    # A redelivery, and the bridge publishing the same record again (new EventBridge id, same event_id).
    again = {**event, "id": str(uuid.uuid4())}
    assert (await post(c, event))[1]["status"] == "duplicate"
    assert (await post(c, again))[1]["status"] == "duplicate"
    assert (await post(c, tier_changed()))[1]["status"] == "accepted"
    async with c.get("/health") as resp:
        assert (await resp.json())["counts"] == {"accepted": 2, "duplicate": 2}


@pytest.mark.parametrize("key", [None, "", "wrong" * 8, KEY[:-1]])
async def test_without_the_right_key_nothing_is_recorded(client: Client, key: str | None) -> None:
    c = await client()
    event = tier_changed()
    status, body = await post(c, event, key=key)
    assert status == 401 and "x-api-key" in body["error"]
    assert (await post(c, event))[1]["status"] == "accepted"  # it was not recorded by the refused call


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "empty body"),
        (b"{not json", "not JSON"),
        (b"[]", "'detail' object"),
        ({**tier_changed(), "detail-type": "loyalty.points_awarded"}, "detail-type"),
        (tier_changed(customer_id=""), "customer_id"),
        (tier_changed(event_type="loyalty.points_awarded"), "event_type"),
    ],
)
async def test_a_body_that_is_not_a_tier_change_is_refused_with_the_reason(
    client: Client, body: Any, says: str
) -> None:
    status, answer = await post(await client(), body)
    assert status == 400 and answer["status"] == "rejected" and says in answer["error"]


async def test_a_store_slower_than_the_budget_gets_503_so_eventbridge_retries(client: Client) -> None:
    c = await client(store=SlowStore(), budget=0.2)
    status, body = await post(c, tier_changed())
    assert status == 503 and body["status"] == "unavailable"


def test_the_budget_stays_inside_eventbridges_5_seconds() -> None:
    with pytest.raises(ValueError):
        WebhookSettings(webhook_api_key=KEY, webhook_answer_budget=5)
    assert WebhookSettings(webhook_api_key=KEY).webhook_answer_budget < 5
