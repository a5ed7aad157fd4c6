"""A local PutEvents endpoint for tests and the benchmark: a fault-injecting proxy in front of moto, or (with
no upstream) an endpoint that accepts every entry instantly.

It speaks the classic ``events`` JSON protocol (``X-Amz-Target: AWSEvents.PutEvents``). Per entry it can answer
``ThrottlingException`` or ``InternalFailure`` without forwarding (a real partial failure: those entries were
not published); per call it can throttle the whole request, or forward it and then hold the answer longer than
the client waits (the call was accepted but the client cannot know: an unknown outcome). Anything that is not
PutEvents is passed to the upstream unchanged. It runs on its own thread and event loop so a bridge under
test, on the test's loop, talks to it over real HTTP.
"""

from __future__ import annotations

import asyncio
import random
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import ClientSession, web

TARGET = "AWSEvents.PutEvents"
_HOP_HEADERS = {"host", "content-length", "transfer-encoding", "connection"}


@dataclass
class Faults:
    """Shares (0..1) of entries or calls that fail, and how long an 'accepted but late' answer is held."""

    throttled_entries: float = 0.0
    internal_entries: float = 0.0
    throttled_calls: float = 0.0
    late_calls: float = 0.0
    late_seconds: float = 0.0
    reject_marker: str | None = None
    """Entries whose Detail contains this text are refused as ``InvalidArgument`` (a permanent error)."""
    seed: int = 7


@dataclass
class Tally:
    """What the endpoint did, for assertions and the benchmark."""

    calls: int = 0
    entries: int = 0
    forwarded: int = 0
    throttled_entries: int = 0
    internal_entries: int = 0
    throttled_calls: int = 0
    late_calls: int = 0
    forwarded_details: list[str] = field(default_factory=list)


class FakePutEvents:
    """Start with :meth:`start` (returns the endpoint URL), stop with :meth:`stop`."""

    def __init__(
        self, upstream: str | None = None, faults: Faults | None = None, *, keep_details: bool = False
    ):
        self.upstream = upstream.rstrip("/") if upstream else None
        self.faults = faults or Faults()
        self.tally = Tally()
        self._keep_details = keep_details
        self._rng = random.Random(self.faults.seed)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-put-events", daemon=True)
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self.url = ""

    def start(self) -> str:
        self._thread.start()
        self.url = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self.url

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)

    async def _start(self) -> str:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._session = ClientSession()
        return f"http://127.0.0.1:{port}"

    async def _stop(self) -> None:
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    # ----------------------------------------------------------------------------------------- handling

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if request.headers.get("X-Amz-Target") != TARGET:
            return await self._forward_raw(request, body)
        self.tally.calls += 1
        if self._rng.random() < self.faults.throttled_calls:
            self.tally.throttled_calls += 1
            return _error(400, "ThrottlingException", "Rate exceeded")
        payload = orjson.loads(body)
        entries: list[dict[str, Any]] = payload.get("Entries", [])
        self.tally.entries += len(entries)
        results: list[dict[str, Any] | None] = [self._injected_failure(entry) for entry in entries]
        kept = [entry for entry, result in zip(entries, results, strict=True) if result is None]
        accepted = await self._publish(request, {**payload, "Entries": kept}) if kept else []
        fill = iter(accepted)
        merged = [result if result is not None else next(fill) for result in results]
        if kept and self._rng.random() < self.faults.late_calls:
            self.tally.late_calls += 1
            await asyncio.sleep(self.faults.late_seconds)
        failed = sum(1 for item in merged if "ErrorCode" in item)
        return _json(200, {"FailedEntryCount": failed, "Entries": merged})

    def _injected_failure(self, entry: dict[str, Any]) -> dict[str, Any] | None:
        marker = self.faults.reject_marker
        if marker is not None and marker in str(entry.get("Detail", "")):
            return {"ErrorCode": "InvalidArgument", "ErrorMessage": "injected: entry refused as invalid"}
        roll = self._rng.random()
        if roll < self.faults.throttled_entries:
            self.tally.throttled_entries += 1
            return {"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}
        if roll < self.faults.throttled_entries + self.faults.internal_entries:
            self.tally.internal_entries += 1
            return {"ErrorCode": "InternalFailure", "ErrorMessage": "injected internal error"}
        return None

    async def _publish(self, request: web.Request, payload: dict[str, Any]) -> list[dict[str, Any]]:
        """Forward the surviving entries upstream (or accept them here) and return their results."""
        entries = payload["Entries"]
        self.tally.forwarded += len(entries)
        if self._keep_details:
            self.tally.forwarded_details.extend(entry.get("Detail", "") for entry in entries)
        if self.upstream is None or self._session is None:
            return [{"EventId": str(uuid.uuid4())} for _ in entries]
        async with self._session.post(
            self.upstream + request.path_qs, data=orjson.dumps(payload), headers=_forward_headers(request)
        ) as reply:
            answer = orjson.loads(await reply.read())
        if reply.status != 200:  # the whole call failed upstream: report it per entry
            code = str(answer.get("__type", "InternalFailure")).split("#")[-1]
            return [{"ErrorCode": code, "ErrorMessage": str(answer.get("message", ""))} for _ in entries]
        listed: list[dict[str, Any]] = answer.get("Entries", [])
        return listed

    async def _forward_raw(self, request: web.Request, body: bytes) -> web.Response:
        if self.upstream is None or self._session is None:
            return _error(400, "UnknownOperationException", "this fake only implements PutEvents")
        async with self._session.request(
            request.method, self.upstream + request.path_qs, data=body, headers=_forward_headers(request)
        ) as reply:
            content = await reply.read()
            headers = {k: v for k, v in reply.headers.items() if k.lower() not in _HOP_HEADERS}
            return web.Response(status=reply.status, body=content, headers=headers)


def _forward_headers(request: web.Request) -> dict[str, str]:
    return {k: v for k, v in request.headers.items() if k.lower() not in _HOP_HEADERS}


def _json(status: int, document: dict[str, Any]) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(document), content_type="application/x-amz-json-1.1")


def _error(status: int, code: str, message: str) -> web.Response:
    return _json(status, {"__type": code, "message": message})
