"""``orderstream``: the one command operators, docs and tests use.

Subcommands import what they need lazily so ``orderstream local up`` does not pay for faust or boto3.
Every expected failure (a bad setting, a broker that won't start) ends as one line on stderr and a non-zero
exit code, never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from orderstream.errors import ConfigError, OrderstreamError

if TYPE_CHECKING:
    from orderstream.settings import KafkaSettings

K = TypeVar("K", bound="KafkaSettings")

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2
"""Exit codes of every orderstream command: success, a runtime failure, a configuration mistake."""

app = typer.Typer(no_args_is_help=True, add_completion=False, help="orderstream: orders on Kafka.")
local_app = typer.Typer(no_args_is_help=True, help="The local stack: Kafka broker (KRaft) and moto.")
topics_app = typer.Typer(no_args_is_help=True, help="Topic administration.")
app.add_typer(local_app, name="local")
app.add_typer(topics_app, name="topics")


def _connected(settings_class: type[K]) -> K:
    """Load settings and check, within ORDERSTREAM_KAFKA_CONNECT_TIMEOUT, that the broker takes them."""
    from orderstream.settings import load

    return _checked(load(settings_class))


def _checked(settings: K) -> K:
    from orderstream.preflight import check_broker_sync

    check_broker_sync(settings)
    return settings


# ------------------------------------------------------------------------------------------ local


def _services(kafka: bool, moto: bool) -> tuple[bool, bool]:
    return (True, True) if not (kafka or moto) else (kafka, moto)


@local_app.command("fetch")
def local_fetch() -> None:
    """Resolve the Kafka jars with Maven (cached under .local/)."""
    from orderstream.local import KafkaBroker

    broker = KafkaBroker.from_env()
    typer.echo(f"kafka {broker.version} jars in {broker.fetch()}")


@local_app.command("certs")
def local_certs() -> None:
    """Make the local CA, broker/client certificates and SCRAM password with openssl (once; .local/tls)."""
    from orderstream.local import KafkaBroker
    from orderstream.local_broker import SCRAM_USER

    broker = KafkaBroker.from_env()
    tls = broker.tls_files()
    ports = broker.ports
    typer.echo(
        f"tls files in {tls.root}: CA {tls.ca_cert.name}, client {tls.client_cert.name}/{tls.client_key.name}"
    )
    typer.echo(
        f"SASL_SSL 127.0.0.1:{ports.sasl_ssl} and 127.0.0.1:{ports.reauth} (re-auth), SCRAM-SHA-512 user "
        f"{SCRAM_USER!r}, password in {tls.scram_password_file.name}; mTLS 127.0.0.1:{ports.mtls}"
    )


@local_app.command("up")
def local_up(
    kafka: Annotated[bool, typer.Option("--kafka", help="only the broker")] = False,
    moto: Annotated[bool, typer.Option("--moto", help="only moto")] = False,
) -> None:
    """Start the broker and moto (idempotent)."""
    from orderstream.local import KafkaBroker, MotoServer

    want_kafka, want_moto = _services(kafka, moto)
    if want_kafka:
        typer.echo(KafkaBroker.from_env().up())
    if want_moto:
        typer.echo(MotoServer.from_env().up())


@local_app.command("down")
def local_down(
    kafka: Annotated[bool, typer.Option("--kafka", help="only the broker")] = False,
    moto: Annotated[bool, typer.Option("--moto", help="only moto")] = False,
    reset: Annotated[bool, typer.Option("--reset", help="also delete broker data")] = False,
) -> None:
    """Stop what `local up` started."""
    from orderstream.local import KafkaBroker, MotoServer

    want_kafka, want_moto = _services(kafka, moto)
    if want_moto:
        typer.echo(MotoServer.from_env().down())
    if want_kafka:
        broker = KafkaBroker.from_env()
        typer.echo(broker.down())
        if reset:
            broker.reset()
            typer.echo("kafka data deleted")


@local_app.command("status")
def local_status() -> None:
    """Show whether the broker and moto run, and where their logs are."""
    from orderstream.local import KafkaBroker, MotoServer

    typer.echo(KafkaBroker.from_env().status())
    typer.echo(MotoServer.from_env().status())


# ------------------------------------------------------------------------------------------ topics


@topics_app.command("create")
def topics_create(
    partitions: Annotated[int | None, typer.Option(help="partitions per topic (default 6)")] = None,
    replication_factor: Annotated[int | None, typer.Option(help="replication factor (default 1)")] = None,
) -> None:
    """Create the source, internal and DLQ topics (same partition count: co-partitioned)."""
    from orderstream import kafka
    from orderstream.settings import ProducerSettings

    settings = _connected(ProducerSettings)
    created, existing = asyncio.run(
        kafka.create_topics(settings, partitions=partitions, replication_factor=replication_factor)
    )
    for name in created:
        typer.echo(f"created {name}")
    for name in existing:
        typer.echo(f"exists  {name}")


# ------------------------------------------------------------------------------------------ produce

# The workload and chaos knobs, shared by `produce` and `demo`.
Customers = Annotated[int, typer.Option(help="distinct customers (Zipf-like popularity)")]
Seed = Annotated[int, typer.Option(help="random seed: same seed, same valid events")]
DuplicatePct = Annotated[float, typer.Option("--duplicate-pct", help="% of records sent twice")]
OutOfOrderPct = Annotated[float, typer.Option("--out-of-order-pct", help="% swapped with the next")]
PoisonPct = Annotated[float, typer.Option("--poison-pct", help="% extra malformed records")]


@app.command("produce")
def produce(
    count: Annotated[int, typer.Option(help="valid events to generate")] = 10_000,
    rate: Annotated[float, typer.Option(help="events per second; 0 = as fast as possible")] = 0.0,
    customers: Customers = 1000,
    seed: Seed = 7,
    duplicate_pct: DuplicatePct = 0.0,
    out_of_order_pct: OutOfOrderPct = 0.0,
    poison_pct: PoisonPct = 0.0,
    test_order_pct: Annotated[float, typer.Option("--test-order-pct", help="% of orders with is_test")] = 2.0,
    file: Annotated[
        Path | None, typer.Option("--file", help="JSONL of {topic,key,value}, sent as is")
    ] = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Send synthetic orders (with chaos knobs) or a JSONL file of raw records to the source topics."""
    from orderstream import producer as prod
    from orderstream.settings import ProducerSettings
    from orderstream.synth import Chaos, Workload

    settings = _connected(ProducerSettings)
    if file is not None:
        asyncio.run(prod.check_file_topics(settings, file))
        records = prod.read_jsonl(file)
        total: int | None = None
    else:
        try:
            chaos = Chaos(duplicate_pct, out_of_order_pct, poison_pct)
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from None
        workload = Workload(events=count, customers=customers, seed=seed, test_order_pct=test_order_pct)
        records = prod.synthetic(workload, chaos)
        total = count
    report = asyncio.run(prod.produce(settings, records, rate=rate, total=total, progress=progress))
    typer.echo(report.summary())
    if report.failed:
        typer.echo(f"orderstream: {report.failed} record(s) were not acknowledged", err=True)
        raise SystemExit(EXIT_FAILURE)


