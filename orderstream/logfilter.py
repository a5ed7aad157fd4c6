"""Rate-limited logging: a broker or endpoint outage must not turn into hundreds of thousands of lines.

:class:`RateLimit` is a :class:`logging.Filter` for handlers. Records are grouped by (logger name, message
template, level): the template is the unformatted ``msg``, so "connect to 127.0.0.1:9092 failed: %s" with
any argument is one group. Each group lets the first ``burst`` records of a ``window`` through; later ones
in that window are counted, not written. When a group's window ends with records suppressed, one summary
line goes out, at the group's level and under its logger's name::

    suppressed 4 812 similar messages in the last 10 s: Unable connect to node with id 1: %s

The summary is written when the next record of any group reaches the handler, or when the next record of
that group arrives, whichever is first (a filter has no timer of its own; in an outage the next record is
never far away). :func:`install` puts one filter on every handler of the root logger and of the
``aiokafka`` and ``orderstream`` loggers (and on :data:`logging.lastResort` while the root logger has no
handler); calling it again changes nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

BURST = 5
WINDOW = 10.0
LOGGERS = ("", "aiokafka", "orderstream")
"""Loggers whose handlers get the filter ("" is the root logger)."""

GroupKey = tuple[str, str, int]


@dataclass(slots=True)
class _Group:
    started: float
    passed: int = 0
    suppressed: int = 0
    pathname: str = ""
    lineno: int = 0


class RateLimit(logging.Filter):
    """Per (logger, template, level): ``burst`` records per ``window`` seconds, then a count of the rest."""

    def __init__(
        self,
        handler: logging.Handler | None = None,
        *,
        burst: int = BURST,
        window: float = WINDOW,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.handler = handler
        """Where summaries are written (the handler this filter is attached to)."""
        self.burst = burst
        self.window = window
        self._clock = clock
        self._groups: dict[GroupKey, _Group] = {}
        self._lock = threading.Lock()
        self._next_sweep = clock() + window

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "rate_limit_summary", False):
            return True
        now = self._clock()
        key = (record.name, str(record.msg), record.levelno)
        with self._lock:
            summaries = self._expired(now) if now >= self._next_sweep else []
            group = self._groups.get(key)
            if group is not None and now - group.started >= self.window:
                summaries.extend(self._close(key, group, now))
                group = None
            if group is None:
                group = self._groups[key] = _Group(now, pathname=record.pathname, lineno=record.lineno)
            allowed = group.passed < self.burst
            if allowed:
                group.passed += 1
            else:
                group.suppressed += 1
        self._emit(summaries)
        return allowed

    def flush(self) -> None:
        """Write the summaries of every group with suppressed records now (e.g. at shutdown)."""
        now = self._clock()
        with self._lock:
            summaries = [s for key, g in list(self._groups.items()) for s in self._close(key, g, now)]
        self._emit(summaries)

    def _expired(self, now: float) -> list[logging.LogRecord]:
        self._next_sweep = now + self.window
        out: list[logging.LogRecord] = []
        for key, group in list(self._groups.items()):
            if now - group.started >= self.window:
                out.extend(self._close(key, group, now))
        return out

    def _close(self, key: GroupKey, group: _Group, now: float) -> list[logging.LogRecord]:
        del self._groups[key]
        if not group.suppressed:
            return []
        name, template, level = key
        summary = logging.LogRecord(
            name,
            level,
            group.pathname,
            group.lineno,
            "suppressed %d similar messages in the last %.0f s: %s",
            (group.suppressed, min(now - group.started, self.window), template),
            None,
        )
        summary.rate_limit_summary = True
        return [summary]

    def _emit(self, summaries: Iterable[logging.LogRecord]) -> None:
        if self.handler is None:
            return
        for summary in summaries:
            self.handler.handle(summary)


def install(
    *, burst: int = BURST, window: float = WINDOW, loggers: Iterable[str] = LOGGERS
) -> list[RateLimit]:
    """Attach a :class:`RateLimit` to every handler of ``loggers`` that has none yet; returns all of them."""
    filters: list[RateLimit] = []
    handlers = [h for name in loggers for h in logging.getLogger(name or None).handlers]
    if not logging.getLogger().handlers and logging.lastResort is not None:
        handlers.append(logging.lastResort)  # nothing configured: warnings go to stderr through it
    for handler in handlers:
        existing = next((f for f in handler.filters if isinstance(f, RateLimit)), None)
        if existing is None:
            existing = RateLimit(handler, burst=burst, window=window)
            handler.addFilter(existing)
        if existing not in filters:
            filters.append(existing)
    return filters
