"""V2 mode checked against botocore's own ``eventbridgev2`` service model.

No emulator implements eventbridgev2, so the request shapes the bridge builds (100-entry and 1 MB batches,
EventGroupId and DeduplicationId) are checked three ways: botocore's Stubber on a real ``eventbridgev2``
client (its parameter validation against the service model, then the expected-params match); the bridge's
own codec with validation on; and the CBOR body that codec sends, decoded again with botocore's CBOR parser.
Responses are encoded with botocore's CBOR serializer for the model's output shape and turned into
per-entry results by the codec.
"""

from __future__ import annotations

import io
import uuid
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.model import ShapeResolver, StructureShape
from botocore.parsers import RpcV2CBORParser
from botocore.serialize import RpcV2CBORSerializer
from botocore.stub import Stubber

from consumers.eventbridge import (
    V2_LIMITS,
    Entry,
    EntryResult,
    PutEventsClient,
    PutEventsCodec,
    entry_size,
    plan_batches,
    v2_request,
)

BUS_ARN = "arn:aws:events:us-east-1:123456789012:event-busv2/orderstream/abcdefghijklmnopqrstuvwxy"


@pytest.fixture(autouse=True)
def _credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")


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


def validating_codec() -> PutEventsCodec:
    return PutEventsClient("v2", region="us-east-1", validate=True).codec


def stub_accepts(request: dict[str, Any], reply: dict[str, Any]) -> None:
    """The Stubber on a real eventbridgev2 client: validates ``request`` against the model, then matches it."""
    raw = boto3.session.Session().client("eventbridgev2", region_name="us-east-1")
    with Stubber(raw) as stubber:
        stubber.add_response("put_events", reply, expected_params=request)
        assert raw.put_events(**request)["Entries"] == reply["Entries"]
        stubber.assert_no_pending_responses()


def sent_body(codec: PutEventsCodec, request: dict[str, Any]) -> dict[str, Any]:
    """What the codec would put on the wire, decoded again with botocore's CBOR parser."""
    signed = codec.signed_request(request)
    assert signed.url.endswith("/service/AWSEventsV2/operation/PutEvents")
    assert signed.headers["smithy-protocol"] == "rpc-v2-cbor"
    assert "Credential=testing/" in signed.headers["Authorization"]
    decoded: dict[str, Any] = RpcV2CBORParser().parse_data_item(io.BufferedReader(io.BytesIO(signed.body)))
    return decoded


def cbor(value: dict[str, Any], shape: Any) -> bytes:
    out = bytearray()
    RpcV2CBORSerializer()._serialize_data_item(out, value, shape)
    return bytes(out)


ERROR_SHAPE = StructureShape(
    "Error",
    {"type": "structure", "members": {"__type": {"shape": "S"}, "message": {"shape": "S"}}},
    ShapeResolver({"S": {"type": "string"}}),
)


def test_hundred_entry_batches_pass_the_service_model_and_go_out_unchanged() -> None:
    entries = v2_entries(250, detail_bytes=100)
    codec = validating_codec()
    batches = plan_batches(entries, V2_LIMITS, one_bus=True)
    assert [len(b) for b in batches] == [100, 100, 50]
    for batch in batches:
        chosen = [entries[i] for i in batch]
        request = v2_request(chosen)
        reply = {"FailedEntryCount": 0, "Entries": [{"EventId": str(i)} for i in range(len(chosen))]}
        stub_accepts(request, reply)
        body = sent_body(codec, request)
        assert body["EventBusArn"] == BUS_ARN
        assert [e["SystemMetadata"] for e in body["Entries"]] == [
            {"EventGroupId": e.group_id, "DeduplicationId": e.dedup_id} for e in chosen
        ]
        assert [e["Detail"] for e in body["Entries"]] == [e.detail for e in chosen]
        answer = cbor(reply, codec.operation.output_shape)
        assert codec.results(200, {}, answer, len(chosen)) == [EntryResult()] * len(chosen)


def test_one_megabyte_batches_pass_the_service_model_and_stay_under_the_limit() -> None:
    entries = v2_entries(30, detail_bytes=100_000)
    codec = validating_codec()
    batches = plan_batches(entries, V2_LIMITS, one_bus=True)
    assert len(batches) == 3  # ten ~100 KB entries fill a 1 MB request
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
        stub_accepts(request, reply)
        assert len(sent_body(codec, request)["Entries"]) == len(chosen)
        results = codec.results(200, {}, cbor(reply, codec.operation.output_shape), len(chosen))
        assert results[0].throttled and results[0].message == "slow"
        assert all(r.error_code is None for r in results[1:])


def test_an_invalid_request_is_refused_by_the_model_before_sending() -> None:
    from botocore.exceptions import ParamValidationError

    request = v2_request(v2_entries(1, detail_bytes=1))
    request["Entries"][0]["SystemMetadata"]["EventGroupId"] = ""  # the model wants at least one character
    with pytest.raises(ParamValidationError):
        validating_codec().signed_request(request)


@pytest.mark.parametrize("code", ["ThrottlingException", "InvalidInputException"])
def test_whole_call_errors_of_the_v2_model_become_per_entry_results(code: str) -> None:
    codec = validating_codec()
    body = cbor({"__type": f"com.amazonaws.eventbridgev2#{code}", "message": "no"}, ERROR_SHAPE)
    results = codec.results(400, {"smithy-protocol": "rpc-v2-cbor"}, body, 3)
    assert results == [EntryResult(code, "no")] * 3
