"""How a statements step reaches a worker, and how the worker answers Step Functions.

Two styles, chosen per deployment (``statements_worker_style`` in Terraform):

- **Activities** (``orderstream statements worker``): a warm pool of Fargate tasks, the ECS service
  ``statements-worker``, long-polls ``GetActivityTask``. Step Functions holds a poll open for up to 60 s, so
  the client's socket timeout is :data:`POLL_READ_TIMEOUT` (above 60 s: an empty poll is an answer, not an
  error). On SIGTERM the worker stops polling; a task it still holds, or one a poll hands it afterwards, is
  failed with ``Worker.Draining`` so that the state machine's Retry gives it to another worker.
- **RunTask** (``orderstream statements task``): Step Functions starts one task per step with
  ``ecs:runTask.waitForTaskToken``; the token and the step's input arrive as container overrides
  (``ORDERSTREAM_STATEMENTS_TASK_TOKEN``, ``ORDERSTREAM_STATEMENTS_TASK_INPUT``).

Either way the worker heartbeats while it works (at most every ``ORDERSTREAM_STATEMENTS_HEARTBEAT_INTERVAL``
seconds, well inside the state's ``HeartbeatSeconds``) and ends with SendTaskSuccess or SendTaskFailure. A
worker killed without a word is caught by the heartbeat timeout: the task is retried, never lost.
"""

from __future__ import annotations

import json
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from orderstream import aws
from orderstream.settings import StatementsSettings, StatementsTaskSettings
from orderstream.statements.errors import BadInput, Draining, StatementsError

log = logging.getLogger("orderstream.statements")

POLL_READ_TIMEOUT: Final = 75.0
"""Socket timeout of GetActivityTask: above the 60 s Step Functions may hold a long poll open."""
MAX_ERROR: Final = 256
MAX_CAUSE: Final = 32_768

Handler = Callable[[Mapping[str, Any], Callable[[], None]], dict[str, Any]]


def sfn_client(settings: StatementsSettings, *, long_poll: bool = False) -> Any:
    return aws.client(
        "stepfunctions",
        region=settings.aws_region,
        endpoint_url=settings.aws_endpoint_url,
        connect_timeout=10,
        read_timeout=POLL_READ_TIMEOUT if long_poll else 30,
        retries={"max_attempts": 4, "mode": "standard"},
    )