# ------------------------------------------------------------------------------------------ worker


@app.command("worker")
def worker() -> None:
    """Run the faust agents named by ORDERSTREAM_AGENTS (default: sequencer, router, loyalty)."""
    from orderstream.domain.rules import RulesFileError
    from orderstream.preflight import check_port
    from orderstream.settings import WorkerSettings, load
    from streams.worker import Worker, build

    settings = load(WorkerSettings)
    check_port(settings.web_host, settings.web_port, "ORDERSTREAM_WEB_PORT", "ORDERSTREAM_WEB_HOST")
    try:
        rt = build(settings)  # builds the faust app and loads the router's rules; connects to nothing
    except RulesFileError as exc:
        raise ConfigError("ORDERSTREAM_ROUTER_RULES", str(exc)) from None
    _checked(settings)
    asyncio.run(rt.create_topics())
    Worker(rt.app, loglevel=settings.log_level, quiet=True).execute_from_commandline()


loyalty_app = typer.Typer(no_args_is_help=True, help="Loyalty balances (asks a running worker).")
app.add_typer(loyalty_app, name="loyalty")


@loyalty_app.command("get")
def loyalty_get(
    customer_id: str,
    url: Annotated[str | None, typer.Option(help="worker base URL (default from ORDERSTREAM_WEB_*)")] = None,
) -> None:
    """Print a customer's points, tier, lifetime spend and order count as JSON."""
    import urllib.error
    import urllib.parse
    import urllib.request

    from orderstream.settings import WorkerSettings, load

    if url is None:
        settings = load(WorkerSettings)
        url = f"http://{settings.web_host}:{settings.web_port}"
    target = f"{url.rstrip('/')}/loyalty/{urllib.parse.quote(customer_id, safe='')}"
    try:
        with urllib.request.urlopen(target, timeout=10) as resp:
            body = json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        typer.echo(exc.read().decode(errors="replace"), err=True)
        raise SystemExit(1) from None
    except OSError as exc:
        raise OrderstreamError(f"no worker answering at {url}: {exc}") from None
    typer.echo(json.dumps(body, sort_keys=True))


