"""Errors of a statements step. ``error_name`` is what the worker reports to Step Functions (SendTaskFailure),
so the state machine's Retry and Catch can tell them apart (see ``statements.asl.json.tftpl``)."""

from __future__ import annotations

from orderstream.errors import OrderstreamError


class StatementsError(OrderstreamError):
    """A step failed; Step Functions retries it (Retry) and then reports the shard as failed (Catch)."""

    error_name = "Statements.Failed"
    retriable = True


class BadInput(StatementsError):
    """The step's input is not what the state machine sends: retrying cannot help."""

    error_name = "Statements.BadInput"
    retriable = False


class BadRecord(StatementsError):
    """A changelog or loyalty-events record could not be decoded; the message names topic, partition, offset."""

    error_name = "Statements.BadRecord"


class MissingTopic(StatementsError):
    """The loyalty changelog or ``loyalty-events`` does not exist (wrong ``ORDERSTREAM_STATEMENTS_LOYALTY_GROUP``?)."""

    error_name = "Statements.MissingTopic"
    retriable = False


class Draining(StatementsError):
    """The worker got SIGTERM: its unfinished task is handed back so that Step Functions retries it."""

    error_name = "Worker.Draining"
