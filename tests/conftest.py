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
