"""EventBridge event patterns: parse once, match many times.

Kafka hands every record to every consumer group, so the router and the bridge filter on their own side. Users
already write those filters in EventBridge's event-pattern language, so a pattern here must mean what it means in
AWS (see docs/patterns.md for the language, the sources that decide each rule, and the few known differences).

``compile_pattern`` validates a pattern and turns it into a tree of small predicates: wildcard regexes, CIDR
networks and numeric bounds are all prepared up front, so matching an event is a handful of dict look-ups and
comparisons. Matching follows EventBridge's array semantics: a field whose event value is an array matches when
any element matches, and the fields of one pattern object must all come from the same element of an array of
objects (event-ruler's "array-consistent" matching).
"""

from __future__ import annotations

import ipaddress
import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Final

import orjson

from orderstream.errors import OrderstreamError

__all__ = ["MAX_DEPTH", "NUMERIC_LIMIT", "InvalidPatternError", "Pattern", "compile_pattern"]

NUMERIC_LIMIT: Final = 5.0e9
"""EventBridge's numeric matching works on values between -5.0e9 and +5.0e9 inclusive (event-ruler README)."""

MAX_DEPTH: Final = 32
"""Deepest object nesting accepted in a pattern (``$or`` alternatives count as a level). Ours, not AWS's."""

OR_KEY: Final = "$or"

ValueTest = Callable[[Any], bool]
"""A predicate over one scalar event value (str, int, float, bool or None)."""


class InvalidPatternError(OrderstreamError):
    """A pattern was refused. ``path`` says where (``data.total_cents[0].numeric``), ``problem`` what."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path or "<root>"
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


# --------------------------------------------------------------------------------------------- compiled form

_MISSING: Final[Any] = object()


def _never(_value: Any) -> bool:
    return False


@dataclass(frozen=True, slots=True)
class _Leaf:
    """A pattern field whose value is a list of matchers (they are OR-ed)."""

    key: str
    test: ValueTest
    matches_absent: bool  # true only when the list holds {"exists": false}
    only_strings: frozenset[str] = frozenset()  # set when every matcher is an exact string (bytes fast path)


@dataclass(frozen=True, slots=True)
class _Node:
    """A pattern object: every leaf, every child object and every ``$or`` group must match (AND)."""

    leaves: tuple[_Leaf, ...]
    children: tuple[tuple[str, _Node], ...]
    alternatives: tuple[tuple[_Node, ...], ...]
    matches_empty: bool  # precomputed result against an object that has none of the fields


class Pattern:
    """A compiled event pattern. Immutable and safe to share between tasks and threads."""

    __slots__ = ("_needles", "_root", "source")

    def __init__(
        self, source: Mapping[str, Any], root: _Node, needles: tuple[tuple[bytes, ...], ...]
    ) -> None:
        self.source = source
        self._root = root
        self._needles = needles

    def __repr__(self) -> str:
        return f"Pattern({orjson.dumps(self.source).decode()})"

    def matches(self, event: Mapping[str, Any]) -> bool:
        """Whether a decoded JSON event (the record value, not an EventBridge envelope) matches."""
        if type(event) is dict:
            return _match_object(self._root, event)
        return _match_value(self._root, dict(event) if isinstance(event, Mapping) else event)

    def matches_bytes(self, raw: bytes) -> bool:
        """Whether a raw JSON value matches; invalid JSON never matches.

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
        try:
            event = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return False
        return _match_value(self._root, event)


def _match_object(node: _Node, event: dict[str, Any]) -> bool:
    get = event.get
    for leaf in node.leaves:
        value = get(leaf.key, _MISSING)
        kind = type(value)
        if kind is list:
            if not _match_array(leaf, value):
                return False
        elif kind is dict or value is _MISSING:
            if not leaf.matches_absent:  # an object is not a leaf value: the field "does not exist"
                return False
        elif not leaf.test(value):
            return False
    for key, child in node.children:
        if not _match_value(child, get(key, _MISSING)):
            return False
    if not node.alternatives:  # the common case: no generator built per event
        return True
    return all(any(_match_object(alternative, event) for alternative in group) for group in node.alternatives)


