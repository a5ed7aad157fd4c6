"""TLS and SASL, proven against the real broker: the producer, the worker and the bridge over SASL_SSL
(SCRAM-SHA-512, verified with the local CA), over a listener that ends sessions every few seconds as MSK
does, and over mutual TLS; the password is in no log; a wrong one is one line and exit code 2."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import secure_run as s
from aiokafka.conn import create_conn
from aiokafka.errors import KafkaConnectionError
from aiokafka.protocol.metadata import MetadataRequest
from secure_broker import SecureBroker

from orderstream import kafka
from orderstream.settings import ProducerSettings
from orderstream.synth import Workload

pytestmark = pytest.mark.integration

SASL_WORKLOAD = Workload(events=1500, customers=60, seed=31)
REAUTH_WORKLOAD = Workload(events=2400, customers=80, seed=32)
REAUTH_RATE = 150.0
"""Events/s: the producer alone then runs ~16 s, several session lifetimes on the REAUTH listener."""


@pytest.fixture(scope="module")
def aws_test_env() -> Iterator[None]:
    """moto's test credentials for module-scoped runs (the autouse fixture is per test)."""
    with pytest.MonkeyPatch.context() as patch:
        for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
            patch.setenv(name, "testing")
        patch.setenv("AWS_DEFAULT_REGION", "us-east-1")
        patch.delenv("AWS_PROFILE", raising=False)
        yield


@pytest.fixture(scope="module")
def runner(
    secure_broker: SecureBroker,
    aws_endpoint: str,
    tmp_path_factory: pytest.TempPathFactory,
    aws_test_env: None,
) -> Callable[..., s.RunResult]:
    def run(listener: str, workload: Workload, rate: float = 0.0) -> s.RunResult:
        return s.run_pipeline(
            secure_env=secure_broker.env(getattr(secure_broker, listener)),
            plaintext=secure_broker.plaintext,
            aws_endpoint=aws_endpoint,
            log_dir=tmp_path_factory.mktemp(listener),
            workload=workload,
            rate=rate,
        )

    return run


@pytest.fixture(scope="module")
def sasl_run(runner: Callable[..., s.RunResult]) -> s.RunResult:
    return runner("sasl", SASL_WORKLOAD)


@pytest.fixture(scope="module")
def reauth_run(runner: Callable[..., s.RunResult]) -> s.RunResult:
    return runner("reauth", REAUTH_WORKLOAD, rate=REAUTH_RATE)


def _assert_exact(run: s.RunResult) -> None:
    failed = [name for name, code in run.exit_codes.items() if code != 0]
    assert not failed, "\n".join(
        f"{name} exited {run.exit_codes[name]}:\n{run.tail(name)}" for name in failed
    )
    missing = run.expected - set(run.lifecycle)
    assert not missing, f"{len(missing)} of {len(run.expected)} events never reached order-lifecycle"
    assert set(run.lifecycle) == run.expected
    doubled = {i: n for i, n in run.lifecycle.items() if n > 1}
    assert not doubled, f"{len(doubled)} events written to order-lifecycle more than once"
    assert run.ledgers == run.oracle
    assert any(e["event_type"] == "loyalty.tier_changed" for e in run.loyalty)
    assert set(run.at_queues) == run.expected_at_queues
    repeated = {i: n for i, n in run.at_queues.items() if n > 1}
    assert not repeated, f"{len(repeated)} events delivered twice through EventBridge"


def test_producer_worker_and_bridge_deliver_every_event_over_sasl_ssl(sasl_run: s.RunResult) -> None:
    _assert_exact(sasl_run)
    assert sasl_run.logins("worker") >= 1 and sasl_run.logins("bridge") >= 1  # SCRAM was really used


def test_sessions_the_broker_ends_lose_and_duplicate_nothing(
    reauth_run: s.RunResult, sasl_run: s.RunResult, secure_broker: SecureBroker
) -> None:
    """aiokafka has no KIP-368 re-authentication: each expired session is closed by the broker, and the
    clients reconnect and log in again. Nothing may be lost or written twice on the way."""
    _assert_exact(reauth_run)
    # Proof that sessions really ended: many more logins than the same pipeline on the plain SASL listener.
    for process in ("worker", "bridge"):
        assert reauth_run.logins(process) >= 3 * max(sasl_run.logins(process), 3), process


async def test_the_reauth_listener_closes_a_session_used_after_its_lifetime(
    secure_broker: SecureBroker,
) -> None:
    async def metadata_after(bootstrap: str, idle: float) -> None:
        settings = ProducerSettings(**_fields(secure_broker.env(bootstrap)))
        conn = kafka.connection(settings)
        host, port = conn.servers[0]
        connection = await create_conn(host, port, **conn.aiokafka_options())
        try:
            await connection.send(MetadataRequest([]))
            await asyncio.sleep(idle)
            await connection.send(MetadataRequest([]))
        finally:
            connection.close()

    idle = secure_broker.reauth_ms / 1000 + 1
    await metadata_after(secure_broker.sasl, idle)  # no session lifetime there
    with pytest.raises(KafkaConnectionError):
        await metadata_after(secure_broker.reauth, idle)


