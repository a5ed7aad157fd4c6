"""The smallest pieces of a compiled pattern: one matcher of a field's list (``"x"``, ``{"prefix": "x"}``...).

An :class:`Atom` has a ``kind`` the compiled rule set indexes by (exact strings and numbers by hash, prefixes and
suffixes by length, numeric ranges by their bounds, addresses by value) and, for the kinds it cannot index
(wildcards, ignore-case, anything-but), a ``test`` called on each candidate value. Values are the scalars of a
decoded JSON event: str, int, float, bool or None.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final

from orderstream.domain.patterns.addresses import parse_address

__all__ = [
    "NUMERIC_LIMIT",
    "Atom",
    "ValueTest",
    "anything_but",
    "ignore_case_regex",
    "is_number",
    "number_key",
    "wildcard_test",
]

NUMERIC_LIMIT: Final = 5.0e9
"""EventBridge's documented numeric-matching range: values between -5.0e9 and +5.0e9 inclusive."""

_EXACT_INT: Final = 2**53

ValueTest = Callable[[Any], bool]
"""A predicate over one scalar event value."""

# Atom kinds: "string", "number", "literal" (true/false/null), "address", "prefix", "suffix", "range",
# "cidr", "exists", and "test" (anything only a predicate can decide).


@dataclass(frozen=True, slots=True)
class Atom:
    """One matcher. ``operand`` is canonical, so equal atoms compare and hash equal."""

    kind: str
    operand: Any
    test: ValueTest | None = field(default=None, compare=False, hash=False)


def is_number(value: Any) -> bool:
    kind = type(value)
    return kind is int or kind is float


def number_key(value: int | float) -> int | float:
    """The value a number is compared by: itself, or the nearest double for an integer no double holds.

    orjson hands over integers beyond 64 bits as doubles; applying the same rounding to every integer beyond
    2**53 makes a decoded dict and its raw bytes match alike.
    """
    if type(value) is int and not -_EXACT_INT <= value <= _EXACT_INT:
        try:
            return float(value)
        except OverflowError:
            return math.inf if value > 0 else -math.inf
    return value


def ignore_case_regex(text: str) -> str:
    """event-ruler's case-insensitive form of ``text``: each character may appear lower- or upper-cased.

    The mapping is per character of the pattern (``ß`` accepts ``ß`` or ``SS``; capital sigma accepts the small
    sigma or itself, not the final sigma), not a case fold of both sides.
    """
    parts = []
    for char in text:
        lower, upper = char.lower(), char.upper()
        if lower == upper:
            parts.append(re.escape(lower))
        else:
            parts.append(f"(?:{re.escape(lower)}|{re.escape(upper)})")
    return "".join(parts)


def wildcard_test(text: str, path: str, invalid: Callable[[str, str], Exception]) -> ValueTest:
    """``*`` is any run of characters (newlines too), ``\\*`` a literal star, ``\\\\`` a backslash."""
    parts: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            escaped = text[index + 1 : index + 2]
            if escaped not in ("*", "\\"):
                raise invalid(path, f"backslash at position {index} may only escape '*' or '\\'")
            parts.append(re.escape(escaped))
            index += 2
            continue
        if char == "*":
            if text[index + 1 : index + 2] == "*":
                raise invalid(path, f"consecutive wildcard characters at position {index}")
            parts.append(".*")
        else:
            parts.append(re.escape(char))
        index += 1
    fullmatch = re.compile("".join(parts), re.DOTALL).fullmatch
    return lambda value: type(value) is str and fullmatch(value) is not None


def anything_but(excluded: ValueTest) -> ValueTest:
    """Any leaf value, of any JSON type, that ``excluded`` does not describe."""
    return lambda value: not excluded(value)


def string_in(texts: frozenset[str]) -> ValueTest:
    return lambda value: type(value) is str and value in texts


def number_in(numbers: frozenset[int | float]) -> ValueTest:
    return lambda value: is_number(value) and number_key(value) in numbers


def regex_test(pattern: str, how: str) -> ValueTest:
    """A string test from a regex: ``how`` is "full", "prefix" or "suffix"."""
    if how == "full":
        compiled = re.compile(pattern, re.DOTALL)
        return lambda value: type(value) is str and compiled.fullmatch(value) is not None
    if how == "prefix":
        compiled = re.compile(pattern, re.DOTALL)
        return lambda value: type(value) is str and compiled.match(value) is not None
    compiled = re.compile(f"(?:{pattern})\\Z", re.DOTALL)
    return lambda value: type(value) is str and compiled.search(value) is not None


def address_in(family: int, lowest: int, highest: int) -> ValueTest:
    def inside(value: Any) -> bool:
        if type(value) is not str:
            return False
        address = parse_address(value)
        return address is not None and address[0] == family and lowest <= address[1] <= highest

    return inside
