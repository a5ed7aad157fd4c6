"""infra/compose/host-network.yml differs from docker-compose.yml only in networking.

The override may set, per service: ``network_mode``, ``ports`` (reset), the environment variables that are
addresses (listeners, bootstrap servers, endpoint, web host and ports), and a health probe whose only change
is the address it asks. Everything else of the merged file must equal the user-facing file, which this
checks by comparing both with every address and port replaced by a placeholder.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest

from orderstream.containers import compose

NETWORK_KEYS = {"network_mode", "ports", "networks", "extra_hosts"}
ADDRESS_ENV = re.compile(
    r"^(KAFKA_LISTENERS|KAFKA_ADVERTISED_LISTENERS|KAFKA_CONTROLLER_QUORUM_VOTERS|ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS"
    r"|ORDERSTREAM_AWS_ENDPOINT_URL|ORDERSTREAM_WEB_HOST|ORDERSTREAM_WEB_PORT|ORDERSTREAM_METRICS_HOST"
    r"|ORDERSTREAM_METRICS_PORT|MOTO_PORT)$"
)
ADDRESS = re.compile(
    r"(?:0\.0\.0\.0|127\.0\.0\.1|localhost|kafka|moto)?:(?:\d+|\$\{[A-Z_]+:-\d+\})|\b(?:0\.0\.0\.0|127\.0\.0\.1)\b"
)


def _placeholders(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _placeholders(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_placeholders(v) for v in value]
    return ADDRESS.sub("<address>", str(value)) if isinstance(value, str) else value


def networking_differences(base: dict[str, Any], merged: dict[str, Any]) -> list[str]:
    """What differs between two compose files once networking is set aside (empty: only networking)."""
    out = []
    if set(base["services"]) != set(merged["services"]):
        out.append(f"services: {sorted(base['services'])} vs {sorted(merged['services'])}")
    for name in sorted(set(base["services"]) & set(merged["services"])):
        left, right = (copy.deepcopy(doc["services"][name]) for doc in (base, merged))
        for svc in (left, right):
            for key in NETWORK_KEYS:
                svc.pop(key, None)
            env = svc.get("environment", {})
            for var in [v for v in env if ADDRESS_ENV.match(v)]:
                env[var] = "<address>"
        left, right = _placeholders(left), _placeholders(right)
        for key in sorted(set(left) | set(right)):
            if left.get(key) != right.get(key):
                out.append(f"{name}.{key}: {left.get(key)!r} vs {right.get(key)!r}")
    for key in sorted((set(base) | set(merged)) - {"services"}):
        if not key.startswith("x-") and base.get(key) != merged.get(key):
            out.append(f"{key} differs")
    return out


@pytest.fixture(scope="module")
def base() -> dict[str, Any]:
    doc = compose.load(compose.BASE_FILE)
    return {k: v for k, v in doc.items() if not k.startswith("x-")}


@pytest.fixture(scope="module")
def merged() -> dict[str, Any]:
    return compose.merged()


def test_the_override_changes_only_networking(base: dict[str, Any], merged: dict[str, Any]) -> None:
    assert networking_differences(base, merged) == []


def test_every_service_shares_the_host_network_and_publishes_nothing(merged: dict[str, Any]) -> None:
    for name, service in merged["services"].items():
        assert service["network_mode"] == "host", name
        assert "ports" not in service, name


def test_every_address_of_the_host_network_stack_is_127_0_0_1(merged: dict[str, Any]) -> None:
    for name, service in merged["services"].items():
        for var, value in service.get("environment", {}).items():
            if ADDRESS_ENV.match(var) and not var.endswith("_PORT"):
                hosts = re.findall(r"(?://|^|@|,)([a-z0-9.]+):(?!//)", str(value)) or [str(value)]
                assert set(hosts) == {"127.0.0.1"}, f"{name} {var}={value}"


def test_host_network_ports_are_distinct(merged: dict[str, Any]) -> None:
    defaults = re.findall(r"\$\{(HOSTNET_[A-Z_]+):-(\d+)\}", compose.HOST_NETWORK_FILE.read_text())
    by_var = dict(defaults)
    assert len(by_var) == len(set(by_var.values())) >= 8
    assert not {"9092", "9093", "5000"} & set(by_var.values()), "clear of the local broker and moto"


@pytest.mark.parametrize(
    ("service", "key", "value"),
    [
        ("bridge", "image", "someone-else:latest"),
        ("loyalty", "environment", {"ORDERSTREAM_PROCESSING_GUARANTEE": "exactly_once"}),
        ("kafka", "environment", {"KAFKA_MESSAGE_MAX_BYTES": "1048576"}),
        ("sequencer", "stop_grace_period", "5s"),
        ("moto", "command", ["-H", "127.0.0.1", "--verbose"]),
    ],
)
def test_a_change_beyond_networking_is_caught(
    base: dict[str, Any], merged: dict[str, Any], service: str, key: str, value: Any
) -> None:
    tampered = copy.deepcopy(merged)
    tampered["services"][service][key] = compose.merge(tampered["services"][service].get(key), value)
    assert networking_differences(base, tampered) != []


def test_merge_follows_the_compose_rules() -> None:
    base = {"ports": ["1:1"], "environment": {"A": "1", "B": "2"}, "command": ["x", "y"], "tmpfs": ["/tmp"]}
    override = {"ports": compose.Reset(), "environment": {"B": "3"}, "command": ["z"], "tmpfs": ["/run"]}
    assert compose.merge(base, override) == {
        "environment": {"A": "1", "B": "3"}, "command": ["z"], "tmpfs": ["/tmp", "/run"],
    }  # fmt: skip
    assert compose.merge({"a": {"b": 1}}, {"a": compose.Override({"c": 2})}) == {"a": {"c": 2}}