def test_no_log_holds_the_password(
    sasl_run: s.RunResult, reauth_run: s.RunResult, secure_broker: SecureBroker
) -> None:
    logs = [*sasl_run.logs.values(), *reauth_run.logs.values(), *sorted(secure_broker.log_dir.glob("*"))]
    read = {path: path.read_text(errors="replace") for path in logs if path.is_file()}
    assert sum(text.count(s.AUTH_LINE) for text in read.values()) > 0  # the logs did cover the logins
    assert any("kafka" in path.name for path in read)  # the broker's own logs are among them
    leaking = [str(path) for path, text in read.items() if secure_broker.password in text]
    assert not leaking


def _fields(env: dict[str, str]) -> dict[str, str]:
    return {k.removeprefix("ORDERSTREAM_").lower(): v for k, v in env.items()}


# ----------------------------------------------------------------------------------- wrong settings


def _cli(*args: str, env: dict[str, str], timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "orderstream.cli", *args],
        env={**os.environ, "ORDERSTREAM_KAFKA_CONNECT_TIMEOUT": "5", **env},
        capture_output=True, text=True, timeout=timeout, check=False,
    )  # fmt: skip


def _one_config_line(result: subprocess.CompletedProcess[str], setting: str) -> str:
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [ln for ln in result.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, result.stderr[-2000:]
    assert setting in lines[0] and "Traceback" not in result.stderr
    return lines[0]


@pytest.mark.parametrize("command", [("produce", "--count", "5"), ("worker",), ("bridge",)])
def test_a_wrong_password_is_one_line_naming_it_and_exit_code_2(
    secure_broker: SecureBroker, command: tuple[str, ...], tmp_path: Path
) -> None:
    wrong = "not-the-" + secure_broker.password[:4]
    env = {**secure_broker.env(password=wrong), "ORDERSTREAM_DATA_DIR": str(tmp_path)}
    env |= {"ORDERSTREAM_WEB_PORT": str(s.h.free_port()), "ORDERSTREAM_METRICS_PORT": "0"}
    line = _one_config_line(_cli(*command, env=env), "ORDERSTREAM_KAFKA_SASL_PASSWORD")
    assert "rejected" in line and secure_broker.username in line
    assert wrong not in line and secure_broker.password not in line


@pytest.mark.parametrize(
    ("listener", "change", "setting"),
    [
        ("plaintext", {}, "ORDERSTREAM_KAFKA_SECURITY_PROTOCOL"),  # SASL_SSL spoken to PLAINTEXT
        ("plaintext", {"ORDERSTREAM_KAFKA_SECURITY_PROTOCOL": "SSL"}, "ORDERSTREAM_KAFKA_SECURITY_PROTOCOL"),
        ("sasl", {"ORDERSTREAM_KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"}, "ORDERSTREAM_KAFKA_SECURITY_PROTOCOL"),
        ("sasl", {"ORDERSTREAM_KAFKA_SSL_CA_FILE": None}, "ORDERSTREAM_KAFKA_SSL_CA_FILE"),  # system CAs only
        ("mtls", {}, "ORDERSTREAM_KAFKA_SECURITY_PROTOCOL"),  # SASL to an SSL listener
    ],
)
def test_a_protocol_mismatch_names_the_setting_and_exits_2(
    secure_broker: SecureBroker, listener: str, change: dict[str, str | None], setting: str
) -> None:
    bootstrap = {"plaintext": secure_broker.plaintext, "sasl": secure_broker.sasl, "mtls": secure_broker.mtls}
    env = secure_broker.env(bootstrap[listener])
    for key, value in change.items():
        env.pop(key)
        if value is not None:
            env[key] = value
    if env["ORDERSTREAM_KAFKA_SECURITY_PROTOCOL"] != "SASL_SSL":
        for key in ("MECHANISM", "USERNAME", "PASSWORD"):
            env.pop(f"ORDERSTREAM_KAFKA_SASL_{key}")
    if env["ORDERSTREAM_KAFKA_SECURITY_PROTOCOL"] == "PLAINTEXT":
        env.pop("ORDERSTREAM_KAFKA_SSL_CA_FILE", None)
    started = time.monotonic()
    _one_config_line(_cli("topics", "create", env=env), setting)
    assert time.monotonic() - started < 60


@pytest.mark.parametrize("command", [("produce", "--count", "5"), ("worker",), ("bridge",)])
def test_sasl_against_the_plaintext_port_is_exit_2_for_every_process(
    secure_broker: SecureBroker, command: tuple[str, ...], tmp_path: Path
) -> None:
    env = {**secure_broker.env(secure_broker.plaintext), "ORDERSTREAM_DATA_DIR": str(tmp_path)}
    env |= {"ORDERSTREAM_WEB_PORT": str(s.h.free_port()), "ORDERSTREAM_METRICS_PORT": "0"}
    line = _one_config_line(_cli(*command, env=env), "ORDERSTREAM_KAFKA_SECURITY_PROTOCOL")
    assert "is a PLAINTEXT listener" in line


def test_mutual_tls_needs_the_client_certificate(secure_broker: SecureBroker) -> None:
    ok = _cli("topics", "create", env=secure_broker.mtls_env())
    assert ok.returncode == 0, ok.stderr
    assert "exists  orders" in ok.stdout or "created orders" in ok.stdout
    line = _one_config_line(
        _cli("topics", "create", env=secure_broker.mtls_env(with_client_cert=False)),
        "ORDERSTREAM_KAFKA_SECURITY_PROTOCOL",
    )
    assert "ORDERSTREAM_KAFKA_SSL_CERT_FILE" in line
