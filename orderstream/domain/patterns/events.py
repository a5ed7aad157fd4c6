"""Reading an event the way event-ruler does: leaf values by dotted field path, with their array membership.

A field path such as ``data.items.sku`` is the keys on the way joined by dots, so it is reached through
``{"data": {"items": ...}}`` and through a key ``"data.items"`` alike. Arrays are looked through: each scalar
element is a value of the path, and objects or arrays inside an array are entered. Only scalars are values; an
object, ``{}`` or ``[]`` holds none.

A value carries its *membership*: for each array it sits in (through an object or array element), which
element. Two values may be used together in one match only when they agree on every array they share, which is
event-ruler's array-consistent matching (``rulesForJSONEvent``). Arrays are told apart by identity.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from typing import Any, Final

__all__ = ["CONFLICT", "FieldPath", "Membership", "Value", "merge", "values_at"]

Membership = dict[int, int] | None
"""array id -> element index; None when the value is in no array of objects or arrays."""

Value = tuple[Any, Membership]

CONFLICT: Final[Any] = object()
"""What :func:`merge` returns for two memberships that disagree."""

_SCALARS: Final = frozenset({str, int, float, bool, type(None)})
_MISSING: Final[Any] = object()


def merge(first: Membership, second: Membership) -> Any:
    """The membership of two values used together, or CONFLICT when they sit in different elements."""
    if first is None:
        return second
    if second is None:
        return first
    merged = None
    for array, index in second.items():
        seen = first.get(array)
        if seen is None:
            if merged is None:
                merged = dict(first)
            merged[array] = index
        elif seen != index:
            return CONFLICT
    return first if merged is None else merged


@lru_cache(maxsize=4096)
def _steps(path: str) -> tuple[tuple[str, str | None], ...]:
    """The ways a dotted path can start: (key, rest of the path or None when the key ends it)."""
    steps: list[tuple[str, str | None]] = []
    start = path.find(".")
    while start != -1:
        steps.append((path[:start], path[start + 1 :]))
        start = path.find(".", start + 1)
    steps.append((path, None))
    return tuple(steps)


class FieldPath:
    """A dotted field path, prepared for reading its values from events quickly.

    The usual event has no dotted keys and no arrays on the way: then the path is a chain of dict look-ups,
    checking at each level that no key spelling a longer part of the path (``"data.region"``) exists too.
    Anything else takes the general walk.
    """

    __slots__ = ("alternatives", "name", "segments", "simple", "values")

    def __init__(self, name: str) -> None:
        self.name = name
        self.segments = tuple(name.split("."))
        self.alternatives = tuple(
            tuple(".".join(self.segments[start:end]) for end in range(start + 2, len(self.segments) + 1))
            for start in range(len(self.segments))
        )
        self.simple = len(self.segments) == 1  # one key, no dots
        self.values: Callable[[dict[str, Any]], list[Value]] = self._key if self.simple else self._path

    def _key(self, event: dict[str, Any]) -> list[Value]:
        node = event.get(self.name, _MISSING)
        if type(node) in _SCALARS:
            return [(node, None)]
        if node is _MISSING or type(node) is dict:
            return []
        return values_at(event, self.name)

    def _path(self, event: dict[str, Any]) -> list[Value]:
        node: Any = event
        last = len(self.segments) - 1
        for level, segment in enumerate(self.segments):
            for alternative in self.alternatives[level]:
                if alternative in node:
                    return values_at(event, self.name)
            node = node.get(segment, _MISSING)
            kind = type(node)
            if level < last:
                if kind is not dict:
                    return values_at(event, self.name) if kind is list else []
            elif kind in _SCALARS:
                return [(node, None)]
            elif kind is dict or node is _MISSING:
                return []
        return values_at(event, self.name)


def values_at(event: dict[str, Any], path: str) -> list[Value]:
    """Every leaf value of ``event`` at ``path``, with its membership."""
    found: list[Value] = []
    # (node, rest of path or None, membership); iterative, so deep nesting never hits the recursion limit
    stack: list[tuple[Any, str | None, Membership]] = [(event, path, None)]
    while stack:
        node, rest, membership = stack.pop()
        kind = type(node)
        if kind is dict:
            if rest is None:
                continue  # an object is not a leaf value
            for key, after in _steps(rest):
                if key in node:
                    stack.append((node[key], after, membership))
        elif kind is list:
            array = id(node)
            for index, element in enumerate(node):
                element_kind = type(element)
                if element_kind is dict or element_kind is list:
                    inner = {array: index} if membership is None else {**membership, array: index}
                    stack.append((element, rest, inner))
                elif rest is None:
                    found.append((element, membership))
        elif rest is None:
            found.append((node, membership))
    return found
