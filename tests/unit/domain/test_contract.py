"""The event contract: parsing never raises, errors are typed, unknown fields survive a round trip."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from orderstream.domain import contract
from orderstream.domain.contract import ParseError, parse_event

ROOT = Path(__file__).resolve().parents[3]


def envelope(**overrides: object) -> dict[str, object]:
    doc: dict[str, object] = {
        "event_id": "6f1c1f8e-7d2a-4b8e-9a51-0c2f3e4d5a6b",
        "event_type": "payment.captured",
        "schema_version": 1,
        "occurred_at": "2026-11-27T10:00:00.123Z",
        "order_id": "o-1",
        "customer_id": "c-1",
        "sequence": 2,
        "data": {"amount_cents": 12345, "currency": "EUR", "payment_id": "p-9"},
    }
    doc.update(overrides)
    return doc


def test_valid_event_parses_to_its_type() -> None:
    event = parse_event(orjson.dumps(envelope()))
    assert isinstance(event, contract.PaymentCaptured)
    assert event.data.amount_cents == 12345
    assert event.sequence == 2


def test_every_event_type_has_a_model() -> None:
    datas = {
        "order.created": {
            "total_cents": 100,
            "currency": "EUR",
            "region": "eu",
            "channel": "web",
            "is_test": False,
            "items": [{"sku": "a", "quantity": 1, "unit_price_cents": 100}],
        },
        "order.cancelled": {"reason": "x"},
        "payment.captured": {"amount_cents": 1, "currency": "EUR", "payment_id": "p"},
        "payment.failed": {"reason": "declined"},
        "payment.refunded": {"amount_cents": 1},
        "shipment.dispatched": {"carrier": "dhl", "tracking_id": "t"},
        "shipment.delivered": {"carrier": "dhl", "tracking_id": "t"},
    }
    assert set(datas) == set(contract.EVENT_TYPES)
    for event_type, data in datas.items():
        event = parse_event(orjson.dumps(envelope(event_type=event_type, data=data)))
        assert not isinstance(event, ParseError), (event_type, event)
        assert event.event_type == event_type


def test_unknown_fields_round_trip_exactly() -> None:
    doc = envelope(trace={"id": "abc", "hops": [1, 2]}, note="kept")
    doc["data"] = {**doc["data"], "wallet": "apple-pay"}  # type: ignore[dict-item]
    event = parse_event(orjson.dumps(doc))
    assert not isinstance(event, ParseError)
    back = orjson.loads(event.to_bytes())
    assert back["trace"] == {"id": "abc", "hops": [1, 2]}
    assert back["note"] == "kept"
    assert back["data"]["wallet"] == "apple-pay"
    assert back == doc


@pytest.mark.parametrize(
    ("raw", "kind"),
    [
        (b"{not json", "bad_json"),
        (b"\xff\xfe", "bad_json"),
        (None, "bad_json"),
        (b"[1, 2]", "schema_violation"),
        (orjson.dumps(envelope(schema_version=2)), "unsupported_version"),
        (orjson.dumps(envelope(schema_version=0)), "schema_violation"),
        (orjson.dumps(envelope(event_type="payment.teleported")), "unknown_type"),
        (orjson.dumps(envelope(event_type=None)), "unknown_type"),
        (orjson.dumps(envelope(event_id="not-a-uuid")), "schema_violation"),
        (orjson.dumps(envelope(sequence=0)), "schema_violation"),
        (orjson.dumps(envelope(sequence="3")), "schema_violation"),
        (orjson.dumps(envelope(order_id="")), "schema_violation"),
        (orjson.dumps(envelope(occurred_at="2026-11-27T10:00:00+02:00")), "schema_violation"),
        (orjson.dumps(envelope(occurred_at="2026-11-27T10:00:00")), "schema_violation"),
        (
            orjson.dumps(envelope(data={"amount_cents": 10.5, "currency": "EUR", "payment_id": "p"})),
            "schema_violation",
        ),
        (
            orjson.dumps(envelope(data={"amount_cents": -1, "currency": "EUR", "payment_id": "p"})),
            "schema_violation",
        ),
        (orjson.dumps(envelope(padding="x" * (contract.MAX_EVENT_BYTES + 1))), "schema_violation"),
    ],
)
def test_bad_input_is_a_typed_error_not_an_exception(raw: bytes | None, kind: str) -> None:
    result = parse_event(raw)
    assert isinstance(result, ParseError)
    assert result.kind == kind
    assert result.message


def test_schema_violation_message_names_the_field() -> None:
    result = parse_event(orjson.dumps(envelope(data={"currency": "EUR", "payment_id": "p"})))
    assert isinstance(result, ParseError)
    assert "data.amount_cents" in result.message


def test_source_topic_for_each_type() -> None:
    assert contract.source_topic_for("order.created") == "orders"
    assert contract.source_topic_for("payment.refunded") == "payments"
    assert contract.source_topic_for("shipment.delivered") == "shipments"


def test_committed_json_schema_has_not_drifted() -> None:
    committed = json.loads((ROOT / "schemas" / "envelope.schema.json").read_text())
    assert committed == contract.envelope_json_schema(), (
        "run: orderstream schema -o schemas/envelope.schema.json"
    )


def test_schema_command_writes_the_schema(tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    subprocess.run([sys.executable, "-m", "orderstream.cli", "schema", "-o", str(out)], check=True)
    assert json.loads(out.read_text()) == contract.envelope_json_schema()


# --------------------------------------------------------------------------------------------- bounds

BIG = 2**64 - 1


@pytest.mark.parametrize(
    ("overrides", "kind"),
    [
        ({"sequence": BIG}, "schema_violation"),
        ({"sequence": contract.MAX_INT + 1}, "schema_violation"),
        ({"data": {"amount_cents": 10**19, "currency": "EUR", "payment_id": "p"}}, "schema_violation"),
        (
            {"data": {"amount_cents": contract.MAX_INT + 1, "currency": "EUR", "payment_id": "p"}},
            "schema_violation",
        ),
        ({"schema_version": contract.MAX_INT + 1}, "schema_violation"),
        ({"schema_version": 2}, "unsupported_version"),
    ],
)
def test_integers_out_of_the_contracts_range_are_schema_violations(
    overrides: dict[str, object], kind: str
) -> None:
    result = parse_event(orjson.dumps(envelope(**overrides)))
    assert isinstance(result, ParseError)
    assert result.kind == kind


def test_schema_version_wider_than_64_bits_is_a_schema_violation() -> None:
    raw = orjson.dumps(envelope()).replace(b'"schema_version":1', b'"schema_version":99999999999999999999')
    result = parse_event(raw)
    assert isinstance(result, ParseError) and result.kind == "schema_violation"


def test_the_largest_bounded_integers_are_accepted_and_round_trip() -> None:
    doc = envelope(
        sequence=contract.MAX_INT,
        data={"amount_cents": contract.MAX_INT, "currency": "EUR", "payment_id": "p"},
    )
    event = parse_event(orjson.dumps(doc))
    assert isinstance(event, contract.PaymentCaptured)
    assert orjson.loads(event.to_bytes())["sequence"] == contract.MAX_INT


@pytest.mark.parametrize(
    "event_id",
    [
        "6f1c1f8e-7d2a-4b8e-9a51-0c2f3e4d5a6b",
        "6F1C1F8E-7D2A-4B8E-9A51-0C2F3E4D5A6B",
        "6f1c1f8e7d2a4b8e9a510c2f3e4d5a6b",
        "{6f1c1f8e-7d2a-4b8e-9a51-0c2f3e4d5a6b}",
        "urn:uuid:6f1c1f8e-7d2a-4b8e-9a51-0c2f3e4d5a6b",
    ],
)
def test_every_spelling_uuid_accepts_is_an_event_id(event_id: str) -> None:
    assert not isinstance(parse_event(orjson.dumps(envelope(event_id=event_id))), ParseError)


@pytest.mark.parametrize("event_id", ["", "not-a-uuid", "6f1c1f8e-7d2a-4b8e-9a51-0c2f3e4d5a6", "g" * 32])
def test_anything_else_is_not(event_id: str) -> None:
    result = parse_event(orjson.dumps(envelope(event_id=event_id)))
    assert isinstance(result, ParseError) and result.kind == "schema_violation"
