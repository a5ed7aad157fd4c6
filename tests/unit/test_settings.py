"""Settings: defaults as DESIGN.md names them, and a config mistake is one line naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from orderstream.errors import ConfigError
from orderstream.settings import BridgeSettings, WorkerSettings, load


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
