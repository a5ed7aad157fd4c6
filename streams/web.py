"""HTTP on the faust web server: ``/health`` (ECS health check), ``/counters``, ``/metrics`` (Prometheus),
``/loyalty/{customer_id}``; and, with ``ORDERSTREAM_EMF_INTERVAL`` set, consumer lag as EMF log lines.

The loyalty view is routed by faust to the worker that owns the customer's table partition, so any worker
can answer it.
"""

from __future__ import annotations

import time
from typing import Any

from faust import web

from orderstream.domain.ledger import CustomerLedger
from streams import metrics as stream_metrics
from streams.app import Streams


def register(streams: Streams) -> None:
    app = streams.app

    @app.page("/health")
    async def health(self: web.View, request: web.Request) -> web.Response:
        consumer_ready = app.consumer is not None and not app.rebalancing
        body = {
            "status": "ok",
            "app_id": app.conf.id,
            "agents": sorted(streams.settings.agent_set),
            "rebalancing": bool(app.rebalancing),
            "uptime_s": round(time.time() - streams.counters.started, 1),
            "ready": consumer_ready,
        }
        return self.json(body)

    @app.page("/counters")
    async def counters(self: web.View, request: web.Request) -> web.Response:
        return self.json(dict(sorted(streams.counters.counts.items())))

    prometheus = stream_metrics.attach(streams)

    @app.page("/metrics")
    async def metrics(self: web.View, request: web.Request) -> web.Response:
        body, content_type = prometheus.exposition()
        return self.bytes(body, headers={"Content-Type": content_type})

    interval = streams.settings.emf_interval
    if interval > 0:

        @app.timer(interval)  # type: ignore[untyped-decorator]
        async def emit_lag_emf() -> None:
            for line in stream_metrics.emf_lines(app.conf.id, stream_metrics.consumer_lag(app)):
                print(line, flush=True)

        _ = emit_lag_emf

    ledgers = getattr(streams, "ledgers", None)
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

    _ = (health, counters, metrics, loyalty_balance, CustomerLedger)
