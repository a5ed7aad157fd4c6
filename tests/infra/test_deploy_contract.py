"""The deployment files agree with the code: env var names, topics, groups, IAM scope, ports, scaling.

Names come from orderstream.settings and orderstream.deploy, never from a list kept here, so renaming a
settings field or a topic fails these tests until Terraform and compose follow.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from infra_files import SERVICE_MODULE, load_hcl, merged_blocks, resources
from pydantic_settings import BaseSettings

from orderstream.deploy import DEFAULT_APP_ID, SERVICES, env_var, env_vars, required_env_vars
from orderstream.settings import ProducerSettings

# What a task on AWS cannot do without (all have local defaults that would be wrong on MSK).
ECS_MUST_SET = (
    "kafka_bootstrap_servers",
    "kafka_security_protocol",
    "kafka_sasl_mechanism",
    "aws_region",
    "app_id",
)
WORKER_MUST_SET = ("agents", "web_host", "web_port")
BRIDGE_MUST_SET = ("event_bus", "metrics_port")
# Read by boto3 itself (moto credentials), not by an orderstream settings class.
THIRD_PARTY_ENV = frozenset({"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"})


def _ecs_environment(example_locals: dict[str, Any], service: str) -> dict[str, Any]:
    return {**example_locals["common_environment"], **example_locals["services"][service]["environment"]}


def _default(example_variables: dict[str, Any], name: str) -> Any:
    return example_variables[name]["default"]


# ------------------------------------------------------------------------------------------------ ECS


def test_the_example_deploys_exactly_the_services_of_deploy_py(example_locals: dict[str, Any]) -> None:
    assert set(example_locals["services"]) == set(SERVICES)


def test_the_module_gets_the_common_and_the_service_environment(example_main: dict[str, Any]) -> None:
    service_module = merged_blocks(example_main, "module")["service"]
    assert service_module["for_each"] == "${local.services}"
    assert service_module["environment"] == "${merge(local.common_environment, each.value.environment)}"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_ecs_env_vars_are_settings_fields_and_required_ones_are_set(
    example_locals: dict[str, Any], service: str
) -> None:
    deployable = SERVICES[service]
    names = set(_ecs_environment(example_locals, service))
    unknown = names - env_vars(deployable.settings)
    assert not unknown, f"{service}: {sorted(unknown)} are not fields of {deployable.settings.__name__}"
    must = {*ECS_MUST_SET, *(BRIDGE_MUST_SET if service == "bridge" else WORKER_MUST_SET)}
    missing = ({env_var(f) for f in must} | required_env_vars(deployable.settings)) - names
    assert not missing, f"{service}: the task definition must set {sorted(missing)}"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_ecs_uses_iam_auth_and_runs_the_right_agent(example_locals: dict[str, Any], service: str) -> None:
    env = _ecs_environment(example_locals, service)
    assert env[env_var("kafka_security_protocol")] == "SASL_SSL"
    assert env[env_var("kafka_sasl_mechanism")] == "AWS_MSK_IAM"
    if SERVICES[service].agents:
        assert env[env_var("agents")] == ",".join(SERVICES[service].agents)
        assert env[env_var("web_host")] == "0.0.0.0"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_ecs_command_topics_and_group_match_deploy_py(
    example_locals: dict[str, Any], example_variables: dict[str, Any], service: str
) -> None:
    spec = example_locals["services"][service]
    deployable = SERVICES[service]
    assert ["orderstream", *spec["command"]] == list(deployable.command), "entrypoint is `orderstream`"
    assert set(spec["read_topics"]) == set(deployable.reads)
    assert set(spec["write_topics"]) == set(deployable.writes)
    app_id = _default(example_variables, "app_id")
    assert app_id == DEFAULT_APP_ID
    assert spec["consumer_group"].replace("${var.app_id}", app_id) == deployable.group_id(app_id)
    assert spec["faust_internal_topics"] is deployable.faust_internal_topics


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_health_check_port_is_the_port_the_settings_serve_on(
    example_locals: dict[str, Any], service: str
) -> None:
    spec = example_locals["services"][service]
    port_var = env_var(SERVICES[service].health_port_field)
    port_expr = _ecs_environment(example_locals, service)[port_var]
    assert port_expr == "${tostring(" + spec["health_check_port"][2:-1] + ")}", (
        f"{service}: the health check must probe the port {port_var} sets"
    )


def test_bridge_drains_before_ecs_kills_it(example_locals: dict[str, Any]) -> None:
    bridge = example_locals["services"]["bridge"]
    drain = float(bridge["environment"][env_var("bridge_stop_timeout")])
    assert drain < bridge["stop_timeout"], "ORDERSTREAM_BRIDGE_STOP_TIMEOUT must end before ECS stopTimeout"


def test_scaling_never_exceeds_the_partition_count(example_variables: dict[str, Any]) -> None:
    partitions = _default(example_variables, "topic_partitions")
    scaling = _default(example_variables, "service_scaling")
    assert set(scaling) == set(SERVICES)
    for service, bounds in scaling.items():
        assert 1 <= bounds["min_capacity"] <= bounds["max_capacity"] <= partitions, service


def test_desired_count_is_left_to_autoscaling() -> None:
    body = resources(load_hcl(SERVICE_MODULE / "main.tf"))[("aws_ecs_service", "this")]
    assert body["lifecycle"] == [{"ignore_changes": ["desired_count"]}]


# ------------------------------------------------------------------------------------------------ IAM


def _module_policy_statements() -> dict[str, dict[str, Any]]:
    """Sid → statement of the task-role policy document, static and dynamic blocks alike."""
    data = resources(load_hcl(SERVICE_MODULE / "main.tf"), "data")[("aws_iam_policy_document", "task")]
    statements = list(data["statement"])
    for dynamic in data.get("dynamic", []):
        statements.extend(dynamic["statement"]["content"])
    return {s["sid"]: s for s in statements}


def _module_locals() -> dict[str, Any]:
    return merged_blocks(load_hcl(SERVICE_MODULE / "main.tf"), "locals")


def test_topic_group_and_txn_arns_are_derived_from_the_cluster_arn() -> None:
    local = _module_locals()
    for name, kind in [
        ("topic_arn_prefix", "topic"),
        ("group_arn_prefix", "group"),
        ("txn_arn_prefix", "transactional-id"),
    ]:
        assert local[name] == f'${{replace(var.msk_cluster_arn, ":cluster/", ":{kind}/")}}'
    assert (
        "var.read_topics" in local["read_topic_arns"] and "local.topic_arn_prefix" in local["read_topic_arns"]
    )
    assert (
        "var.write_topics" in local["write_topic_arns"]
        and "local.topic_arn_prefix" in local["write_topic_arns"]
    )
    assert local["group_arn"] == "${local.group_arn_prefix}/${var.consumer_group}"


def test_wildcards_appear_only_after_the_group_id_prefix() -> None:
    local = _module_locals()
    arn_templates = {k: v for k, v in local.items() if k.endswith("_arn")}
    for name, template in arn_templates.items():
        if "*" in template:
            assert template.endswith("/${var.consumer_group}-*"), (
                f"{name}: wildcard not scoped to the group prefix"
            )
    assert local["internal_txn_arn"] == "${local.txn_arn_prefix}/${var.consumer_group}-*"


def test_each_grant_names_its_resources_and_no_statement_allows_everything() -> None:
    statements = _module_policy_statements()
    expected = {
        "ConnectToCluster": "${var.msk_cluster_arn}",
        "ReadTopics": "${local.read_topic_arns}",
        "WriteTopics": "${local.write_topic_arns}",
        "UseConsumerGroup": "${local.group_arn}",
        "OwnInternalTopics": "${local.internal_topic_arn}",
        "OwnTransactionalIds": "${local.internal_txn_arn}",
    }
    for sid, resource in expected.items():
        got = statements[sid]["resources"]
        assert resource in (got if isinstance(got, list) else [got]), sid
        assert all(re.fullmatch(r"kafka-cluster:[A-Za-z]+", a) for a in statements[sid]["actions"]), sid
    for statement in statements.values():
        assert "*" not in statement["resources"] and "*" not in statement["actions"]


def test_read_grant_covers_reads_and_write_grant_covers_writes() -> None:
    statements = _module_policy_statements()
    assert "kafka-cluster:ReadData" in statements["ReadTopics"]["actions"]
    assert "kafka-cluster:WriteData" in statements["WriteTopics"]["actions"]
    assert {"kafka-cluster:DescribeGroup", "kafka-cluster:AlterGroup"} <= set(
        statements["UseConsumerGroup"]["actions"]
    )


def test_bridge_extra_grants_are_scoped_to_its_bus_and_bucket(example_locals: dict[str, Any]) -> None:
    extra = {s["sid"]: s for s in example_locals["services"]["bridge"]["extra_policy_statements"]}
    assert extra["PublishToBus"] == {
        "sid": "PublishToBus",
        "actions": ["events:PutEvents"],
        "resources": ["${module.eventbridge.bus_arn}"],
    }
    assert extra["StoreClaimChecks"]["resources"] == ["${aws_s3_bucket.claim_check.arn}/*"]
    for service, spec in example_locals["services"].items():
        for statement in spec["extra_policy_statements"]:
            assert "*" not in statement["resources"] and not any("*" in a for a in statement["actions"]), (
                service
            )
        if service != "bridge":
            assert spec["extra_policy_statements"] == [], f"{service} needs no AWS API beyond MSK"


# ------------------------------------------------------------------------------------------------ compose

COMPOSE_SETTINGS: dict[str, type[BaseSettings]] = {
    **{name: d.settings for name, d in SERVICES.items()},
    "topics": ProducerSettings,
    "producer": ProducerSettings,
}


@pytest.mark.parametrize("service", sorted(COMPOSE_SETTINGS))
def test_compose_env_vars_are_settings_fields(compose: dict[str, Any], service: str) -> None:
    settings = COMPOSE_SETTINGS[service]
    names = set(compose["services"][service]["environment"]) - THIRD_PARTY_ENV
    unknown = names - env_vars(settings)
    assert not unknown, f"compose {service}: {sorted(unknown)} are not fields of {settings.__name__}"
    assert env_var("kafka_bootstrap_servers") in names
    assert not required_env_vars(settings) - names


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_compose_and_ecs_run_the_same_command_and_agents(
    compose: dict[str, Any], example_locals: dict[str, Any], service: str
) -> None:
    container = compose["services"][service]
    assert container["command"] == example_locals["services"][service]["command"]
    ecs_names = set(_ecs_environment(example_locals, service))
    local_only = {env_var("aws_endpoint_url")}
    iam_only = {env_var("kafka_sasl_mechanism")}
    assert set(container["environment"]) - THIRD_PARTY_ENV - local_only == ecs_names - iam_only
    if SERVICES[service].agents:
        assert container["environment"][env_var("agents")] == ",".join(SERVICES[service].agents)


def test_the_worker_web_port_is_open_between_tasks_only(example_main: dict[str, Any]) -> None:
    """faust's table routing forwards /loyalty to the owning worker: the tasks reach each other's web port,
    and nothing else reaches it (no CIDR rule on that port, no public IP)."""
    found = resources(example_main)
    web_rules = {
        (rtype, name): body
        for (rtype, name), body in found.items()
        if rtype.startswith("aws_vpc_security_group_") and body.get("from_port") == "${local.worker_port}"
    }
    kinds = {rtype for rtype, _ in web_rules}
    assert kinds == {"aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule"}
    for body in web_rules.values():
        assert body["security_group_id"] == "${aws_security_group.tasks.id}"
        assert body["referenced_security_group_id"] == "${aws_security_group.tasks.id}"
        assert "cidr_ipv4" not in body and "cidr_ipv6" not in body
    ingress = [b for (t, _), b in found.items() if t == "aws_vpc_security_group_ingress_rule"]
    assert not [b for b in ingress if "cidr_ipv4" in b or "cidr_ipv6" in b]
