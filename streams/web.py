"""HTTP on the faust web server: ``/health`` (ECS health check), ``/counters``, ``/metrics`` (Prometheus),
``/loyalty/{customer_id}``; and, with ``ORDERSTREAM_EMF_INTERVAL`` set, consumer lag as EMF log lines.

``/health`` is liveness: it answers 200 while the process runs, with ``ready`` and ``degraded`` saying
whether it is doing its work (partitions assigned and recovered, none halted or fenced). The loyalty view is
routed by faust to the worker that owns the customer's table partition, so any worker can answer it.
"""

from __future__ import annotations

import time
from typing import Any

from faust import web

from streams import metrics as stream_metrics
from streams.runtime import Runtime
from streams.stages.loyalty import TABLE as LOYALTY_TABLE


def health_body(rt: Runtime) -> dict[str, Any]:
    app, plane = rt.app, rt.plane
    runners = plane.runners if plane is not None else {}
    degraded = dict(plane.degraded) if plane is not None else {}
    running = [n for n, r in runners.items() if r.state == "running"]
    ready = bool(
        app.consumer is not None and not app.rebalancing and runners and len(running) == len(runners)
    )
    return {
        "status": "ok",
        "app_id": app.conf.id,
        "agents": sorted(rt.settings.agent_set),
        "rebalancing": bool(app.rebalancing),
        "uptime_s": round(time.time() - rt.counters.started, 1),
        "ready": ready and not degraded,
        "degraded": {str(n): why for n, why in sorted(degraded.items())},
        "partitions": sorted(runners),
    }


def register(rt: Runtime) -> None:
    app = rt.app

    @app.page("/health")
    async def health(self: web.View, request: web.Request) -> web.Response:
        return self.json(health_body(rt))

    @app.page("/counters")
    async def counters(self: web.View, request: web.Request) -> web.Response:
        body: dict[str, Any] = dict(sorted(rt.counters.counts.items()))
        if rt.plane is not None:
            body["partitions"] = rt.plane.status()
            body["plane.seconds"] = {phase: round(t, 6) for phase, t in sorted(rt.plane.seconds.items())}
        return self.json(body)

    prometheus = stream_metrics.attach(rt)

    @app.page("/metrics")
    async def metrics(self: web.View, request: web.Request) -> web.Response:
        body, content_type = prometheus.exposition()
        return self.bytes(body, headers={"Content-Type": content_type})

    interval = rt.settings.emf_interval
    if interval > 0:

        @app.timer(interval)  # type: ignore[untyped-decorator]
        async def emit_lag_emf() -> None:
            for line in stream_metrics.emf_lines(app.conf.id, stream_metrics.consumer_lag(rt)):
                print(line, flush=True)

        _ = emit_lag_emf

    ledgers = rt.tables.get(LOYALTY_TABLE)
    if ledgers is None:
        return

    @app.page("/loyalty/{customer_id}")
    @app.table_route(table=ledgers, match_info="customer_id")
    async def loyalty_balance(self: web.View, request: web.Request, customer_id: str) -> web.Response:
        raw = ledgers.get(customer_id.encode())
        if raw is None:
            return self.json({"error": f"unknown customer {customer_id}"}, status=404)
        from streams.loyalty import load_ledger

        summary: dict[str, Any] = load_ledger(raw, customer_id).summary()
        return self.json(summary)

    _ = (health, counters, metrics, loyalty_balance)