# ------------------------------------------------------------------------------------------ bridge


@app.command("bridge")
def bridge() -> None:
    """Run the EventBridge bridge (settings: ORDERSTREAM_* environment, see BridgeSettings)."""
    from consumers.bridge import run
    from orderstream.preflight import check_port
    from orderstream.settings import BridgeSettings, load

    settings = load(BridgeSettings)
    check_port(
        settings.metrics_host, settings.metrics_port, "ORDERSTREAM_METRICS_PORT", "ORDERSTREAM_METRICS_HOST"
    )
    raise SystemExit(run(settings))  # loads the rules, then checks the broker (exit 2 on a mistake)


# ------------------------------------------------------------------------------------------ dlq

dlq_app = typer.Typer(
    no_args_is_help=True,
    help="The dead-letter queue: list and replay parked records, resume paused partitions.",
)
app.add_typer(dlq_app, name="dlq")

_STAGE = typer.Option(help="only records parked by this stage (sequencer, router, loyalty, bridge)")
_REASON = typer.Option(help="only this error type (e.g. bad_json, schema_violation, late)")
_SINCE = typer.Option(help="parked at/after: ISO 8601 or an age like 30m, 2h, 1d")
_UNTIL = typer.Option(help="parked before: ISO 8601 or an age")


def _selection(
    stage: str | None, reason: str | None, since: str | None, until: str | None, at: list[str] | None = None
) -> object:
    from orderstream.dlq_tools import Selection, parse_position, parse_when

    return Selection(
        stage=stage,
        reason=reason,
        since=parse_when(since) if since else None,
        until=parse_when(until) if until else None,
        positions=frozenset(parse_position(p) for p in at) if at else None,
    )


@dlq_app.command("resume")
def dlq_resume(
    app_id: Annotated[
        str | None, typer.Option(help="ORDERSTREAM_APP_ID of the workers (default: from env)")
    ] = None,
    partition: Annotated[
        list[int] | None, typer.Option("--partition", help="only this partition (repeatable; default all)")
    ] = None,
) -> None:
    """Resume partitions the DLQ flood guard paused, on every worker of the app id (via orderstream.control)."""
    from orderstream import control
    from orderstream.settings import WorkerSettings

    settings = _connected(WorkerSettings)
    target = app_id or settings.app_id
    asyncio.run(control.send_resume(settings, target, partition or None))
    which = "all paused partitions" if not partition else f"partitions {sorted(set(partition))}"
    typer.echo(f"sent: resume {which} of {target}; each worker logs what it resumed")


@dlq_app.command("list")
def dlq_list(
    stage: Annotated[str | None, _STAGE] = None,
    reason: Annotated[str | None, _REASON] = None,
    since: Annotated[str | None, _SINCE] = None,
    until: Annotated[str | None, _UNTIL] = None,
    limit: Annotated[int, typer.Option(help="show at most N records (0 = all)")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line, all headers")] = False,
) -> None:
    """Show parked records with their decoded headers (why, where from, how often replayed)."""
    from orderstream import dlq_tools
    from orderstream.settings import ProducerSettings

    selection = _selection(stage, reason, since, until)
    entries = asyncio.run(dlq_tools.read_dlq(_connected(ProducerSettings), selection, limit=limit))  # type: ignore[arg-type]
    if as_json:
        for entry in entries:
            typer.echo(json.dumps(entry.to_row(preview=10_000), sort_keys=True))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(entries)} DLQ record(s)")
    for column in ("at", "failed_at", "stage", "reason", "source", "replays", "message"):
        table.add_column(column, overflow="fold")
    for entry in entries:
        row = entry.to_row()
        table.add_row(
            f"{row['partition']}:{row['offset']}",
            row["failed_at"],
            row["stage"],
            row["reason"],
            row["source"],
            str(row["replays"]),
            row["message"][:100],
        )
    Console().print(table)


