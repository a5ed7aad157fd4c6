"""The local broker's configuration and its TLS/SCRAM material (used by :mod:`orderstream.local` and by
anything else that runs the same broker, e.g. a Kafka container with these files mounted).

- :func:`render_broker_config`: ``server.properties`` for the single-node KRaft broker, with a PLAINTEXT
  listener and, given :class:`TlsFiles`, three secure ones (see :class:`BrokerPorts`);
- :func:`ensure_tls`: a CA, a broker certificate, a client certificate and the SCRAM password, made once
  with ``openssl`` under ``.local/tls`` (idempotent);
- :func:`scram_format_args`: the ``kafka-storage format`` arguments that create the SCRAM user.
"""

from orderstream.local_broker.certs import SCRAM_USER, TlsFiles, ensure_tls
from orderstream.local_broker.config import (
    REAUTH_MS,
    BrokerPorts,
    render_broker_config,
    scram_config_args,
    scram_format_args,
)

__all__ = [
    "REAUTH_MS",
    "SCRAM_USER",
    "BrokerPorts",
    "TlsFiles",
    "ensure_tls",
    "render_broker_config",
    "scram_config_args",
    "scram_format_args",
]
