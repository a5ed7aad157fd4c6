"""The Terraform of the patterns beside the stream agrees with the code: commands, ORDERSTREAM_* names, the
ASL template's variables, the topics read, IAM scoped to exact ARNs with iam:PassRole only for the roles a
target passes, and the gold welcome input transformer rendered against a real tier change and read back by
the job's own parser. Names come from orderstream.deploy, orderstream.settings and the packages themselves.
"""

from __future__ import annotations

import json
import re
from typing import Any, cast

import pytest
import typer
from infra_files import EXAMPLE, TERRAFORM, load_hcl, merged_blocks, resources
from moto.events.models import EventPattern, EventTemplateParser

from consumers.mapping import KafkaOrigin, build_entry
from orderstream import cli
from orderstream.deploy import BESIDE_THE_STREAM, env_vars, render_template, required_env_vars
from orderstream.domain import ledger
from orderstream.domain.contract import EVENT_ADAPTER, LOYALTY_EVENTS, Event
from orderstream.domain.ledger import CustomerLedger
from orderstream.domain.patterns import compile_pattern
from orderstream.domain.rules import BridgeRuleSet, load_bridge_rules
from orderstream.jobs import gold_welcome
from orderstream.settings import BridgeSettings, StatementsSettings, WebhookSettings
from orderstream.statements import definition, source, steps
from orderstream.statements.definition import DefinitionVars
from orderstream.statements.worker import POLL_READ_TIMEOUT
from orderstream.webhook import server

MODULES = TERRAFORM / "modules"
PATTERNS = EXAMPLE / "ecs_patterns"


def module(name: str) -> dict[str, Any]:
    return load_hcl(MODULES / name / "main.tf")


def variables(name: str) -> dict[str, Any]:
    return merged_blocks(load_hcl(MODULES / name / "variables.tf"), "variable")


def default(name: str, variable: str) -> Any:
    return variables(name)[variable]["default"]


def policy(doc: dict[str, Any], name: str) -> dict[str, dict[str, Any]]:
    """Sid → statement of a data.aws_iam_policy_document, static and dynamic blocks alike."""
    body = resources(doc, "data")[("aws_iam_policy_document", name)]
    statements = list(body.get("statement", []))
    for dynamic in body.get("dynamic", []):
        statements.extend(dynamic["statement"]["content"])
    return {s.get("sid", f"#{i}"): s for i, s in enumerate(statements)}


def all_policy_statements() -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for directory in sorted(p for p in MODULES.iterdir() if p.is_dir()):
        doc = module(directory.name)
        for (kind, name), _ in resources(doc, "data").items():
            if kind == "aws_iam_policy_document":
                for statement in policy(doc, name).values():
                    found.append((directory.name, name, statement))
    return found


@pytest.fixture(scope="module")
def example() -> dict[str, Any]:
    return merged_blocks(load_hcl(EXAMPLE / "main.tf"), "module")


# ------------------------------------------------------------------------------------------------ commands


@pytest.mark.parametrize(
    ("role", "module_name", "where"),
    [
        ("statements-worker", "statements", ("module", "worker_task")),
        ("webhook", "webhook", ("module", "receiver_task")),
    ],
)
def test_module_containers_run_the_commands_deploy_py_names(
    role: str, module_name: str, where: tuple[str, str]
) -> None:
    task = BESIDE_THE_STREAM[role]
    block = merged_blocks(module(module_name), where[0])[where[1]]
    assert ["orderstream", *block["command"]] == list(task.command)
    assert block["name"] == task.name or block["name"] == "${var.name}"


def test_the_example_starts_the_gold_welcome_job_with_its_command(example: dict[str, Any]) -> None:
    task = BESIDE_THE_STREAM["gold-welcome"]
    assert ["orderstream", *example["gold_welcome"]["command"]] == list(task.command)
    assert example["partner_webhook"]["name"] == BESIDE_THE_STREAM["webhook"].name


def test_every_command_is_a_real_cli_command() -> None:
    group = typer.main.get_command(cli.app)
    for task in BESIDE_THE_STREAM.values():
        command: Any = group
        for word in task.command[1:]:
            command = command.commands[word]  # a KeyError names a command the CLI does not have
        assert command.callback is not None