class Heartbeat:
    """Called by a step at every bit of progress: sends SendTaskHeartbeat at most every ``interval`` seconds
    and raises :class:`Draining` once the worker is stopping, so the step ends where it stands."""

    def __init__(
        self,
        sfn: Any,
        token: str,
        interval: float,
        stopping: threading.Event,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sfn, self._token, self._interval = sfn, token, interval
        self._stopping, self._clock = stopping, clock
        self._last = clock()
        self.sent = 0

    def __call__(self) -> None:
        if self._stopping.is_set():
            raise Draining("the worker is stopping (SIGTERM): task handed back for a retry")
        now = self._clock()
        if now - self._last < self._interval:
            return
        try:
            self._sfn.send_task_heartbeat(taskToken=self._token)
        except Exception as exc:  # the task timed out or its execution stopped: stop working on it
            code, _ = aws.error_code(exc)
            raise StatementsError(f"heartbeat refused ({code or exc}): the task is no longer ours") from None
        self._last = now
        self.sent += 1


def report(sfn: Any, token: str, outcome: Mapping[str, Any] | BaseException) -> bool:
    """SendTaskSuccess with the output, or SendTaskFailure naming the error. False if Step Functions refused."""
    try:
        if isinstance(outcome, BaseException):
            error, cause = describe(outcome)
            sfn.send_task_failure(taskToken=token, error=error, cause=cause)
        else:
            sfn.send_task_success(taskToken=token, output=json.dumps(outcome, sort_keys=True))
        return True
    except Exception as exc:  # TaskTimedOut, TaskDoesNotExist, network: the heartbeat timeout covers it
        code, _ = aws.error_code(exc)
        log.warning("could not report the task's outcome to Step Functions: %s", code or exc)
        return False


def describe(exc: BaseException) -> tuple[str, str]:
    """``(error, cause)`` for SendTaskFailure: our error names, or ``Statements.Unexpected``."""
    if isinstance(exc, StatementsError):
        return exc.error_name, str(exc)[:MAX_CAUSE]
    return "Statements.Unexpected", f"{type(exc).__name__}: {exc}"[:MAX_CAUSE]


def parse_input(raw: str) -> Mapping[str, Any]:
    try:
        request = json.loads(raw)
    except (TypeError, ValueError) as exc:
        raise BadInput(f"the task input is not JSON: {exc}") from None
    if not isinstance(request, dict):
        raise BadInput(f"the task input must be a JSON object, got {type(request).__name__}")
    return request


def run_one(sfn: Any, token: str, raw_input: str, handle: Handler, heartbeat: Heartbeat) -> int:
    """Run one step and report it: 0 if it succeeded, 1 if it failed, 3 if Step Functions could not be told
    (its heartbeat timeout then retries the step)."""
    try:
        output = handle(parse_input(raw_input), heartbeat)
    except Exception as exc:
        error, cause = describe(exc)
        log.warning("step failed: %s: %s", error, cause[:500])
        return 1 if report(sfn, token, exc) else 3
    return 0 if report(sfn, token, output) else 3


class ActivityWorker:
    """One worker of the Activities pool: poll, work with heartbeats, report; drain on :meth:`drain`."""

    def __init__(
        self,
        sfn: Any,
        activity_arn: str,
        handle: Handler,
        *,
        heartbeat_interval: float,
        worker_name: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._sfn, self._arn, self._handle = sfn, activity_arn, handle
        self._interval, self._clock = heartbeat_interval, clock
        self.worker_name = (worker_name or socket.gethostname())[:80]
        self.stopping = threading.Event()
        self.handled = 0
        self.poll_backoff = 2.0
        """Seconds to wait after a failed poll (throttling, network) before polling again."""

    def drain(self, *_: object) -> None:
        """Stop polling; the task in hand is handed back at its next heartbeat."""
        self.stopping.set()

    def run(self, max_tasks: int | None = None) -> int:
        """Poll and work until :meth:`drain` (or ``max_tasks`` tasks). Returns the number of tasks taken."""
        while not self.stopping.is_set() and (max_tasks is None or self.handled < max_tasks):
            task = self._poll()
            if task is None:
                continue
            token, raw_input = task
            self.handled += 1
            if self.stopping.is_set():  # a poll that outlived SIGTERM: give the task straight back
                report(self._sfn, token, Draining("the worker stopped before starting the task"))
                break
            heartbeat = Heartbeat(self._sfn, token, self._interval, self.stopping, self._clock)
            run_one(self._sfn, token, raw_input, self._handle, heartbeat)
        return self.handled

    def _poll(self) -> tuple[str, str] | None:
        try:
            answer = self._sfn.get_activity_task(activityArn=self._arn, workerName=self.worker_name)
        except Exception as exc:  # throttling, network: wait a little, unless stopping
            code, _ = aws.error_code(exc)
            log.warning("GetActivityTask failed (%s); polling again shortly", code or exc)
            self.stopping.wait(self.poll_backoff)
            return None
        token = answer.get("taskToken")
        return (token, answer.get("input") or "") if token else None


def drain_on_signals(worker: ActivityWorker) -> None:
    """SIGTERM (ECS stopping the task) and SIGINT drain the worker."""
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, worker.drain)


def serve_activities(settings: StatementsSettings, handle: Handler) -> int:
    """``orderstream statements worker``: poll until SIGTERM/SIGINT, then drain. Exit code 0."""
    if not settings.statements_activity_arn:
        from orderstream.errors import ConfigError

        raise ConfigError(
            "ORDERSTREAM_STATEMENTS_ACTIVITY_ARN", "the Activities worker needs the activity ARN"
        )
    worker = ActivityWorker(
        sfn_client(settings, long_poll=True),
        settings.statements_activity_arn,
        handle,
        heartbeat_interval=settings.statements_heartbeat_interval,
    )
    drain_on_signals(worker)
    log.info("polling %s as %s", settings.statements_activity_arn, worker.worker_name)
    worker.run()
    log.info("drained after %d task(s)", worker.handled)
    return 0


def run_task(settings: StatementsTaskSettings, handle: Handler) -> int:
    """``orderstream statements task``: the one step this RunTask task was started for; exit code as
    :func:`run_one` (SIGTERM hands the step back for a retry)."""
    sfn = sfn_client(settings)
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    token = settings.statements_task_token
    heartbeat = Heartbeat(sfn, token, settings.statements_heartbeat_interval, stopping)
    return run_one(sfn, token, settings.statements_task_input, handle, heartbeat)