@dlq_app.command("replay")
def dlq_replay(
    stage: Annotated[str | None, _STAGE] = None,
    reason: Annotated[str | None, _REASON] = None,
    since: Annotated[str | None, _SINCE] = None,
    until: Annotated[str | None, _UNTIL] = None,
    at: Annotated[
        list[str] | None, typer.Option("--at", help="a DLQ record as PARTITION:OFFSET (repeatable)")
    ] = None,
    value_file: Annotated[
        Path | None, typer.Option("--value-file", help="corrected value for the one selected record")
    ] = None,
    max_replays: Annotated[int, typer.Option(help="skip records already replayed this often")] = 3,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="show what would be sent, send nothing")] = False,
) -> None:
    """Send selected records back to their source topic (original key, replay count header, capped)."""
    from orderstream import dlq_tools
    from orderstream.settings import ProducerSettings

    if not any((stage, reason, since, until, at)):
        raise typer.BadParameter("select records: --at, --stage, --reason, --since or --until")
    settings = _connected(ProducerSettings)
    selection = _selection(stage, reason, since, until, at)
    entries = asyncio.run(dlq_tools.read_dlq(settings, selection))  # type: ignore[arg-type]
    fixed = value_file.read_bytes().strip() if value_file is not None else None
    replays, skips = dlq_tools.plan_replay(entries, max_replays=max_replays, fixed_value=fixed)
    for skip in skips:
        typer.echo(f"skip   {skip.entry.partition}:{skip.entry.offset}: {skip.why}")
    for replay in replays:
        verb = "would replay" if dry_run else "replay"
        typer.echo(
            f"{verb} {replay.entry.partition}:{replay.entry.offset} -> {replay.topic} "
            f"(replay #{replay.entry.replays + 1}{', corrected value' if fixed is not None else ''})"
        )
    if not dry_run:
        sent = asyncio.run(dlq_tools.send_replays(settings, replays))
        typer.echo(f"replayed {sent}, skipped {len(skips)}")


# ------------------------------------------------------------------------------------------ replay

replay_app = typer.Typer(no_args_is_help=True, help="Replay/backfill: move a consumer group (dry run first).")
app.add_typer(replay_app, name="replay")


_TO_OFFSET = typer.Option(help="every partition to this offset")
_TO_TIME = typer.Option(help="first record at/after: ISO 8601 or an age (2h)")
_TO_EARLIEST = typer.Option("--to-earliest", help="the oldest record kept")
_EXECUTE = typer.Option("--execute", help="commit the new offsets (default: dry run)")


def _replay(stage: str, topics: list[str], group: str | None, app_id: str | None, *, to_offset: int | None,
            to_time: str | None, to_earliest: bool, execute: bool) -> None:  # fmt: skip
    from orderstream import replay
    from orderstream.dlq_tools import parse_when
    from orderstream.settings import WorkerSettings

    settings = _connected(WorkerSettings)
    target = replay.Target(
        offset=to_offset, at=parse_when(to_time) if to_time else None, earliest=to_earliest
    )
    group = group or f"{app_id or settings.app_id}-{stage}"
    moves = asyncio.run(replay.plan(settings, group, topics, target))
    for line in replay.describe(group, moves):
        typer.echo(line)
    if not execute:
        typer.echo(f"dry run: nothing changed (add --execute with the {stage} workers stopped)")
        return
    asyncio.run(replay.apply(settings, group, moves))
    typer.echo(f"committed; start the {stage} workers of {group} to replay")


@replay_app.command("loyalty")
def replay_loyalty(
    to_offset: Annotated[int | None, _TO_OFFSET] = None,
    to_time: Annotated[str | None, _TO_TIME] = None,
    to_earliest: Annotated[bool, _TO_EARLIEST] = False,
    app_id: Annotated[str | None, typer.Option(help="ORDERSTREAM_APP_ID of the loyalty service")] = None,
    group: Annotated[str | None, typer.Option(help="consumer group (default <app id>-loyalty)")] = None,
    execute: Annotated[bool, _EXECUTE] = False,
) -> None:
    """Re-read order-lifecycle into loyalty from an offset or a time; shows what would move unless --execute."""
    from orderstream.domain import contract

    _replay("loyalty", [contract.ORDER_LIFECYCLE], group, app_id, to_offset=to_offset, to_time=to_time,
            to_earliest=to_earliest, execute=execute)  # fmt: skip