def _match_value(node: _Node, value: Any) -> bool:
    """Match a pattern object against whatever sits at its place in the event."""
    kind = type(value)
    if kind is dict:
        return _match_object(node, value)
    if kind is list:
        found = False
        for element in _array_items(value, objects=True):
            found = True
            if _match_object(node, element):
                return True
        if found:
            return False
    return node.matches_empty


def _match_array(leaf: _Leaf, values: list[Any]) -> bool:
    found = False
    test = leaf.test
    for value in _array_items(values, objects=False):
        found = True
        if test(value):
            return True
    return leaf.matches_absent and not found


def _array_items(values: list[Any], objects: bool) -> Iterator[Any]:
    """The objects (or else the other leaf values) of an array, nested arrays flattened iteratively (no
    recursion limit)."""
    stack = [iter(values)]
    while stack:
        for value in stack[-1]:
            kind = type(value)
            if kind is list:
                stack.append(iter(value))
                break
            if (kind is dict) is objects:
                yield value
        else:
            stack.pop()


# --------------------------------------------------------------------------------------------- compiling


def compile_pattern(pattern: str | bytes | Mapping[str, Any]) -> Pattern:
    """Validate a pattern (JSON text or an already decoded mapping) and compile it.

    Raises :class:`InvalidPatternError` naming the path and the problem, as EventBridge's
    InvalidEventPattern does.
    """
    if isinstance(pattern, str | bytes):
        try:
            pattern = orjson.loads(pattern)
        except orjson.JSONDecodeError as exc:
            raise InvalidPatternError("", f"not valid JSON: {exc}") from None
    if not isinstance(pattern, Mapping):
        raise InvalidPatternError("", f"a pattern must be a JSON object, got {_kind(pattern)}")
    root = _compile_object(pattern, "", depth=1)
    return Pattern(pattern, root, _required_literals(root))


def _compile_object(spec: Mapping[str, Any], path: str, depth: int) -> _Node:
    if depth > MAX_DEPTH:
        raise InvalidPatternError(path, f"nested deeper than {MAX_DEPTH} levels")
    if not spec:
        raise InvalidPatternError(path, "an empty object matches nothing; leave the field out instead")
    leaves: list[_Leaf] = []
    children: list[tuple[str, _Node]] = []
    alternatives: list[tuple[_Node, ...]] = []
    for key, value in spec.items():
        if not isinstance(key, str):
            raise InvalidPatternError(path, f"field names must be strings, got {key!r}")
        where = _join(path, key)
        if key == OR_KEY:
            alternatives.append(_compile_or(value, where, depth))
        elif isinstance(value, Mapping):
            children.append((key, _compile_object(value, where, depth + 1)))
        elif isinstance(value, list):
            leaves.append(_compile_leaf(key, value, where))
        else:
            raise InvalidPatternError(where, f"must be an object or a non-empty array, got {_kind(value)}")
    node = _Node(tuple(leaves), tuple(children), tuple(alternatives), matches_empty=False)
    return _Node(node.leaves, node.children, node.alternatives, matches_empty=_match_object(node, {}))


def _compile_or(value: Any, path: str, depth: int) -> tuple[_Node, ...]:
    if not isinstance(value, list) or len(value) < 2:
        raise InvalidPatternError(path, "$or takes an array of at least two pattern objects")
    nodes = []
    for index, alternative in enumerate(value):
        where = f"{path}[{index}]"
        if not isinstance(alternative, Mapping):
            raise InvalidPatternError(
                where, f"each $or alternative must be an object, got {_kind(alternative)}"
            )
        nodes.append(_compile_object(alternative, where, depth + 1))
    return tuple(nodes)


