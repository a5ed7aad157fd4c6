"""Prometheus metrics of the bridge, its readiness, and the small HTTP server that exposes them with
``GET /health`` (liveness) and ``GET /ready`` (readiness).

Each :class:`BridgeMetrics` has its own registry so several bridges (tests) can live in one process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

PREFIX = "orderstream_bridge_"


@dataclass
class Link:
    """One dependency the bridge needs (the EventBridge endpoint, the Kafka broker).

    It is *down* once every observation for more than ``down_after`` seconds was a problem, with no
    good observation since: a single failed call or a short blip does not make the bridge unready.
    """

    name: str
    down_after: float
    clock: Callable[[], float] = time.monotonic
    failing_since: float | None = None
    last_problem: str = ""

    def observe(self, problem: str | None) -> None:
        """Record one observation: None = it worked, else what went wrong."""
        if problem is None:
            self.failing_since = None
            return
        if self.failing_since is None:
            self.failing_since = self.clock()
        self.last_problem = problem

    def failing_for(self) -> float:
        return 0.0 if self.failing_since is None else self.clock() - self.failing_since

    @property
    def up(self) -> bool:
        return self.failing_since is None or self.failing_for() <= self.down_after

    def reason(self) -> str | None:
        if self.up:
            return None
        return f"{self.name}: failing for {self.failing_for():.1f} s ({self.last_problem[:200]})"


class Readiness:
    """Whether the bridge can do its work: ``ready``, or ``degraded`` with the reasons why."""

    def __init__(
        self,
        *,
        endpoint_down_after: float = 5.0,
        broker_down_after: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.endpoint = Link("endpoint_unreachable", endpoint_down_after, clock)
        """Every PutEvents call failed with a retriable error (connection, 5xx, throttling) since then."""
        self.broker = Link("broker_unreachable", broker_down_after, clock)
        """Commits failed, or the consumer's group coordinator was unknown, since then."""

    def reasons(self) -> list[str]:
        return [r for r in (self.endpoint.reason(), self.broker.reason()) if r is not None]

    def snapshot(self) -> dict[str, Any]:
        reasons = self.reasons()
        return {
            "status": "degraded" if reasons else "ready",
            "reasons": reasons,
            "endpoint_up": self.endpoint.up,
            "broker_up": self.broker.up,
            "endpoint_failing_seconds": round(self.endpoint.failing_for(), 3),
            "broker_failing_seconds": round(self.broker.failing_for(), 3),
        }


class BridgeMetrics:
    """Every metric the bridge exports, all prefixed ``orderstream_bridge_``."""

    def __init__(self, registry: CollectorRegistry | None = None, readiness: Readiness | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.events_in = Counter(f"{PREFIX}events_in", "Records fetched from Kafka", ["topic"], registry=r)
        self.selected = Counter(
            f"{PREFIX}selected", "Records selected by a rule", ["topic", "rule"], registry=r
        )
        self.put_results = Counter(
            f"{PREFIX}put_results", "PutEvents entry outcomes by code (ok = accepted)", ["code"], registry=r
        )
        self.retries = Counter(
            f"{PREFIX}retries", "Entries scheduled for another attempt", ["code"], registry=r
        )
        self.in_flight = Gauge(f"{PREFIX}in_flight_requests", "PutEvents requests in flight", registry=r)
        self.dlq = Counter(f"{PREFIX}dlq", "Records parked in the DLQ, by reason", ["reason"], registry=r)
        self.claim_checks = Counter(f"{PREFIX}claim_checks", "Oversized events stored in S3", registry=r)
        self.lag = Gauge(
            f"{PREFIX}consumer_lag",
            "High watermark minus committed-safe offset",
            ["topic", "partition"],
            registry=r,
        )
        self.rate = Gauge(f"{PREFIX}send_rate", "Current adaptive send rate (entries/s)", registry=r)
        self.put_seconds = Histogram(f"{PREFIX}put_seconds", "PutEvents call duration", registry=r)
        self.endpoint_up = Gauge(f"{PREFIX}endpoint_up", "1 while EventBridge can be reached", registry=r)
        self.broker_up = Gauge(f"{PREFIX}broker_up", "1 while the Kafka broker can be reached", registry=r)
        self.ready = Gauge(f"{PREFIX}ready", "1 when /ready answers 200", registry=r)
        self.dlq_write_retries = Counter(
            f"{PREFIX}dlq_write_retries", "DLQ writes that failed and were tried again", registry=r
        )
        self.readiness = readiness or Readiness()
        self.last_loop = time.monotonic()
        self._children: dict[tuple[str, ...], Any] = {}

    def _child(self, metric: Counter, *labels: str) -> Any:
        """Labelled children are cached: ``labels()`` costs a lock and a dict build on every record."""
        key = (metric._name, *labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def record_in(self, topic: str, count: int = 1) -> None:
        self._child(self.events_in, topic).inc(count)

    def record_selected(self, topic: str, rule: str, count: int = 1) -> None:
        self._child(self.selected, topic, rule).inc(count)

    def record_result(self, code: str, count: int = 1) -> None:
        self._child(self.put_results, code).inc(count)

    def heartbeat(self) -> None:
        """The consume loop is alive (``/health`` turns 503 when it stops beating)."""
        self.last_loop = time.monotonic()

    def refresh_readiness(self) -> dict[str, Any]:
        """Set the readiness gauges and return what ``/ready`` shows."""
        snapshot = self.readiness.snapshot()
        self.endpoint_up.set(1 if snapshot["endpoint_up"] else 0)
        self.broker_up.set(1 if snapshot["broker_up"] else 0)
        self.ready.set(1 if snapshot["status"] == "ready" else 0)
        return snapshot


class MetricsServer:
    """On one port: ``GET /metrics`` (Prometheus text), ``GET /health`` (liveness, the ECS container health
    check: 200 while the consume loop turns) and ``GET /ready`` (readiness: 503 while EventBridge or the
    broker cannot be reached, for a load balancer or an alarm; never a reason to restart the task)."""

    def __init__(
        self, metrics: BridgeMetrics, port: int, host: str = "127.0.0.1", stale_after: float = 60.0
    ) -> None:
        self._metrics = metrics
        self._port = port
        self._host = host
        self._stale_after = stale_after
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/metrics", self._serve_metrics)
        app.router.add_get("/health", self._serve_health)
        app.router.add_get("/ready", self._serve_ready)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _serve_metrics(self, _request: web.Request) -> web.Response:
        self._metrics.refresh_readiness()
        body = generate_latest(self._metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _serve_health(self, _request: web.Request) -> web.Response:
        idle = time.monotonic() - self._metrics.last_loop
        healthy = idle < self._stale_after
        return web.json_response(
            {
                "status": "ok" if healthy else "stalled",
                "loop_idle_seconds": round(idle, 3),
                "ready": self._metrics.refresh_readiness()["status"] == "ready",
            },
            status=200 if healthy else 503,
        )

    async def _serve_ready(self, _request: web.Request) -> web.Response:
        snapshot = self._metrics.refresh_readiness()
        return web.json_response(snapshot, status=200 if snapshot["status"] == "ready" else 503)