# ------------------------------------------------------------------------------------------------ statements


def test_the_state_machine_is_the_asl_template_with_the_renderers_variables() -> None:
    doc = module("statements")
    machine = resources(doc)[("aws_sfn_state_machine", "this")]
    assert (
        machine["definition"]
        == '${templatefile("${path.module}/statements.asl.json.tftpl", local.definition_vars)}'
    )
    assert definition.TEMPLATE == MODULES / "statements" / "statements.asl.json.tftpl"
    given = merged_blocks(doc, "locals")["definition_vars"]
    fields = set(DefinitionVars.__dataclass_fields__)
    assert set(given) == fields == set(definition.placeholders(definition.TEMPLATE.read_text()))
    assert given["task_definition_arn"] == "${module.worker_task.task_definition_arn}"
    assert given["container_name"] == "${module.worker_task.container_name}"
    assert given["bucket"] == "${module.bucket.bucket}"


def test_terraforms_defaults_render_to_a_definition_the_worker_can_serve() -> None:
    names = {f: default("statements", f) for f in ("max_concurrency", "heartbeat_seconds", "timeout_seconds")}
    retry = {
        f: default("statements", f)
        for f in ("retry_interval_seconds", "retry_max_attempts", "retry_backoff_rate")
    }
    for style in ("activity", "run_task"):
        values = DefinitionVars(
            worker_style=style,  # type: ignore[arg-type]
            activity_arn="arn:aws:states:us-east-1:1:activity:a",
            cluster_arn="arn:aws:ecs:us-east-1:1:cluster/c",
            task_definition_arn="arn:aws:ecs:us-east-1:1:task-definition/t:1",
            container_name="statements-worker",
            subnet_ids=("s",),
            security_group_ids=("g",),
            event_bus_name="orderstream",
            bucket="b",
            **names,
            **retry,
        )
        doc = definition.parsed(values)
        (override,) = doc["States"]["PlanViaRunTask"]["Parameters"]["Overrides"]["ContainerOverrides"]
        assert ["orderstream", *override["Command"]] == list(BESIDE_THE_STREAM["statements-task"].command)
        assert override["Name"] == BESIDE_THE_STREAM["statements-task"].name
        env = {e["Name"] for e in override["Environment"]}
        assert env <= env_vars(BESIDE_THE_STREAM["statements-task"].settings)
        assert env == required_env_vars(BESIDE_THE_STREAM["statements-task"].settings), (
            "what the task cannot start without"
        )
    assert names["heartbeat_seconds"] > 3 * default("statements", "heartbeat_interval_seconds")


def test_the_worker_environment_is_statements_settings_and_reads_the_loyalty_group(
    example: dict[str, Any],
) -> None:
    local = merged_blocks(module("statements"), "locals")
    environment = local["environment"]
    assert environment.startswith("${merge(var.environment, {") and environment.endswith("})}")
    names = set(re.findall(r"(ORDERSTREAM_[A-Z_]+)\s*=", environment))
    common = set(merged_blocks(load_hcl(EXAMPLE / "main.tf"), "locals")["common_environment"])
    settings = BESIDE_THE_STREAM["statements-worker"].settings
    assert names | common <= env_vars(settings), sorted((names | common) - env_vars(settings))
    assert {
        "ORDERSTREAM_STATEMENTS_BUCKET",
        "ORDERSTREAM_STATEMENTS_LOYALTY_GROUP",
        "ORDERSTREAM_STATEMENTS_ACTIVITY_ARN",
        "ORDERSTREAM_EVENT_BUS",
        "ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS",
    } <= names | common
    assert example["statements"]["environment"] == "${local.common_environment}"
    assert example["statements"]["loyalty_group"] == "${local.services.loyalty.consumer_group}"


