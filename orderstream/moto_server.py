"""moto in server mode, with three of its per-event costs cut.

All three change how moto computes, never what it answers:

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

Measured with ``bench/bridge.py`` on the 2-core dev box: the highest EventBridge → SQS rate moto sustained
went from 100 to 500 events/s (p50 25 ms, p99 98 ms); at 1 000 events/s every event now arrives, but latency
grows over the run. Run as ``python -m orderstream.moto_server`` with moto's own arguments (``orderstream
local up`` does).
"""

from __future__ import annotations

import datetime
import functools
import sys
import time
from typing import Any

import jsonpath_ng.ext
import moto.sqs.models
from moto import server
from moto.sqs.models import SQSBackend


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


def main(argv: list[str] | None = None) -> None:
    remember_parsed_jsonpaths()
    read_retention_directly()
    read_the_clock_directly()
    server.main(sys.argv[1:] if argv is None else argv)


if __name__ == "__main__":
    main()
