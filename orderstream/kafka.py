"""Kafka client and security factory: the one place that turns settings into aiokafka and faust options.

Locally this is plain TCP to 127.0.0.1:9092 (or the local broker's TLS/SCRAM listeners). On MSK it is TLS plus
either IAM (SASL OAUTHBEARER with a token from ``aws-msk-iam-sasl-signer-python``, the ``msk`` extra) or
SCRAM. :func:`connection` validates the settings once and raises a :class:`ConfigError` naming the variable
at fault; :func:`connection_options` (aiokafka) and :func:`faust_broker_options` (faust) render the same
:class:`Connection`, so both paths accept and refuse the same configurations.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.abc import AbstractTokenProvider
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError
from pydantic import SecretStr

from orderstream.domain import contract
from orderstream.errors import ConfigError
from orderstream.settings import KafkaSettings

TOPIC_DEFAULTS: dict[str, str] = {"message.timestamp.type": "LogAppendTime"}

MSK_EXTRA_HINT = "pip install 'orderstream[msk]' (it brings aws-msk-iam-sasl-signer-python)"
SASL_MECHANISMS = {"AWS_MSK_IAM": "OAUTHBEARER", "SCRAM-SHA-512": "SCRAM-SHA-512", "PLAIN": "PLAIN"}
"""Our setting's value → the SASL mechanism on the wire."""

_VAR = "ORDERSTREAM_KAFKA_"


class MskIamTokenProvider(AbstractTokenProvider):  # type: ignore[misc]
    """OAUTHBEARER tokens for MSK IAM: a SigV4-signed ``kafka-cluster:Connect`` URL, valid 15 minutes.

    Credentials come from the AWS SDK's default chain (the task role on ECS); signing is local, no network.
    aiokafka asks for a token on every new connection, so a reconnect after MSK closes an expired session
    authenticates with a fresh one.
    """

    def __init__(self, region: str) -> None:
        try:
            from aws_msk_iam_sasl_signer import MSKAuthTokenProvider
        except ImportError:
            raise ConfigError(
                f"{_VAR}SASL_MECHANISM", f"AWS_MSK_IAM needs the msk extra: {MSK_EXTRA_HINT}"
            ) from None
        self.region = region
        self._signer = MSKAuthTokenProvider

    def signed_token(self) -> tuple[str, int]:
        """A token and its expiry (epoch milliseconds), signed now."""
        token, expiry_ms = self._signer.generate_auth_token(self.region)
        return str(token), int(expiry_ms)

    async def token(self) -> str:
        token, _expiry = await asyncio.to_thread(self.signed_token)
        return token

    def __repr__(self) -> str:
        return f"MskIamTokenProvider(region={self.region!r})"