def test_the_worker_may_read_exactly_the_changelog_and_the_loyalty_events() -> None:
    local = merged_blocks(module("statements"), "locals")
    topics = [arn.replace("${local.topic_arn_prefix}/", "") for arn in local["read_topic_arns"]]
    assert topics == [source.changelog_topic("${var.loyalty_group}"), LOYALTY_EVENTS]
    grants = {s["sid"]: s for s in local["worker_statements"]}
    assert grants["ReadLoyaltyTopics"]["resources"] == "${local.read_topic_arns}"
    assert grants["WriteStatements"]["resources"] == ["${module.bucket.arn}/statements/*"]
    assert {s["sid"]: s["resources"] for s in local["activity_statements"]} == {
        "WorkTheActivity": ["${aws_sfn_activity.this.id}"]
    }


def test_a_draining_worker_outlives_its_last_long_poll() -> None:
    stop = variables("statements")["stop_timeout"]
    assert default("statements", "stop_timeout") > POLL_READ_TIMEOUT > 60
    assert f"var.stop_timeout > {POLL_READ_TIMEOUT:g}" in stop["validation"][0]["condition"]


def test_the_schedule_starts_the_month_before_on_the_first_in_utc() -> None:
    schedule = resources(module("statements"))[("aws_scheduler_schedule", "monthly")]
    (target,) = schedule["target"]
    assert target["arn"] == "${aws_sfn_state_machine.this.arn}" and target["dead_letter_config"]
    assert "<aws.scheduler.scheduled-time>" in target["input"] and "scheduled_time" in target["input"]
    assert re.fullmatch(r"cron\(\d+ \d+ 1 \* \? \*\)", default("statements", "schedule_expression"))
    assert default("statements", "schedule_timezone") == "UTC"
    # What the plan step gets: the execution input ({"scheduled_time": ...}) under "input".
    assert str(steps.month_of({"scheduled_time": "2026-12-01T03:00:00Z"})) == "2026-11"


# ------------------------------------------------------------------------------------------------ IAM


def test_only_the_documented_grants_use_a_wildcard_resource() -> None:
    wild = {(m, doc, s.get("sid")) for m, doc, s in all_policy_statements() if "*" in s.get("resources", [])}
    assert wild == {
        ("statements", "report_with_task_token", "ReportWithTaskToken"),  # callback tokens take no ARN
        ("statements", "state_machine_logs", "DeliverLogs"),  # CloudWatch Logs vended delivery
    }
    for m, doc, s in all_policy_statements():
        assert not any(a.endswith("*") for a in s["actions"]) or s.get("effect") == "Deny", (
            m,
            doc,
            s.get("sid"),
        )


def test_pass_role_and_run_task_only_for_the_task_a_starter_starts() -> None:
    granting = {
        (m, doc)
        for m, doc, s in all_policy_statements()
        if {"iam:PassRole", "ecs:RunTask"} & set(s["actions"])
    }
    assert granting == {("ecs_task", "run")}
    grants = policy(module("ecs_task"), "run")
    assert grants["RunTheTask"]["actions"] == ["ecs:RunTask"]
    assert grants["RunTheTask"]["resources"] == ["${aws_ecs_task_definition.this.arn}"]
    assert grants["RunTheTask"]["condition"] == [
        {"test": "ArnEquals", "variable": "ecs:cluster", "values": ["${var.started_in.cluster_arn}"]}
    ]
    assert grants["PassTheTaskRoles"]["actions"] == ["iam:PassRole"]
    assert grants["PassTheTaskRoles"]["resources"] == [
        "${aws_iam_role.execution.arn}",
        "${aws_iam_role.task.arn}",
    ]
    assert grants["PassTheTaskRoles"]["condition"] == [
        {"test": "StringEquals", "variable": "iam:PassedToService", "values": ["ecs-tasks.amazonaws.com"]}
    ]


def test_the_run_grant_goes_to_the_starters_and_to_no_one_else() -> None:
    event_task = merged_blocks(module("event_task"), "module")
    assert event_task["task"]["started_in"] == {"cluster_arn": "${var.cluster_arn}"}
    assert event_task["events_role"]["policies"] == {"run-task": "${module.task.run_policy_json}"}
    statements = merged_blocks(module("statements"), "module")
    assert (
        statements["worker_task"]["started_in"]
        == "${local.activities ? null : {cluster_arn = var.cluster_arn}}"
    )
    assert "module.worker_task.run_policy_json" in statements["state_machine_role"]["policies"]
    assert "if !local.activities" in statements["state_machine_role"]["policies"], "RunTask style only"
    assert "started_in" not in merged_blocks(module("webhook"), "module")["receiver_task"], (
        "a service: ECS starts it"
    )


