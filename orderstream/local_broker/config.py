"""``server.properties`` of the local single-node KRaft broker, rendered from ``infra/local``'s template.

Listeners, all on one host (127.0.0.1 by default), numbered from the PLAINTEXT port (:class:`BrokerPorts`):

========== ======== ============ ===========================================================================
listener   port     protocol     what for
========== ======== ============ ===========================================================================
PLAINTEXT  port     PLAINTEXT    tests, the demo, tools
CONTROLLER port + 1 PLAINTEXT    KRaft quorum (not for clients)
SASL_SSL   port + 2 SASL_SSL     SCRAM-SHA-512 over TLS, as MSK's SCRAM listener
REAUTH     port + 3 SASL_SSL     the same, but the broker ends every session after ``REAUTH_MS`` (as MSK
                                 closes expired sessions), so clients must reconnect and log in again
MTLS       port + 4 SSL          mutual TLS: a client certificate signed by the local CA is required
========== ======== ============ ===========================================================================

The secure listeners exist only when :class:`~orderstream.local_broker.certs.TlsFiles` are given.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from string import Template

from orderstream.local_broker.certs import SCRAM_USER, TlsFiles

TEMPLATE = Path(__file__).resolve().parents[2] / "infra" / "local" / "server.properties.template"
REAUTH_MS = 3000
"""Session lifetime on the REAUTH listener (``connections.max.reauth.ms``): short, so tests see many."""
SCRAM_MECHANISM = "SCRAM-SHA-512"
SCRAM_ITERATIONS = 8192
_JAAS = "org.apache.kafka.common.security.scram.ScramLoginModule required;"


@dataclass(frozen=True)
class BrokerPorts:
    """The ports of every listener, derived from the PLAINTEXT one."""

    plaintext: int

    @property
    def controller(self) -> int:
        return self.plaintext + 1

    @property
    def sasl_ssl(self) -> int:
        return self.plaintext + 2

    @property
    def reauth(self) -> int:
        return self.plaintext + 3

    @property
    def mtls(self) -> int:
        return self.plaintext + 4


def render_broker_config(
    *,
    port: int,
    data_dir: Path | str,
    tls: TlsFiles | None = None,
    host: str = "127.0.0.1",
    advertised_host: str | None = None,
    reauth_ms: int = REAUTH_MS,
) -> str:
    """The broker's ``server.properties``: PLAINTEXT (+ the secure listeners when ``tls`` is given).

    ``host`` is where listeners bind and ``advertised_host`` what clients are told (default: ``host``);
    a container binding 0.0.0.0 advertises 127.0.0.1 with host networking.
    """
    ports = BrokerPorts(port)
    advertised = advertised_host or host
    listeners = {"PLAINTEXT": ("PLAINTEXT", ports.plaintext)}
    if tls is not None:
        listeners |= {
            "SASL_SSL": ("SASL_SSL", ports.sasl_ssl),
            "REAUTH": ("SASL_SSL", ports.reauth),
            "MTLS": ("SSL", ports.mtls),
        }
    bind = [f"{name}://{host}:{p}" for name, (_, p) in listeners.items()]
    bind.append(f"CONTROLLER://{host}:{ports.controller}")
    protocols = ["CONTROLLER:PLAINTEXT", *(f"{name}:{proto}" for name, (proto, _) in listeners.items())]
    template = Template(TEMPLATE.read_text())
    text = template.substitute(
        controller=f"{advertised}:{ports.controller}",
        listeners=",".join(bind),
        advertised_listeners=",".join(f"{name}://{advertised}:{p}" for name, (_, p) in listeners.items()),
        protocol_map=",".join(protocols),
        data_dir=data_dir,
    )
    if tls is not None:
        text += _security(tls, reauth_ms)
    return text


def _security(tls: TlsFiles, reauth_ms: int) -> str:
    password = tls.keystore_password
    return f"""
# TLS and SASL (orderstream.local_broker): SCRAM-SHA-512 on SASL_SSL and REAUTH, client certs on MTLS.
ssl.keystore.type=PKCS12
ssl.keystore.location={tls.broker_keystore}
ssl.keystore.password={password}
ssl.key.password={password}
ssl.truststore.type=PEM
ssl.truststore.location={tls.ca_cert}
sasl.enabled.mechanisms={SCRAM_MECHANISM}
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={_JAAS}
listener.name.reauth.scram-sha-512.sasl.jaas.config={_JAAS}
listener.name.reauth.scram-sha-512.connections.max.reauth.ms={reauth_ms}
listener.name.mtls.ssl.client.auth=required
"""


def scram_format_args(tls: TlsFiles, user: str = SCRAM_USER) -> list[str]:
    """Arguments of ``kafka-storage format`` that create ``user`` with the local SCRAM password."""
    return ["--add-scram", f"{SCRAM_MECHANISM}=[name={user},password={tls.scram_password}]"]


def scram_config_args(tls: TlsFiles, bootstrap: str, user: str = SCRAM_USER) -> list[str]:
    """Arguments of ``kafka-configs`` (``kafka.admin.ConfigCommand``) that set ``user``'s password on a
    running broker (for data formatted before the user existed)."""
    credential = f"{SCRAM_MECHANISM}=[iterations={SCRAM_ITERATIONS},password={tls.scram_password}]"
    return [
        "--bootstrap-server", bootstrap, "--alter", "--add-config", credential,
        "--entity-type", "users", "--entity-name", user,
    ]  # fmt: skip
