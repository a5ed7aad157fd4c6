"""Settings: defaults as DESIGN.md names them, and a config mistake is one line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from orderstream.errors import ConfigError
from orderstream.settings import (
    BridgeSettings,
    KafkaSettings,
    WorkerSettings,
    known_variables,
    load,
    unknown_variable_warnings,
)


def test_defaults_match_the_design(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("ORDERSTREAM_"):
            monkeypatch.delenv(key)
    worker = load(WorkerSettings)
    assert worker.kafka_bootstrap_servers == "127.0.0.1:9092"
    assert worker.app_id == "orderstream"
    assert worker.agent_set == {"sequencer", "router", "loyalty"}
    assert worker.reorder_timeout == 30
    bridge = load(BridgeSettings)
    assert bridge.event_bus == "orderstream"
    assert bridge.aws_endpoint_url is None


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERSTREAM_AGENTS", "loyalty")
    monkeypatch.setenv("ORDERSTREAM_REORDER_TIMEOUT", "2.5")
    worker = load(WorkerSettings)
    assert worker.agent_set == {"loyalty"}
    assert worker.reorder_timeout == 2.5


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("ORDERSTREAM_REORDER_TIMEOUT", "soon"),
        ("ORDERSTREAM_AGENTS", "sequencer,teleporter"),
        ("ORDERSTREAM_WEB_PORT", "99999"),
    ],
)
def test_bad_setting_raises_config_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, var: str, value: str
) -> None:
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError) as info:
        load(WorkerSettings)
    assert info.value.setting == var
    assert "\n" not in str(info.value)


def test_cli_prints_one_line_and_exit_code_2_on_bad_setting() -> None:
    env = {**os.environ, "ORDERSTREAM_TOPIC_PARTITIONS": "many"}
    result = subprocess.run(
        [sys.executable, "-m", "orderstream.cli", "topics", "create"],
        env=env, capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "ORDERSTREAM_TOPIC_PARTITIONS" in lines[0]
    assert "Traceback" not in result.stderr


# ------------------------------------------------------------------------------------------ secrets, typos


def test_the_password_is_a_secret_str_hidden_from_reprs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ORDERSTREAM_KAFKA_SASL_PASSWORD", "hunter2-hunter2")
    settings = load(WorkerSettings)
    assert settings.kafka_sasl_password is not None
    assert settings.kafka_sasl_password.get_secret_value() == "hunter2-hunter2"
    assert "hunter2" not in repr(settings) and "hunter2" not in str(settings.model_dump())


@pytest.mark.parametrize(
    "value", ["127.0.0.1", "host:port", "b-1:9092,,b-2:9092", "b-1:0", ":9092", "b-1:70000"]
)
def test_a_malformed_bootstrap_list_names_the_variable(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS", value)
    with pytest.raises(ConfigError) as info:
        load(KafkaSettings)
    assert info.value.setting == "ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS"


def test_unknown_variables_get_a_did_you_mean_and_known_ones_none() -> None:
    env = {
        "ORDERSTREAM_KAFKA_BOOSTRAP_SERVERS": "x",
        "ORDERSTREAM_KAFKA_SASL_PASWORD": "x",
        "ORDERSTREAM_SOMETHING_ELSE": "x",
        "ORDERSTREAM_EVENT_BUS": "bus",  # a bridge setting is not unknown to a worker
        "ORDERSTREAM_LOCAL_KAFKA_PORT": "9092",  # read by the local stack
        "PATH": "/bin",
    }
    lines = unknown_variable_warnings(env)
    assert lines == [
        "ORDERSTREAM_KAFKA_BOOSTRAP_SERVERS is not an orderstream setting and is ignored; "
        "did you mean ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS?",
        "ORDERSTREAM_KAFKA_SASL_PASWORD is not an orderstream setting and is ignored; "
        "did you mean ORDERSTREAM_KAFKA_SASL_PASSWORD?",
        "ORDERSTREAM_SOMETHING_ELSE is not an orderstream setting and is ignored",
    ]


def test_every_settings_field_is_a_known_variable() -> None:
    known = known_variables()
    for cls in (KafkaSettings, WorkerSettings, BridgeSettings):
        assert {f"ORDERSTREAM_{name.upper()}" for name in cls.model_fields} <= known
