"""Is a port free to listen on? Asked before a process starts its servers, so a clash names the setting."""

from __future__ import annotations

import errno
import socket

from orderstream.errors import ConfigError


def check_port(host: str, port: int, setting: str, host_setting: str | None = None) -> None:
    """Raise :class:`ConfigError` naming ``setting`` when ``host:port`` cannot be bound (0 = any port: ok).

    Binds the way aiohttp's server does (``SO_REUSEADDR``), so a port in TIME_WAIT still counts as free.
    """
    if port == 0:
        return
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise ConfigError(setting, f"{host}:{port} is already in use by another process") from None
            if exc.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) or isinstance(exc, socket.gaierror):
                raise ConfigError(
                    host_setting or setting, f"cannot listen on {host}: {exc.strerror}"
                ) from None
            raise ConfigError(setting, f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
