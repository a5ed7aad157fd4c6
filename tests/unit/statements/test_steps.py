"""The steps' input handling, and the changelog name the statements read against the loyalty agent's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from orderstream.domain.statements import Month
from orderstream.settings import StatementsSettings, WorkerSettings
from orderstream.statements import source, steps
from orderstream.statements.errors import BadInput


def test_the_month_comes_from_the_input_or_the_schedules_time() -> None:
    assert steps.month_of({"month": "2026-11"}) == Month(2026, 11)
    assert steps.month_of({"scheduled_time": "2026-12-01T03:00:00Z"}) == Month(2026, 11)
    assert steps.month_of({"month": "2026-02", "scheduled_time": "2026-12-01T03:00:00Z"}) == Month(2026, 2)
    for bad in (
        {},
        {"month": "November"},
        {"scheduled_time": "yesterday"},
        {"scheduled_time": "2026-12-01T03:00"},
    ):
        with pytest.raises(BadInput):
            steps.month_of(bad)


@pytest.mark.parametrize(
    "request_",
    [
        {"step": "sum"},
        {},
        {"step": "shard", "month": "2026-11"},
        {"step": "shard", "month": "2026-11", "shard": 3},
    ],
)
def test_a_step_the_worker_cannot_run_is_bad_input(request_: dict[str, object]) -> None:
    with pytest.raises(BadInput):
        steps.run_step(StatementsSettings(), request_, lambda: None)


def test_the_changelog_read_is_the_one_the_loyalty_agent_writes(tmp_path: Path) -> None:
    from streams.app import faust_id

    try:  # where the worker is built (streams/ is being reorganised; either layout builds a faust app)
        from streams.worker import build  # type: ignore[attr-defined]
    except ImportError:
        from streams.app import build

    settings = WorkerSettings(app_id="stmt", agents="loyalty", data_dir=tmp_path)
    table = build(settings).app.tables[source.LOYALTY_TABLE]
    written = table.changelog_topic.get_topic_name()
    assert written == source.changelog_topic(faust_id(settings)) == "stmt-loyalty-loyalty-ledger-changelog"
    assert StatementsSettings(app_id="stmt").loyalty_group == faust_id(settings)
