"""The DLQ flood guard: a partition that parks too much stops (or raises an alarm) instead of parking on.

A bad deploy (a producer writing a new shape, a rules file that rejects everything) would otherwise send a
whole topic to the DLQ as fast as the worker can read it. The guard watches one partition's records in the
order they are processed and trips when either limit is passed:

- ``max_consecutive`` bad records in a row;
- more than ``max_ratio`` of the last ``window`` records bad (judged once ``window`` records were seen).

What a trip does is the caller's (the worker pauses the partition, or only reports it in ``alert`` mode).
Pure: no clock, no I/O.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Final, Literal

GuardMode = Literal["halt", "alert", "off"]

DEFAULT_MAX_CONSECUTIVE: Final = 1000
DEFAULT_MAX_RATIO: Final = 0.5
DEFAULT_WINDOW: Final = 2000


@dataclass(frozen=True, slots=True)
class GuardPolicy:
    """Limits of one partition's DLQ share (the worker's ``ORDERSTREAM_DLQ_GUARD_*`` settings)."""

    mode: GuardMode = "halt"
    max_consecutive: int = DEFAULT_MAX_CONSECUTIVE
    max_ratio: float = DEFAULT_MAX_RATIO
    window: int = DEFAULT_WINDOW

    def __post_init__(self) -> None:
        if self.max_consecutive < 1 or self.window < 1 or not 0.0 < self.max_ratio <= 1.0:
            raise ValueError(f"invalid flood guard limits: {self}")


class FloodGuard:
    """One partition's guard: feed each record's outcome with :meth:`observe`, read :attr:`tripped`."""

    __slots__ = ("_bad_in_window", "_outcomes", "consecutive", "policy", "seen", "tripped")

    def __init__(self, policy: GuardPolicy) -> None:
        self.policy = policy
        self._outcomes: deque[bool] = deque()
        self._bad_in_window = 0
        self.consecutive = 0
        self.seen = 0
        self.tripped: str | None = None
        """Why the guard tripped (latched until :meth:`reset`), None while within the limits."""

    def observe(self, bad: bool) -> None:
        policy = self.policy
        self.seen += 1
        self._outcomes.append(bad)
        if bad:
            self._bad_in_window += 1
            self.consecutive += 1
        else:
            self.consecutive = 0
        if len(self._outcomes) > policy.window and self._outcomes.popleft():
            self._bad_in_window -= 1
        if self.tripped is not None:
            return
        if self.consecutive >= policy.max_consecutive:
            self.tripped = (
                f"{self.consecutive} records in a row went to the DLQ (limit {policy.max_consecutive})"
            )
        elif len(self._outcomes) >= policy.window and self._bad_in_window > policy.max_ratio * policy.window:
            share = self._bad_in_window / policy.window
            self.tripped = f"{share:.0%} of the last {policy.window} records went to the DLQ (limit {policy.max_ratio:.0%})"

    @property
    def ratio(self) -> float:
        """The DLQ share of the records in the window so far."""
        return self._bad_in_window / len(self._outcomes) if self._outcomes else 0.0

    def within_limits(self) -> bool:
        """Whether the records in the window now are within both limits (a trip may still be latched)."""
        policy = self.policy
        full = len(self._outcomes) >= policy.window
        return self.consecutive < policy.max_consecutive and not (
            full and self._bad_in_window > policy.max_ratio * policy.window
        )

    def reset(self) -> None:
        """Start over (the partition is resumed): the window and the run are forgotten."""
        self._outcomes.clear()
        self._bad_in_window = 0
        self.consecutive = 0
        self.tripped = None
