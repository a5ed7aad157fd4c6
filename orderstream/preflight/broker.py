"""Can this process talk to its Kafka cluster as configured? One bounded probe before anything starts.

Each bootstrap server gets a real connection with the configured security: TCP, the TLS handshake with the
configured CA and client certificate, ``ApiVersions``, the SASL login and a ``Metadata`` request (which a
SASL listener refuses to a client that skipped the login). The first server that completes all of it is
enough, as for any Kafka client. When none does, the failure is classified and reported as a
:class:`ConfigError` naming the setting at fault: an unreachable address, TLS spoken to a PLAINTEXT port
or the reverse (found by trying the other protocol once), an untrusted certificate, a rejected login.

An unreachable server is retried until ``ORDERSTREAM_KAFKA_CONNECT_TIMEOUT`` (a broker that is still starting
is not a mistake); a protocol or login mismatch is reported at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time

from aiokafka.conn import create_conn
from aiokafka.errors import (
    AuthenticationFailedError,
    IllegalSaslStateError,
    KafkaError,
    SaslAuthenticationFailed,
    UnsupportedSaslMechanismError,
)
from aiokafka.protocol.metadata import MetadataRequest

from orderstream import kafka
from orderstream.errors import ConfigError
from orderstream.settings import KafkaSettings

log = logging.getLogger("orderstream.preflight")

_VAR = "ORDERSTREAM_KAFKA_"
BOOTSTRAP = f"{_VAR}BOOTSTRAP_SERVERS"
PROTOCOL = f"{_VAR}SECURITY_PROTOCOL"
RETRY_EVERY = 0.5


class _Unreachable(Exception):
    """Nothing answered at this address (yet): refused, no route, no such host, or a connect timeout."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


async def check_broker(settings: KafkaSettings) -> kafka.Connection:
    """Return the validated connection once a bootstrap server accepts it; else raise ConfigError."""
    conn = kafka.connection(settings)
    deadline = time.monotonic() + settings.kafka_connect_timeout
    outcomes = await asyncio.gather(
        *(_probe(host, port, conn, deadline) for host, port in conn.servers), return_exceptions=True
    )
    if any(outcome is None for outcome in outcomes):
        for (host, port), outcome in zip(conn.servers, outcomes, strict=True):
            if outcome is not None:
                log.warning(
                    "bootstrap server %s:%s is not usable (%s); using the others", host, port, outcome
                )
        return conn
    # Report the most telling failure: a mismatch or a rejected login before "nothing answered".
    for outcome in outcomes:
        if isinstance(outcome, ConfigError):
            raise outcome
    for outcome in outcomes:
        if isinstance(outcome, BaseException) and not isinstance(outcome, _Unreachable | ConfigError):
            raise outcome
    where = ", ".join(f"{host}:{port}" for host, port in conn.servers)
    reason = outcomes[0].reason if isinstance(outcomes[0], _Unreachable) else "no answer"
    raise ConfigError(
        BOOTSTRAP, f"cannot reach {where} within {settings.kafka_connect_timeout:g}s ({reason})"
    )


def check_broker_sync(settings: KafkaSettings) -> kafka.Connection:
    """:func:`check_broker` for code that is not in an event loop yet."""
    return asyncio.run(check_broker(settings))


async def _probe(host: str, port: int, conn: kafka.Connection, deadline: float) -> None:
    """None when ``host:port`` takes a logged-in Metadata request; raises what went wrong otherwise."""
    while True:
        try:
            await _handshake(host, port, conn.aiokafka_options(), deadline)
            return
        except _Unreachable:
            if time.monotonic() + RETRY_EVERY >= deadline:
                raise
            await asyncio.sleep(RETRY_EVERY)
        except ssl.SSLCertVerificationError as exc:
            raise _certificate_error(host, port, exc) from None
        except (SaslAuthenticationFailed, AuthenticationFailedError) as exc:
            raise _login_error(host, port, conn, exc) from None
        except UnsupportedSaslMechanismError as exc:
            raise ConfigError(f"{_VAR}SASL_MECHANISM", f"{host}:{port}: {exc}") from None
        except IllegalSaslStateError:
            raise ConfigError(
                PROTOCOL, f"{host}:{port} does not take a SASL login: is it an SSL or PLAINTEXT listener?"
            ) from None
        except (OSError, KafkaError, asyncio.IncompleteReadError, EOFError) as exc:
            raise await _mismatch(host, port, conn, deadline, exc) from None
        except Exception as exc:
            if conn.token_provider is not None:  # the signer: no AWS credentials, no region, ...
                raise ConfigError(
                    f"{_VAR}SASL_MECHANISM", f"AWS_MSK_IAM could not sign a token: {exc}"
                ) from None
            raise ConfigError(BOOTSTRAP, f"{host}:{port}: {type(exc).__name__}: {exc}") from None


