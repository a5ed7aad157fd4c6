"""What a test needs to know about the local broker's secure listeners (the ``secure_broker`` fixture)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

BOOTSTRAP_ENV = "ORDERSTREAM_KAFKA_BOOTSTRAP_SERVERS"


@dataclass(frozen=True)
class SecureBroker:
    """The local broker's secure listeners (:mod:`orderstream.local_broker`) and what a client needs."""

    plaintext: str
    sasl: str
    """SASL_SSL, SCRAM-SHA-512."""
    reauth: str
    """SASL_SSL, SCRAM-SHA-512, sessions ended by the broker after ``reauth_ms``."""
    mtls: str
    """SSL with a required client certificate."""
    ca_file: Path
    cert_file: Path
    key_file: Path
    username: str
    password: str = field(repr=False)  # kept out of test failure output
    reauth_ms: int
    log_dir: Path

    def env(self, bootstrap: str | None = None, password: str | None = None) -> dict[str, str]:
        """``ORDERSTREAM_KAFKA_*`` of a SCRAM client over TLS, verified with the local CA."""
        return {
            BOOTSTRAP_ENV: bootstrap or self.sasl,
            "ORDERSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "ORDERSTREAM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "ORDERSTREAM_KAFKA_SASL_USERNAME": self.username,
            "ORDERSTREAM_KAFKA_SASL_PASSWORD": self.password if password is None else password,
            "ORDERSTREAM_KAFKA_SSL_CA_FILE": str(self.ca_file),
        }

    def mtls_env(self, with_client_cert: bool = True) -> dict[str, str]:
        env = {
            BOOTSTRAP_ENV: self.mtls,
            "ORDERSTREAM_KAFKA_SECURITY_PROTOCOL": "SSL",
            "ORDERSTREAM_KAFKA_SSL_CA_FILE": str(self.ca_file),
        }
        if with_client_cert:
            env["ORDERSTREAM_KAFKA_SSL_CERT_FILE"] = str(self.cert_file)
            env["ORDERSTREAM_KAFKA_SSL_KEY_FILE"] = str(self.key_file)
        return env
