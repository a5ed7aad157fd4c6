"""Prometheus metrics of a faust worker, and the lag figure as CloudWatch Embedded Metric Format (EMF).

The agents already count what they do in :class:`streams.app.Counters` (``sequencer.in``,
``router.out.<topic>``, ``<stage>.dlq.<reason>``, ...). A custom collector turns those counts into labelled
Prometheus counters at scrape time, so the agents need no second set of calls. Consumer lag per partition is
read from the faust consumer (high watermark minus committed offset) at scrape time too. Batch latency needs a
hook: agents call :func:`observe_batch` once per batch.

EMF: with ``ORDERSTREAM_EMF_INTERVAL`` > 0 (seconds) the worker prints one JSON line per topic with
``SumOffsetLag`` (dimensions ``Consumer Group`` and ``Topic``, as MSK names it) under the ``Orderstream``
namespace; the awslogs driver ships stdout to CloudWatch Logs, which turns it into a metric the autoscaling
policy can target.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterator, Mapping
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

PREFIX = "orderstream_stream_"
EMF_NAMESPACE = "Orderstream"
STAGES = ("sequencer", "router", "loyalty")
OUT_TARGETS = {"sequencer": "order-lifecycle", "loyalty": "loyalty-events"}


def classify(name: str) -> tuple[str, dict[str, str]]:
    """Which metric a ``Counters`` entry feeds, and its labels.

    ``<stage>.in`` → events_in{stage}; ``<stage>.out`` / ``<stage>.out.<topic>`` → events_out{stage,target};
    ``<stage>.dlq.<reason>`` → dlq{stage,reason}; anything else → events{stage,name} (duplicates, gaps...).
    """
    stage, _, rest = name.partition(".")
    if rest == "in":
        return "events_in", {"stage": stage}
    if rest == "out" or rest.startswith("out."):
        target = rest[4:] if rest.startswith("out.") else OUT_TARGETS.get(stage, "")
        return "events_out", {"stage": stage, "target": target}
    if rest.startswith("dlq."):
        return "dlq", {"stage": stage, "reason": rest[4:]}
    return "events", {"stage": stage, "name": rest or stage}


HELP = {
    "events_in": "Records an agent consumed",
    "events_out": "Records an agent produced, by target topic",
    "dlq": "Records parked in the DLQ, by stage and reason",
    "events": "Other per-stage events (duplicates dropped, gaps expired, test orders dropped, ...)",
}


def counter_families(counts: Mapping[str, int]) -> list[CounterMetricFamily]:
    """Prometheus counter families for a snapshot of ``Counters.counts``."""
    grouped: dict[str, list[tuple[dict[str, str], int]]] = defaultdict(list)
    for name, value in sorted(counts.items()):
        metric, labels = classify(name)
        grouped[metric].append((labels, value))
    families = []
    for metric in ("events_in", "events_out", "dlq", "events"):
        rows = grouped.get(metric, [])
        label_names = list(rows[0][0]) if rows else ["stage"]
        family = CounterMetricFamily(f"{PREFIX}{metric}", HELP[metric], labels=label_names)
        for labels, value in rows:
            family.add_metric([labels[k] for k in label_names], value)
        families.append(family)
    return families


def consumer_lag(rt: Any) -> dict[tuple[str, int], int]:
    """End offset (as of the last fetch) minus committed position for each partition the data plane owns."""
    plane = getattr(rt, "plane", None)
    consumer = getattr(rt.app, "_consumer", None)
    if plane is None or consumer is None:
        return {}
    out = {}
    for runner in list(plane.runners.values()):
        for tp in runner.tps.values():
            state = consumer.fetch_state(tp)
            if state is None:
                continue
            committed = runner.committed.get(tp, state.position)
            out[(tp.topic, tp.partition)] = max(0, state.end - committed)
    return out


class StreamsCollector(Collector):
    """Reads the worker's counters and the consumer's lag on every scrape."""

    def __init__(self, streams: Any) -> None:
        self._streams = streams

    def collect(self) -> Iterator[Any]:
        yield from counter_families(dict(self._streams.counters.counts))
        lag = GaugeMetricFamily(
            f"{PREFIX}consumer_lag", "High watermark minus committed offset", labels=["topic", "partition"]
        )
        for (topic, partition), value in consumer_lag(self._streams).items():
            lag.add_metric([topic, str(partition)], value)
        yield lag
        yield from stream_time_families(self._streams)
        uptime = GaugeMetricFamily(f"{PREFIX}uptime_seconds", "Seconds since the worker started")
        uptime.add_metric([], time.time() - self._streams.counters.started)
        yield uptime


def stream_time_families(rt: Any) -> Iterator[Any]:
    """Per partition: how far behind the clock its watermark is, and how far apart its inputs are."""
    plane = getattr(rt, "plane", None)
    behind = GaugeMetricFamily(
        f"{PREFIX}watermark_lag_seconds",
        "Wall clock minus the partition's stream-time watermark (how far behind its inputs are read)",
        labels=["partition"],
    )
    spread = GaugeMetricFamily(
        f"{PREFIX}input_lag_seconds",
        "Stream time between the furthest-read and the least-read co-partitioned input",
        labels=["partition"],
    )
    gaps = GaugeMetricFamily(f"{PREFIX}open_gaps", "Orders holding events behind a gap", labels=["partition"])
    flood = GaugeMetricFamily(
        f"{PREFIX}dlq_flood_guard",
        "1 while the partition's DLQ flood guard is tripped (paused, or alarmed in alert mode): the alarm",
        labels=["partition"],
    )
    degraded = GaugeMetricFamily(
        f"{PREFIX}degraded",
        "1 while the partition is degraded (halted, fenced, failing writes, flood)",
        labels=["partition"],
    )
    flooded = plane.flooded if plane is not None else {}
    down = plane.degraded if plane is not None else {}
    for number, status in (plane.status() if plane is not None else {}).items():
        if status["watermark_lag_s"] is not None:
            behind.add_metric([number], status["watermark_lag_s"])
        spread.add_metric([number], status["input_lag_s"])
        gaps.add_metric([number], status["open_gaps"])
        flood.add_metric([number], 1.0 if int(number) in flooded else 0.0)
        degraded.add_metric([number], 1.0 if int(number) in down else 0.0)
    yield from (behind, spread, gaps, flood, degraded)


class StreamMetrics:
    """One registry per worker: the collector plus the batch latency histogram."""

    def __init__(self, streams: Any) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(StreamsCollector(streams))
        self.batch_seconds = Histogram(
            f"{PREFIX}batch_seconds",
            "Time to process one batch, from taking it to writing its state",
            ["stage"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


def attach(streams: Any) -> StreamMetrics:
    metrics = StreamMetrics(streams)
    streams.metrics = metrics
    return metrics


def observe_batch(streams: Any, stage: str, started: float) -> None:
    """Hook for the agents: ``observe_batch(streams, STAGE, started)`` with ``started = time.monotonic()``."""
    metrics = getattr(streams, "metrics", None)
    if metrics is not None:
        metrics.batch_seconds.labels(stage).observe(time.monotonic() - started)


# ------------------------------------------------------------------------------------------ EMF


def emf_lines(group: str, lag: Mapping[tuple[str, int], int], now_ms: int | None = None) -> list[str]:
    """One EMF JSON line per topic: ``SumOffsetLag`` of the group on that topic."""
    per_topic: dict[str, int] = defaultdict(int)
    for (topic, _partition), value in lag.items():
        per_topic[topic] += value
    stamp = now_ms if now_ms is not None else int(time.time() * 1000)
    lines = []
    for topic, total in sorted(per_topic.items()):
        doc = {
            "_aws": {
                "Timestamp": stamp,
                "CloudWatchMetrics": [
                    {
                        "Namespace": EMF_NAMESPACE,
                        "Dimensions": [["Consumer Group", "Topic"]],
                        "Metrics": [{"Name": "SumOffsetLag", "Unit": "Count"}],
                    }
                ],
            },
            "Consumer Group": group,
            "Topic": topic,
            "SumOffsetLag": total,
        }
        lines.append(json.dumps(doc, separators=(",", ":")))
    return lines
