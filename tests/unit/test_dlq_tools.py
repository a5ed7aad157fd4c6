"""DLQ selection and replay planning (pure: no broker)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orderstream import dlq_tools as t
from orderstream.domain import dlq as fmt

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def entry(
    stage: str = "sequencer",
    reason: str = "bad_json",
    source: str = "payments",
    replays: int = 0,
    at: datetime = NOW,
    extra: tuple[tuple[str, bytes], ...] = (),
    offset: int = 7,
) -> t.DlqEntry:
    letter = fmt.DeadLetter(stage, reason, "boom", source, 2, 41, replay_count=replays)
    headers = tuple(letter.headers(extra))
    return t.DlqEntry(3, offset, int(at.timestamp() * 1000), b"c-1", b"{bad", headers)


def test_selection_filters_by_stage_reason_time_and_position() -> None:
    e = entry()
    assert t.Selection().matches(e)
    assert t.Selection(stage="sequencer", reason="bad_json").matches(e)
    assert not t.Selection(stage="loyalty").matches(e)
    assert not t.Selection(reason="late").matches(e)
    assert t.Selection(since=NOW - timedelta(minutes=1), until=NOW + timedelta(seconds=1)).matches(e)
    assert not t.Selection(since=NOW + timedelta(seconds=1)).matches(e)
    assert not t.Selection(until=NOW).matches(e)
    assert t.Selection(positions=frozenset({(3, 7)})).matches(e)
    assert not t.Selection(positions=frozenset({(3, 8)})).matches(e)


def test_replay_goes_to_source_with_key_and_count_and_without_dlq_headers() -> None:
    original = (("traceparent", b"00-abc"),)
    [replay], skips = t.plan_replay([entry(extra=original)])
    assert skips == [] and replay.topic == "payments" and replay.key == b"c-1" and replay.value == b"{bad"
    headers = dict(replay.headers)
    assert headers["traceparent"] == b"00-abc"
    assert headers[fmt.H_REPLAY_COUNT] == b"1" and headers[t.H_REPLAYS] == b"1"
    assert headers[t.H_REPLAYED_FROM] == b"orderstream.dlq:3:7"
    assert fmt.H_STAGE not in headers and fmt.H_ERROR_MESSAGE not in headers


def test_replay_count_survives_being_parked_again() -> None:
    """A stage that parks a replayed record rewrites replay_count to 0; our own header keeps the count."""
    [first], _ = t.plan_replay([entry()])
    reparked = fmt.DeadLetter("sequencer", "bad_json", "again", "payments", 2, 90).headers(first.headers)
    again = t.DlqEntry(1, 1, 0, b"c-1", b"{bad", tuple(reparked))
    assert again.replays == 1
    [second], _ = t.plan_replay([again])
    assert dict(second.headers)[t.H_REPLAYS] == b"2"


def test_cap_and_missing_source_are_skipped_with_a_reason() -> None:
    replays, skips = t.plan_replay([entry(replays=3), entry(source=""), entry(source="orderstream.dlq")])
    assert replays == []
    assert [s.why for s in skips] == [
        "replay cap reached (3 of 3)",
        "no source topic in its headers",
        "its source is the DLQ itself",
    ]


def test_corrected_value_needs_exactly_one_record() -> None:
    [replay], _ = t.plan_replay([entry()], fixed_value=b'{"ok": 1}')
    assert replay.value == b'{"ok": 1}'
    with pytest.raises(t.DlqToolError):
        t.plan_replay([entry(), entry(offset=8)], fixed_value=b"{}")


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=10), st.integers(min_value=0, max_value=10))
def test_never_replays_at_or_past_the_cap(replays: int, cap: int) -> None:
    planned, skipped = t.plan_replay([entry(replays=replays)], max_replays=cap)
    assert len(planned) == (1 if replays < cap else 0) and len(planned) + len(skipped) == 1


def test_times_and_positions_parse_or_fail_in_one_line() -> None:
    assert t.parse_when("30m", now=NOW) == NOW - timedelta(minutes=30)
    assert t.parse_when("2026-11-28T10:00:00") == datetime(2026, 11, 28, 10, tzinfo=UTC)
    assert t.parse_when("2026-11-28T10:00:00Z") == datetime(2026, 11, 28, 10, tzinfo=UTC)
    assert t.parse_position("3:42") == (3, 42)
    for bad in ("yesterday", "3h ago"):
        with pytest.raises(t.DlqToolError):
            t.parse_when(bad)
    with pytest.raises(t.DlqToolError):
        t.parse_position("3-42")


def test_list_row_decodes_headers_and_truncates_long_values() -> None:
    e = t.DlqEntry(
        0, 1, 0, b"k", b"x" * 500, tuple(fmt.DeadLetter("loyalty", "late", "m", "o", 1, 2).headers())
    )
    row = e.to_row(preview=10)
    assert row["stage"] == "loyalty" and row["reason"] == "late" and row["source"] == "o:1:2"
    assert row["value"].startswith("xxxxxxxxxx…") and "500 chars" in row["value"]
