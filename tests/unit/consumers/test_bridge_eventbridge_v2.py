"""V2 mode checked against botocore's own ``eventbridgev2`` service model with its Stubber.

No emulator implements eventbridgev2, so the request shapes the bridge builds (100-entry and 1 MB batches,
EventGroupId and DeduplicationId) are validated by botocore's parameter validation and the Stubber's
expected-params check, and the stubbed responses by the model's output shape.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import boto3
from botocore.stub import Stubber

from consumers.eventbridge import V2_LIMITS, Entry, PutEventsClient, entry_size, plan_batches, v2_request

BUS_ARN = "arn:aws:events:us-east-1:123456789012:event-busv2/orderstream/abcdefghijklmnopqrstuvwxy"


def v2_entries(count: int, detail_bytes: int) -> list[Entry]:
    return [
        Entry(
            source="orderstream.orders",
            detail_type="order.created",
            detail='{"pad":"' + "x" * detail_bytes + '"}',
            bus=BUS_ARN,
            time=datetime(2025, 1, 1, tzinfo=UTC),
            group_id=f"c-{i % 7}",
            dedup_id=str(uuid.uuid4()),
        )
        for i in range(count)
    ]


def stubbed_client() -> tuple[PutEventsClient, Stubber]:
    raw = boto3.session.Session().client("eventbridgev2", region_name="us-east-1")
    return PutEventsClient("v2", region="us-east-1", client=raw), Stubber(raw)


def test_hundred_entry_batches_pass_the_service_model() -> None:
    entries = v2_entries(250, detail_bytes=100)
    client, stubber = stubbed_client()
    batches = plan_batches(entries, V2_LIMITS, one_bus=True)
    assert [len(b) for b in batches] == [100, 100, 50]
    with stubber:
        for batch in batches:
            chosen = [entries[i] for i in batch]
            reply = {"FailedEntryCount": 0, "Entries": [{"EventId": str(i)} for i in range(len(chosen))]}
            stubber.add_response("put_events", reply, expected_params=v2_request(chosen))
            assert all(r.error_code is None for r in client.put_sync(chosen))
        stubber.assert_no_pending_responses()


def test_one_megabyte_batches_pass_the_service_model_and_stay_under_the_limit() -> None:
    entries = v2_entries(30, detail_bytes=100_000)
    client, stubber = stubbed_client()
    batches = plan_batches(entries, V2_LIMITS, one_bus=True)
    assert len(batches) == 3  # ten ~100 KB entries fill a 1 MB request
    with stubber:
        for batch in batches:
            chosen = [entries[i] for i in batch]
            assert sum(entry_size(e) for e in chosen) <= V2_LIMITS.max_bytes
            request = v2_request(chosen)
            assert all(
                set(e["SystemMetadata"]) == {"EventGroupId", "DeduplicationId"} for e in request["Entries"]
            )
            reply = {
                "FailedEntryCount": 1,
                "Entries": [{"ErrorCode": "ThrottlingException", "ErrorMessage": "slow"}]
                + [{"EventId": "x"}] * (len(chosen) - 1),
            }
            stubber.add_response("put_events", reply, expected_params=request)
            results = client.put_sync(chosen)
            assert results[0].throttled and all(r.error_code is None for r in results[1:])


def test_whole_call_errors_of_the_v2_model_become_per_entry_results() -> None:
    client, stubber = stubbed_client()
    chosen = v2_entries(3, detail_bytes=10)
    with stubber:
        stubber.add_client_error("put_events", service_error_code="ThrottlingException", http_status_code=400)
        stubber.add_client_error(
            "put_events", service_error_code="InvalidInputException", http_status_code=400
        )
        assert [r.error_code for r in client.put_sync(chosen)] == ["ThrottlingException"] * 3
        assert [r.error_code for r in client.put_sync(chosen)] == ["InvalidInputException"] * 3