def test_dead_letter_queues_take_messages_from_their_one_rule_only() -> None:
    (statement,) = policy(module("dead_letter_queue"), "this").values()
    assert statement["actions"] == ["sqs:SendMessage"] and statement["resources"] == [
        "${aws_sqs_queue.this.arn}"
    ]
    assert statement["condition"] == [
        {"test": "ArnEquals", "variable": "aws:SourceArn", "values": ["${var.rule_arn}"]}
    ]


def test_service_roles_trust_one_service_for_this_account_only() -> None:
    (statement,) = policy(module("service_role"), "assume").values()
    assert statement["principals"] == [{"type": "Service", "identifiers": ["${var.service}"]}]
    assert statement["condition"][0]["variable"] == "aws:SourceAccount"
    services = {
        block["service"]
        for name in ("statements", "event_task", "webhook")
        for block in merged_blocks(module(name), "module").values()
        if block["source"] == "../service_role"
    }
    assert services == {"states.amazonaws.com", "scheduler.amazonaws.com", "events.amazonaws.com"}


def test_the_webhook_sender_may_only_invoke_its_api_destination() -> None:
    assert policy(module("webhook"), "events") == {
        "CallThePartner": {
            "sid": "CallThePartner",
            "actions": ["events:InvokeApiDestination"],
            "resources": ["${aws_cloudwatch_event_api_destination.this.arn}"],
        }
    }


# ------------------------------------------------------------------------------------------------ gold welcome


def _tier_change_to(tier: str) -> dict[str, Any]:
    """A real loyalty.tier_changed from the domain ledger, published as the bridge would publish it."""
    amount = {"gold": 250_000, "silver": 60_000}[tier]
    customer = CustomerLedger("c-000042")
    base = {
        "schema_version": 1,
        "order_id": "o-9",
        "customer_id": "c-000042",
        "occurred_at": "2026-11-28T10:15:00Z",
    }
    created: Event = EVENT_ADAPTER.validate_python({
        **base, "event_id": "1b4e28ba-2fa1-41d2-883f-0016d3cca427", "event_type": "order.created", "sequence": 1,
        "data": {"total_cents": amount, "currency": "EUR", "region": "eu", "channel": "web", "is_test": False, "items": []},
    })  # fmt: skip
    captured: Event = EVENT_ADAPTER.validate_python({
        **base, "event_id": "6f1c5a2e-0b7d-4c3a-9e8f-1a2b3c4d5e6f", "event_type": "payment.captured", "sequence": 2,
        "data": {"amount_cents": amount, "currency": "EUR", "payment_id": "p-9"},
    })  # fmt: skip
    customer, _ = ledger.apply(customer, created)
    _, emitted = ledger.apply(customer, captured)
    (change,) = [e for e in emitted if e.event_type == "loyalty.tier_changed"]
    envelope = change.model_dump(mode="json")
    rules = BridgeRuleSet(load_bridge_rules(BridgeSettings.model_fields["bridge_rules"].default))
    rule = rules.select(LOYALTY_EVENTS, envelope)
    assert rule is not None
    entry = build_entry(rule, envelope, KafkaOrigin(LOYALTY_EVENTS, 2, 17, b"c-000042"), "orderstream")
    return {
        "version": "0", "id": "b1a2c3d4-0000-4000-8000-000000000001", "account": "123456789012",
        "ingestion-time": "2026-11-28T10:15:01Z",
        "region": "us-east-1", "time": "2026-11-28T10:15:00Z", "resources": [],
        "source": entry.source, "detail-type": entry.detail_type, "detail": json.loads(entry.detail),  # type: ignore[union-attr]
    }  # fmt: skip


