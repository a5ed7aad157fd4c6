"""moto in server mode, with five of its per-event costs cut.

All five change how moto computes, never what it answers:

- **JSONPath parsing.** moto turns each event it delivers to a rule target into the target's input through an
  input transformer; without one it applies its default, nine JSONPath expressions. It parsed every
  expression afresh for every event and target with jsonpath-ng's PLY parser, which builds its parser
  tables on each call. The expressions are the same strings every time and a parsed expression holds no
  per-event state, so each is parsed once.
- **SQS retention check.** Before handing out a message, moto checks it against the queue's retention
  period, which it read by building the whole attribute map of the queue, counting every message in it
  (visible, delayed, in flight), four times per message. A receive of ten messages from a queue holding *n*
  was thus O(n); once delivery fell behind, the queue grew and moto slowed further until it nearly stopped
  (about 5 requests/s). The period is now read from the queue directly.
- **SQS clock.** Sending a message still builds that attribute map once, and each message counted asks the
  time twice through ``datetime`` arithmetic (``unix_time``: now in UTC minus the epoch, in seconds), which
  was most of moto's CPU under load. The SQS models now read the same wall clock as ``time.time()``.
- **Message counts on send.** Sending a message reads one queue attribute (``ContentBasedDeduplication``)
  from that whole attribute map, so every message EventBridge delivered counted every message in the queue
  three times (visible, delayed, in flight). While a send runs, on its thread, the three approximate
  counts now read as 0; the send never uses them, and ``GetQueueAttributes`` still counts.
- **Request routing.** For each request moto found the service by listing its own package directory (a
  ``stat`` per service) and trying its URL patterns (hundreds of regular expressions) against the host
  name. Both depend only on the host name and the installed moto, so the answer is kept per host name.

Two more changes are fixes, not costs: moto's copy of the Step Functions interpreter leaves out the step
that turns an ``ecs:runTask`` Task state's parameters (``Cluster``, ``TaskDefinition``, ``Overrides`` … as
the ASL spells them) into the ECS API's (``cluster``, ``taskDefinition`` …) and its answer back, so every
RunTask state failed on ``'Cluster'``. :func:`normalise_ecs_integration` adds that step from botocore's ECS
service model, as AWS does. And its SendTaskFailure handler passes on the error but drops the cause, which the
interpreter takes: :func:`keep_task_failure_causes` passes both.

Measured with ``bench/bridge.py`` on the 2-core dev box: with the first three, the highest EventBridge → SQS
rate moto sustained went from 100 to 500 events/s (p50 25 ms, p99 98 ms); at 1 000 events/s every event
arrived, but latency grew over the run. With all five, moto sustains 1 000 events/s for 10 s (two runs:
p50 27 and 29 ms, p99 131 and 169 ms). Run as ``python -m orderstream.moto_server`` with moto's own
arguments (``orderstream local up`` does).
"""

from __future__ import annotations

import datetime
import functools
import sys
import threading
import time
from typing import Any

import jsonpath_ng.ext
import moto.sqs.models
from moto import server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.sqs.models import Queue, SQSBackend


def remember_parsed_jsonpaths() -> None:
    """Make ``jsonpath_ng.ext.parse`` (which moto imports at each call) return one parse per expression."""
    parse = getattr(jsonpath_ng.ext, "parse")  # noqa: B009 (not in the module's declared exports)
    if not hasattr(parse, "cache_info"):
        setattr(jsonpath_ng.ext, "parse", functools.lru_cache(maxsize=1024)(parse))  # noqa: B010


def within_retention(backend: SQSBackend, queue_name: str, message: Any) -> bool:
    """moto's retention check, reading the one attribute it needs instead of all of them."""
    retention_period = backend.get_queue(queue_name).message_retention_period  # type: ignore[attr-defined]
    return bool(int(retention_period) + message.sent_timestamp / 1000 > time.time())


def read_retention_directly() -> None:
    SQSBackend.is_message_valid_based_on_retention_period = within_retention  # type: ignore[assignment,method-assign]


_moto_unix_time = getattr(moto.sqs.models, "unix_time")  # noqa: B009 (imported there, not exported)


def unix_time(dt: datetime.datetime | None = None) -> float:
    """Seconds since the epoch: ``time.time()`` for now, moto's own arithmetic for a given datetime."""
    return time.time() if dt is None else float(_moto_unix_time(dt))


def unix_time_millis(dt: datetime.datetime | None = None) -> float:
    return unix_time(dt) * 1000.0


