"""The one Kafka connection translator: aiokafka and faust get the same validation and the same security,
the password is never shown, and MSK IAM tokens are signed locally by the ``msk`` extra."""

from __future__ import annotations

import asyncio
import base64
import os
import ssl
import time
import urllib.parse
from pathlib import Path
from typing import Any

import faust
import pytest
from pydantic import SecretStr

from orderstream import kafka
from orderstream.errors import ConfigError
from orderstream.local_broker import ensure_tls
from orderstream.settings import KafkaSettings

V = "ORDERSTREAM_KAFKA_"


@pytest.fixture(autouse=True)
def _no_orderstream_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in list(os.environ):
        if key.startswith("ORDERSTREAM_"):
            monkeypatch.delenv(key)


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ensure_tls(tmp_path_factory.mktemp("tls")).root


def settings(**fields: Any) -> KafkaSettings:
    return KafkaSettings(**fields)


def scram(**more: Any) -> KafkaSettings:
    return settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="app",
        kafka_sasl_password="s3cret-value",
        **more,
    )


BAD = [
    ({"kafka_sasl_mechanism": "SCRAM-SHA-512"}, f"{V}SECURITY_PROTOCOL"),
    ({"kafka_security_protocol": "SASL_SSL"}, f"{V}SASL_MECHANISM"),
    (
        {
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": "SCRAM-SHA-512",
            "kafka_sasl_password": "p",
        },
        f"{V}SASL_USERNAME",
    ),
    (
        {
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": "SCRAM-SHA-512",
            "kafka_sasl_username": "u",
        },
        f"{V}SASL_PASSWORD",
    ),
    ({"kafka_sasl_username": "u", "kafka_sasl_password": "p"}, f"{V}SASL_MECHANISM"),
    ({"kafka_ssl_ca_file": "/etc/hostname"}, f"{V}SECURITY_PROTOCOL"),  # TLS file with PLAINTEXT
    ({"kafka_security_protocol": "SSL", "kafka_ssl_ca_file": "/nonexistent/ca.pem"}, f"{V}SSL_CA_FILE"),
    ({"kafka_security_protocol": "SSL", "kafka_ssl_ca_file": "/etc/hostname"}, f"{V}SSL_CA_FILE"),  # not PEM
    (
        {
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": "AWS_MSK_IAM",
            "kafka_sasl_username": "u",
        },
        f"{V}SASL_USERNAME",
    ),
]


@pytest.mark.parametrize(("fields", "setting"), BAD)
def test_aiokafka_and_faust_refuse_the_same_configurations_naming_the_setting(
    fields: dict[str, Any], setting: str
) -> None:
    config = settings(**fields)
    with pytest.raises(ConfigError) as aiokafka_path:
        kafka.connection_options(config)
    with pytest.raises(ConfigError) as faust_path:
        kafka.faust_broker_options(config)
    with pytest.raises(ConfigError) as faust_credentials:
        kafka.faust_credentials(config)
    with pytest.raises(ConfigError) as faust_urls:
        kafka.faust_broker_urls(config)
    assert aiokafka_path.value.setting == faust_path.value.setting == setting
    assert faust_credentials.value.setting == faust_urls.value.setting == setting
    assert "\n" not in str(aiokafka_path.value)


def test_a_client_cert_needs_its_key(tls_dir: Path) -> None:
    with pytest.raises(ConfigError) as info:
        kafka.connection(settings(kafka_security_protocol="SSL", kafka_ssl_cert_file=tls_dir / "client.crt"))
    assert info.value.setting == f"{V}SSL_KEY_FILE"
    mismatched = settings(
        kafka_security_protocol="SSL",
        kafka_ssl_cert_file=tls_dir / "client.crt",
        kafka_ssl_key_file=tls_dir / "broker.key",
    )
    with pytest.raises(ConfigError) as info:
        kafka.connection(mismatched)
    assert info.value.setting == f"{V}SSL_CERT_FILE"


def test_scram_over_tls_renders_alike_for_aiokafka_and_faust(tls_dir: Path) -> None:
    config = scram(kafka_bootstrap_servers="b-1:9096, b-2:9096", kafka_ssl_ca_file=tls_dir / "ca.crt")
    opts = kafka.connection_options(config)
    assert opts["bootstrap_servers"] == "b-1:9096,b-2:9096"
    assert opts["security_protocol"] == "SASL_SSL" and opts["sasl_mechanism"] == "SCRAM-SHA-512"
    assert opts["sasl_plain_username"] == "app" and opts["sasl_plain_password"] == "s3cret-value"
    context = opts["ssl_context"]
    assert isinstance(context, ssl.SSLContext) and context.verify_mode == ssl.CERT_REQUIRED
    assert [c["subject"] for c in context.get_ca_certs()] == [((("commonName", "orderstream local CA"),),)]

    faust_opts = kafka.faust_broker_options(config)
    assert faust_opts["broker"] == kafka.faust_broker_urls(config) == ["kafka://b-1:9096", "kafka://b-2:9096"]
    creds = faust_opts["broker_credentials"]
    assert type(kafka.faust_credentials(config)) is type(creds)
    assert isinstance(creds, faust.SASLCredentials)
    assert creds.protocol.value == "SASL_SSL" and creds.mechanism.value == "SCRAM-SHA-512"
    assert creds.username == "app" and creds.password == "s3cret-value"
    assert creds.ssl_context.get_ca_certs() == context.get_ca_certs()