def _parse_job_command(command: list[str]) -> gold_welcome.GoldWelcomeRequest:
    """The job's own parser: the CLI's options, then GoldWelcomeRequest.parse (as `jobs gold-welcome` does)."""
    group = typer.main.get_command(cli.app)
    assert command[:2] == ["jobs", "gold-welcome"]
    job = group.commands["jobs"].commands["gold-welcome"]  # type: ignore[attr-defined]
    context = job.make_context("gold-welcome", list(command[2:]))
    return gold_welcome.GoldWelcomeRequest.parse(**context.params)


def _rendered_overrides(event: dict[str, Any]) -> dict[str, Any]:
    local = merged_blocks(load_hcl(EXAMPLE / "main.tf"), "locals")
    template = render_template(
        (PATTERNS / "gold_welcome.overrides.json.tftpl").read_text(),
        {"container_name": local["gold_welcome_name"]},
    )
    rendered = EventTemplateParser.parse(
        input_template=template, input_paths_map=local["gold_welcome_input_paths"], event=cast(Any, event)
    )
    return rendered if isinstance(rendered, dict) else json.loads(rendered)


def test_the_input_transformer_turns_a_real_tier_change_into_a_command_the_job_accepts(
    example: dict[str, Any],
) -> None:
    event = _tier_change_to("gold")
    overrides = _rendered_overrides(event)
    (container,) = overrides["containerOverrides"]
    assert (
        container["name"]
        == BESIDE_THE_STREAM["gold-welcome"].name
        == example["gold_welcome"]["name"].replace("${local.gold_welcome_name}", "gold-welcome")
    )
    request = _parse_job_command(container["command"])
    detail = event["detail"]
    assert (request.event_id, request.customer_id, request.to_tier) == (
        detail["event_id"], detail["customer_id"], detail["data"]["to_tier"],
    )  # fmt: skip
    assert request.occurred_at.isoformat().startswith(detail["occurred_at"][:19])
    assert example["gold_welcome"]["input_paths"] == "${local.gold_welcome_input_paths}"
    assert "gold_welcome.overrides.json.tftpl" in example["gold_welcome"]["input_template"]


def test_the_transformer_fails_loudly_on_an_event_without_the_fields() -> None:
    event = _tier_change_to("gold")
    del event["detail"]["customer_id"]
    (container,) = _rendered_overrides(event)["containerOverrides"]
    with pytest.raises(gold_welcome.JobInputError):  # the job exits 2 with this message
        _parse_job_command(container["command"])


def test_the_gold_welcome_rule_matches_gold_and_nothing_else() -> None:
    pattern = (PATTERNS / "gold_welcome.pattern.json").read_text()
    gold, silver = _tier_change_to("gold"), _tier_change_to("silver")
    assert compile_pattern(pattern).matches(gold) and not compile_pattern(pattern).matches(silver)
    assert EventPattern.load(pattern).matches_event(cast(Any, gold))
    assert not EventPattern.load(pattern).matches_event(cast(Any, silver))


def test_the_gold_welcome_task_fits_the_jobs_settings_and_writes_only_vouchers(
    example: dict[str, Any],
) -> None:
    job = example["gold_welcome"]
    settings = BESIDE_THE_STREAM["gold-welcome"].settings
    assert (
        set(job["environment"]) <= env_vars(settings) and "ORDERSTREAM_VOUCHERS_BUCKET" in job["environment"]
    )
    grants = {s["sid"]: s for s in job["task_policy_statements"]}
    assert grants["IssueVouchers"] == {
        "sid": "IssueVouchers",
        "actions": ["s3:PutObject"],
        "resources": [f"${{module.vouchers.arn}}/{gold_welcome.KEY_PREFIX}/*"],
    }
    target = resources(module("event_task"))[("aws_cloudwatch_event_target", "this")]
    assert target["arn"] == "${var.cluster_arn}" and target["retry_policy"]
    assert target["dead_letter_config"] == [{"arn": "${module.dlq.arn}"}]
    assert (
        merged_blocks(module("event_task"), "module")["dlq"]["rule_arn"]
        == "${aws_cloudwatch_event_rule.this.arn}"
    )
    assert target["ecs_target"][0]["task_count"] == 1 and target["ecs_target"][0]["launch_type"] == "FARGATE"
    assert target["input_transformer"] == [
        {"input_paths": "${var.input_paths}", "input_template": "${var.input_template}"}
    ]


