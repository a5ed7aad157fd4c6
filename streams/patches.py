"""The one change to faust's own code the worker makes, fenced to the faust it was written for.

Everything else the worker changes goes through faust's extension points (a registered transport and
store, the ``TableManager`` and ``Monitor`` class settings, a subclass of ``faust.App``; see
``docs/streams.md``). This one has no extension point: faust hands each fetched record to its streams with
``wait_first(deliver(record), suspend_flow.wait())``, four tasks and an ``asyncio.wait`` per record. Since the
data plane took the input topics off that path, only changelog records take it (table recovery and
standbys), and recovering a large table spends most of its time there. Tested in
``tests/unit/streams/test_patches.py``; :func:`apply` refuses to run on any other faust or mode.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Generator
from importlib.metadata import version
from typing import Any

from faust.transport.consumer import Consumer
from mode.services import WaitResults

from orderstream.errors import OrderstreamError

SUPPORTED = {"faust-streaming": ("0.15",), "mode-streaming": ("0.7",)}
"""Release lines the patch and the data plane's subclasses were written and tested against."""


class UnsupportedFaust(OrderstreamError):
    """The installed faust or mode is one this worker was not written for."""


def _installed(name: str) -> str:
    return version(name)


def check_versions() -> None:
    for name, lines in SUPPORTED.items():
        found = _installed(name)
        if not any(found == line or found.startswith(line + ".") for line in lines):
            raise UnsupportedFaust(
                f"{name} {found} is installed; the worker supports {name} {', '.join(v + '.x' for v in lines)} "
                "(see streams/patches.py and streams/dataplane/)"
            )


_original_wait_first = Consumer.wait_first


async def _wait_first(self: Any, *coros: Any, timeout: Any = None) -> Any:  # noqa: ASYNC109 (faust's signature)
    """While flow runs the delivery is started inline: if it finishes without blocking (the common case) that
    is the result the race would have produced; if it blocks, the race goes on exactly as before, with the
    delivery resumed where it stopped."""
    if len(coros) != 2 or timeout is not None or not inspect.iscoroutine(coros[0]):
        return await _original_wait_first(self, *coros, timeout=timeout)
    deliver, suspended = coros
    if self.suspend_flow.is_set() or self.should_stop:
        return await _original_wait_first(self, deliver, suspended)
    try:
        blocked_on = deliver.send(None)
    except StopIteration as done:
        suspended.close()
        return WaitResults([deliver], [done.value], False)
    except BaseException:
        suspended.close()
        raise
    return await _original_wait_first(self, _Resumed(deliver, blocked_on), suspended)


class _Resumed:
    """An awaitable that continues a coroutine which was started by hand and is waiting on ``blocked_on``."""

    def __init__(self, coro: Any, blocked_on: Any) -> None:
        self._coro, self._blocked_on = coro, blocked_on

    def __await__(self) -> Generator[Any, None, Any]:
        coro, waiting = self._coro, self._blocked_on
        while True:
            try:
                yield waiting  # the task running us waits on what the coroutine waits on
            except BaseException as exc:  # e.g. the cancellation of the losing side of the race
                step = functools.partial(coro.throw, exc)
            else:
                step = functools.partial(coro.send, None)
            try:
                waiting = step()
            except StopIteration as done:
                return done.value


def apply() -> None:
    check_versions()
    Consumer.wait_first = _wait_first  # type: ignore[method-assign]
