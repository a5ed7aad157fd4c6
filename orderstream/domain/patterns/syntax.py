"""Reading and validating an event pattern into the form both matchers compile: a list of branches.

A pattern is an AND of fields, ``$or`` groups and nested objects. As event-ruler does, nesting is flattened into
dotted field paths (``{"data": {"region": [...]}}`` is the field ``data.region``, the same field as a key
``"data.region"``) and every ``$or`` is multiplied out, so a pattern becomes branches, any of which may match.
A branch is a set of conditions, one per field path: a list of atoms of which one value must match, or
"this field has no value" (``{"exists": false}``). A field list holding ``{"exists": false}`` and values
splits into two branches.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, NoReturn

from orderstream.domain.patterns.atoms import Atom
from orderstream.domain.patterns.errors import InvalidPatternError
from orderstream.domain.patterns.operators import OPERATORS, exact, expect_bool, join, kind

__all__ = ["MAX_BRANCHES", "MAX_DEPTH", "Branch", "InvalidPatternError", "parse_pattern"]

MAX_DEPTH: Final = 32
"""Deepest object nesting accepted in a pattern (``$or`` alternatives count as a level). Ours, not AWS's."""

MAX_BRANCHES: Final = 1024
"""Most branches one pattern may multiply out to through ``$or`` and mixed exists lists. Ours, not AWS's."""

OR_KEY: Final = "$or"

# event-ruler refuses these as field names inside a $or alternative (they are, or may become, operators).
_RESERVED_IN_OR: Final = frozenset(
    {
        "exactly", "equals-ignore-case", "prefix", "suffix", "anything-but", "exists", "wildcard", "numeric",
        "cidr", "=", "<", "<=", ">", ">=", "regex", "not-wildcard", "not-equals-ignore-case", "date-after",
        "date-on-or-after", "date-before", "date-on-or-before", "in-date-range", "ip-address-in-range",
        "ip-address-not-in-range",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Branch:
    """One way a pattern can match: every value condition holds and every absent field has no value."""

    values: tuple[tuple[str, frozenset[Atom]], ...]
    absent: tuple[str, ...]


# A branch while it is being built: field path -> (atoms, or None for "absent"; where it was written).
_Partial = dict[str, tuple[frozenset[Atom] | None, str]]


def parse_pattern(pattern: str | bytes | Mapping[str, Any]) -> tuple[Mapping[str, Any], tuple[Branch, ...]]:
    """Validate a pattern (JSON text or a decoded mapping); return it decoded, and its branches."""
    if isinstance(pattern, str | bytes):
        pattern = _decode(pattern)
    if not isinstance(pattern, Mapping):
        raise InvalidPatternError("", f"a pattern must be a JSON object, got {kind(pattern)}")
    partials = _object(pattern, "", "", depth=1, in_or=False)
    branches = []
    for partial in partials:
        values = tuple((path, spec) for path, (spec, _where) in partial.items() if spec is not None)
        absent = tuple(path for path, (spec, _where) in partial.items() if spec is None)
        branches.append(Branch(values, absent))
    return pattern, tuple(dict.fromkeys(branches))


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _DuplicateKeyError(key)
        result[key] = value
    return result


def _no_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not a JSON number")


def _decode(text: str | bytes) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except _DuplicateKeyError as exc:
        raise InvalidPatternError(
            "", f"duplicate key {exc.key!r}: JSON would keep only one of them; write each field once"
        ) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidPatternError("", f"not valid JSON: {exc}") from None


def _object(spec: Mapping[str, Any], prefix: str, where: str, depth: int, in_or: bool) -> list[_Partial]:
    if depth > MAX_DEPTH:
        raise InvalidPatternError(where, f"nested deeper than {MAX_DEPTH} levels")
    if not spec:
        raise InvalidPatternError(where, "an empty object matches nothing; leave the field out instead")
    partials: list[_Partial] = [{}]
    for key, value in spec.items():
        if not isinstance(key, str):
            raise InvalidPatternError(where, f"field names must be strings, got {key!r}")
        here = join(where, key)
        if key == OR_KEY:
            options = _or(value, prefix, here, depth)
        elif in_or and key in _RESERVED_IN_OR:
            raise InvalidPatternError(here, f"{key!r} is an operator name and cannot be a field inside $or")
        elif isinstance(value, Mapping):
            options = _object(value, f"{prefix}{key}.", here, depth + 1, in_or)
        elif isinstance(value, list):
            options = _leaf(f"{prefix}{key}", value, here)
        else:
            raise InvalidPatternError(here, f"must be an object or a non-empty array, got {kind(value)}")
        partials = _combine(partials, options, here)
    return partials


def _or(value: Any, prefix: str, where: str, depth: int) -> list[_Partial]:
    if not isinstance(value, list) or len(value) < 2:
        raise InvalidPatternError(where, "$or takes an array of at least two pattern objects")
    options: list[_Partial] = []
    for index, alternative in enumerate(value):
        here = f"{where}[{index}]"
        if not isinstance(alternative, Mapping):
            raise InvalidPatternError(
                here, f"each $or alternative must be an object, got {kind(alternative)}"
            )
        options.extend(_object(alternative, prefix, here, depth + 1, in_or=True))
    return options


def _combine(partials: list[_Partial], options: list[_Partial], where: str) -> list[_Partial]:
    if len(partials) * len(options) > MAX_BRANCHES:
        raise InvalidPatternError(
            where, f"$or and exists lists multiply out to more than {MAX_BRANCHES} branches"
        )
    combined = []
    for partial in partials:
        for option in options:
            merged = dict(partial)
            for path, entry in option.items():
                if path in merged:
                    raise InvalidPatternError(
                        entry[1],
                        f"field {path!r} is already given at {merged[path][1]}; give each field once",
                    )
                merged[path] = entry
            combined.append(merged)
    return combined


def _leaf(path: str, matchers: list[Any], where: str) -> list[_Partial]:
    if not matchers:
        raise InvalidPatternError(where, "an empty array matches nothing")
    found: list[Atom] = []
    absent = False
    for index, matcher in enumerate(matchers):
        here = f"{where}[{index}]"
        if isinstance(matcher, Mapping):
            operator, operand = _single_operator(matcher, here)
            if operator == "exists":
                if expect_bool(operand, join(here, operator)):
                    found.append(Atom("exists", None))
                else:
                    absent = True
            else:
                found.append(OPERATORS[operator](operand, join(here, operator)))
        else:
            found.append(exact(matcher, here))
    options: list[_Partial] = []
    if found:
        options.append({path: (frozenset(found), where)})
    if absent:
        options.append({path: (None, where)})
    return options


def _single_operator(matcher: Mapping[str, Any], path: str) -> tuple[str, Any]:
    if len(matcher) != 1:
        raise InvalidPatternError(path, f"a matcher object holds exactly one operator, got {len(matcher)}")
    ((operator, operand),) = matcher.items()
    if operator not in OPERATORS and operator != "exists":
        known = ", ".join(sorted([*OPERATORS, "exists"]))
        raise InvalidPatternError(path, f"unknown operator {operator!r} (known: {known})")
    return str(operator), operand
