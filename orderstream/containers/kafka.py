"""The broker image run by testcontainers, configured like the local broker.

The settings are the local broker's own, rendered from ``infra/local/server.properties.template`` by
:func:`orderstream.local.render_broker_config` with the container's data directory, and handed to the image
as ``KAFKA_*`` variables (the ``apache/kafka`` convention, which the project's image follows too). A change
to the template (a listener, a limit) therefore reaches both brokers. Files the broker needs (certificates,
say) are bind-mounted read-only with ``mounts``, host path to container path.

Where the engine has no bridge network (the private engine here) the container shares the host's network
and binds the free 127.0.0.1 port it was given; elsewhere its client listener binds all of the container's
addresses and that port is published on 127.0.0.1 only.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orderstream.containers.engine import Engine
from orderstream.errors import DockerError
from orderstream.local import parse_properties, wait_for_kafka
from orderstream.local_broker import render_broker_config

CONTAINER_DATA_DIR = "/var/lib/kafka/data"
READY_LINE = "Kafka Server started"
LISTENER_PORTS = 5
"""Ports kept free from ``port`` on: the client listener, the controller (``port + 1``), room for more."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_ports(count: int, attempts: int = 50) -> int:
    """The first of ``count`` consecutive free 127.0.0.1 ports (the broker numbers its listeners from it)."""
    for _ in range(attempts):
        first = free_port()
        socks = []
        try:
            for offset in range(count):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", first + offset))
            return first
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise DockerError(f"no {count} consecutive free ports on 127.0.0.1")


def kafka_env(properties: Mapping[str, str]) -> dict[str, str]:
    """Broker settings as the image's ``KAFKA_*`` variables: ``.`` → ``_``, ``_`` → ``__``, ``-`` → ``___``."""
    return {
        "KAFKA_" + key.replace("_", "__").replace("-", "___").replace(".", "_").upper(): value
        for key, value in properties.items()
    }


def properties_from_env(env: Mapping[str, str]) -> dict[str, str]:
    """The inverse of :func:`kafka_env` (what the image's entrypoint writes), for checking a compose file."""
    out = {}
    for name, value in env.items():
        if name.startswith("KAFKA_") and not name.endswith("_OPTS"):
            key = name[len("KAFKA_") :].lower().replace("___", "-").replace("__", "\0").replace("_", ".")
            out[key.replace("\0", "_")] = str(value)
    return out


@dataclass
class KafkaContainer:
    """One broker container: ``start()``, ``restart()`` (same data, same port), ``stop()``."""

    image: str
    engine: Engine
    port: int = field(default_factory=lambda: free_ports(LISTENER_PORTS))
    mounts: dict[str, str] = field(default_factory=dict)
    extra: dict[str, str] = field(default_factory=dict)
    """Settings on top of the template's (e.g. a listener the template does not have yet)."""
    _container: Any = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def host_network(self) -> bool:
        return self.engine.host_network_only

    def properties(self) -> dict[str, str]:
        # Host network: bind 127.0.0.1 as the local broker does. Published port: bind every address of the
        # container and tell clients 127.0.0.1, where the port is published.
        host, advertised = ("127.0.0.1", None) if self.host_network else ("0.0.0.0", "127.0.0.1")
        text = render_broker_config(
            port=self.port, data_dir=CONTAINER_DATA_DIR, host=host, advertised_host=advertised
        )
        return {**parse_properties(text), **self.extra}

    def start(self, timeout: float = 90.0) -> KafkaContainer:
        os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")  # Ryuk cannot be pulled here
        os.environ["DOCKER_HOST"] = self.engine.host
        from testcontainers.core.container import DockerContainer
        from testcontainers.core.wait_strategies import LogMessageWaitStrategy

        container = DockerContainer(self.image).with_name(f"orderstream-kafka-{self.port}")
        container.with_envs(**kafka_env(self.properties()))
        for host_path, container_path in self.mounts.items():
            container.with_volume_mapping(host_path, container_path, "ro")
        if self.host_network:
            container.with_kwargs(network_mode="host")
        else:
            for port in (self.port, self.port + 1):
                container.with_bind_ports(f"{port}/tcp", ("127.0.0.1", port))  # type: ignore[arg-type]
        ready = LogMessageWaitStrategy(READY_LINE).with_startup_timeout(int(timeout)).with_poll_interval(0.5)
        container.waiting_for(ready)
        self._container = container
        try:
            container.start()
        except Exception as exc:
            wrapped = container.get_wrapped_container()
            logs = wrapped.logs(tail=3).decode(errors="replace").strip() if wrapped else ""
            self.stop()
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise DockerError(
                f"kafka container {self.image} did not start: {first}; last lines: {logs}"
            ) from None
        self._wait_ready(timeout)
        return self

    def _wait_ready(self, timeout: float) -> None:
        if not wait_for_kafka(self.bootstrap, timeout):
            raise DockerError(f"kafka container {self.image} did not answer on {self.bootstrap}")

    def restart(self, timeout: float = 90.0) -> None:
        """Stop the broker with SIGTERM (it shuts down cleanly) and start the same container again."""
        if self._container is None:
            raise DockerError("kafka container not started")
        self._container.get_wrapped_container().restart(timeout=30)
        self._wait_ready(timeout)

    def stop(self) -> None:
        if self._container is not None:
            wrapped = self._container.get_wrapped_container()
            if wrapped is not None:
                wrapped.stop(timeout=30)
                wrapped.remove(v=True, force=True)
            self._container = None