def _compile_leaf(key: str, matchers: list[Any], path: str) -> _Leaf:
    if not matchers:
        raise InvalidPatternError(path, "an empty array matches nothing")
    strings: set[str] = set()
    numbers: set[float] = set()
    literals: list[Any] = []
    tests: list[ValueTest] = []
    matches_absent = False
    for index, matcher in enumerate(matchers):
        where = f"{path}[{index}]"
        if isinstance(matcher, Mapping):
            operator, operand = _single_operator(matcher, where)
            if operator == "exists":
                exists = _expect_bool(operand, _join(where, operator))
                if exists:
                    tests.append(_always)
                else:
                    matches_absent = True
            else:
                tests.append(_OPERATORS[operator](operand, _join(where, operator)))
        else:
            _add_exact(matcher, where, strings, numbers, literals)
    exact = _exact_test(frozenset(strings), frozenset(numbers), tuple(literals))
    if exact is not _never:
        tests.insert(0, exact)
    only_strings = frozenset(strings) if all(isinstance(m, str) for m in matchers) else frozenset()
    return _Leaf(key, _any_of(tests), matches_absent, only_strings)


def _single_operator(matcher: Mapping[str, Any], path: str) -> tuple[str, Any]:
    if len(matcher) != 1:
        raise InvalidPatternError(path, f"a matcher object holds exactly one operator, got {len(matcher)}")
    ((operator, operand),) = matcher.items()
    if operator not in _OPERATORS and operator != "exists":
        known = ", ".join(sorted([*_OPERATORS, "exists"]))
        raise InvalidPatternError(path, f"unknown operator {operator!r} (known: {known})")
    return operator, operand


def _add_exact(value: Any, path: str, strings: set[str], numbers: set[float], literals: list[Any]) -> None:
    if isinstance(value, str):
        strings.add(value)
    elif value is None or isinstance(value, bool):
        literals.append(value)
    elif isinstance(value, int | float):
        numbers.add(_finite(value, path))
    else:
        raise InvalidPatternError(
            path, f"expected a string, number, boolean, null or operator, got {_kind(value)}"
        )


# --------------------------------------------------------------------------------------------- value tests


def _always(_value: Any) -> bool:
    return True


def _any_of(tests: list[ValueTest]) -> ValueTest:
    if not tests:
        return _never
    if len(tests) == 1:
        return tests[0]
    frozen = tuple(tests)

    def any_test(value: Any) -> bool:
        return any(test(value) for test in frozen)

    return any_test


def _is_number(value: Any) -> bool:
    kind = type(value)
    return kind is int or kind is float


def _exact_test(strings: frozenset[str], numbers: frozenset[float], literals: tuple[Any, ...]) -> ValueTest:
    """Equality that keeps JSON types apart: "5" is not 5, and true is not 1."""
    tests: list[ValueTest] = []
    if strings:
        if len(strings) == 1:
            (only,) = strings
            tests.append(lambda value: type(value) is str and value == only)
        else:
            tests.append(lambda value: type(value) is str and value in strings)
    if numbers:
        tests.append(lambda value: (type(value) is int or type(value) is float) and value in numbers)
    tests.extend(_identical_to(literal) for literal in literals)
    return _any_of(tests)


def _identical_to(literal: Any) -> ValueTest:
    return lambda value: value is literal


def _prefix(operand: Any, path: str) -> ValueTest:
    if isinstance(operand, Mapping):
        text = _ignore_case_operand(operand, path).lower()
        return lambda value: type(value) is str and value.lower().startswith(text)
    prefix = _expect_str(operand, path)
    return lambda value: type(value) is str and value.startswith(prefix)


def _suffix(operand: Any, path: str) -> ValueTest:
    if isinstance(operand, Mapping):
        text = _ignore_case_operand(operand, path).lower()
        return lambda value: type(value) is str and value.lower().endswith(text)
    suffix = _expect_str(operand, path)
    return lambda value: type(value) is str and value.endswith(suffix)


def _ignore_case_operand(operand: Mapping[str, Any], path: str) -> str:
    if set(operand) != {"equals-ignore-case"}:
        raise InvalidPatternError(path, 'takes a string or {"equals-ignore-case": "<string>"}')
    return _expect_str(operand["equals-ignore-case"], _join(path, "equals-ignore-case"))


def _equals_ignore_case(operand: Any, path: str) -> ValueTest:
    texts = frozenset(text.lower() for text in _str_or_str_list(operand, path))
    return lambda value: type(value) is str and value.lower() in texts


def _wildcard(operand: Any, path: str) -> ValueTest:
    tests = [_wildcard_test(text, path) for text in _str_or_str_list(operand, path)]
    return _any_of(tests)