@dataclass(frozen=True)
class Connection:
    """Validated connection settings, rendered for aiokafka (:meth:`aiokafka_options`) or faust."""

    servers: tuple[tuple[str, int], ...]
    security_protocol: str
    ssl_context: ssl.SSLContext | None = None
    sasl_mechanism: str | None = None
    """As on the wire: OAUTHBEARER, SCRAM-SHA-512 or PLAIN."""
    username: str | None = None
    password: SecretStr | None = field(default=None, repr=False)
    token_provider: MskIamTokenProvider | None = None
    client_certificate: Path | None = None
    """The certificate presented for mutual TLS, if any (loaded into ``ssl_context``)."""

    @property
    def bootstrap_servers(self) -> str:
        return ",".join(f"{host}:{port}" for host, port in self.servers)

    def aiokafka_options(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka's producer, consumer, admin client and ``create_conn``."""
        opts: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.ssl_context is not None:
            opts["ssl_context"] = self.ssl_context
        if self.sasl_mechanism is not None:
            opts["sasl_mechanism"] = self.sasl_mechanism
        if self.token_provider is not None:
            opts["sasl_oauth_token_provider"] = self.token_provider
        elif self.sasl_mechanism is not None:
            assert self.password is not None
            opts["sasl_plain_username"] = self.username
            opts["sasl_plain_password"] = self.password.get_secret_value()
        return opts

    def faust_broker_urls(self) -> list[str]:
        """``broker=`` of ``faust.App``: one ``kafka://host:port`` per bootstrap server."""
        return [f"kafka://{host}:{port}" for host, port in self.servers]

    def faust_credentials(self) -> Any:
        """``broker_credentials=`` of ``faust.App`` (None for PLAINTEXT; imports faust only when called)."""
        import faust

        if self.token_provider is not None:
            return faust.OAuthCredentials(oauth_cb=self.token_provider, ssl_context=self.ssl_context)
        if self.sasl_mechanism is not None:
            assert self.password is not None
            return faust.SASLCredentials(
                username=self.username,
                password=self.password.get_secret_value(),
                mechanism=self.sasl_mechanism,
                ssl_context=self.ssl_context,
            )
        if self.ssl_context is not None:
            return faust.SSLCredentials(self.ssl_context)
        return None

    def faust_options(self) -> dict[str, Any]:
        """``broker`` and ``broker_credentials`` for ``faust.App``."""
        return {"broker": self.faust_broker_urls(), "broker_credentials": self.faust_credentials()}


def connection(settings: KafkaSettings) -> Connection:
    """Check the security settings as a whole and build the :class:`Connection` (or raise ConfigError)."""
    protocol, mechanism = settings.kafka_security_protocol, settings.kafka_sasl_mechanism
    user, password = settings.kafka_sasl_username, settings.kafka_sasl_password
    tls_files = [
        name
        for name, value in (
            ("SSL_CA_FILE", settings.kafka_ssl_ca_file),
            ("SSL_CERT_FILE", settings.kafka_ssl_cert_file),
            ("SSL_KEY_FILE", settings.kafka_ssl_key_file),
        )
        if value is not None
    ]
    if mechanism is not None and protocol != "SASL_SSL":
        raise ConfigError(
            f"{_VAR}SECURITY_PROTOCOL", f"must be SASL_SSL when a SASL mechanism is set (got {protocol})"
        )
    if protocol == "SASL_SSL" and mechanism is None:
        raise ConfigError(
            f"{_VAR}SASL_MECHANISM", f"SASL_SSL needs a mechanism: one of {', '.join(SASL_MECHANISMS)}"
        )
    if protocol == "PLAINTEXT" and tls_files:
        raise ConfigError(
            f"{_VAR}SECURITY_PROTOCOL", f"{_VAR}{tls_files[0]} is set, so use SSL or SASL_SSL, not PLAINTEXT"
        )
    if mechanism is None and (user or password):
        given = f"{_VAR}SASL_USERNAME" if user else f"{_VAR}SASL_PASSWORD"
        raise ConfigError(f"{_VAR}SASL_MECHANISM", f"{given} is set but no SASL mechanism is")
    servers = tuple(settings.bootstrap_list)
    context = None if protocol == "PLAINTEXT" else _ssl_context(settings)
    base = Connection(servers, protocol, ssl_context=context, client_certificate=settings.kafka_ssl_cert_file)
    if mechanism is None:
        return base
    if mechanism == "AWS_MSK_IAM":
        if user or password:
            raise ConfigError(
                f"{_VAR}SASL_USERNAME" if user else f"{_VAR}SASL_PASSWORD",
                "AWS_MSK_IAM takes no username or password (credentials come from the AWS SDK)",
            )
        provider = MskIamTokenProvider(settings.aws_region)
        return replace(base, sasl_mechanism="OAUTHBEARER", token_provider=provider)
    if not user:
        raise ConfigError(f"{_VAR}SASL_USERNAME", f"{mechanism} needs a username")
    if password is None or not password.get_secret_value():
        raise ConfigError(f"{_VAR}SASL_PASSWORD", f"{mechanism} needs a password (user {user!r})")
    return replace(base, sasl_mechanism=SASL_MECHANISMS[mechanism], username=user, password=password)


def _ssl_context(settings: KafkaSettings) -> ssl.SSLContext:
    ca, cert, key = settings.kafka_ssl_ca_file, settings.kafka_ssl_cert_file, settings.kafka_ssl_key_file
    if ca is not None:
        _readable(ca, "SSL_CA_FILE")
    try:
        context = ssl.create_default_context(cafile=str(ca) if ca is not None else None)
    except (ssl.SSLError, ValueError) as exc:
        raise ConfigError(f"{_VAR}SSL_CA_FILE", f"{ca} holds no usable PEM certificate ({exc})") from None
    if (cert is None) != (key is None):
        missing = "SSL_KEY_FILE" if key is None else "SSL_CERT_FILE"
        raise ConfigError(f"{_VAR}{missing}", "a client certificate needs both the cert and the key file")
    if cert is not None and key is not None:
        _readable(cert, "SSL_CERT_FILE")
        _readable(key, "SSL_KEY_FILE")
        try:
            context.load_cert_chain(str(cert), str(key))
        except ssl.SSLError as exc:
            raise ConfigError(
                f"{_VAR}SSL_CERT_FILE", f"{cert} and {_VAR}SSL_KEY_FILE {key} do not load as a pair ({exc})"
            ) from None
    return context


def _readable(path: Path, name: str) -> None:
    try:
        with path.open("rb"):
            pass
    except OSError as exc:
        raise ConfigError(f"{_VAR}{name}", f"cannot read {path}: {exc.strerror}") from None


def connection_options(settings: KafkaSettings) -> dict[str, Any]:
    """Options shared by aiokafka producers, consumers and admin clients."""
    conn = connection(settings)
    return {"bootstrap_servers": conn.bootstrap_servers, **conn.aiokafka_options()}


def faust_broker_options(settings: KafkaSettings) -> dict[str, Any]:
    """``broker=`` and ``broker_credentials=`` for ``faust.App``: the same validation as aiokafka's path."""
    return connection(settings).faust_options()


def faust_broker_urls(settings: KafkaSettings) -> list[str]:
    """``broker=`` for ``faust.App`` (validates the whole connection, as every function here)."""
    return connection(settings).faust_broker_urls()


def faust_credentials(settings: KafkaSettings) -> Any:
    """``broker_credentials=`` for ``faust.App``: TLS, SCRAM/PLAIN or MSK IAM, None for PLAINTEXT."""
    return connection(settings).faust_credentials()


def producer(settings: KafkaSettings, **overrides: Any) -> AIOKafkaProducer:
    """An idempotent, acks=all producer (the only kind orderstream uses)."""
    opts = {"acks": "all", "enable_idempotence": True, "linger_ms": 5, **overrides}
    return AIOKafkaProducer(**connection_options(settings), **opts)


class Consumer(AIOKafkaConsumer):  # type: ignore[misc]
    """aiokafka's consumer, whose ``stop()`` also succeeds while a fetch waits to retry.

    In aiokafka 0.14 a fetch that failed on a connection error (as when the broker ends an expired SASL
    session) sleeps ``retry_backoff_ms`` before its task ends; ``stop()`` cancels it there, and the fetcher
    re-raises that ``CancelledError`` out of ``stop()``, skipping the client's close. Here that case stops
    cleanly; a cancellation of the caller itself still propagates.
    """

    async def stop(self) -> None:
        try:
            await super().stop()
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise
            await self._client.close()


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
    return Consumer(*topics, **connection_options(settings), **opts)


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
