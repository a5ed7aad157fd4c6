"""Settings, one frozen class per deployable, read from ``ORDERSTREAM_*`` environment variables.

The same names appear in the ECS task definitions (infra/terraform) and in docker-compose.yml; a test
keeps the three in step. :func:`load` turns a validation failure into a one-line :class:`ConfigError`
that names the variable.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from orderstream.errors import ConfigError

ENV_PREFIX = "ORDERSTREAM_"
AGENT_NAMES = ("sequencer", "router", "loyalty")
RULES_DIR = Path(__file__).resolve().parent.parent / "rules"


class KafkaSettings(BaseSettings):
    """How to reach the Kafka cluster (a local broker, or MSK with TLS and IAM)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    kafka_bootstrap_servers: str = Field("127.0.0.1:9092", min_length=1)
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: Literal["AWS_MSK_IAM", "SCRAM-SHA-512", "PLAIN"] | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = None
    aws_region: str = "us-east-1"
    topic_partitions: int = Field(6, ge=1, le=1000)
    topic_replication_factor: int = Field(1, ge=1, le=5)


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
    web_port: int = Field(6066, ge=1, le=65535)
    router_rules: Path = RULES_DIR / "router.yaml"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    emf_interval: float = Field(0.0, ge=0, le=3600)
    """Seconds between consumer-lag lines in CloudWatch Embedded Metric Format on stdout (0 = off)."""

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


def load(cls: type[S]) -> S:
    """Build a settings object or raise :class:`ConfigError` naming the first bad variable."""
    try:
        return cls()
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        field = str(err["loc"][0]) if err["loc"] else "?"
        value = err.get("input")
        shown = f" (got {value!r})" if isinstance(value, str | int | float) else ""
        raise ConfigError(f"{ENV_PREFIX}{field.upper()}", f"{err['msg']}{shown}") from None
