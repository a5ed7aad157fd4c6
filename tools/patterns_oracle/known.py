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
    """What the recognisers look at, read from the JSON texts as written, by dotted field path."""

    numbers: dict[str, list[str]] = field(default_factory=dict)  # path -> number texts
    addresses: dict[str, set[int]] = field(default_factory=dict)  # path -> address families (4, 6)
    numeric_paths: set[str] = field(default_factory=set)  # rule paths with a numeric operator
    numeric_bounds: list[str] = field(default_factory=list)
    ignore_case: list[str] = field(default_factory=list)
    duplicate_key: bool = False

    @classmethod
    def read(cls, text: str, is_rule: bool) -> Facts:
        facts = cls()

        def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
            keys = [key for key, _ in items]
            facts.duplicate_key |= len(set(keys)) < len(keys)
            return dict(items)

        try:
            value = json.loads(text, object_pairs_hook=pairs, parse_int=_Number, parse_float=_Number)
        except (ValueError, RecursionError):
            return facts
        if is_rule:
            facts._rule(value)
        else:
            facts._event(value)
        return facts

    def all_numbers(self) -> list[str]:
        return [number for numbers in self.numbers.values() for number in numbers]

    def _rule(self, root: Any) -> None:
        stack: list[tuple[Any, str]] = [(root, "")]
        while stack:
            node, prefix = stack.pop()
            if not isinstance(node, dict):
                continue
            for key, value in node.items():
                if key == "$or" and isinstance(value, list):
                    stack.extend((alternative, prefix) for alternative in value)
                elif isinstance(value, dict):
                    stack.append((value, f"{prefix}{key}."))
                elif isinstance(value, list):
                    for matcher in value:
                        self._matcher(f"{prefix}{key}", matcher)

    def _matcher(self, path: str, matcher: Any) -> None:
        if isinstance(matcher, _Number):
            self.numbers.setdefault(path, []).append(matcher.text)
        elif isinstance(matcher, str):
            self._address(path, parse_address(matcher))
        elif isinstance(matcher, dict) and len(matcher) == 1:
            ((operator, operand),) = matcher.items()
            if operator == "numeric" and isinstance(operand, list):
                self.numeric_paths.add(path)
                self.numeric_bounds.extend(item.text for item in operand if isinstance(item, _Number))
            elif operator == "cidr" and isinstance(operand, str):
                with contextlib.suppress(ValueError):
                    self.addresses.setdefault(path, set()).add(parse_cidr(operand)[0])
            self.ignore_case.extend(_ignore_case_operands(matcher))
            self.numbers.setdefault(path, []).extend(_numbers_in(operand))

    def _address(self, path: str, address: tuple[int, int] | None) -> None:
        if address is not None:
            self.addresses.setdefault(path, set()).add(address[0])

    def _event(self, root: Any) -> None:
        stack: list[tuple[Any, str]] = [(root, "")]
        while stack:
            node, path = stack.pop()
            if isinstance(node, dict):
                stack.extend((value, f"{path}.{key}" if path else key) for key, value in node.items())
            elif isinstance(node, list):
                stack.extend((item, path) for item in node)
            elif isinstance(node, _Number):
                self.numbers.setdefault(path, []).append(node.text)
            elif isinstance(node, str):
                self._address(path, parse_address(node))


def _ignore_case_operands(node: Any) -> list[Any]:
    found: list[Any] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                if key == "equals-ignore-case":
                    found.extend(value if isinstance(value, list) else [value])
                stack.append(value)
    return found


def _numbers_in(node: Any) -> list[str]:
    found: list[str] = []
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, _Number):
            found.append(item.text)
        elif isinstance(item, dict | list):
            stack.extend(item.values() if isinstance(item, dict) else item)
    return found


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
    if any(_magnitude(n) > LIMIT for n in case.rule.numeric_bounds):
        return True
    return any(
        _magnitude(n) > LIMIT for path in case.rule.numeric_paths for n in case.event.numbers.get(path, ())
    )


def _beyond_double(case: Case) -> bool:
    tested = set(case.rule.numbers) | case.rule.numeric_paths | set(case.rule.addresses)
    event_numbers = [n for path in tested for n in case.event.numbers.get(path, ())]
    return any(_not_a_double(n) for n in (*case.rule.all_numbers(), *event_numbers))


def _cross_family(case: Case) -> bool:
    """An event address and a block or address of the other family on the same field."""
    return any(
        rule_family != event_family
        for path, families in case.rule.addresses.items()
        for rule_family in families
        for event_family in case.event.addresses.get(path, ())
    )


def _number_in_cidr(case: Case) -> bool:
    return any(case.event.numbers.get(path) for path in case.rule.addresses)


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