async def _handshake(host: str, port: int, options: dict[str, object], deadline: float) -> None:
    remaining = max(0.2, deadline - time.monotonic())
    try:
        connection = await asyncio.wait_for(
            create_conn(host, port, request_timeout_ms=int(remaining * 1000), **options), remaining
        )
    except TimeoutError as exc:
        raise _Unreachable(f"no answer in {remaining:.1f}s") from exc
    except ConnectionRefusedError as exc:
        raise _Unreachable("connection refused") from exc
    except OSError as exc:
        if isinstance(exc, ssl.SSLError | ConnectionResetError | BrokenPipeError):
            raise
        raise _Unreachable(exc.strerror or str(exc)) from exc
    try:
        await connection.send(MetadataRequest([]))
    finally:
        connection.close()


async def _mismatch(
    host: str, port: int, conn: kafka.Connection, deadline: float, exc: BaseException
) -> ConfigError:
    """The server answered but not as configured: say whether the other protocol works there."""
    budget = max(0.5, min(3.0, deadline - time.monotonic()))
    if conn.security_protocol != "PLAINTEXT":
        if await _speaks_plaintext_kafka(host, port, budget):
            return ConfigError(
                PROTOCOL,
                f"{host}:{port} is a PLAINTEXT listener, not {conn.security_protocol} (no TLS there)",
            )
        wanted = [] if conn.sasl_mechanism else ["a SASL login (SASL_SSL)"]
        wanted += [] if conn.client_certificate else [f"a client certificate ({_VAR}SSL_CERT_FILE)"]
        if wanted and _closed_after_tls(exc):
            return ConfigError(
                PROTOCOL,
                f"{host}:{port} closed the connection after TLS: does it expect {' or '.join(wanted)}?",
            )
    elif await _speaks_tls(host, port, budget):
        return ConfigError(PROTOCOL, f"{host}:{port} is a TLS listener: set SSL or SASL_SSL, not PLAINTEXT")
    reason = str(exc) or type(exc).__name__
    return ConfigError(
        BOOTSTRAP, f"{host}:{port} does not answer as a {conn.security_protocol} Kafka listener ({reason})"
    )


async def _speaks_plaintext_kafka(host: str, port: int, budget: float) -> bool:
    try:
        await _handshake(host, port, {"security_protocol": "PLAINTEXT"}, time.monotonic() + budget)
    except Exception:
        return False
    return True


async def _speaks_tls(host: str, port: int, budget: float) -> bool:
    """Does ``host:port`` complete a TLS handshake (any certificate)?"""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        _reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port, ssl=context), budget)
    except (OSError, TimeoutError):
        return False
    writer.close()
    with contextlib.suppress(OSError):
        await writer.wait_closed()
    return True


def _closed_after_tls(exc: BaseException) -> bool:
    return isinstance(exc, KafkaError) and not isinstance(exc, ssl.SSLError)


def _certificate_error(host: str, port: int, exc: ssl.SSLCertVerificationError) -> ConfigError:
    message = exc.verify_message or str(exc)
    if exc.verify_code in (62, 64):  # X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH
        return ConfigError(BOOTSTRAP, f"{host}:{port}'s certificate does not name {host} ({message})")
    return ConfigError(f"{_VAR}SSL_CA_FILE", f"{host}:{port}'s certificate is not trusted ({message})")


def _login_error(host: str, port: int, conn: kafka.Connection, exc: Exception) -> ConfigError:
    if conn.token_provider is not None:
        return ConfigError(
            f"{_VAR}SASL_MECHANISM",
            f"{host}:{port} rejected the AWS_MSK_IAM token: check the role's kafka-cluster:Connect "
            "permission and ORDERSTREAM_AWS_REGION",
        )
    return ConfigError(
        f"{_VAR}SASL_PASSWORD",
        f"{host}:{port} rejected the {conn.sasl_mechanism} login of user {conn.username!r} "
        f"(check {_VAR}SASL_USERNAME and {_VAR}SASL_PASSWORD)",
    )
