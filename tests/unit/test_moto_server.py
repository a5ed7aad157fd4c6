"""The moto launcher's one change: each JSONPath expression is parsed once, with the same results."""

from __future__ import annotations

import jsonpath_ng.ext

from orderstream import moto_server


def test_jsonpaths_are_parsed_once_and_still_find_the_same_values() -> None:
    event = {"detail": {"order_id": "o-1"}, "source": "orderstream"}
    fresh = getattr(jsonpath_ng.ext, "parse")  # noqa: B009
    expected = [match.value for match in fresh("$.detail.order_id").find(event)]
    moto_server.remember_parsed_jsonpaths()
    moto_server.remember_parsed_jsonpaths()  # idempotent: no cache around the cache
    parse = getattr(jsonpath_ng.ext, "parse")  # noqa: B009
    assert parse("$.detail.order_id") is parse("$.detail.order_id")
    assert [match.value for match in parse("$.detail.order_id").find(event)] == expected == ["o-1"]
    assert [match.value for match in parse("$.source").find(event)] == ["orderstream"]
    assert not hasattr(parse.__wrapped__, "cache_info")


def test_the_direct_retention_check_agrees_with_motos_own() -> None:
    from moto.sqs.models import SQSBackend

    backend = SQSBackend("us-east-1", "123456789012")
    backend.create_queue("short", MessageRetentionPeriod="60")
    backend.create_queue("default")
    for name in ("short", "default"):
        message = backend.send_message(name, "body")
        fresh = (
            SQSBackend.is_message_valid_based_on_retention_period(backend, name, message),
            moto_server.within_retention(backend, name, message),
        )
        message.sent_timestamp -= 120_000  # sent two minutes ago: past the short queue's retention
        aged = (
            SQSBackend.is_message_valid_based_on_retention_period(backend, name, message),
            moto_server.within_retention(backend, name, message),
        )
        assert fresh == (True, True)
        assert aged == ((False, False) if name == "short" else (True, True))


def test_the_direct_clock_reads_the_same_time_as_motos_arithmetic() -> None:
    import datetime

    from moto.core import utils

    before = utils.unix_time()
    now = moto_server.unix_time()
    after = utils.unix_time()
    assert before - 0.001 <= now <= after + 0.001
    assert abs(moto_server.unix_time_millis() - utils.unix_time_millis()) < 50
    moment = datetime.datetime(2026, 11, 28, 12, 30, 15, 250_000)
    assert moto_server.unix_time(moment) == utils.unix_time(moment) == 1795869015.25
