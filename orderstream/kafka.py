"""Kafka client and security factory: one place that turns settings into aiokafka/faust connection options.

Locally this is plain TCP to 127.0.0.1:9092. On MSK it is TLS plus either IAM (SASL OAUTHBEARER with a token
from ``aws-msk-iam-sasl-signer-python``) or SCRAM.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.abc import AbstractTokenProvider
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from orderstream.domain import contract
from orderstream.errors import ConfigError
from orderstream.settings import KafkaSettings

TOPIC_DEFAULTS: dict[str, str] = {"message.timestamp.type": "LogAppendTime"}


class _MskIamTokenProvider(AbstractTokenProvider):  # type: ignore[misc]
    """OAUTHBEARER tokens for MSK IAM, signed with the task role's credentials."""

    def __init__(self, region: str) -> None:
        self._region = region

    async def token(self) -> str:
        import asyncio

        try:
            from aws_msk_iam_sasl_signer import MSKAuthTokenProvider
        except ImportError:
            raise ConfigError(
                "ORDERSTREAM_KAFKA_SASL_MECHANISM",
                "AWS_MSK_IAM needs the aws-msk-iam-sasl-signer-python package (pip install orderstream[msk])",
            ) from None
        token, _expiry = await asyncio.to_thread(MSKAuthTokenProvider.generate_auth_token, self._region)
        return str(token)


def connection_options(settings: KafkaSettings) -> dict[str, Any]:
    """Options shared by aiokafka producers, consumers and admin clients."""
    opts: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol != "PLAINTEXT":
        opts["ssl_context"] = ssl.create_default_context()
    mechanism = settings.kafka_sasl_mechanism
    if mechanism is not None and settings.kafka_security_protocol != "SASL_SSL":
        raise ConfigError(
            "ORDERSTREAM_KAFKA_SECURITY_PROTOCOL", "must be SASL_SSL when a SASL mechanism is set"
        )
    if mechanism == "AWS_MSK_IAM":
        opts["sasl_mechanism"] = "OAUTHBEARER"
        opts["sasl_oauth_token_provider"] = _MskIamTokenProvider(settings.aws_region)
    elif mechanism is not None:
        if not settings.kafka_sasl_username or not settings.kafka_sasl_password:
            raise ConfigError("ORDERSTREAM_KAFKA_SASL_USERNAME", f"{mechanism} needs a username and password")
        opts["sasl_mechanism"] = mechanism
        opts["sasl_plain_username"] = settings.kafka_sasl_username
        opts["sasl_plain_password"] = settings.kafka_sasl_password
    return opts


def faust_broker_urls(settings: KafkaSettings) -> list[str]:
    """The bootstrap servers as faust broker URLs."""
    return [f"kafka://{host.strip()}" for host in settings.kafka_bootstrap_servers.split(",") if host.strip()]


def faust_credentials(settings: KafkaSettings) -> Any:
    """faust credentials for TLS, SCRAM or MSK IAM (None for plaintext), validated as for aiokafka."""
    import faust

    opts = connection_options(settings)  # the same checks as every aiokafka client
    if settings.kafka_security_protocol == "PLAINTEXT":
        return None
    context = opts["ssl_context"]
    mechanism = opts.get("sasl_mechanism")
    if mechanism == "OAUTHBEARER":
        return faust.OAuthCredentials(oauth_cb=opts["sasl_oauth_token_provider"], ssl_context=context)
    if mechanism is not None:
        return faust.SASLCredentials(
            username=opts["sasl_plain_username"],
            password=opts["sasl_plain_password"],
            mechanism=mechanism,
            ssl_context=context,
        )
    return faust.SSLCredentials(context)


def producer(settings: KafkaSettings, **overrides: Any) -> AIOKafkaProducer:
    """An idempotent, acks=all producer (the only kind orderstream uses)."""
    opts = {"acks": "all", "enable_idempotence": True, "linger_ms": 5, **overrides}
    return AIOKafkaProducer(**connection_options(settings), **opts)


def consumer(
    settings: KafkaSettings, *topics: str, group_id: str | None, **overrides: Any
) -> AIOKafkaConsumer:
    """A consumer with manual commits and read_committed isolation (skips aborted transactions)."""
    opts = {
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "isolation_level": "read_committed",
        **overrides,
    }
    return AIOKafkaConsumer(*topics, **connection_options(settings), **opts)


def admin(settings: KafkaSettings) -> AIOKafkaAdminClient:
    return AIOKafkaAdminClient(**connection_options(settings), request_timeout_ms=30000)


async def create_topics(
    settings: KafkaSettings,
    names: Iterable[str] = contract.ALL_TOPICS,
    partitions: int | None = None,
    replication_factor: int | None = None,
    configs: dict[str, str] | None = None,
) -> tuple[list[str], list[str]]:
    """Create topics that are missing; return (created, already_there). Co-partitioning: same count for all.

    Every topic the project creates stamps its records with the broker's clock (``LogAppendTime``): the
    sequencer's stream time is the time an event entered the platform, monotonic per partition and never
    taken from a producer's clock (``docs/streams.md``, "Time").
    """
    count = partitions or settings.topic_partitions
    rf = replication_factor or settings.topic_replication_factor
    configs = {**TOPIC_DEFAULTS, **(configs or {})}
    client = admin(settings)
    await client.start()
    try:
        existing = set(await client.list_topics())
        wanted = [n for n in dict.fromkeys(names) if n not in existing]
        if wanted:
            new = [NewTopic(n, count, rf, topic_configs=configs) for n in wanted]
            with contextlib.suppress(TopicAlreadyExistsError):  # a concurrent creator won the race
                await client.create_topics(new)
        return wanted, sorted(set(names) & existing)
    finally:
        await client.close()


async def partition_counts(settings: KafkaSettings, names: Iterable[str]) -> dict[str, int]:
    """Partition count of each named topic that exists."""
    client = admin(settings)
    await client.start()
    try:
        described = await client.describe_topics(list(names))
        return {t["topic"]: len(t["partitions"]) for t in described if not t.get("error_code")}
    finally:
        await client.close()
