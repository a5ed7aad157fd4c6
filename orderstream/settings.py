"""Settings, one frozen class per deployable, read from ``ORDERSTREAM_*`` environment variables.

The same names appear in the ECS task definitions (infra/terraform) and in docker-compose.yml; a test
keeps the three in step. :func:`load` turns a validation failure into a one-line :class:`ConfigError`
that names the variable.
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orderstream.errors import ConfigError

ENV_PREFIX = "ORDERSTREAM_"
AGENT_NAMES = ("sequencer", "router", "loyalty")
RULES_DIR = Path(__file__).resolve().parent.parent / "rules"
TOOLING_VARIABLES = frozenset(
    {
        "ORDERSTREAM_LOCAL_DIR",
        "ORDERSTREAM_LOCAL_KAFKA_PORT",
        "ORDERSTREAM_LOCAL_KAFKA_HEAP",
        "ORDERSTREAM_LOCAL_MOTO_PORT",
    }
)
"""``ORDERSTREAM_*`` variables read by the local stack (:mod:`orderstream.local`), not by a settings class."""


class KafkaSettings(BaseSettings):
    """How to reach the Kafka cluster (a local broker, or MSK with TLS and IAM)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", min_length=1)
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["AWS_MSK_IAM", "SCRAM-SHA-512", "PLAIN"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    """Never logged: ``SecretStr`` shows ``**********`` in a repr; :mod:`orderstream.kafka` unwraps it."""
    kafka_ssl_ca_file: Path | None = None
    """PEM file of the CA(s) that signed the brokers' certificates (default: the system trust store)."""
    kafka_ssl_cert_file: Path | None = None
    """PEM client certificate (chain) for mutual TLS; needs ``kafka_ssl_key_file``."""
    kafka_ssl_key_file: Path | None = None
    """PEM private key of ``kafka_ssl_cert_file`` (unencrypted)."""
    kafka_connect_timeout: float = Field(10.0, gt=0, le=300)
    """Seconds the start-up check waits for a bootstrap server before reporting it unreachable."""
    aws_region: str = "us-east-1"
    topic_partitions: int = Field(6, ge=1, le=1000)
    topic_replication_factor: int = Field(1, ge=1, le=5)

    @field_validator("kafka_bootstrap_servers")
    @classmethod
    def _host_port_list(cls, value: str) -> str:
        servers = [s.strip() for s in value.split(",")]
        for server in servers:
            host, sep, port = server.rpartition(":")
            if not server or not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(f"expected host:port[,host:port...], and {server!r} is not host:port")
        return ",".join(servers)

    @property
    def bootstrap_list(self) -> list[tuple[str, int]]:
        """``(host, port)`` of every bootstrap server."""
        pairs = (s.rpartition(":") for s in self.kafka_bootstrap_servers.split(","))
        return [(host.strip("[]"), int(port)) for host, _, port in pairs]


class ProducerSettings(KafkaSettings):
    """``orderstream produce`` and ``orderstream topics create``."""

    producer_linger_ms: int = Field(5, ge=0)
    producer_batch_bytes: int = Field(256 * 1024, ge=1024)
    producer_compression: Literal["none", "gzip", "snappy", "lz4", "zstd"] = "none"


class WorkerSettings(KafkaSettings):
    """``orderstream worker``: the faust app; ``ORDERSTREAM_AGENTS`` picks which agents run here."""

    app_id: str = Field("orderstream", min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    agents: str = ",".join(AGENT_NAMES)
    reorder_timeout: float = Field(30.0, gt=0, le=3600)
    session_timeout: float = Field(10.0, ge=6, le=300)
    processing_guarantee: Literal["at_least_once", "exactly_once"] = "at_least_once"
    store: Literal["memory", "rocksdb"] = "memory"
    data_dir: Path = Path(".local/worker-data")
    web_host: str = "127.0.0.1"
    web_advertised_host: str | None = None
    """The address other workers reach this one at (faust routes ``/loyalty/{id}`` to the owner of the key).
    Unset: ``web_host``, or this host's own address when ``web_host`` is a wildcard (0.0.0.0 on ECS)."""
    web_port: int = Field(6066, ge=1, le=65535)
    router_rules: Path = RULES_DIR / "router.yaml"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    emf_interval: float = Field(0.0, ge=0, le=3600)
    """Seconds between consumer-lag lines in CloudWatch Embedded Metric Format on stdout (0 = off)."""
    dlq_guard: Literal["halt", "alert", "off"] = "halt"
    """The DLQ flood guard per partition: ``halt`` pauses a partition that parks too much (until
    ``orderstream dlq resume`` or the cool-down), ``alert`` only reports it, ``off`` does neither."""
    dlq_guard_max_consecutive: int = Field(1000, ge=1, le=10_000_000)
    dlq_guard_max_ratio: float = Field(0.5, gt=0, le=1)
    dlq_guard_window: int = Field(2000, ge=10, le=10_000_000)
    dlq_guard_cooldown: float = Field(0.0, ge=0, le=86400)
    """Seconds after which a halted partition resumes by itself (0: only ``orderstream dlq resume``)."""

    @field_validator("agents")
    @classmethod
    def _known_agents(cls, value: str) -> str:
        names = [n.strip() for n in value.split(",") if n.strip()]
        if value.strip().lower() in ("", "all"):
            return ",".join(AGENT_NAMES)
        unknown = sorted(set(names) - set(AGENT_NAMES))
        if unknown:
            raise ValueError(f"unknown agent(s) {', '.join(unknown)}; choose from {', '.join(AGENT_NAMES)}")
        return ",".join(names)

    @property
    def agent_set(self) -> frozenset[str]:
        return frozenset(self.agents.split(","))


class BridgeSettings(KafkaSettings):
    """``orderstream bridge``: Kafka → Amazon EventBridge."""

    app_id: str = Field("orderstream", min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    bridge_topics: str = "order-lifecycle,loyalty-events"
    bridge_rules: Path = RULES_DIR / "bridge.yaml"
    event_bus: str = Field("orderstream", min_length=1)
    eventbridge_api: Literal["classic", "v2"] = "classic"
    aws_endpoint_url: str | None = None
    bridge_max_in_flight: int = Field(4, ge=1, le=64)
    bridge_claim_check_bucket: str | None = None
    bridge_stop_timeout: float = Field(20.0, gt=0, le=120)
    metrics_host: str = "127.0.0.1"
    """Where ``/metrics`` and ``/health`` listen (the image sets 0.0.0.0 so other tasks can scrape)."""
    metrics_port: int = Field(9102, ge=0, le=65535)

    @property
    def topic_list(self) -> list[str]:
        return [t.strip() for t in self.bridge_topics.split(",") if t.strip()]


class StatementsSettings(KafkaSettings):
    """``orderstream statements worker|task|run``: monthly loyalty statements (Step Functions + ECS)."""

    app_id: str = Field("orderstream", min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    aws_endpoint_url: str | None = None
    event_bus: str = Field("orderstream", min_length=1)
    statements_bucket: str = Field("orderstream-statements", min_length=3, max_length=63)
    statements_loyalty_group: str | None = Field(None, min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    """Consumer group (faust app id) of the loyalty service; default ``<app_id>-loyalty``."""
    statements_max_shards: int = Field(0, ge=0, le=1000)
    """Shards per run; 0 = one per partition of the loyalty table."""
    statements_activity_arn: str | None = None
    statements_state_machine_arn: str | None = None
    statements_heartbeat_interval: float = Field(20.0, gt=0, le=300)
    statements_read_timeout: float = Field(900.0, gt=0, le=86400)
    statements_write_concurrency: int = Field(16, ge=1, le=128)

    @property
    def loyalty_group(self) -> str:
        return self.statements_loyalty_group or f"{self.app_id}-loyalty"


class StatementsTaskSettings(StatementsSettings):
    """``orderstream statements task``: one step started by ``ecs:runTask.waitForTaskToken``.

    The state machine passes the token and the step's input as container overrides.
    """

    statements_task_token: str = Field(min_length=1, max_length=2048)
    statements_task_input: str = Field(min_length=2)


class GoldWelcomeSettings(BaseSettings):
    """``orderstream jobs gold-welcome``: the one-off task a gold tier change starts."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None
    vouchers_bucket: str = Field("orderstream-vouchers", min_length=3, max_length=63)


class WebhookSettings(BaseSettings):
    """``orderstream webhook serve``: the partner endpoint EventBridge's API destination calls."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None
    webhook_host: str = "127.0.0.1"
    webhook_port: int = Field(8080, ge=1, le=65535)
    webhook_api_key: SecretStr = Field(min_length=16)
    webhook_api_key_header: str = Field("x-api-key", min_length=1, pattern=r"^[A-Za-z0-9-]+$")
    webhook_bucket: str | None = Field(None, min_length=3, max_length=63)
    """Where received events are kept, one object per event id; unset = in memory (one process only)."""
    webhook_answer_budget: float = Field(3.0, gt=0, lt=5)
    """Seconds a request may take before it is answered 503; EventBridge gives up after 5."""


S = TypeVar("S", bound=BaseSettings)


_WARNED: set[str] = set()
SECRET_FIELDS = frozenset({"kafka_sasl_password"})
"""Fields whose value never appears in a message (nor, being ``SecretStr``, in a repr)."""


def load(cls: type[S]) -> S:
    """Build a settings object or raise :class:`ConfigError` naming the first bad variable.

    Unknown ``ORDERSTREAM_*`` variables are reported first, one warning line each on stderr (not fatal).
    """
    for line in unknown_variable_warnings(os.environ):
        if line not in _WARNED:
            _WARNED.add(line)
            print(f"orderstream: warning: {line}", file=sys.stderr)
    try:
        return cls()
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = str(err["loc"][0]) if err["loc"] else "?"
        value = err.get("input")
        secret = field in SECRET_FIELDS
        shown = f" (got {value!r})" if isinstance(value, str | int | float) and not secret else ""
        raise ConfigError(f"{ENV_PREFIX}{field.upper()}", f"{err['msg']}{shown}") from None


def known_variables() -> frozenset[str]:
    """Every ``ORDERSTREAM_*`` name some deployable reads: the fields of every settings class here."""
    names = set(TOOLING_VARIABLES)
    for settings_class in _settings_classes():
        names.update(f"{ENV_PREFIX}{name.upper()}" for name in settings_class.model_fields)
    return frozenset(names)


def _settings_classes() -> Iterator[type[BaseSettings]]:
    for value in list(globals().values()):
        if isinstance(value, type) and issubclass(value, BaseSettings) and value is not BaseSettings:
            yield value


def unknown_variable_warnings(environ: Mapping[str, str]) -> list[str]:
    """One line per ``ORDERSTREAM_*`` variable no deployable reads, with the closest known name."""
    known = known_variables()
    suffixes = {name.removeprefix(ENV_PREFIX): name for name in known}
    lines = []
    for name in sorted(n for n in environ if n.startswith(ENV_PREFIX) and n not in known):
        close = difflib.get_close_matches(name.removeprefix(ENV_PREFIX), suffixes, n=1, cutoff=0.75)
        hint = f"; did you mean {suffixes[close[0]]}?" if close else ""
        lines.append(f"{name} is not an orderstream setting and is ignored{hint}")
    return lines
