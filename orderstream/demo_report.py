"""What ``orderstream demo`` reports, read back from where the data ended up — not from the processes' memory.

Counts come from the topics (records between the offsets the run started at and the end offsets when it
finished) and from the EventBridge target queues; balances come from the loyalty table's changelog. So an
independent reader of the same topics and queues sees the same numbers (``tests/integration/test_demo.py``
checks that). The live counters of the processes are shown next to them, as the operator's view.
"""

from __future__ import annotations

import statistics
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord

from orderstream import kafka
from orderstream.demo_aws import Deliveries
from orderstream.domain import contract
from orderstream.domain.dlq import DeadLetter
from orderstream.domain.ledger import CustomerLedger
from orderstream.settings import KafkaSettings

Offsets = dict[TopicPartition, int]
TOP_CUSTOMERS = 10


# ------------------------------------------------------------------------------------------ reading kafka


async def end_offsets(settings: KafkaSettings, topics: list[str]) -> Offsets:
    """The end offset of every partition of ``topics`` right now (topics that do not exist are skipped)."""
    consumer = kafka.consumer(settings, group_id=None)
    await consumer.start()
    try:
        return await ends_with(consumer, await partitions(settings, topics))
    finally:
        await consumer.stop()


async def partitions(settings: KafkaSettings, topics: list[str]) -> list[TopicPartition]:
    counts = await kafka.partition_counts(settings, topics)
    return [TopicPartition(t, p) for t in topics for p in range(counts.get(t, 0))]


async def ends_with(consumer: Any, tps: list[TopicPartition]) -> Offsets:
    return dict(await consumer.end_offsets(tps)) if tps else {}


async def read_range(settings: KafkaSettings, starts: Offsets, ends: Offsets) -> list[ConsumerRecord]:
    """Records from ``starts`` (missing partitions: 0) up to ``ends``, in partition order."""
    todo = {tp: end for tp, end in ends.items() if end > starts.get(tp, 0)}
    if not todo:
        return []
    consumer = kafka.consumer(settings, group_id=None, max_poll_records=2000)
    await consumer.start()
    out: list[ConsumerRecord] = []
    try:
        consumer.assign(list(todo))
        for tp in todo:
            consumer.seek(tp, starts.get(tp, 0))
        while todo:
            batch = await consumer.getmany(*todo, timeout_ms=2000)
            if not batch:
                break  # nothing more arrives: the end offsets were the last stable offsets
            for tp, records in batch.items():
                out.extend(r for r in records if r.offset < todo.get(tp, -1))
                if await consumer.position(tp) >= todo.get(tp, 0):
                    todo.pop(tp, None)
    finally:
        await consumer.stop()
    return out


def by_topic(records: list[ConsumerRecord]) -> dict[str, list[ConsumerRecord]]:
    out: dict[str, list[ConsumerRecord]] = {}
    for record in records:
        out.setdefault(record.topic, []).append(record)
    return out


def ledgers(records: list[ConsumerRecord]) -> dict[str, dict[str, Any]]:
    """Each customer's summary from a loyalty changelog: last value per key wins, None deletes."""
    last: dict[bytes, bytes | None] = {}
    for record in records:
        last[record.key] = record.value
    return {
        key.decode(): CustomerLedger.from_dict(orjson.loads(value)).summary()
        for key, value in last.items()
        if value is not None
    }


# ------------------------------------------------------------------------------------------ the report


@dataclass
class Report:
    """Everything the demo prints at the end; ``to_dict`` is what ``report.json`` holds."""

    run: dict[str, Any]
    produced: dict[str, int]
    topics: dict[str, int]
    distinct_lifecycle_events: int
    loyalty_events: dict[str, int]
    dlq_reasons: dict[str, int]
    eventbridge: dict[str, dict[str, int]]
    top_customers: list[dict[str, Any]]
    tiers: dict[str, int]
    latency_ms: dict[str, dict[str, float]]
    counters: dict[str, dict[str, float]] = field(default_factory=dict)
    plot: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _event_ids(records: list[ConsumerRecord]) -> dict[str, int]:
    """event_id → timestamp (ms) of its first record; unparseable values are skipped."""
    out: dict[str, int] = {}
    for record in records:
        try:
            event_id = orjson.loads(record.value).get("event_id")
        except (orjson.JSONDecodeError, AttributeError):
            continue
        if isinstance(event_id, str):
            out.setdefault(event_id, record.timestamp)
    return out


def percentiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"count": 0, "p50": 0.0, "p99": 0.0}
    if len(samples) == 1:
        return {"count": 1, "p50": samples[0], "p99": samples[0]}
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return {"count": len(samples), "p50": round(cuts[49], 1), "p99": round(cuts[98], 1)}


def dlq_reasons(records: list[ConsumerRecord]) -> dict[str, int]:
    """``stage/error_type`` → DLQ records."""
    reasons: Counter[str] = Counter()
    for record in records:
        letter = DeadLetter.from_headers(record.headers or ())
        reasons[f"{letter.stage}/{letter.error_type}"] += 1
    return dict(sorted(reasons.items()))


