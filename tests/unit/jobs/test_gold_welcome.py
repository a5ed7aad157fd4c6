"""The gold welcome job's parser and voucher (the S3 side runs against moto in tests/integration)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from orderstream.jobs.gold_welcome import (
    GoldWelcomeRequest,
    JobInputError,
    voucher,
    voucher_code,
    voucher_key,
)

GOOD = {
    "event_id": "6F1C5A2E-0B7D-4C3A-9E8F-1A2B3C4D5E6F",
    "customer_id": "c-000042",
    "to_tier": "gold",
    "occurred_at": "2026-11-28T10:15:00.250Z",
}


def test_a_good_request_is_parsed_and_canonical() -> None:
    request = GoldWelcomeRequest.parse(**GOOD)
    assert request.event_id == "6f1c5a2e-0b7d-4c3a-9e8f-1a2b3c4d5e6f"
    assert request.occurred_at == datetime(2026, 11, 28, 10, 15, 0, 250_000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("event_id", "not-a-uuid", "--event-id"),
        ("event_id", "", "--event-id"),
        ("customer_id", "", "--customer-id"),
        ("customer_id", "c\n1", "--customer-id"),
        ("customer_id", "<customer_id>", "--customer-id"),  # the event had no customer_id
        ("to_tier", "silver", "--to-tier must be gold"),
        ("to_tier", "<to_tier>", "--to-tier"),
        ("occurred_at", "yesterday", "--occurred-at"),
        ("occurred_at", "2026-11-28T10:15:00", "time zone"),
    ],
)
def test_bad_input_names_the_option(field: str, value: str, message: str) -> None:
    with pytest.raises(JobInputError, match=message):
        GoldWelcomeRequest.parse(**{**GOOD, field: value})


def test_one_voucher_per_customer_whatever_event_issued_it() -> None:
    first = voucher(GoldWelcomeRequest.parse(**GOOD))
    later = voucher(GoldWelcomeRequest.parse(**{**GOOD, "event_id": "0e4c7c43-1b7a-4e0c-8d55-3d8f2a1b9c00"}))
    assert voucher_key("c-000042") == "vouchers/gold-welcome/c-000042.json"
    assert first["code"] == later["code"] == voucher_code("c-000042") != voucher_code("c-000043")
    assert first["code"].startswith("GOLD-") and len(first["code"]) == 19
    assert voucher_key("a/b") == "vouchers/gold-welcome/a%2Fb.json"
