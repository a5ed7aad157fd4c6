"""The error a refused pattern raises."""

from __future__ import annotations

from orderstream.errors import OrderstreamError

__all__ = ["InvalidPatternError"]


class InvalidPatternError(OrderstreamError):
    """A pattern was refused. ``path`` says where (``data.total_cents[0].numeric``), ``problem`` what."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path or "<root>"
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
