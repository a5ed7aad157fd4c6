"""Test harness: where the real Kafka broker and the AWS emulator come from.

Broker, in order of preference:
1. ``ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS`` if set (any broker you point at, e.g. one docker-compose runs);
2. testcontainers: the project's Kafka image (``orderstream.containers.images.kafka``, built from the same jars
   and configured from the same template as the local broker) when a Docker engine answers (``DOCKER_HOST``,
   the default socket, or the private engine of ``make docker-up``);
3. the project's own local broker (Kafka jars via Maven, KRaft), started if it is not running.
``ORDERSTREAM_TEST_BROKER=local|testcontainers`` forces 2 or 3. Tests marked ``local_broker`` run on the local
broker as well, so it stays proven where Docker is the default. The header of the test run says which
backend (and which image) was used. AWS: ``ORDERSTREAM_AWS_ENDPOINT_URL`` if set, else the project's moto
server (started if needed).
"""

from __future__ import annotations

import asyncio
import functools
import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from orderstream import kafka
from orderstream.settings import ProducerSettings

BOOTSTRAP_ENV = "ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS"
AWS_ENDPOINT_ENV = "ORDERSTREAM_AWS_ENDPOINT_URL"
FORCE_ENV = "ORDERSTREAM_TEST_BROKER"


@dataclass
class BrokerBackend:
    """A running broker and how it was obtained (``env``, ``testcontainers`` or ``local``)."""

    kind: str
    bootstrap: str
    restart: Callable[[], None] | None = None


@functools.cache
def docker_engine() -> Any:
    """The Docker engine that answers (an ``orderstream.containers.engine.Engine``), or None."""
    from orderstream.containers.engine import discover

    return discover()


@functools.cache
def _kafka_image() -> str:
    """The broker image for the testcontainers backend (built once per input hash)."""
    from orderstream.containers import images

    client = docker_engine().client()
    try:
        return images.kafka(client)
    finally:
        client.close()


def _choose_backend() -> str:
    if os.environ.get(BOOTSTRAP_ENV):
        return "env"
    forced = os.environ.get(FORCE_ENV)
    if forced in ("local", "testcontainers"):
        return forced
    return "testcontainers" if docker_engine() is not None else "local"


def pytest_report_header(config: pytest.Config) -> str:
    choice = _choose_backend()
    if choice == "env":
        return f"kafka broker backend: env at {os.environ[BOOTSTRAP_ENV]}"
    if choice == "testcontainers":
        engine = docker_engine()
        try:
            image = _kafka_image()
        except Exception as exc:
            image = f"not built: {exc}"
        return (
            f"kafka broker backend: testcontainers (image {image}, engine {engine.host} [{engine.kind}]); "
            "tests marked local_broker also run on the local JVM broker"
        )
    return "kafka broker backend: local (the project's JVM broker)"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests marked ``local_broker`` run on the local broker too (param None = the chosen backend)."""
    if "broker" not in metafunc.fixturenames or not metafunc.definition.get_closest_marker("local_broker"):
        return
    choice = _choose_backend()
    if choice == "local":
        return
    metafunc.parametrize("broker", [None, "local"], ids=[choice, "local"], indirect=True, scope="session")


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Local-broker runs last, so each broker starts once."""

    def on_local(item: pytest.Item) -> bool:
        callspec = getattr(item, "callspec", None)
        return callspec is not None and callspec.params.get("broker") == "local"

    items[:] = [i for i in items if not on_local(i)] + [i for i in items if on_local(i)]


def _local_backend() -> Iterator[BrokerBackend]:
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


def _container_backend() -> Iterator[BrokerBackend]:
    from orderstream.containers.kafka import KafkaContainer

    container = KafkaContainer(_kafka_image(), docker_engine()).start()
    try:
        yield BrokerBackend("testcontainers", container.bootstrap, container.restart)
    finally:
        container.stop()


@pytest.fixture(scope="session")
def broker(request: pytest.FixtureRequest) -> Iterator[BrokerBackend]:
    choice = getattr(request, "param", None) or _choose_backend()
    if choice == "env":
        yield BrokerBackend("env", os.environ[BOOTSTRAP_ENV])
    elif choice == "testcontainers":
        yield from _container_backend()
    else:
        yield from _local_backend()
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
