"""The local broker's config and TLS material: listeners and ports as documented, certificates that verify
the way clients check them, and set-up that is idempotent."""

from __future__ import annotations

import ssl
import subprocess
from pathlib import Path

import pytest

from orderstream.local_broker import (
    REAUTH_MS,
    SCRAM_USER,
    BrokerPorts,
    ensure_tls,
    render_broker_config,
    scram_config_args,
    scram_format_args,
)


@pytest.fixture(scope="module")
def tls_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tls")


def properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if "=" in line and not line.startswith("#"))
    return {key.strip(): value.strip() for key, value in pairs}


def test_plaintext_only_without_tls_files(tmp_path: Path) -> None:
    conf = properties(render_broker_config(port=19092, data_dir=tmp_path))
    assert conf["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert conf["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert conf["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert "sasl.enabled.mechanisms" not in conf and conf["log.dirs"] == str(tmp_path)


def test_the_secure_listeners_and_their_ports(tls_root: Path, tmp_path: Path) -> None:
    tls = ensure_tls(tls_root)
    conf = properties(render_broker_config(port=9092, data_dir=tmp_path, tls=tls))
    ports = BrokerPorts(9092)
    assert (ports.controller, ports.sasl_ssl, ports.reauth, ports.mtls) == (9093, 9094, 9095, 9096)
    assert conf["advertised.listeners"] == (
        "PLAINTEXT://127.0.0.1:9092,SASL_SSL://127.0.0.1:9094,REAUTH://127.0.0.1:9095,MTLS://127.0.0.1:9096"
    )
    assert set(conf["listener.security.protocol.map"].split(",")) == {
        "CONTROLLER:PLAINTEXT", "PLAINTEXT:PLAINTEXT", "SASL_SSL:SASL_SSL", "REAUTH:SASL_SSL", "MTLS:SSL",
    }  # fmt: skip
    assert conf["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert conf["listener.name.reauth.scram-sha-512.connections.max.reauth.ms"] == str(REAUTH_MS)
    assert "listener.name.sasl_ssl.scram-sha-512.connections.max.reauth.ms" not in conf
    assert conf["listener.name.mtls.ssl.client.auth"] == "required"
    assert conf["ssl.keystore.location"] == str(tls.broker_keystore)
    assert conf["ssl.truststore.location"] == str(tls.ca_cert)


def test_a_container_binds_everywhere_and_advertises_the_host(tls_root: Path, tmp_path: Path) -> None:
    text = render_broker_config(
        port=9092,
        data_dir="/var/lib/kafka",
        tls=ensure_tls(tls_root),
        host="0.0.0.0",
        advertised_host="127.0.0.1",
    )
    conf = properties(text)
    assert conf["listeners"].startswith("PLAINTEXT://0.0.0.0:9092,SASL_SSL://0.0.0.0:9094")
    assert conf["advertised.listeners"].startswith("PLAINTEXT://127.0.0.1:9092,")


def test_certificates_verify_as_clients_check_them(tls_root: Path) -> None:
    tls = ensure_tls(tls_root)
    for leaf in (tls.broker_cert, tls.client_cert):
        verified = subprocess.run(
            ["openssl", "verify", "-CAfile", str(tls.ca_cert), str(leaf)], capture_output=True, text=True
        )
        assert verified.returncode == 0, verified.stderr
    san = subprocess.run(
        ["openssl", "x509", "-in", str(tls.broker_cert), "-noout", "-ext", "subjectAltName"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "IP Address:127.0.0.1" in san and "DNS:localhost" in san
    client = ssl.create_default_context(cafile=str(tls.ca_cert))
    client.load_cert_chain(str(tls.client_cert), str(tls.client_key))
    assert tls.scram_password and tls.scram_password != tls.keystore_password
    assert (tls.root.stat().st_mode & 0o077) == 0 and (tls.scram_password_file.stat().st_mode & 0o077) == 0


def test_set_up_is_idempotent_and_remakes_an_incomplete_set(tls_root: Path) -> None:
    tls = ensure_tls(tls_root)
    before = {path: path.read_bytes() for path in tls.all_files()}
    assert {path: path.read_bytes() for path in ensure_tls(tls_root).all_files()} == before
    tls.client_key.unlink()
    again = ensure_tls(tls_root)
    assert again.complete() and again.ca_cert.read_bytes() != before[tls.ca_cert]


def test_scram_user_arguments(tls_root: Path) -> None:
    tls = ensure_tls(tls_root)
    assert scram_format_args(tls) == [
        "--add-scram",
        f"SCRAM-SHA-512=[name={SCRAM_USER},password={tls.scram_password}]",
    ]
    args = scram_config_args(tls, "127.0.0.1:9092")
    assert args[args.index("--entity-name") + 1] == SCRAM_USER
    assert f"password={tls.scram_password}" in args[args.index("--add-config") + 1]
