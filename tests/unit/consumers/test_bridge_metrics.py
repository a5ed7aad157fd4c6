"""``/health`` (liveness) and ``/ready`` (readiness) of the bridge's metrics server, over real HTTP."""

from __future__ import annotations

import socket

import aiohttp

from consumers.metrics import BridgeMetrics, MetricsServer, Readiness


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def test_ready_turns_503_with_reasons_while_health_stays_200() -> None:
    clock = Clock()
    metrics = BridgeMetrics(readiness=Readiness(endpoint_down_after=5, broker_down_after=10, clock=clock))
    port = free_port()
    server = MetricsServer(metrics, port, host="127.0.0.1")
    await server.start()
    base = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:

            async def get(path: str) -> tuple[int, dict[str, object]]:
                async with http.get(base + path) as reply:
                    return reply.status, await reply.json()

            status, body = await get("/ready")
            assert status == 200 and body["status"] == "ready" and body["reasons"] == []
            metrics.readiness.endpoint.observe("UnknownOutcome: ClientConnectorError")
            clock.now = 6.0
            status, body = await get("/ready")
            assert status == 503 and body["status"] == "degraded" and body["endpoint_up"] is False
            assert body["reasons"] == [
                "endpoint_unreachable: failing for 6.0 s (UnknownOutcome: ClientConnectorError)"
            ]
            metrics.heartbeat()
            status, health = await get("/health")
            assert status == 200 and health["status"] == "ok" and health["ready"] is False
            async with http.get(base + "/metrics") as reply:
                text = await reply.text()
            assert "orderstream_bridge_ready 0.0" in text
            assert "orderstream_bridge_endpoint_up 0.0" in text
            assert "orderstream_bridge_broker_up 1.0" in text
            metrics.readiness.endpoint.observe(None)
            status, body = await get("/ready")
            assert status == 200 and body["status"] == "ready"
    finally:
        await server.stop()
