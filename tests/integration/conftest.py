"""Fixtures of the integration tests that need the local broker's secure listeners."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from secure_broker import SecureBroker


@pytest.fixture(scope="session")
def secure_broker() -> Iterator[SecureBroker]:
    """The project's local broker with its TLS/SASL listeners, whichever backend the other tests use.

    Started here if it is not running (and stopped again unless CI); never skipped: ``make test`` and a
    clean checkout both have what it needs (Java, Maven, openssl).
    """
    from orderstream.local import KafkaBroker, port_open
    from orderstream.local_broker import REAUTH_MS, SCRAM_USER

    local = KafkaBroker.from_env()
    started_here = local.running_pid() is None
    local.up()
    tls = local.tls_files()
    ports = local.ports
    closed = [p for p in (ports.sasl_ssl, ports.reauth, ports.mtls) if not port_open("127.0.0.1", p)]
    assert not closed, (
        f"the local broker has no secure listeners on {closed}: restart it (orderstream local down)"
    )
    yield SecureBroker(
        plaintext=local.bootstrap,
        sasl=f"127.0.0.1:{ports.sasl_ssl}",
        reauth=f"127.0.0.1:{ports.reauth}",
        mtls=f"127.0.0.1:{ports.mtls}",
        ca_file=tls.ca_cert,
        cert_file=tls.client_cert,
        key_file=tls.client_key,
        username=SCRAM_USER,
        password=tls.scram_password,
        reauth_ms=REAUTH_MS,
        log_dir=local.paths.logs,
    )
    if started_here and not os.environ.get("CI"):
        local.down()