def read_the_clock_directly() -> None:
    setattr(moto.sqs.models, "unix_time", unix_time)  # noqa: B010
    setattr(moto.sqs.models, "unix_time_millis", unix_time_millis)  # noqa: B010


COUNTS: tuple[str, ...] = (
    "approximate_number_of_messages",
    "approximate_number_of_messages_delayed",
    "approximate_number_of_messages_not_visible",
)
_sending = threading.local()


def _count_unless_sending(name: str) -> property:
    count = getattr(Queue, name).fget

    def read(queue: Queue) -> int:
        return 0 if getattr(_sending, "active", False) else int(count(queue))

    return property(read)


def skip_counts_while_sending() -> None:
    """Make a send on this thread see the approximate counts as 0 (it reads the attribute map, not them)."""
    if hasattr(SQSBackend.send_message, "__wrapped__"):
        return
    send = SQSBackend.send_message

    @functools.wraps(send)
    def send_message(self: SQSBackend, *args: Any, **kwargs: Any) -> Any:
        _sending.active = True
        try:
            return send(self, *args, **kwargs)
        finally:
            _sending.active = False

    SQSBackend.send_message = send_message  # type: ignore[method-assign]
    for name in COUNTS:
        setattr(Queue, name, _count_unless_sending(name))


def remember_backends_per_host() -> None:
    """Keep ``DomainDispatcherApplication.get_backend_for_host`` answers per host name."""
    find = DomainDispatcherApplication.get_backend_for_host
    if hasattr(find, "cache"):
        return
    cache: dict[str | None, Any] = {}

    @functools.wraps(find)
    def get_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
        if host not in cache:
            cache[host] = find(self, host)
        return cache[host]

    get_backend_for_host.cache = cache  # type: ignore[attr-defined]
    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]


@functools.cache
def _operations(service: str) -> dict[str, Any]:
    """snake_case action → botocore operation model of ``service``."""
    from botocore import xform_name
    from botocore.loaders import Loader
    from botocore.model import ServiceModel

    model = ServiceModel(Loader().load_service_model(service, "service-2"), service)
    return {xform_name(name): model.operation_model(name) for name in model.operation_names}


def _operation(task: Any, service: str | None, action: str | None) -> Any:
    return _operations(task._get_boto_service_name(service))[task._get_boto_service_action(action)]


def _normalise_parameters(
    self: Any,
    parameters: dict[str, Any],
    boto_service_name: str | None = None,
    service_action_name: str | None = None,
) -> None:
    shape = _operation(self, boto_service_name, service_action_name).input_shape
    if shape is not None:
        self._to_boto_request(parameters, shape)


def _normalise_response(
    self: Any, response: Any, boto_service_name: str | None = None, service_action_name: str | None = None
) -> None:
    shape = _operation(self, boto_service_name, service_action_name).output_shape
    if shape is not None:
        self._from_boto_response(response, shape)


def normalise_ecs_integration() -> None:
    """Give the interpreter's ECS integration the request/response normalisation it lacks (see above)."""
    from moto.stepfunctions.parser.asl.component.state.exec.state_task.service import (
        state_task_service_ecs as ecs,
    )

    ecs.StateTaskServiceEcs._normalise_parameters = _normalise_parameters  # type: ignore[method-assign]
    ecs.StateTaskServiceEcs._normalise_response = _normalise_response  # type: ignore[method-assign]


def keep_task_failure_causes() -> None:
    """Make moto's SendTaskFailure handler hand the ``cause`` to a backend that takes one (the interpreter)."""
    import inspect

    from moto.core.responses import EmptyResult
    from moto.stepfunctions.responses import StepFunctionResponse

    if getattr(StepFunctionResponse.send_task_failure, "keeps_cause", False):
        return

    def send_task_failure(self: StepFunctionResponse) -> Any:
        backend = self.stepfunction_backend
        given = {"error": self._get_param("error")}
        if "cause" in inspect.signature(backend.send_task_failure).parameters:
            given["cause"] = self._get_param("cause")
        backend.send_task_failure(self._get_param("taskToken"), **given)
        return EmptyResult()

    send_task_failure.keeps_cause = True  # type: ignore[attr-defined]
    StepFunctionResponse.send_task_failure = send_task_failure  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    remember_parsed_jsonpaths()
    read_retention_directly()
    read_the_clock_directly()
    skip_counts_while_sending()
    remember_backends_per_host()
    normalise_ecs_integration()
    keep_task_failure_causes()
    server.main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
