"""Start-up checks: every configuration mistake a process can detect before it starts is one line naming
the setting (a :class:`~orderstream.errors.ConfigError`, exit code 2), never a traceback minutes later.

- :func:`check_broker`: each bootstrap server answers the Kafka protocol with the configured TLS and SASL
  settings, within ``ORDERSTREAM_KAFKA_CONNECT_TIMEOUT``;
- :func:`check_port`: a port this process will listen on is free.

Unknown ``ORDERSTREAM_*`` variables are warned about by :func:`orderstream.settings.load` itself.
"""

from orderstream.preflight.broker import check_broker, check_broker_sync
from orderstream.preflight.ports import check_port

__all__ = ["check_broker", "check_broker_sync", "check_port"]
