"""TLS material for the local broker: a private CA, a broker certificate and a client certificate.

Made once with ``openssl`` (an absent tool is one line), kept under ``.local/tls`` (git-ignored), reused as
long as every file is there. The CA signs both leaf certificates; the broker's names ``localhost`` and
``127.0.0.1`` so clients verify the host as they would on MSK. The broker reads a PKCS#12 keystore (the
key and chain) and the CA as a PEM truststore; Python clients read the PEM files.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from orderstream.errors import LocalStackError

SCRAM_USER = "orderstream"
DAYS = 3650


@dataclass(frozen=True)
class TlsFiles:
    """Where the local broker's TLS material lives (all under one directory)."""

    root: Path

    @property
    def ca_cert(self) -> Path:
        """PEM CA certificate: ``ORDERSTREAM_KAFKA_SSL_CA_FILE`` of every local client."""
        return self.root / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    @property
    def broker_cert(self) -> Path:
        return self.root / "broker.crt"

    @property
    def broker_key(self) -> Path:
        return self.root / "broker.key"

    @property
    def broker_keystore(self) -> Path:
        """PKCS#12: the broker's key and certificate chain (``ssl.keystore.location``)."""
        return self.root / "broker.p12"

    @property
    def client_cert(self) -> Path:
        """PEM client certificate for mutual TLS (``ORDERSTREAM_KAFKA_SSL_CERT_FILE``)."""
        return self.root / "client.crt"

    @property
    def client_key(self) -> Path:
        """Its unencrypted PEM key (``ORDERSTREAM_KAFKA_SSL_KEY_FILE``)."""
        return self.root / "client.key"

    @property
    def keystore_password_file(self) -> Path:
        return self.root / "keystore-password"

    @property
    def scram_password_file(self) -> Path:
        return self.root / "scram-password"

    @property
    def keystore_password(self) -> str:
        return self.keystore_password_file.read_text().strip()

    @property
    def scram_password(self) -> str:
        """The password of :data:`SCRAM_USER` (random per machine, mode 0600)."""
        return self.scram_password_file.read_text().strip()

    def all_files(self) -> tuple[Path, ...]:
        return (
            self.ca_cert,
            self.ca_key,
            self.broker_cert,
            self.broker_key,
            self.broker_keystore,
            self.client_cert,
            self.client_key,
            self.keystore_password_file,
            self.scram_password_file,
        )

    def complete(self) -> bool:
        return all(path.exists() for path in self.all_files())


def ensure_tls(root: Path) -> TlsFiles:
    """The TLS files under ``root``, made now if any is missing (then all are made anew)."""
    files = TlsFiles(root)
    if files.complete():
        return files
    openssl = shutil.which("openssl")
    if openssl is None:
        raise LocalStackError("openssl not found on PATH: install it (apt-get install openssl) for TLS certs")
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    with tempfile.TemporaryDirectory(dir=root) as tmp:
        work = Path(tmp)
        _secret(work / "keystore-password")
        _secret(work / "scram-password")
        _make_ca(openssl, work)
        _make_leaf(
            openssl, work, "broker", "localhost", "DNS:localhost,IP:127.0.0.1", "serverAuth,clientAuth"
        )
        _make_leaf(openssl, work, "client", "orderstream-client", "DNS:orderstream-client", "clientAuth")
        password = (work / "keystore-password").read_text().strip()
        _run(
            openssl, "pkcs12", "-export", "-in", str(work / "broker.crt"), "-inkey", str(work / "broker.key"),
            "-certfile", str(work / "ca.crt"), "-name", "broker", "-out", str(work / "broker.p12"),
            "-passout", f"pass:{password}",
        )  # fmt: skip
        for path in files.all_files():  # move into place only once everything was made
            os.replace(work / path.name, path)
    for path in files.all_files():
        os.chmod(path, 0o644 if path.suffix == ".crt" else 0o600)
    return files


def _secret(path: Path) -> None:
    path.write_text(secrets.token_urlsafe(24) + "\n")


def _make_ca(openssl: str, work: Path) -> None:
    _run(
        openssl, "req", "-x509", "-new", "-nodes", "-newkey", "rsa:2048", "-sha256", "-days", str(DAYS),
        "-keyout", str(work / "ca.key"), "-out", str(work / "ca.crt"), "-subj", "/CN=orderstream local CA",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip


def _make_leaf(openssl: str, work: Path, name: str, cn: str, san: str, usage: str) -> None:
    extensions = work / f"{name}.ext"
    extensions.write_text(
        f"subjectAltName={san}\nbasicConstraints=CA:FALSE\n"
        f"keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage={usage}\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )
    _run(
        openssl, "req", "-new", "-nodes", "-newkey", "rsa:2048", "-sha256", "-subj", f"/CN={cn}",
        "-keyout", str(work / f"{name}.key"), "-out", str(work / f"{name}.csr"),
    )  # fmt: skip
    _run(
        openssl, "x509", "-req", "-in", str(work / f"{name}.csr"), "-CA", str(work / "ca.crt"),
        "-CAkey", str(work / "ca.key"), "-CAcreateserial", "-sha256", "-days", str(DAYS),
        "-extfile", str(extensions), "-out", str(work / f"{name}.crt"),
    )  # fmt: skip


def _run(*cmd: str) -> None:
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        last = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        raise LocalStackError(f"openssl {cmd[1]} failed: {last[0]}")
