"""Fixtures for the tests that build and run the project's images: the engine and the images.

They need a Docker engine (``make test`` finds or starts one). Without one they are skipped with the reason,
except in CI (``CI`` set), where a missing engine is a failure: CI always has one.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from orderstream.containers import images
from orderstream.containers.engine import Engine, discover

sys.path.insert(
    0, str(Path(__file__).resolve().parents[1] / "integration")
)  # the domain oracle (streams_harness)


@pytest.fixture(scope="session")
def engine() -> Engine:
    found = discover()
    if found is None:
        message = "no Docker engine answers (make docker-up starts one as root)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return found


@pytest.fixture(scope="session")
def docker_client(engine: Engine) -> Iterator[Any]:
    client = engine.client()
    yield client
    client.close()


@pytest.fixture(scope="session")
def service_image(docker_client: Any) -> str:
    return images.service(docker_client)


@pytest.fixture(scope="session")
def moto_image(docker_client: Any) -> str:
    return images.moto(docker_client)


@pytest.fixture(scope="session")
def kafka_image(docker_client: Any) -> str:
    return images.kafka(docker_client)
