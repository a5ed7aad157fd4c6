"""EventBridge event patterns: parse once, match many times, one pattern or a whole rules file at once.

Kafka hands every record to every consumer group, so the router and the bridge filter on their own side. Users
already write those filters in EventBridge's event-pattern language, so a pattern here must mean what it means on
the bus. The reference is AWS's own matcher, event-ruler: ``tests/unit/domain/test_patterns_ruler.py`` runs it
beside this package on generated cases, and docs/patterns.md lists the few deliberate differences.

- :func:`compile_pattern` validates one pattern (:mod:`.syntax`, :mod:`.operators`) and compiles it.
- :class:`PatternSet` compiles many into one matcher (:mod:`.machine`) whose cost depends on the event, not on
  how many patterns there are; :class:`Pattern` is a set of one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from orderstream.domain.patterns.atoms import NUMERIC_LIMIT
from orderstream.domain.patterns.decoding import decode_event
from orderstream.domain.patterns.errors import InvalidPatternError
from orderstream.domain.patterns.machine import Machine
from orderstream.domain.patterns.syntax import MAX_DEPTH, Branch, parse_pattern

__all__ = ["MAX_DEPTH", "NUMERIC_LIMIT", "InvalidPatternError", "Pattern", "PatternSet", "compile_pattern"]


class Pattern:
    """A compiled event pattern. Immutable and safe to share between tasks and threads."""

    __slots__ = ("_machine", "_needles", "branches", "source")

    def __init__(self, source: Mapping[str, Any], branches: tuple[Branch, ...]) -> None:
        self.source = source
        self.branches = branches
        self._machine = Machine([branches])
        self._needles = _required_literals(branches)

    def __repr__(self) -> str:
        return f"Pattern({orjson.dumps(self.source).decode()})"

    def matches(self, event: Any) -> bool:
        """Whether a decoded JSON event (the record value, not an EventBridge envelope) matches.

        Only a JSON object can match: event-ruler refuses any other top-level value.
        """
        if type(event) is not dict:
            if not isinstance(event, Mapping):
                return False
            event = dict(event)
        return bool(self._machine.matching(event))

    def matches_bytes(self, raw: bytes) -> bool:
        """Whether a raw JSON value matches; bytes that are not JSON never match.

        Fast path (measured in bench/patterns.py): when the pattern requires one of a few exact strings
        somewhere, and the bytes hold none of them as a JSON string literal, the event cannot match and is
        not decoded. This is only sound without escapes, so any backslash in the bytes means a full decode.
        """
        if self._needles and b"\\" not in raw:
            for group in self._needles:
                for needle in group:  # a plain loop: a generator here costs more than the search
                    if needle in raw:
                        break
                else:
                    return False
        event = decode_event(raw)
        return type(event) is dict and bool(self._machine.matching(event))


class PatternSet:
    """Patterns compiled into one matcher. ``matching(event)`` returns the indexes (in the order given) of
    every pattern that matches; its cost follows the event's fields, not the number of patterns."""

    __slots__ = ("_machine", "matching_object", "patterns")

    def __init__(self, patterns: Sequence[Pattern]) -> None:
        self.patterns = tuple(patterns)
        self._machine = Machine([pattern.branches for pattern in self.patterns])
        self.matching_object = self._machine.matching
        """``matching`` for a caller that already knows its event is a dict (the decoded record values)."""

    def __len__(self) -> int:
        return len(self.patterns)

    def matching(self, event: Any) -> list[int]:
        """Indexes of the matching patterns, ascending. Only a JSON object can match."""
        if type(event) is not dict:
            if not isinstance(event, Mapping):
                return []
            event = dict(event)
        return self._machine.matching(event)

    def first(self, event: Any) -> int | None:
        """The index of the first matching pattern, or None."""
        found = self.matching(event)
        return found[0] if found else None


def compile_pattern(pattern: str | bytes | Mapping[str, Any]) -> Pattern:
    """Validate a pattern (JSON text or an already decoded mapping) and compile it.

    Raises :class:`InvalidPatternError` naming the path and the problem, as EventBridge's
    InvalidEventPattern does.
    """
    source, branches = parse_pattern(pattern)
    return Pattern(source, branches)


def _required_literals(branches: tuple[Branch, ...]) -> tuple[tuple[bytes, ...], ...]:
    """For the bytes fast path: groups of JSON string literals of which the event must hold one each.

    Only a pattern with a single branch qualifies, and only its fields whose atoms are all exact strings that
    JSON writes without escapes.
    """
    if len(branches) != 1:
        return ()
    groups: list[tuple[bytes, ...]] = []
    for _path, atoms in branches[0].values:
        if not all(atom.kind == "string" for atom in atoms):
            continue
        needles = tuple(sorted(orjson.dumps(atom.operand) for atom in atoms))
        if all(b"\\" not in needle for needle in needles):
            groups.append(needles)
    return tuple(groups)