def _wildcard_test(text: str, path: str) -> ValueTest:
    regex = _wildcard_regex(text, path)
    if regex is None:
        literal = text.replace("\\\\", "\\")
        return lambda value: type(value) is str and value == literal
    fullmatch = regex.fullmatch
    return lambda value: type(value) is str and fullmatch(value) is not None


def _wildcard_regex(text: str, path: str) -> re.Pattern[str] | None:
    """``*`` is any run of characters, ``\\*`` a literal star, ``\\\\`` a backslash; nothing else escapes."""
    parts: list[str] = []
    has_star = False
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\":
            escaped = text[index + 1 : index + 2]
            if escaped not in ("*", "\\"):
                raise InvalidPatternError(path, f"backslash at position {index} may only escape '*' or '\\'")
            parts.append(re.escape(escaped))
            has_star = has_star or escaped == "*"
            index += 2
            continue
        if char == "*":
            if text[index + 1 : index + 2] == "*":
                raise InvalidPatternError(path, f"consecutive wildcard characters at position {index}")
            parts.append(".*")
            has_star = True
        else:
            parts.append(re.escape(char))
        index += 1
    return re.compile("".join(parts), re.DOTALL) if has_star else None


def _numeric(operand: Any, path: str) -> ValueTest:
    lower, lower_inclusive, upper, upper_inclusive = _numeric_bounds(operand, path)

    def in_range(value: Any) -> bool:
        if type(value) is not int and type(value) is not float:
            return False
        if value < lower or (value == lower and not lower_inclusive):
            return False
        return not (value > upper or (value == upper and not upper_inclusive))

    return in_range


def _numeric_bounds(operand: Any, path: str) -> tuple[float, bool, float, bool]:
    """Read ``[">", 0, "<=", 5]`` into (lower, inclusive, upper, inclusive); at most one bound per side."""
    if not isinstance(operand, list) or not operand or len(operand) % 2:
        raise InvalidPatternError(path, 'takes an array of operator/number pairs, e.g. [">", 0, "<=", 5]')
    lower: float | None = None
    upper: float | None = None
    lower_inclusive = upper_inclusive = True
    for index in range(0, len(operand), 2):
        operator, bound = operand[index], operand[index + 1]
        where = f"{path}[{index + 1}]"
        number = _finite(bound, where) if _is_number(bound) else _bad_bound(bound, where)
        if abs(number) > NUMERIC_LIMIT:
            raise InvalidPatternError(
                where, f"{number!r} is outside the supported range ±{NUMERIC_LIMIT:.1e}"
            )
        if operator == "=":
            if len(operand) != 2:
                raise InvalidPatternError(f"{path}[{index}]", '"=" cannot be combined with other bounds')
            return number, True, number, True
        if operator in (">", ">="):
            if lower is not None:
                raise InvalidPatternError(f"{path}[{index}]", "more than one lower bound")
            lower, lower_inclusive = number, operator == ">="
        elif operator in ("<", "<="):
            if upper is not None:
                raise InvalidPatternError(f"{path}[{index}]", "more than one upper bound")
            upper, upper_inclusive = number, operator == "<="
        else:
            raise InvalidPatternError(f"{path}[{index}]", f"unknown numeric operator {operator!r}")
    empty = (
        lower is not None
        and upper is not None
        and (lower > upper or (lower == upper and not (lower_inclusive and upper_inclusive)))
    )
    if empty:
        raise InvalidPatternError(
            path, f"empty range: lower bound {lower!r} is not below upper bound {upper!r}"
        )
    return (
        -NUMERIC_LIMIT if lower is None else lower,
        lower_inclusive,
        NUMERIC_LIMIT if upper is None else upper,
        upper_inclusive,
    )


def _bad_bound(bound: Any, path: str) -> float:
    raise InvalidPatternError(path, f"numeric bounds must be numbers, got {_kind(bound)}")


