"""The rate-limiting log filter, with a fake clock and a handler that keeps what it is given."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from orderstream import logfilter
from orderstream.logfilter import RateLimit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.levelname} {record.name} {record.getMessage()}")


@pytest.fixture
def setup() -> tuple[logging.Logger, Keep, Clock]:
    clock, handler = Clock(), Keep()
    handler.addFilter(RateLimit(handler, burst=5, window=10.0, clock=clock))
    logger = logging.getLogger("test.logfilter")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, handler, clock


def test_first_five_pass_then_one_summary_when_the_window_ends(
    setup: tuple[logging.Logger, Keep, Clock],
) -> None:
    logger, handler, clock = setup
    for n in range(1000):
        logger.error("connect to node %d failed: %s", n % 3, "refused")
        clock.now += 0.005  # 1000 records in 5 s
    assert handler.lines == [
        f"ERROR test.logfilter connect to node {n % 3} failed: refused" for n in range(5)
    ]
    clock.now = 1010.0
    logger.error("connect to node %d failed: %s", 9, "refused")
    assert handler.lines[5:] == [
        "ERROR test.logfilter suppressed 995 similar messages in the last 10 s: connect to node %d failed: %s",
        "ERROR test.logfilter connect to node 9 failed: refused",
    ]


def test_groups_are_per_logger_template_and_level(setup: tuple[logging.Logger, Keep, Clock]) -> None:
    logger, handler, _clock = setup
    other = logging.getLogger("test.logfilter.other")
    for _ in range(10):
        logger.error("a %s", 1)
        logger.warning("a %s", 1)
        logger.error("b %s", 1)
        other.error("a %s", 1)  # propagates to the same handler, another group
    assert len(handler.lines) == 4 * 5


def test_a_quiet_group_gets_its_summary_from_another_groups_record(
    setup: tuple[logging.Logger, Keep, Clock],
) -> None:
    logger, handler, clock = setup
    for _ in range(8):
        logger.warning("heartbeat failed")
    clock.now += 11
    logger.info("something else")
    assert handler.lines[-2:] == [
        "WARNING test.logfilter suppressed 3 similar messages in the last 10 s: heartbeat failed",
        "INFO test.logfilter something else",
    ]


def test_no_summary_when_nothing_was_suppressed(setup: tuple[logging.Logger, Keep, Clock]) -> None:
    logger, handler, clock = setup
    for _ in range(3):
        logger.warning("x")
    clock.now += 30
    logger.warning("x")
    assert handler.lines == ["WARNING test.logfilter x"] * 4


def test_flush_writes_pending_summaries(setup: tuple[logging.Logger, Keep, Clock]) -> None:
    logger, handler, clock = setup
    for _ in range(7):
        logger.error("y")
    clock.now += 2
    limiter = next(f for f in handler.filters if isinstance(f, RateLimit))
    limiter.flush()
    assert handler.lines[-1] == "ERROR test.logfilter suppressed 2 similar messages in the last 2 s: y"


@pytest.fixture
def root_handler() -> Iterator[Keep]:
    root = logging.getLogger()
    saved = root.handlers[:]
    handler = Keep()
    root.handlers[:] = [handler]
    try:
        yield handler
    finally:
        root.handlers[:] = saved


def test_install_is_idempotent_and_limits_what_reaches_the_root_handlers(root_handler: Keep) -> None:
    first = logfilter.install(loggers=("",))  # only the root: leave other tests' handlers alone
    second = logfilter.install(loggers=("",))
    assert first == second
    assert [f.handler for f in first].count(root_handler) == 1
    assert sum(isinstance(f, RateLimit) for f in root_handler.filters) == 1
    noisy = logging.getLogger("aiokafka.conn")
    for _ in range(100):
        noisy.error("Unable connect to %r: %s", "127.0.0.1:9092", "refused")
    assert len(root_handler.lines) == 5
