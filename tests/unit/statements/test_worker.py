"""The Activities worker's loop (poll, heartbeat, success, failure, drain) and the RunTask runner, against
botocore's Stubber: moto 5.x serves no GetActivityTask, so this is where that loop is tested. Each test lists
the exact Step Functions calls the worker must make, in order, and fails on any other call."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator, Mapping
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from orderstream.settings import StatementsSettings, StatementsTaskSettings
from orderstream.statements import worker
from orderstream.statements.errors import BadRecord
from orderstream.statements.worker import POLL_READ_TIMEOUT, ActivityWorker, drain_on_signals

ARN = "arn:aws:states:us-east-1:123456789012:activity:orderstream-statements"
TOKEN = "token-1"
STEP = {"step": "shard", "month": "2026-11", "shard": {"shard": 0, "partitions": []}}


class FakeClock:
    def __init__(self, *times: float) -> None:
        self._times = list(times)

    def __call__(self) -> float:
        return self._times.pop(0) if len(self._times) > 1 else self._times[0]


@pytest.fixture
def sfn() -> Iterator[tuple[Any, Stubber]]:
    client = boto3.client("stepfunctions", region_name="us-east-1")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def expect_poll(stubber: Stubber, token: str | None = TOKEN, request: Mapping[str, Any] = STEP) -> None:
    answer = {"taskToken": token, "input": json.dumps(request)} if token else {}
    stubber.add_response("get_activity_task", answer, {"activityArn": ARN, "workerName": "w-1"})


def make_worker(client: Any, handle: Any, clock: Any = None) -> ActivityWorker:
    extra = {"clock": clock} if clock else {}
    return ActivityWorker(client, ARN, handle, heartbeat_interval=10.0, worker_name="w-1", **extra)


def test_the_long_poll_socket_timeout_is_above_the_60_second_poll() -> None:
    client = worker.sfn_client(StatementsSettings(), long_poll=True)
    assert POLL_READ_TIMEOUT > 60
    assert client.meta.config.read_timeout == POLL_READ_TIMEOUT
    assert worker.sfn_client(StatementsSettings()).meta.config.read_timeout < 60


def test_a_task_is_polled_worked_with_heartbeats_and_reported(sfn: tuple[Any, Stubber]) -> None:
    client, stubber = sfn
    expect_poll(stubber)
    stubber.add_response("send_task_heartbeat", {}, {"taskToken": TOKEN})
    stubber.add_response("send_task_heartbeat", {}, {"taskToken": TOKEN})
    stubber.add_response(
        "send_task_success", {}, {"taskToken": TOKEN, "output": '{"shard": 0, "statements": 3}'}
    )
    seen: list[Mapping[str, Any]] = []

    def handle(request: Mapping[str, Any], heartbeat: Any) -> dict[str, Any]:
        seen.append(request)
        for _ in range(4):  # at t = 5, 12, 15, 30: heartbeats go out at 12 and 30 (every 10 s at most)
            heartbeat()
        return {"shard": 0, "statements": 3}

    w = make_worker(client, handle, FakeClock(0, 5, 12, 15, 30))
    assert w.run(max_tasks=1) == 1
    assert seen == [STEP]


def test_an_empty_poll_is_no_task_and_the_worker_polls_again(sfn: tuple[Any, Stubber]) -> None:
    client, stubber = sfn
    expect_poll(stubber, token=None)
    expect_poll(stubber)
    stubber.add_response("send_task_success", {}, {"taskToken": TOKEN, "output": "{}"})
    assert make_worker(client, lambda request, heartbeat: {}).run(max_tasks=1) == 1


@pytest.mark.parametrize(
    ("raised", "error", "cause"),
    [
        (BadRecord("changelog/3@17: not JSON"), "Statements.BadRecord", "changelog/3@17: not JSON"),
        (KeyError("shard"), "Statements.Unexpected", "KeyError: 'shard'"),
    ],
)
def test_a_failing_step_is_reported_with_its_error_name(
    sfn: tuple[Any, Stubber], raised: Exception, error: str, cause: str
) -> None:
    client, stubber = sfn
    expect_poll(stubber)
    stubber.add_response("send_task_failure", {}, {"taskToken": TOKEN, "error": error, "cause": cause})

    def handle(request: Mapping[str, Any], heartbeat: Any) -> dict[str, Any]:
        raise raised

    assert make_worker(client, handle).run(max_tasks=1) == 1


def test_input_that_is_not_a_json_object_is_bad_input(sfn: tuple[Any, Stubber]) -> None:
    client, stubber = sfn
    stubber.add_response(
        "get_activity_task",
        {"taskToken": TOKEN, "input": "[1, 2]"},
        {"activityArn": ARN, "workerName": "w-1"},
    )
    stubber.add_response(
        "send_task_failure",
        {},
        {
            "taskToken": TOKEN,
            "error": "Statements.BadInput",
            "cause": "the task input must be a JSON object, got list",
        },
    )
    called: list[object] = []
    assert make_worker(client, lambda request, heartbeat: called.append(request) or {}).run(max_tasks=1) == 1
    assert called == []


def test_sigterm_during_a_task_hands_it_back_and_stops_polling(sfn: tuple[Any, Stubber]) -> None:
    client, stubber = sfn
    expect_poll(stubber)
    stubber.add_response(
        "send_task_failure",
        {},
        {
            "taskToken": TOKEN,
            "error": "Worker.Draining",
            "cause": "the worker is stopping (SIGTERM): task handed back for a retry",
        },
    )
    progress: list[int] = []

    def handle(request: Mapping[str, Any], heartbeat: Any) -> dict[str, Any]:
        for step in range(100):
            if step == 3:
                os.kill(os.getpid(), signal.SIGTERM)  # what ECS sends before stopTimeout
            heartbeat()
            progress.append(step)
        return {"never": "reached"}

    w = make_worker(client, handle)
    w.poll_backoff = 0.01
    polls: list[int] = []

    def count_polls(**_: Any) -> None:
        polls.append(1)
        if len(polls) > 1:  # a worker that kept polling: stop it so the test ends (and fails)
            w.drain()

    client.meta.events.register("before-parameter-build.sfn.GetActivityTask", count_polls)
    previous = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        drain_on_signals(w)
        assert w.run(max_tasks=2) == 1
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    assert progress == [0, 1, 2] and w.stopping.is_set()
    assert len(polls) == 1, "a draining worker must not poll again"


def test_a_task_a_poll_hands_out_after_sigterm_goes_straight_back(sfn: tuple[Any, Stubber]) -> None:
    client, stubber = sfn
    expect_poll(stubber)
    stubber.add_response(
        "send_task_failure",
        {},
        {
            "taskToken": TOKEN,
            "error": "Worker.Draining",
            "cause": "the worker stopped before starting the task",
        },
    )
    called: list[object] = []
    w = make_worker(client, lambda request, heartbeat: called.append(request) or {})
    # SIGTERM arrives while GetActivityTask is held open (it may last 60 s): the answer still comes.
    client.meta.events.register("before-parameter-build.sfn.GetActivityTask", lambda **_: w.drain())
    assert w.run() == 1
    assert called == []


def test_a_failed_poll_waits_and_polls_again(sfn: tuple[Any, Stubber]) -> None:
    client, stubber = sfn
    stubber.add_client_error("get_activity_task", "ThrottlingException", "slow down")
    expect_poll(stubber)
    stubber.add_response("send_task_success", {}, {"taskToken": TOKEN, "output": "{}"})
    w = make_worker(client, lambda request, heartbeat: {})
    w.poll_backoff = 0.01
    assert w.run(max_tasks=1) == 1


def test_a_refused_heartbeat_stops_the_step(sfn: tuple[Any, Stubber]) -> None:
    client, stubber = sfn
    expect_poll(stubber)
    stubber.add_client_error("send_task_heartbeat", "TaskTimedOut", "too late")
    stubber.add_client_error("send_task_failure", "TaskTimedOut", "too late")  # reported, refused: logged
    progress: list[int] = []

    def handle(request: Mapping[str, Any], heartbeat: Any) -> dict[str, Any]:
        for step in range(5):
            heartbeat()
            progress.append(step)
        return {}

    w = make_worker(client, handle, FakeClock(0, 11))
    assert w.run(max_tasks=1) == 1
    assert progress == []


def _task_settings(raw_input: str) -> StatementsTaskSettings:
    return StatementsTaskSettings(statements_task_token=TOKEN, statements_task_input=raw_input)


def test_a_runtask_step_reports_success_and_exits_0(
    sfn: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, stubber = sfn
    monkeypatch.setattr(worker, "sfn_client", lambda settings, long_poll=False: client)
    stubber.add_response("send_task_success", {}, {"taskToken": TOKEN, "output": '{"month": "2026-11"}'})
    seen: list[Mapping[str, Any]] = []

    def handle(request: Mapping[str, Any], heartbeat: Any) -> dict[str, Any]:
        seen.append(request)
        return {"month": "2026-11"}

    previous = signal.getsignal(signal.SIGTERM)
    try:
        assert worker.run_task(_task_settings('{"step": "plan"}'), handle) == 0
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert seen == [{"step": "plan"}]


def test_a_runtask_step_with_bad_input_reports_failure_and_exits_1(
    sfn: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, stubber = sfn
    monkeypatch.setattr(worker, "sfn_client", lambda settings, long_poll=False: client)
    stubber.add_response(
        "send_task_failure",
        {},
        {
            "taskToken": TOKEN,
            "error": "Statements.BadInput",
            "cause": "the task input is not JSON: Expecting value: line 1 column 1 (char 0)",
        },
    )
    previous = signal.getsignal(signal.SIGTERM)
    try:
        assert worker.run_task(_task_settings("no json"), lambda request, heartbeat: {}) == 1
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_a_runtask_step_step_functions_cannot_hear_exits_3(
    sfn: tuple[Any, Stubber], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, stubber = sfn
    monkeypatch.setattr(worker, "sfn_client", lambda settings, long_poll=False: client)
    stubber.add_client_error("send_task_success", "TaskDoesNotExist", "gone")
    previous = signal.getsignal(signal.SIGTERM)
    try:
        assert worker.run_task(_task_settings('{"step": "plan"}'), lambda request, heartbeat: {}) == 3
    finally:
        signal.signal(signal.SIGTERM, previous)
