"""The root of every error orderstream raises on purpose.

Each package subclasses :class:`OrderstreamError`; an error that may succeed when tried again carries
``retriable = True`` so callers (the bridge above all) can act on it without string matching.
"""

from __future__ import annotations


class OrderstreamError(Exception):
    """Base class of all orderstream errors."""

    retriable: bool = False


class ConfigError(OrderstreamError):
    """A setting is missing or invalid. ``setting`` names the environment variable."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting
        self.problem = problem


class LocalStackError(OrderstreamError):
    """The local broker or AWS emulator could not be started, stopped or reached."""


class DockerError(OrderstreamError):
    """A Docker engine could not be found, installed, started or stopped, or an image did not build."""
