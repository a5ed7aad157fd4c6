"""The moto launcher's changes compute the same answers as moto itself."""

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


def test_sends_skip_the_counts_and_get_queue_attributes_still_counts() -> None:
    from moto.sqs.models import Message, SQSBackend

    moto_server.skip_counts_while_sending()
    moto_server.skip_counts_while_sending()  # idempotent
    backend = SQSBackend("us-east-1", "123456789012")
    backend.create_queue("plain")
    backend.create_queue("dedup.fifo", FifoQueue="true", ContentBasedDeduplication="true")
    for _ in range(50):
        backend.send_message("plain", "body")
    looks = 0
    visible, delayed = Message.visible, Message.delayed

    def counting(prop: property) -> property:
        def read(message: Message) -> bool:
            nonlocal looks
            looks += 1
            return bool(prop.fget(message))  # type: ignore[misc]

        return property(read)

    Message.visible, Message.delayed = counting(visible), counting(delayed)  # type: ignore[method-assign]
    try:
        backend.send_message("plain", "one more")
        sent_looks = looks
        first = backend.send_message("dedup.fifo", "same", group_id="g")
        again = backend.send_message("dedup.fifo", "same", group_id="g")
        attributes = backend.get_queue_attributes("plain", ["All"])
    finally:
        Message.visible, Message.delayed = visible, delayed  # type: ignore[method-assign]
    assert sent_looks == 0  # moto itself looks at each of the 50 queued messages several times per send
    assert looks >= 51  # GetQueueAttributes still counts them
    assert attributes["ApproximateNumberOfMessages"] == 51
    assert first.deduplication_id is not None and first.deduplication_id == again.deduplication_id
    assert backend.get_queue("dedup.fifo").approximate_number_of_messages == 1  # the resend was dropped
    backend.receive_message("plain", 2, wait_seconds_timeout=0, visibility_timeout=30)
    attributes = backend.get_queue_attributes("plain", ["All"])
    counts = (attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"])
    assert counts == (49, 2)


def test_backends_are_found_once_per_host_with_the_same_answer() -> None:
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    fresh = DomainDispatcherApplication.get_backend_for_host
    hosts = ["events.us-east-1.amazonaws.com", "sqs.eu-west-1.amazonaws.com", "s3", "moto_api", None]
    app = DomainDispatcherApplication(create_app=lambda _backend: None)  # type: ignore[arg-type,return-value]
    expected = [fresh(app, host) for host in hosts]
    moto_server.remember_backends_per_host()
    moto_server.remember_backends_per_host()  # idempotent
    remembered = DomainDispatcherApplication.get_backend_for_host
    assert [remembered(app, host) for host in hosts] == expected
    assert expected[:4] == ["events", "sqs", "s3", "moto_api"]
    assert set(remembered.cache) >= set(hosts)  # type: ignore[attr-defined]
