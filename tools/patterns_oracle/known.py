"""The deliberate differences from event-ruler, each recognised from the case itself.

Every id here is a row of the "Known differences from event-ruler" table in docs/patterns.md (the test checks
both ways), where the reason for each is written down. A recogniser looks at what makes the case special (a
number beyond ±5.0e9, a duplicate key...), never at the answers alone, so a real bug in an ordinary case is
never explained away.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from orderstream.domain.patterns.addresses import parse_address, parse_cidr

__all__ = ["DIFFERENCES", "IDS", "LIST_INTERFERENCE", "SHARED_MACHINE", "Facts", "Verdict", "explain"]

LIMIT = 5.0e9


@dataclass(frozen=True)
class Verdict:
    """One matcher's answer: "match", "no match" or "invalid" (the pattern was refused), and why."""

    outcome: str
    problem: str = ""


@dataclass
class Facts:
    """What the recognisers look at, read from the JSON texts as written."""

    numbers: list[str] = field(default_factory=list)
    numeric_bounds: list[str] = field(default_factory=list)
    strings: list[str] = field(default_factory=list)
    ignore_case: list[str] = field(default_factory=list)
    families: set[int] = field(default_factory=set)
    duplicate_key: bool = False
    has_numeric: bool = False

    @classmethod
    def read(cls, text: str, is_rule: bool) -> Facts:
        facts = cls()

        def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
            keys = [key for key, _ in items]
            facts.duplicate_key |= len(set(keys)) < len(keys)
            return dict(items)

        def number(text: str) -> Any:
            facts.numbers.append(text)
            return _Number(text)

        try:
            value = json.loads(text, object_pairs_hook=pairs, parse_int=number, parse_float=number)
        except (ValueError, RecursionError):
            return facts
        facts._walk(value, is_rule)
        return facts

    def _walk(self, value: Any, is_rule: bool) -> None:
        stack = [value]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                for key, inner in node.items():
                    if is_rule and key == "numeric" and isinstance(inner, list):
                        self.has_numeric = True
                        self.numeric_bounds.extend(item.text for item in inner if isinstance(item, _Number))
                    if is_rule and key == "equals-ignore-case":
                        self.ignore_case.extend(inner if isinstance(inner, list) else [inner])
                    if is_rule and key == "cidr" and isinstance(inner, str):
                        with contextlib.suppress(ValueError):
                            self.families.add(parse_cidr(inner)[0])
                    stack.append(inner)
            elif isinstance(node, list):
                stack.extend(node)
            elif isinstance(node, str):
                self.strings.append(node)
                address = parse_address(node)
                if address is not None and is_rule:
                    self.families.add(address[0])


class _Number:
    def __init__(self, text: str) -> None:
        self.text = text


def _magnitude(text: str) -> float:
    try:
        return abs(float(text))
    except (ValueError, OverflowError):
        return math.inf


def _not_a_double(text: str) -> bool:
    """A number no double holds exactly as written (event-ruler then compares its text, not its value)."""
    try:
        value = float(text)
        return not math.isfinite(value) or Decimal(text) != Decimal(repr(value))
    except (ValueError, OverflowError, InvalidOperation):
        return True


@dataclass(frozen=True)
class Case:
    rule: Facts
    event: Facts
    ours: Verdict
    theirs: Verdict


def _invalid_here(case: Case, *fragments: str) -> bool:
    return (
        case.ours.outcome == "invalid"
        and case.theirs.outcome != "invalid"
        and any(fragment in case.ours.problem for fragment in fragments)
    )


def _numeric_range(case: Case) -> bool:
    if not case.rule.has_numeric:
        return False
    return any(_magnitude(n) > LIMIT for n in case.rule.numeric_bounds) or any(
        _magnitude(n) > LIMIT for n in case.event.numbers
    )


def _beyond_double(case: Case) -> bool:
    return any(_not_a_double(n) for n in (*case.rule.numbers, *case.event.numbers))


def _cross_family(case: Case) -> bool:
    if not case.rule.families:
        return False
    for text in case.event.strings:
        address = parse_address(text)
        if address is not None and case.rule.families - {address[0]}:
            return True
    return False


def _number_in_cidr(case: Case) -> bool:
    return bool(case.rule.families) and bool(case.event.numbers)


def _astral_ignore_case(case: Case) -> bool:
    return any(isinstance(text, str) and any(ord(c) > 0xFFFF for c in text) for text in case.rule.ignore_case)


DIFFERENCES: dict[str, Callable[[Case], bool]] = {
    "or-field-name": lambda case: _invalid_here(case, "$or takes"),
    "duplicate-field": lambda case: _invalid_here(case, "duplicate key", "is already given"),
    "non-finite-number": lambda case: _invalid_here(case, "not a finite number"),
    "numeric-range": _numeric_range,
    "beyond-double": _beyond_double,
    "duplicate-event-key": lambda case: case.event.duplicate_key,
    "cidr-cross-family": _cross_family,
    "cidr-number": _number_in_cidr,
    "ignore-case-astral": _astral_ignore_case,
}
"""id -> recogniser. The ids are the rows of the known-differences table in docs/patterns.md."""


SHARED_MACHINE = "ruler-shared-machine"
"""A compiled-set difference where ruler, asked about the same rule and event alone, agrees with us: its answer
changed only because other rules share its Machine (compare.py decides it by asking ruler again)."""

LIST_INTERFERENCE = "ruler-list-interference"
"""A difference where ruler, asked once per matcher of a field's list (the list is an OR of them), agrees with
us: only the combination of those matchers in one list changed its answer (compare.py decides it)."""

IDS = (*DIFFERENCES, SHARED_MACHINE, LIST_INTERFERENCE)


def explain(rule: str, event: str, ours: Verdict, theirs: Verdict) -> str | None:
    """The id of the known difference this case falls under, or None when it is unexplained."""
    case = Case(Facts.read(rule, is_rule=True), Facts.read(event, is_rule=False), ours, theirs)
    for name, applies in DIFFERENCES.items():
        if applies(case):
            return name
    return None