@replay_app.command("sequencer")
def replay_sequencer(
    to_time: Annotated[str | None, _TO_TIME] = None,
    to_earliest: Annotated[bool, _TO_EARLIEST] = False,
    app_id: Annotated[str | None, typer.Option(help="ORDERSTREAM_APP_ID of the sequencer service")] = None,
    group: Annotated[
        str | None,
        typer.Option(help="consumer group (default <app id>-sequencer; all-in-one: <app id>-worker)"),
    ] = None,
    execute: Annotated[bool, _EXECUTE] = False,
) -> None:
    """Re-read the sources into the sequencer from a time: every source partition starts at its first record
    at or after it, so the inputs merge on stream time as they did live (no --to-offset: the same offset
    number is a different moment on each source topic)."""
    from orderstream.domain import contract

    _replay("sequencer", list(contract.SOURCE_TOPICS), group, app_id, to_offset=None, to_time=to_time,
            to_earliest=to_earliest, execute=execute)  # fmt: skip


# ------------------------------------------------------------------------------------------ demo


@app.command("demo")
def demo(
    duration: Annotated[float, typer.Option(help="seconds of synthetic traffic")] = 60.0,
    rate: Annotated[float, typer.Option(help="valid events per second")] = 50.0,
    customers: Customers = 300,
    seed: Seed = 7,
    duplicate_pct: DuplicatePct = 2.0,
    out_of_order_pct: OutOfOrderPct = 5.0,
    poison_pct: PoisonPct = 0.5,
    reorder_timeout: Annotated[float, typer.Option(help="sequencer gap timeout (s)")] = 5.0,
    drain_timeout: Annotated[
        float, typer.Option(help="max seconds to wait for the pipeline to drain")
    ] = 120.0,
    output_dir: Annotated[Path, typer.Option(help="where report.md/json and the plot go")] = Path(
        "demo-output"
    ),
    event_bus: Annotated[str, typer.Option(help="EventBridge bus to create and publish to")] = "orderstream",
    live: Annotated[bool, typer.Option(help="live view (off: a status line every 5 s)")] = True,
) -> None:
    """The whole pipeline with chaos, a live view and a report (starts and stops everything it needs)."""
    from orderstream.demo import DemoOptions
    from orderstream.demo import main as demo_main

    opts = DemoOptions(
        duration=duration,
        rate=rate,
        customers=customers,
        seed=seed,
        duplicate_pct=duplicate_pct,
        out_of_order_pct=out_of_order_pct,
        poison_pct=poison_pct,
        reorder_timeout=reorder_timeout,
        drain_timeout=drain_timeout,
        output_dir=output_dir.resolve(),
        event_bus=event_bus,
        live=live and sys.stdout.isatty(),
    )
    raise SystemExit(demo_main(opts))


# ------------------------------------------------------------------------------------------ statements

statements_app = typer.Typer(
    no_args_is_help=True, help="Monthly loyalty statements: Step Functions fans out to ECS workers."
)
app.add_typer(statements_app, name="statements")


def _logging() -> None:
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


@statements_app.command("run")
def statements_run(
    month: Annotated[str, typer.Option("--month", help="the month to state, YYYY-MM")],
    emulate_ecs: Annotated[
        bool | None,
        typer.Option(
            "--emulate-ecs/--no-emulate-ecs",
            help="create the state machine in moto and run the ECS tasks it starts here "
            "(default: on when ORDERSTREAM_AWS_ENDPOINT_URL is set)",
        ),
    ] = None,
    loyalty_group: Annotated[
        str | None,
        typer.Option(help="the loyalty service's consumer group (ORDERSTREAM_STATEMENTS_LOYALTY_GROUP)"),
    ] = None,
    timeout: Annotated[float, typer.Option(help="seconds to wait for the execution")] = 900.0,
) -> None:
    """Start one month's statements execution and follow it to the end (exit 1 unless every shard succeeded)."""
    from orderstream.domain.statements import Month
    from orderstream.settings import StatementsSettings, load
    from orderstream.statements.run import run

    try:
        parsed = Month.parse(month)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--month") from None
    settings = load(StatementsSettings)
    if loyalty_group:
        settings = settings.model_copy(update={"statements_loyalty_group": loyalty_group})
    emulate = settings.aws_endpoint_url is not None if emulate_ecs is None else emulate_ecs
    result = run(settings, parsed, emulate=emulate, timeout=timeout)
    for line in result.lines():
        typer.echo(line)
    raise SystemExit(0 if result.complete else 1)


