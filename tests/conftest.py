"""Test harness: where the real Kafka broker and the AWS emulator come from.

Broker, in order of preference:
1. ``ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS`` if set (any broker you point at, e.g. one docker-compose runs);
2. a testcontainers Kafka container when a Docker engine answers;
3. the project's own local broker (Kafka jars via Maven, KRaft), started if it is not running.
The same integration tests run all three ways; the header of the test run says which one was used.
AWS: ``ORDERSTREAM_AWS_ENDPOINT_URL`` if set, else the project's moto server (started if needed).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from orderstream import kafka
from orderstream.settings import ProducerSettings

BOOTSTRAP_ENV = "ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS"
AWS_ENDPOINT_ENV = "ORDERSTREAM_AWS_ENDPOINT_URL"


@dataclass
class BrokerBackend:
    """A running broker and how it was obtained (``env``, ``testcontainers`` or ``local``)."""

    kind: str
    bootstrap: str
    restart: Callable[[], None] | None = None


def _docker_answers() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=3)
        return bool(client.ping())
    except Exception:
        return False


def _choose_backend() -> str:
    if os.environ.get(BOOTSTRAP_ENV):
        return "env"
    return "testcontainers" if _docker_answers() else "local"


def pytest_report_header(config: pytest.Config) -> str:
    choice = _choose_backend()
    where = os.environ.get(BOOTSTRAP_ENV, "")
    return f"kafka broker backend: {choice}{' at ' + where if where else ''}"


@pytest.fixture(scope="session")
def broker(request: pytest.FixtureRequest) -> Iterator[BrokerBackend]:
    choice = _choose_backend()
    if choice == "env":
        backend = BrokerBackend("env", os.environ[BOOTSTRAP_ENV])
        yield backend
    elif choice == "testcontainers":
        from testcontainers.community.kafka import KafkaContainer

        # testcontainers' Kafka module drives Confluent's image; KRaft mode, no ZooKeeper.
        container = KafkaContainer().with_kraft()
        container.start()
        try:
            yield BrokerBackend("testcontainers", container.get_bootstrap_server())
        finally:
            container.stop()
    else:
        from orderstream.local import KafkaBroker

        local = KafkaBroker.from_env()
        started_here = local.running_pid() is None
        local.up()

        def restart() -> None:
            local.down()
            local.up()

        yield BrokerBackend("local", local.bootstrap, restart if local.running_pid() else None)
        if started_here and not os.environ.get("CI"):
            local.down()
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        reporter.write_line(f"integration tests ran against kafka backend: {choice}")


@pytest.fixture(scope="session")
def bootstrap(broker: BrokerBackend) -> str:
    return broker.bootstrap


@pytest.fixture(scope="session")
def kafka_settings(bootstrap: str) -> ProducerSettings:
    return ProducerSettings(kafka_bootstrap_servers=bootstrap)


@pytest.fixture
def new_topics(kafka_settings: ProducerSettings) -> Callable[..., list[str]]:
    """Create fresh, uniquely named topics: ``new_topics("orders", "payments", partitions=6)``."""

    def make(*bases: str, partitions: int = 6) -> list[str]:
        suffix = uuid.uuid4().hex[:8]
        names = [f"t-{base}-{suffix}" for base in bases]
        asyncio.run(kafka.create_topics(kafka_settings, names, partitions=partitions, replication_factor=1))
        return names

    return make


@dataclass(frozen=True)
class SecureBroker:
    """The local broker's secure listeners (:mod:`orderstream.local_broker`) and what a client needs."""

    plaintext: str
    sasl: str
    """SASL_SSL, SCRAM-SHA-512."""
    reauth: str
    """SASL_SSL, SCRAM-SHA-512, sessions ended by the broker after ``reauth_ms``."""
    mtls: str
    """SSL with a required client certificate."""
    ca_file: Path
    cert_file: Path
    key_file: Path
    username: str
    password: str
    reauth_ms: int
    log_dir: Path

    def env(self, bootstrap: str | None = None, password: str | None = None) -> dict[str, str]:
        """``ORDERSTREAM_KAFKA_*`` of a SCRAM client over TLS, verified with the local CA."""
        return {
            BOOTSTRAP_ENV: bootstrap or self.sasl,
            "ORDERSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "ORDERSTREAM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "ORDERSTREAM_KAFKA_SASL_USERNAME": self.username,
            "ORDERSTREAM_KAFKA_SASL_PASSWORD": self.password if password is None else password,
            "ORDERSTREAM_KAFKA_SSL_CA_FILE": str(self.ca_file),
        }

    def mtls_env(self, with_client_cert: bool = True) -> dict[str, str]:
        env = {
            BOOTSTRAP_ENV: self.mtls,
            "ORDERSTREAM_KAFKA_SECURITY_PROTOCOL": "SSL",
            "ORDERSTREAM_KAFKA_SSL_CA_FILE": str(self.ca_file),
        }
        if with_client_cert:
            env["ORDERSTREAM_KAFKA_SSL_CERT_FILE"] = str(self.cert_file)
            env["ORDERSTREAM_KAFKA_SSL_KEY_FILE"] = str(self.key_file)
        return env


@pytest.fixture(scope="session")
def secure_broker() -> Iterator[SecureBroker]:
    """The project's local broker with its TLS/SASL listeners, whichever backend the other tests use.

    Started here if it is not running (and stopped again unless CI); never skipped: ``make test`` and a
    clean checkout both have what it needs (Java, Maven, openssl).
    """
    from orderstream.local import KafkaBroker, port_open
    from orderstream.local_broker import REAUTH_MS, SCRAM_USER

    local = KafkaBroker.from_env()
    started_here = local.running_pid() is None
    local.up()
    tls = local.tls_files()
    ports = local.ports
    closed = [p for p in (ports.sasl_ssl, ports.reauth, ports.mtls) if not port_open("127.0.0.1", p)]
    assert not closed, (
        f"the local broker has no secure listeners on {closed}: restart it (orderstream local down)"
    )
    yield SecureBroker(
        plaintext=local.bootstrap,
        sasl=f"127.0.0.1:{ports.sasl_ssl}",
        reauth=f"127.0.0.1:{ports.reauth}",
        mtls=f"127.0.0.1:{ports.mtls}",
        ca_file=tls.ca_cert,
        cert_file=tls.client_cert,
        key_file=tls.client_key,
        username=SCRAM_USER,
        password=tls.scram_password,
        reauth_ms=REAUTH_MS,
        log_dir=local.paths.logs,
    )
    if started_here and not os.environ.get("CI"):
        local.down()


@pytest.fixture(scope="session")
def aws_endpoint() -> str:
    """An AWS endpoint speaking HTTP: moto in server mode (never in-process decorators)."""
    if os.environ.get(AWS_ENDPOINT_ENV):
        return os.environ[AWS_ENDPOINT_ENV]
    from orderstream.local import MotoServer

    moto = MotoServer.from_env()
    moto.up()
    return moto.endpoint


@pytest.fixture(autouse=True)
def _aws_test_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """Never let a test reach real AWS with someone's credentials."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
