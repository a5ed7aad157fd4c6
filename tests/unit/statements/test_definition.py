"""The state machine template: what it renders to in both worker styles, checked with moto's ASL parser and
against the worker's own names (step inputs, error names, overrides)."""

from __future__ import annotations

import json
from dataclasses import fields, replace
from pathlib import Path
from typing import Any

import pytest
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from orderstream.deploy import env_vars
from orderstream.domain.statements import ShardSummary
from orderstream.settings import StatementsSettings, StatementsTaskSettings
from orderstream.statements import definition, errors
from orderstream.statements.definition import TEMPLATE, DefinitionVars

VARS = DefinitionVars(
    worker_style="run_task",
    activity_arn="arn:aws:states:us-east-1:123456789012:activity:orderstream-statements",
    cluster_arn="arn:aws:ecs:us-east-1:123456789012:cluster/orderstream",
    task_definition_arn="arn:aws:ecs:us-east-1:123456789012:task-definition/orderstream-statements-worker:3",
    container_name="statements-worker",
    subnet_ids=("subnet-a", "subnet-b"),
    security_group_ids=("sg-1",),
    event_bus_name="orderstream",
    bucket="orderstream-statements-123",
)


def _states(doc: dict[str, Any]) -> dict[str, Any]:
    """Every state of the machine, the Map's inner states included."""
    found = dict(doc["States"])
    for state in doc["States"].values():
        if state["Type"] == "Map":
            found.update(state["ItemProcessor"]["States"])
    return found


@pytest.mark.parametrize("style", ["activity", "run_task"])
def test_both_styles_render_to_asl_that_moto_parses(style: str) -> None:
    text = definition.render(replace(VARS, worker_style=style))  # type: ignore[arg-type]
    AmazonStateLanguageParser.parse(text)
    doc = json.loads(text)
    assert doc["States"]["PlanRequest"]["Parameters"]["worker_style"] == style
    assert doc["States"]["Shards"]["ItemSelector"]["worker_style"] == style


def test_the_template_uses_exactly_the_variables_the_renderer_knows() -> None:
    assert set(definition.placeholders(TEMPLATE.read_text())) == {f.name for f in fields(DefinitionVars)}
    assert definition.placeholders(TEMPLATE.read_text())["subnet_ids"] == "jsonencode"


def test_the_renderer_refuses_what_terraform_would_read_differently(tmp_path: Path) -> None:
    for body in ['{"a": "${nope}"}', '{"a": "%{ if x }y%{ endif }"}', '{"a": ${upper(bucket)}}']:
        template = tmp_path / "t.tftpl"
        template.write_text(body)
        with pytest.raises(ValueError):
            definition.render(VARS, template)


def test_every_worker_step_retries_and_a_shard_that_still_fails_is_caught_not_dropped() -> None:
    doc = definition.parsed(VARS)
    states = _states(doc)
    tasks = {name: s for name, s in states.items() if s["Type"] == "Task" and name != "Emit"}
    assert set(tasks) == {"PlanViaActivity", "PlanViaRunTask", "ShardViaActivity", "ShardViaRunTask"}
    for name, task in tasks.items():
        retriers = task["Retry"]
        assert retriers[-1]["ErrorEquals"] == ["States.ALL"] and retriers[-1]["MaxAttempts"] >= 1, name
        hopeless = retriers[0]
        assert hopeless["MaxAttempts"] == 0 and set(hopeless["ErrorEquals"]) == {
            errors.BadInput.error_name,
            errors.MissingTopic.error_name,
            "Statements.NotCoPartitioned",
        }
        assert task["HeartbeatSeconds"] > 3 * StatementsSettings().statements_heartbeat_interval, name
        if name.startswith("Shard"):
            assert task["Catch"] == [
                {"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "ShardFailed"}
            ]
        else:
            assert "Catch" not in task, "a failed plan fails the run: there is nothing to report per shard"


def test_a_failed_shard_reports_the_same_fields_a_summary_has_so_totals_line_up() -> None:
    failed = _states(definition.parsed(VARS))["ShardFailed"]["Parameters"]
    summary = ShardSummary(0, (0,), 1, 1, 1, True).to_dict()
    assert {k.removesuffix(".$") for k in failed} == {*summary, "error", "cause"}
    assert failed["failed"] is True and failed["failures"] == 1 and failed["statements"] == 0


def test_runtask_passes_the_token_and_the_input_as_settings_of_the_task_command() -> None:
    task = _states(definition.parsed(VARS))["ShardViaRunTask"]
    assert task["Resource"] == "arn:aws:states:::ecs:runTask.waitForTaskToken"
    params = task["Parameters"]
    assert params["Cluster"] == VARS.cluster_arn and params["TaskDefinition"] == VARS.task_definition_arn
    assert params["NetworkConfiguration"]["AwsvpcConfiguration"]["Subnets"] == list(VARS.subnet_ids)
    (override,) = params["Overrides"]["ContainerOverrides"]
    assert override["Name"] == VARS.container_name and override["Command"] == ["statements", "task"]
    env = {e["Name"]: e["Value.$"] for e in override["Environment"]}
    assert env == {
        "ORDERSTREAM_STATEMENTS_TASK_TOKEN": "$$.Task.Token",
        "ORDERSTREAM_STATEMENTS_TASK_INPUT": "States.JsonToString($)",
    }
    assert set(env) <= env_vars(StatementsTaskSettings) - env_vars(StatementsSettings)


def test_the_activity_style_sends_the_whole_step_to_the_activity() -> None:
    states = _states(definition.parsed(replace(VARS, worker_style="activity")))
    assert states["ShardViaActivity"]["Resource"] == VARS.activity_arn
    assert "Parameters" not in states["ShardViaActivity"]  # the item ({step, month, shard, ...}) is the input
    item = definition.parsed(VARS)["States"]["Shards"]["ItemSelector"]
    assert item["step"] == "shard" and item["shard.$"] == "$$.Map.Item.Value"


def test_the_run_ends_by_announcing_it_on_the_bus() -> None:
    doc = definition.parsed(VARS)
    emit = doc["States"]["Emit"]
    assert emit["Resource"] == "arn:aws:states:::events:putEvents" and emit["End"] is True
    (entry,) = emit["Parameters"]["Entries"]
    assert entry["EventBusName"] == VARS.event_bus_name and entry["DetailType"] == "loyalty.statements_issued"
    report = {k.removesuffix(".$") for k in doc["States"]["Report"]["Parameters"]}
    detail = {k.removesuffix(".$") for k in entry["Detail"]}
    assert detail == report - {"results"}, "the event carries the totals, the output also every shard"
    assert doc["States"]["Report"]["Parameters"]["bucket"] == VARS.bucket
