"""Prometheus metrics of the bridge and the small HTTP server that exposes them with ``GET /health``.

Each :class:`BridgeMetrics` has its own registry so several bridges (tests) can live in one process.
"""

from __future__ import annotations

import time
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


class BridgeMetrics:
    """Every metric the bridge exports, all prefixed ``orderstream_bridge_``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
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


class MetricsServer:
    """``GET /metrics`` (Prometheus text) and ``GET /health`` (ECS container health check) on one port."""

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
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _serve_metrics(self, _request: web.Request) -> web.Response:
        body = generate_latest(self._metrics.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def _serve_health(self, _request: web.Request) -> web.Response:
        idle = time.monotonic() - self._metrics.last_loop
        healthy = idle < self._stale_after
        return web.json_response(
            {"status": "ok" if healthy else "stalled", "loop_idle_seconds": round(idle, 3)},
            status=200 if healthy else 503,
        )