def test_mutual_tls_loads_the_client_certificate_for_both_paths(tls_dir: Path) -> None:
    config = settings(
        kafka_security_protocol="SSL",
        kafka_ssl_ca_file=tls_dir / "ca.crt",
        kafka_ssl_cert_file=tls_dir / "client.crt",
        kafka_ssl_key_file=tls_dir / "client.key",
    )
    conn = kafka.connection(config)
    assert conn.client_certificate == tls_dir / "client.crt"
    assert "sasl_mechanism" not in conn.aiokafka_options()
    creds = conn.faust_options()["broker_credentials"]
    assert isinstance(creds, faust.SSLCredentials) and creds.context is conn.ssl_context


def test_plaintext_has_no_tls_and_no_credentials() -> None:
    assert kafka.connection_options(settings()) == {
        "bootstrap_servers": "127.0.0.1:9092",
        "security_protocol": "PLAINTEXT",
    }
    assert kafka.faust_broker_options(settings())["broker_credentials"] is None


def test_the_password_is_a_secret_in_settings_and_connection_reprs() -> None:
    config = scram()
    assert isinstance(config.kafka_sasl_password, SecretStr)
    conn = kafka.connection(config)
    for shown in (repr(config), str(config), repr(conn), str(config.model_dump())):
        assert "s3cret-value" not in shown
    assert "s3cret-value" not in repr(conn.faust_options()["broker_credentials"])


# ------------------------------------------------------------------------------------------------ MSK IAM


def test_msk_iam_uses_oauthbearer_with_the_public_token_provider_on_both_paths() -> None:
    config = settings(
        kafka_security_protocol="SASL_SSL", kafka_sasl_mechanism="AWS_MSK_IAM", aws_region="eu-west-1"
    )
    opts = kafka.connection_options(config)
    assert opts["sasl_mechanism"] == "OAUTHBEARER"
    provider = opts["sasl_oauth_token_provider"]
    assert isinstance(provider, kafka.MskIamTokenProvider) and provider.region == "eu-west-1"
    assert "sasl_plain_password" not in opts
    creds = kafka.faust_broker_options(config)["broker_credentials"]
    assert isinstance(creds, faust.OAuthCredentials) and isinstance(creds.oauth_cb, kafka.MskIamTokenProvider)
    assert creds.protocol.value == "SASL_SSL" and isinstance(creds.ssl_context, ssl.SSLContext)


async def test_the_msk_extra_signs_a_token_from_credentials_without_the_network(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAFAKEFAKEFAKE1234")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "fake-secret")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")  # no instance metadata lookups either
    provider = kafka.MskIamTokenProvider("eu-west-1")
    before = time.time()
    token = await provider.token()
    url = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    parsed = urllib.parse.urlparse(url)
    query = urllib.parse.parse_qs(parsed.query)
    assert parsed.scheme == "https" and parsed.netloc == "kafka.eu-west-1.amazonaws.com"
    assert query["Action"] == ["kafka-cluster:Connect"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    assert query["X-Amz-Credential"][0].startswith("AKIAFAKEFAKEFAKE1234/")
    assert query["X-Amz-Credential"][0].endswith("/eu-west-1/kafka-cluster/aws4_request")
    assert len(query["X-Amz-Signature"][0]) == 64
    _token, expiry_ms = provider.signed_token()
    assert before + 800 < expiry_ms / 1000 < time.time() + 1000  # valid for 15 minutes


def test_the_hint_names_an_extra_that_exists_and_brings_the_signer() -> None:
    import re
    import tomllib

    extra = re.search(r"orderstream\[(\w+)\]", kafka.MSK_EXTRA_HINT)
    assert extra is not None
    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]
    requirements = project["optional-dependencies"][extra.group(1)]
    assert any(r.startswith("aws-msk-iam-sasl-signer-python") for r in requirements)


# ------------------------------------------------------------------------------------------------ consumer


class _Fetcher:
    """Closes as aiokafka 0.14's does when a fetch task is cancelled in its retry back-off."""

    async def close(self) -> None:
        raise asyncio.CancelledError


class _Client:
    def __init__(self) -> None:
        self.closed = False

    async def close(self) -> None:
        self.closed = True


async def test_a_consumer_stops_while_a_fetch_waits_to_retry() -> None:
    consumer = kafka.consumer(settings(), group_id=None)
    consumer._closed, consumer._coordinator = False, None
    consumer._fetcher, consumer._client = _Fetcher(), _Client()
    await consumer.stop()  # plain AIOKafkaConsumer.stop() raises CancelledError here
    assert consumer._client.closed


async def test_cancelling_the_caller_of_stop_still_cancels_it() -> None:
    consumer = kafka.consumer(settings(), group_id=None)
    consumer._closed, consumer._coordinator, consumer._client = False, None, _Client()

    class _SlowFetcher:
        async def close(self) -> None:
            await asyncio.sleep(10)

    consumer._fetcher = _SlowFetcher()
    task = asyncio.create_task(consumer.stop())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not consumer._client.closed
