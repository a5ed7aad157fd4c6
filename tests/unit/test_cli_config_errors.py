"""Every configuration mistake a process can see at start-up is one line naming the setting and exit
code 2, the same for the worker, the bridge, ``produce`` and the other commands. Real subprocesses of the
CLI; the "broker" here is a closed or busy port on 127.0.0.1 (the real-broker cases are in
``tests/integration/test_produce_exit_codes.py`` and ``test_security.py``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from orderstream.errors import ConfigError
from orderstream.preflight import check_port

COMMANDS = [("worker",), ("bridge",), ("produce", "--count", "5"), ("topics", "create"), ("dlq", "list")]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def listening() -> Iterator[int]:
    """A port some other process (here: this one) already listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


def cli(*args: str, env: dict[str, str], tmp: Path, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORDERSTREAM_")}
    base |= {"ORDERSTREAM_DATA_DIR": str(tmp), "ORDERSTREAM_WEB_PORT": str(free_port())}
    base |= {"ORDERSTREAM_METRICS_PORT": "0", "ORDERSTREAM_KAFKA_CONNECT_TIMEOUT": "2"}
    return subprocess.run(
        [sys.executable, "-m", "orderstream.cli", *args],
        env={**base, **env}, capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def one_line(result: subprocess.CompletedProcess[str], setting: str) -> str:
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert result.returncode == 2, result.stderr[-3000:]
    assert len(lines) == 1, result.stderr[-3000:]
    assert lines[0].startswith("orderstream: config error: ") and setting in lines[0]
    return lines[0]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_an_unreachable_bootstrap_is_named_within_the_connect_timeout(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    port = free_port()  # nothing listens there
    started = time.monotonic()
    result = cli(*command, env={"ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}"}, tmp=tmp_path)
    line = one_line(result, "ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS")
    assert f"cannot reach 127.0.0.1:{port}" in line
    assert time.monotonic() - started < 30  # 2 s of retries, plus the interpreter starting


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_sasl_without_a_mechanism_is_a_config_error(command: tuple[str, ...], tmp_path: Path) -> None:
    result = cli(*command, env={"ORDERSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}, tmp=tmp_path)
    one_line(result, "ORDERSTREAM_KAFKA_SASL_MECHANISM")


def test_a_busy_web_port_names_orderstream_web_port(listening: int, tmp_path: Path) -> None:
    result = cli("worker", env={"ORDERSTREAM_WEB_PORT": str(listening)}, tmp=tmp_path)
    assert f"127.0.0.1:{listening} is already in use" in one_line(result, "ORDERSTREAM_WEB_PORT")


def test_a_busy_metrics_port_names_orderstream_metrics_port(listening: int, tmp_path: Path) -> None:
    result = cli("bridge", env={"ORDERSTREAM_METRICS_PORT": str(listening)}, tmp=tmp_path)
    assert f"127.0.0.1:{listening} is already in use" in one_line(result, "ORDERSTREAM_METRICS_PORT")


def test_check_port_names_the_host_setting_for_an_address_not_on_this_machine() -> None:
    with pytest.raises(ConfigError) as info:
        check_port("192.0.2.1", free_port(), "ORDERSTREAM_WEB_PORT", "ORDERSTREAM_WEB_HOST")
    assert info.value.setting == "ORDERSTREAM_WEB_HOST"


def test_a_misspelled_variable_is_warned_about_with_a_did_you_mean(tmp_path: Path) -> None:
    port = free_port()
    result = cli(
        "topics", "create",
        env={"ORDERSTREAM_KAFKA_BOOSTRAP_SERVERS": f"127.0.0.1:{port}", "ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS": f"127.0.0.1:{port}"},
        tmp=tmp_path,
    )  # fmt: skip
    warnings = [ln for ln in result.stderr.splitlines() if "warning" in ln]
    assert warnings == [
        "orderstream: warning: ORDERSTREAM_KAFKA_BOOSTRAP_SERVERS is not an orderstream setting and is "
        "ignored; did you mean ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS?"
    ]
    assert result.returncode == 2  # the warning is not fatal: the (unreachable) broker is


@pytest.mark.parametrize(
    "command", [("worker",), ("bridge",), ("produce", "--count", "5")], ids=lambda c: c[0]
)
def test_a_misspelled_password_variable_is_blamed_on_the_password(
    command: tuple[str, ...], tmp_path: Path
) -> None:
    env = {
        "ORDERSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "ORDERSTREAM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "ORDERSTREAM_KAFKA_SASL_USERNAME": "orderstream",
        "ORDERSTREAM_KAFKA_SASL_PASWORD": "secret-in-the-wrong-place",
    }
    result = cli(*command, env=env, tmp=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert "did you mean ORDERSTREAM_KAFKA_SASL_PASSWORD?" in lines[0]
    assert lines[1].startswith("orderstream: config error: ORDERSTREAM_KAFKA_SASL_PASSWORD:")
    assert "ORDERSTREAM_KAFKA_SASL_USERNAME:" not in result.stderr
    assert "secret-in-the-wrong-place" not in result.stderr and len(lines) == 2


def test_a_bad_rules_file_is_a_config_error_of_the_bridge(tmp_path: Path) -> None:
    result = cli("bridge", env={"ORDERSTREAM_BRIDGE_RULES": str(tmp_path / "missing.yaml")}, tmp=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "ORDERSTREAM_BRIDGE_RULES" in lines[0]


def test_a_bad_router_rules_file_is_a_config_error_of_the_worker(tmp_path: Path) -> None:
    (tmp_path / "router.yaml").write_text("rules: [{name: x}]\n")
    env = {
        "ORDERSTREAM_ROUTER_RULES": str(tmp_path / "router.yaml"),
        "ORDERSTREAM_KAFKA_CONNECT_TIMEOUT": "0.5",
    }
    result = cli("worker", env=env, tmp=tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1, result.stderr[-2000:]
    assert "ORDERSTREAM_ROUTER_RULES" in lines[0]