# ------------------------------------------------------------------------------------------------ webhook


def test_the_webhook_receiver_fits_its_settings_and_gets_the_key_from_secrets_manager() -> None:
    receiver = merged_blocks(module("webhook"), "module")["receiver_task"]
    settings = BESIDE_THE_STREAM["webhook"].settings
    given = set(receiver["environment"]) | set(receiver["secrets"])
    assert given <= env_vars(settings) and required_env_vars(settings) <= given
    assert receiver["secrets"] == {"ORDERSTREAM_WEBHOOK_API_KEY": "${aws_secretsmanager_secret.api_key.arn}"}
    assert receiver["environment"]["ORDERSTREAM_WEBHOOK_API_KEY_HEADER"] == "${var.api_key_header}"
    assert receiver["health_check_path"] == "/health"
    assert default("webhook", "path") == server.PATH
    assert default("webhook", "api_key_header") == settings.model_fields["webhook_api_key_header"].default
    connection = resources(module("webhook"))[("aws_cloudwatch_event_connection", "this")]
    (api_key,) = connection["auth_parameters"][0]["api_key"]
    assert api_key == {
        "key": "${var.api_key_header}",
        "value": "${aws_secretsmanager_secret_version.api_key.secret_string}",
    }
    assert connection["invocation_connectivity_parameters"], (
        "the receiver is private: EventBridge goes through VPC Lattice"
    )


def test_the_api_destination_is_rate_limited_retried_and_backed_by_a_dlq() -> None:
    doc = resources(module("webhook"))
    destination = doc[("aws_cloudwatch_event_api_destination", "this")]
    assert destination["invocation_rate_limit_per_second"] == "${var.rate_limit_per_second}"
    assert destination["http_method"] == "POST" and destination["invocation_endpoint"] == "${local.endpoint}"
    assert merged_blocks(module("webhook"), "locals")["endpoint"] == "https://${var.domain_name}${var.path}"
    target = doc[("aws_cloudwatch_event_target", "this")]
    assert target["arn"] == "${aws_cloudwatch_event_api_destination.this.arn}"
    assert target["retry_policy"] and target["dead_letter_config"] == [{"arn": "${module.dlq.arn}"}]
    assert (
        merged_blocks(module("webhook"), "module")["dlq"]["rule_arn"]
        == "${aws_cloudwatch_event_rule.this.arn}"
    )
    assert WebhookSettings.model_fields["webhook_answer_budget"].default < 5, "EventBridge waits 5 s"


def test_the_webhook_rule_sends_every_tier_change_and_nothing_else() -> None:
    pattern = (PATTERNS / "partner_webhook.pattern.json").read_text()
    for tier in ("gold", "silver"):
        assert compile_pattern(pattern).matches(_tier_change_to(tier))
        assert EventPattern.load(pattern).matches_event(cast(Any, _tier_change_to(tier)))
    other = {**_tier_change_to("gold"), "detail-type": "loyalty.points_awarded"}
    assert not compile_pattern(pattern).matches(other)
    example = merged_blocks(load_hcl(EXAMPLE / "main.tf"), "module")["partner_webhook"]
    assert example["event_pattern"] == '${file("${path.module}/ecs_patterns/partner_webhook.pattern.json")}'


def test_statements_defaults_are_what_terraform_passes_on() -> None:
    # The worker's own default heartbeat interval is the module's: a deployment that forgets it still fits.
    assert StatementsSettings().statements_heartbeat_interval == default(
        "statements", "heartbeat_interval_seconds"
    )


def test_every_pattern_file_is_wired_into_the_example() -> None:
    text = (EXAMPLE / "main.tf").read_text()
    for path in PATTERNS.iterdir():
        json.loads(path.read_text().replace("${container_name}", "c"))
        assert f"ecs_patterns/{path.name}" in text, path.name