def _cidr(operand: Any, path: str) -> ValueTest:
    text = _expect_str(operand, path)
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError as exc:
        raise InvalidPatternError(path, f"not an IPv4 or IPv6 CIDR block: {exc}") from None
    parse = ipaddress.ip_address

    def in_network(value: Any) -> bool:
        if type(value) is not str:
            return False
        try:
            return parse(value) in network
        except ValueError:
            return False

    return in_network


def _anything_but(operand: Any, path: str) -> ValueTest:
    """Matches every leaf value the operand does not describe, whatever its JSON type."""
    excluded: ValueTest
    if isinstance(operand, Mapping):
        if len(operand) != 1:
            raise InvalidPatternError(
                path, "takes a value, an array, or one of prefix, suffix, equals-ignore-case, wildcard"
            )
        ((operator, inner),) = operand.items()
        if operator not in _ANYTHING_BUT_OPERATORS:
            raise InvalidPatternError(_join(path, operator), "not supported inside anything-but")
        excluded = _ANYTHING_BUT_OPERATORS[operator](inner, _join(path, operator))
    else:
        excluded = _anything_but_values(operand, path)
    return lambda value: not excluded(value)


def _anything_but_values(operand: Any, path: str) -> ValueTest:
    values = operand if isinstance(operand, list) else [operand]
    if not values:
        raise InvalidPatternError(path, "an empty array excludes nothing")
    if all(isinstance(value, str) for value in values):
        return _exact_test(frozenset(values), frozenset(), ())
    if all(_is_number(value) for value in values):
        numbers = frozenset(_finite(value, f"{path}[{i}]") for i, value in enumerate(values))
        return _exact_test(frozenset(), numbers, ())
    raise InvalidPatternError(path, "takes a string, a number, or an array of only strings or only numbers")


def _prefix_string_only(operand: Any, path: str) -> ValueTest:
    prefix = _expect_str(operand, path)
    return lambda value: type(value) is str and value.startswith(prefix)


def _suffix_string_only(operand: Any, path: str) -> ValueTest:
    suffix = _expect_str(operand, path)
    return lambda value: type(value) is str and value.endswith(suffix)


_OPERATORS: Final[dict[str, Callable[[Any, str], ValueTest]]] = {
    "prefix": _prefix,
    "suffix": _suffix,
    "equals-ignore-case": lambda operand, path: _equals_ignore_case(_expect_str(operand, path), path),
    "wildcard": lambda operand, path: _wildcard_test(_expect_str(operand, path), path),
    "anything-but": _anything_but,
    "numeric": _numeric,
    "cidr": _cidr,
}

_ANYTHING_BUT_OPERATORS: Final[dict[str, Callable[[Any, str], ValueTest]]] = {
    "prefix": _prefix_string_only,
    "suffix": _suffix_string_only,
    "equals-ignore-case": _equals_ignore_case,
    "wildcard": _wildcard,
}


# --------------------------------------------------------------------------------------------- helpers


def _required_literals(root: _Node) -> tuple[tuple[bytes, ...], ...]:
    """For the bytes fast path: groups of JSON string literals of which the event must hold one each.

    Only leaves reached through plain objects (no ``$or``) whose matchers are all exact strings qualify, and
    only strings that JSON writes without escapes.
    """
    groups: list[tuple[bytes, ...]] = []
    for leaf in _leaves_without_or(root):
        if not leaf.only_strings:
            continue
        needles = tuple(orjson.dumps(text) for text in sorted(leaf.only_strings))
        if all(b"\\" not in needle for needle in needles):
            groups.append(needles)
    return tuple(groups)


def _leaves_without_or(node: _Node) -> Iterator[_Leaf]:
    yield from node.leaves
    for _key, child in node.children:
        yield from _leaves_without_or(child)


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _expect_str(value: Any, path: str) -> str:
    if not isinstance(value, str):
        raise InvalidPatternError(path, f"expected a string, got {_kind(value)}")
    return value


def _expect_bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidPatternError(path, f"expected true or false, got {_kind(value)}")
    return value


def _str_or_str_list(value: Any, path: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(item, str) for item in value):
        return list(value)
    raise InvalidPatternError(path, "expected a string or a non-empty array of strings")


def _finite(value: int | float, path: str) -> float:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidPatternError(path, f"{value!r} is not a finite number")
    return value
