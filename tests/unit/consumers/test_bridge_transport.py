"""The classic PutEvents transport: the request botocore would build, SigV4, and every kind of answer over
real HTTP from the local fake endpoint (accepted, per-entry failures, whole-call errors, a late answer, no
endpoint at all)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from botocore.serialize import create_serializer

from consumers.eventbridge import (
    UNKNOWN_OUTCOME,
    Entry,
    EntryResult,
    PutEventsClient,
    Verdict,
    classic_request,
)
from consumers.fake_endpoint import FakePutEvents, Faults


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


def entries(count: int, detail: str = '{"a":"é"}') -> list[Entry]:
    times = [
        datetime(2025, 1, 1, 12, 0, 0, 123456, tzinfo=UTC),
        datetime(2025, 1, 1, 12, 0, 0, tzinfo=timezone(timedelta(hours=2))),
        None,
    ]
    return [
        Entry(
            "orderstream.orders",
            "order.created",
            detail,
            "b",
            time=times[i % 3],
            resources=("arn:x",) * (i % 2),
        )
        for i in range(count)
    ]


def client(url: str = "http://127.0.0.1:9", **kw: object) -> PutEventsClient:
    return PutEventsClient("classic", region="us-east-1", endpoint_url=url, **kw)  # type: ignore[arg-type]


def test_the_fast_json_body_is_what_botocores_serializer_writes() -> None:
    codec = client().codec
    request = classic_request(entries(10))
    ours = codec.serialize(request)
    theirs = create_serializer("json", include_validation=True).serialize_to_request(request, codec.operation)
    assert ours["headers"] == theirs["headers"]
    assert (ours["method"], ours["url_path"]) == (theirs["method"], theirs["url_path"])
    assert orjson.loads(ours["body"]) == orjson.loads(theirs["body"])


def test_requests_are_signed_with_sigv4_for_events() -> None:
    signed = client().codec.signed_request(classic_request(entries(1)))
    assert signed.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert "/us-east-1/events/aws4_request" in signed.headers["Authorization"]
    assert signed.headers["X-Amz-Target"] == "AWSEvents.PutEvents"


def test_a_bare_5xx_is_retried_and_an_unknown_code_is_rejected() -> None:
    codec = client().codec
    assert codec.results(503, {}, b"<html>busy</html>", 2)[0].verdict is Verdict.RETRY
    body = orjson.dumps({"__type": "AccessDeniedException", "message": "no"})
    assert codec.results(400, {}, body, 2) == [EntryResult("AccessDeniedException", "no")] * 2


@pytest.fixture
def endpoint() -> Iterator[FakePutEvents]:
    fake = FakePutEvents(upstream=None, faults=Faults(reject_marker="poison"))
    fake.start()
    yield fake
    fake.stop()


async def test_accepted_and_rejected_entries_of_one_call(endpoint: FakePutEvents) -> None:
    sender = client(endpoint.url)
    batch = entries(3)
    batch[1] = Entry("orderstream.orders", "order.created", '{"poison":1}', "b")
    results = await sender.put(batch)
    await sender.aclose()
    assert [r.error_code for r in results] == [None, "InvalidArgument", None]
    assert endpoint.tally.forwarded == 2


async def test_per_entry_and_whole_call_throttling() -> None:
    for faults, expected in [
        (Faults(throttled_entries=1.0), "ThrottlingException"),
        (Faults(throttled_calls=1.0), "ThrottlingException"),
        (Faults(internal_entries=1.0), "InternalFailure"),
    ]:
        fake = FakePutEvents(upstream=None, faults=faults)
        sender = client(fake.start())
        try:
            results = await sender.put(entries(4))
        finally:
            await sender.aclose()
            fake.stop()
        assert [r.error_code for r in results] == [expected] * 4
        assert all(r.verdict is Verdict.RETRY for r in results)


async def test_a_late_answer_and_a_missing_endpoint_are_unknown_outcomes() -> None:
    fake = FakePutEvents(upstream=None, faults=Faults(late_calls=1.0, late_seconds=1.0))
    sender = client(fake.start(), read_timeout=0.2)
    try:
        late = await sender.put(entries(2))
    finally:
        await sender.aclose()
        fake.stop()
    assert [r.error_code for r in late] == [UNKNOWN_OUTCOME] * 2
    assert fake.tally.forwarded == 2  # it was accepted: exactly why the outcome is "unknown", not "failed"

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sender = client(f"http://127.0.0.1:{port}")
    refused = await sender.put(entries(2))
    await sender.aclose()
    assert [r.error_code for r in refused] == [UNKNOWN_OUTCOME] * 2