@statements_app.command("worker")
def statements_worker() -> None:
    """Activities style: poll the statements activity until SIGTERM, then drain (service statements-worker)."""
    import functools

    from orderstream.settings import StatementsSettings, load
    from orderstream.statements import steps, worker

    settings = load(StatementsSettings)
    _logging()
    raise SystemExit(worker.serve_activities(settings, functools.partial(steps.run_step, settings)))


@statements_app.command("task")
def statements_task() -> None:
    """RunTask style: run the one step this task was started for (token and input from container overrides)."""
    import functools

    from orderstream.settings import StatementsTaskSettings, load
    from orderstream.statements import steps, worker

    settings = load(StatementsTaskSettings)
    _logging()
    raise SystemExit(worker.run_task(settings, functools.partial(steps.run_step, settings)))


# ------------------------------------------------------------------------------------------ jobs

jobs_app = typer.Typer(no_args_is_help=True, help="One-off jobs an EventBridge rule starts as Fargate tasks.")
app.add_typer(jobs_app, name="jobs")


@jobs_app.command("gold-welcome")
def jobs_gold_welcome(
    event_id: Annotated[str, typer.Option(help="event_id of the loyalty.tier_changed event")],
    customer_id: Annotated[str, typer.Option(help="the customer who reached gold")],
    to_tier: Annotated[str, typer.Option(help="the new tier (must be gold)")],
    occurred_at: Annotated[str, typer.Option(help="when the tier changed (RFC 3339)")],
) -> None:
    """Issue the customer's gold welcome voucher, once: a second run for the same customer does nothing."""
    from orderstream.jobs import gold_welcome
    from orderstream.settings import GoldWelcomeSettings, load

    try:
        request = gold_welcome.GoldWelcomeRequest.parse(
            event_id=event_id, customer_id=customer_id, to_tier=to_tier, occurred_at=occurred_at
        )
    except gold_welcome.JobInputError as exc:
        typer.echo(f"orderstream: jobs gold-welcome: {exc}", err=True)
        raise SystemExit(2) from None
    outcome = gold_welcome.issue(load(GoldWelcomeSettings), request)
    typer.echo(json.dumps(outcome, sort_keys=True))


# ------------------------------------------------------------------------------------------ webhook

webhook_app = typer.Typer(
    no_args_is_help=True, help="The partner webhook an EventBridge API destination calls."
)
app.add_typer(webhook_app, name="webhook")


@webhook_app.command("serve")
def webhook_serve() -> None:
    """Serve POST /webhooks/loyalty and GET /health (settings: ORDERSTREAM_WEBHOOK_*)."""
    from orderstream.settings import WebhookSettings, load
    from orderstream.webhook import server

    settings = load(WebhookSettings)
    _logging()
    server.serve(settings)


# ------------------------------------------------------------------------------------------ schema


@app.command("schema")
def schema(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write here instead of stdout")
    ] = None,
) -> None:
    """Write the JSON Schema of the event envelope."""
    from orderstream.domain.contract import envelope_json_schema

    text = json.dumps(envelope_json_schema(), indent=2, sort_keys=True) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)
        typer.echo(f"wrote {output}")


# ------------------------------------------------------------------------------------------ entry


def main() -> None:
    """Console-script entry: expected errors become one line and exit code 2 (config) or 1 (other)."""
    try:
        app()
    except ConfigError as exc:
        typer.echo(f"orderstream: config error: {exc}", err=True)
        raise SystemExit(EXIT_CONFIG) from None
    except OrderstreamError as exc:
        typer.echo(f"orderstream: {exc}", err=True)
        raise SystemExit(EXIT_FAILURE) from None


if __name__ == "__main__":
    main()