def build(
    run: dict[str, Any],
    produced: dict[str, int],
    records: list[ConsumerRecord],
    changelog: list[ConsumerRecord],
    deliveries: Deliveries,
) -> Report:
    """Assemble the report from the run's records (all topics), the loyalty changelog and the queues."""
    topics = by_topic(records)
    source = [r for t in contract.SOURCE_TOPICS for r in topics.get(t, [])]
    lifecycle = topics.get(contract.ORDER_LIFECYCLE, [])
    loyalty = topics.get(contract.LOYALTY_EVENTS, [])
    sent_at = _event_ids(source)
    lifecycle_at = _event_ids(lifecycle)
    to_lifecycle = [float(ts - sent_at[e]) for e, ts in lifecycle_at.items() if e in sent_at]
    to_target = [
        float(d.sent_ms - sent_at[d.event_id])
        for items in deliveries.by_rule.values()
        for d in items
        if d.event_id in sent_at and d.sent_ms
    ]
    balances = ledgers(changelog)
    top = sorted(balances.values(), key=lambda s: (-int(s["points"]), str(s["customer_id"])))
    return Report(
        run=run,
        produced=produced,
        topics={t: len(topics.get(t, [])) for t in contract.ALL_TOPICS},
        distinct_lifecycle_events=len(lifecycle_at),
        loyalty_events=dict(sorted(Counter(_event_type(r) for r in loyalty).items())),
        dlq_reasons=dlq_reasons(topics.get(contract.DLQ, [])),
        eventbridge=deliveries.counts(),
        top_customers=top[:TOP_CUSTOMERS],
        tiers=dict(sorted(Counter(str(s["tier"]) for s in balances.values()).items())),
        latency_ms={
            "source_to_order_lifecycle": percentiles(to_lifecycle),
            "source_to_eventbridge_target": percentiles(to_target),
        },
    )


def _event_type(record: ConsumerRecord) -> str:
    try:
        return str(orjson.loads(record.value).get("event_type", "?"))
    except orjson.JSONDecodeError:
        return "?"


# ------------------------------------------------------------------------------------------ rendering


def markdown(report: Report) -> str:
    """The report as Markdown (``demo-output/report.md``; the terminal shows the same text)."""
    r = report
    lines = [
        f"# orderstream demo — run `{r.run['run_id']}`",
        "",
        f"{r.run['events']} valid events at {r.run['rate']:.0f}/s with chaos "
        f"(duplicates {r.run['duplicate_pct']}%, out-of-order {r.run['out_of_order_pct']}%, "
        f"poison {r.run['poison_pct']}%), produced in {r.run['produce_seconds']:.1f}s; "
        f"broker {r.run['bootstrap']}, AWS endpoint {r.run['aws_endpoint']}.",
        "",
        "## Records per stage (read back from the topics)",
        "",
        "| what | records |",
        "|---|---:|",
    ]
    lines += [f"| produced: {kind} | {n} |" for kind, n in sorted(r.produced.items())]
    lines += [f"| topic `{topic}` | {n} |" for topic, n in r.topics.items()]
    lines += [f"| distinct events in `{contract.ORDER_LIFECYCLE}` | {r.distinct_lifecycle_events} |"]
    lines += [f"| `{contract.LOYALTY_EVENTS}`: {kind} | {n} |" for kind, n in r.loyalty_events.items()]
    lines += [
        "",
        "## What reached each EventBridge target (per rule: SQS queue, archived in a log group)",
        "",
    ]
    lines += ["| rule | detail-type | messages |", "|---|---|---:|"]
    for rule, kinds in r.eventbridge.items():
        lines += [f"| {rule} | {kind} | {n} |" for kind, n in kinds.items()] or [f"| {rule} | — | 0 |"]
    depth = r.run.get("queue_messages", {})
    if depth:
        lines += ["", "Messages waiting in the queues: " + ", ".join(f"{q} {n}" for q, n in depth.items())]
    lines += ["", "## DLQ reasons", "", "| stage/reason | records |", "|---|---:|"]
    lines += [f"| {reason} | {n} |" for reason, n in r.dlq_reasons.items()] or ["| (none) | 0 |"]
    lines += ["", f"## Top {len(r.top_customers)} customers by points", ""]
    lines += ["| customer | points | tier | lifetime spend | orders |", "|---|---:|---|---:|---:|"]
    lines += [
        f"| {c['customer_id']} | {c['points']} | {c['tier']} | {c['lifetime_spend_cents'] / 100:,.2f} "
        f"| {c['orders']} |"
        for c in r.top_customers
    ]
    lines += ["", "Tiers: " + ", ".join(f"{tier} {n}" for tier, n in r.tiers.items()), ""]
    lines += ["## End-to-end latency", "", "| path | samples | p50 ms | p99 ms |", "|---|---:|---:|---:|"]
    lines += [
        f"| {path.replace('_', ' ')} | {v['count']} | {v['p50']:.0f} | {v['p99']:.0f} |"
        for path, v in r.latency_ms.items()
    ]
    if r.plot:
        lines += ["", f"Throughput and lag over time: `{r.plot}`"]
    return "\n".join(lines) + "\n"


def write(report: Report, directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    md, js = directory / "report.md", directory / "report.json"
    md.write_text(markdown(report))
    js.write_bytes(orjson.dumps(report.to_dict(), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS))
    return md, js


def plot(samples: list[dict[str, Any]], path: Path) -> Path:
    """Throughput per stage (records/s) and total consumer lag over time, as a PNG (matplotlib, Agg)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    times = [s["t"] for s in samples]
    stages = sorted({name for s in samples for name in s["totals"]})
    for stage in stages:
        totals = [s["totals"].get(stage, 0) for s in samples]
        rates = [0.0] + [
            max(0.0, (totals[i] - totals[i - 1]) / max(times[i] - times[i - 1], 1e-6))
            for i in range(1, len(samples))
        ]
        top.plot(times, rates, label=stage)
    top.set_ylabel("records/s")
    top.set_title("orderstream demo: throughput per stage")
    top.legend(loc="upper right", fontsize="small")
    for group in sorted({g for s in samples for g in s["lag"]}):
        label = group.rsplit("-", 1)[-1]  # the agent: the run id is in the title
        bottom.plot(times, [s["lag"].get(group) or 0 for s in samples], label=label)
    bottom.set_ylabel("consumer lag (records)")
    bottom.set_xlabel("seconds since start")
    bottom.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
