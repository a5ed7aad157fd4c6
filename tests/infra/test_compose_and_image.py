"""docker-compose.yml against the Compose Specification schema, and the Dockerfile's promises.

These checks read the files (no engine needed); tests/containers builds the images and runs the stack.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema
import pytest
from infra_files import REPO

from orderstream.containers.kafka import properties_from_env
from orderstream.deploy import SERVICES
from orderstream.local import kafka_version, parse_properties, render_broker_config

SCHEMA_FILE = REPO / "infra" / "compose" / "compose_spec.json"
DOCKERFILE = REPO / "Dockerfile"
ORDERSTREAM_CONTAINERS = (*SERVICES, "topics", "producer")


def test_compose_file_is_valid_against_the_compose_specification(compose: dict[str, Any]) -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    validator = jsonschema.Draft201909Validator(
        schema, format_checker=jsonschema.Draft201909Validator.FORMAT_CHECKER
    )
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose)]
    assert errors == []


def test_the_schema_rejects_a_broken_file(compose: dict[str, Any]) -> None:
    broken = {**compose, "services": {**compose["services"], "kafka": {"image": 42, "depends_on": {"x": {}}}}}
    validator = jsonschema.Draft201909Validator(json.loads(SCHEMA_FILE.read_text()))
    assert not validator.is_valid(broken)


def test_kafka_is_the_official_image_at_the_pom_version_in_kraft_mode(compose: dict[str, Any]) -> None:
    kafka = compose["services"]["kafka"]
    assert kafka["image"] == f"${{ORDERSTREAM_KAFKA_IMAGE:-apache/kafka:{kafka_version()}}}"
    assert kafka["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert kafka["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


ADDRESSES = {
    "listeners",
    "advertised.listeners",
    "listener.security.protocol.map",
    "controller.quorum.voters",
    "log.dirs",
}


def test_kafka_is_configured_like_the_local_broker(compose: dict[str, Any]) -> None:
    """Every setting of infra/local/server.properties.template but the addresses, and nothing else."""
    local = parse_properties(render_broker_config(port=9092, data_dir="/data"))
    container = properties_from_env(compose["services"]["kafka"]["environment"])
    assert {k: v for k, v in container.items() if k not in ADDRESSES} == {
        k: v for k, v in local.items() if k not in ADDRESSES
    }
    assert container["log.dirs"] == "/var/lib/kafka/data"


def test_moto_is_the_projects_pinned_moto(compose: dict[str, Any]) -> None:
    moto = compose["services"]["moto"]
    assert moto["build"]["target"] == "moto" and "image" in moto and "motoserver" not in moto["image"]
    stage = DOCKERFILE.read_text().split("AS moto", 1)[1].split("FROM ", 1)[0]
    assert 'pip install -c constraints.txt "moto[server]"' in stage
    assert '"-m", "orderstream.moto_server"' in stage


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_long_running_services_have_health_checks_and_wait_for_their_dependencies(
    compose: dict[str, Any], service: str
) -> None:
    container = compose["services"][service]
    probe = " ".join(container["healthcheck"]["test"])
    assert "curl" not in probe and "/health" in probe
    variable = f"ORDERSTREAM_{SERVICES[service].health_port_field.upper()}"
    assert variable in container["environment"]
    assert f"'http://127.0.0.1:%s/health' % os.environ['{variable}']" in probe
    conditions = {dep: spec["condition"] for dep, spec in container["depends_on"].items()}
    assert conditions["kafka"] == "service_healthy"
    assert conditions["topics"] == "service_completed_successfully"


def test_ports_are_published_on_127_0_0_1_only(compose: dict[str, Any]) -> None:
    published = {name: svc.get("ports", []) for name, svc in compose["services"].items()}
    assert published["kafka"] and published["loyalty"] and published["moto"] and published["bridge"]
    assert all(str(port).startswith("127.0.0.1:") for ports in published.values() for port in ports)


def test_the_producer_runs_only_in_its_profile(compose: dict[str, Any]) -> None:
    assert compose["services"]["producer"]["profiles"] == ["producer"]
    assert all("profiles" not in compose["services"][name] for name in SERVICES)


@pytest.mark.parametrize("service", ORDERSTREAM_CONTAINERS)
def test_orderstream_containers_share_one_image_and_run_under_an_init(
    compose: dict[str, Any], service: str
) -> None:
    container = compose["services"][service]
    assert container["image"] == "orderstream:local"
    assert container["init"] is True


# ------------------------------------------------------------------------------------------------ Dockerfile


def _instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_base_image_is_a_build_argument_defaulting_to_slim_python_311() -> None:
    text = DOCKERFILE.read_text()
    default = re.search(r"^ARG BASE_IMAGE=(\S+)$", text, re.MULTILINE)
    assert default and re.fullmatch(r"python:3\.11-slim(-\w+)?", default.group(1))
    bases = [arg.split()[0] for op, arg in _instructions() if op == "FROM"]
    assert bases == ["${BASE_IMAGE}", "runtime", "runtime"]
    targets = [arg.split()[-1] for op, arg in _instructions() if op == "FROM"]
    assert targets[-1] == "service", "the default (last) target is the service image"


def test_image_installs_the_msk_extra() -> None:
    deps = next(arg for op, arg in _instructions() if op == "RUN" and "-r /tmp/requirements.txt" in arg)
    assert "['optional-dependencies']['msk']" in deps


def test_image_runs_as_a_non_root_user() -> None:
    users = [arg for op, arg in _instructions() if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")


def test_entrypoint_is_exec_form_orderstream_behind_an_init() -> None:
    entrypoints = [json.loads(arg) for op, arg in _instructions() if op == "ENTRYPOINT"]
    assert entrypoints[-1][0] == "tini" and entrypoints[-1][-1] == "orderstream"
    commands = [json.loads(arg) for op, arg in _instructions() if op == "CMD"]
    assert commands[-1] == ["worker"]


def test_dependencies_are_installed_before_the_code_is_copied() -> None:
    ops = _instructions()
    deps_copy = next(i for i, (op, arg) in enumerate(ops) if op == "COPY" and "constraints.txt" in arg)
    code_copy = next(i for i, (op, arg) in enumerate(ops) if op == "COPY" and arg.startswith("orderstream"))
    deps_install = next(
        i for i, (op, arg) in enumerate(ops) if op == "RUN" and "-r /tmp/requirements.txt" in arg
    )
    assert deps_copy < deps_install < code_copy
    assert not any(op == "COPY" and arg.startswith(". ") for op, arg in ops), "COPY . would bust the cache"


def test_the_image_installs_the_msk_extra_with_its_pin() -> None:
    """ECS tasks authenticate with MSK IAM: the signer must be in the image, pinned like everything else."""
    import subprocess
    import sys

    run = next(arg for op, arg in _instructions() if op == "RUN" and "-r /tmp/requirements.txt" in arg)
    script = re.search(r'python -c "(.+?)"\s*>', run)
    assert script is not None
    listed = subprocess.run(
        [sys.executable, "-c", script.group(1)], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    assert any(req.startswith("aws-msk-iam-sasl-signer-python") for req in listed)
    pins = (REPO / "constraints.txt").read_text().splitlines()
    assert "aws-msk-iam-sasl-signer-python==1.0.2" in pins


def test_the_image_listens_on_all_interfaces_for_health_and_metrics() -> None:
    env = " ".join(arg for op, arg in _instructions() if op == "ENV")
    assert "ORDERSTREAM_WEB_HOST=0.0.0.0" in env and "ORDERSTREAM_METRICS_HOST=0.0.0.0" in env
