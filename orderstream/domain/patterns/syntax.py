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
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, NoReturn

from orderstream.domain.patterns import atoms as _a
from orderstream.domain.patterns.addresses import parse_address, parse_cidr
from orderstream.domain.patterns.atoms import NUMERIC_LIMIT, Atom
from orderstream.errors import OrderstreamError

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


class InvalidPatternError(OrderstreamError):
    """A pattern was refused. ``path`` says where (``data.total_cents[0].numeric``), ``problem`` what."""

    def __init__(self, path: str, problem: str) -> None:
        self.path = path or "<root>"
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


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
        raise InvalidPatternError("", f"a pattern must be a JSON object, got {_kind(pattern)}")
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
        here = _join(where, key)
        if key == OR_KEY:
            options = _or(value, prefix, here, depth)
        elif in_or and key in _RESERVED_IN_OR:
            raise InvalidPatternError(here, f"{key!r} is an operator name and cannot be a field inside $or")
        elif isinstance(value, Mapping):
            options = _object(value, f"{prefix}{key}.", here, depth + 1, in_or)
        elif isinstance(value, list):
            options = _leaf(f"{prefix}{key}", value, here)
        else:
            raise InvalidPatternError(here, f"must be an object or a non-empty array, got {_kind(value)}")
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
                here, f"each $or alternative must be an object, got {_kind(alternative)}"
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
                if _expect_bool(operand, _join(here, operator)):
                    found.append(Atom("exists", None))
                else:
                    absent = True
            else:
                found.append(_OPERATORS[operator](operand, _join(here, operator)))
        else:
            found.append(_exact(matcher, here))
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
    if operator not in _OPERATORS and operator != "exists":
        known = ", ".join(sorted([*_OPERATORS, "exists"]))
        raise InvalidPatternError(path, f"unknown operator {operator!r} (known: {known})")
    return str(operator), operand


def _exact(value: Any, path: str) -> Atom:
    """A plain value. Strings that are IP addresses compare as addresses, as event-ruler compares them."""
    if isinstance(value, str):
        address = parse_address(value)
        return Atom("address", address) if address is not None else Atom("string", value)
    if value is None or isinstance(value, bool):
        return Atom("literal", value)
    if isinstance(value, int | float):
        return Atom("number", _a.number_key(_finite(value, path)))
    raise InvalidPatternError(
        path, f"expected a string, number, boolean, null or operator, got {_kind(value)}"
    )


# --------------------------------------------------------------------------------------------- operators


def _prefix(operand: Any, path: str) -> Atom:
    if isinstance(operand, Mapping):
        text = _ignore_case_operand(operand, path)
        return Atom("test", ("prefix-ic", text), _a.regex_test(_a.ignore_case_regex(text), "prefix"))
    return Atom("prefix", _expect_str(operand, path))


def _suffix(operand: Any, path: str) -> Atom:
    if isinstance(operand, Mapping):
        text = _ignore_case_operand(operand, path)
        return Atom("test", ("suffix-ic", text), _a.regex_test(_a.ignore_case_regex(text), "suffix"))
    return Atom("suffix", _expect_str(operand, path))


def _ignore_case_operand(operand: Mapping[str, Any], path: str) -> str:
    if set(operand) != {"equals-ignore-case"}:
        raise InvalidPatternError(path, 'takes a string or {"equals-ignore-case": "<string>"}')
    return _expect_str(operand["equals-ignore-case"], _join(path, "equals-ignore-case"))


def _equals_ignore_case(operand: Any, path: str) -> Atom:
    text = _expect_str(operand, path)
    return Atom("test", ("ic", text), _a.regex_test(_a.ignore_case_regex(text), "full"))


def _wildcard(operand: Any, path: str) -> Atom:
    text = _expect_str(operand, path)
    return Atom("test", ("wildcard", text), _a.wildcard_test(text, path, InvalidPatternError))


def _exactly(operand: Any, path: str) -> Atom:
    return Atom("string", _expect_str(operand, path))  # a plain string compare, never an address


def _cidr(operand: Any, path: str) -> Atom:
    text = _expect_str(operand, path)
    try:
        family, lowest, highest = parse_cidr(text)
    except ValueError as exc:
        raise InvalidPatternError(path, f"not a CIDR block: {exc}") from None
    return Atom("cidr", (family, lowest, highest), _a.address_in(family, lowest, highest))


def _numeric(operand: Any, path: str) -> Atom:
    """``["=", n]``, or a lower bound (``>``/``>=``), an upper bound (``<``/``<=``), or lower then upper."""
    if not isinstance(operand, list) or not operand or len(operand) % 2:
        raise InvalidPatternError(path, 'takes an array of operator/number pairs, e.g. [">", 0, "<=", 5]')
    bounds: list[tuple[str, float]] = []
    for index in range(0, len(operand), 2):
        operator, bound = operand[index], operand[index + 1]
        where = f"{path}[{index + 1}]"
        if not _a.is_number(bound):
            raise InvalidPatternError(where, f"numeric bounds must be numbers, got {_kind(bound)}")
        number = _finite(bound, where)
        if abs(number) > NUMERIC_LIMIT:
            raise InvalidPatternError(
                where, f"{number!r} is outside the supported range ±{NUMERIC_LIMIT:.1e}"
            )
        if operator not in ("=", ">", ">=", "<", "<="):
            raise InvalidPatternError(f"{path}[{index}]", f"unknown numeric operator {operator!r}")
        bounds.append((operator, number))
    _check_bound_order(bounds, path)
    if bounds[0][0] == "=":
        return Atom("range", (bounds[0][1], True, bounds[0][1], True))
    lower, lower_inclusive = -NUMERIC_LIMIT, True
    upper, upper_inclusive = NUMERIC_LIMIT, True
    for operator, number in bounds:
        if operator in (">", ">="):
            lower, lower_inclusive = number, operator == ">="
        else:
            upper, upper_inclusive = number, operator == "<="
    if len(bounds) == 2 and lower >= upper:
        raise InvalidPatternError(
            path,
            f'empty range: lower bound {lower!r} is not below upper bound {upper!r} (one value: ["=", n])',
        )
    return Atom("range", (lower, lower_inclusive, upper, upper_inclusive))


def _check_bound_order(bounds: list[tuple[str, float]], path: str) -> None:
    """event-ruler reads ``=`` alone, or a lower bound first and an upper bound last; it refuses the rest."""
    operators = [operator for operator, _ in bounds]
    if "=" in operators:
        if len(operators) > 1:
            where = f"{path}[{2 * operators.index('=')}]"
            raise InvalidPatternError(where, '"=" cannot be combined with other bounds')
        return
    if len(operators) > 2:
        raise InvalidPatternError(path, "at most one lower and one upper bound")
    if len(operators) == 2:
        lower = [operator in (">", ">=") for operator in operators]
        if lower == [True, True]:
            raise InvalidPatternError(f"{path}[2]", "more than one lower bound")
        if lower == [False, False]:
            raise InvalidPatternError(f"{path}[2]", "more than one upper bound")
        if lower == [False, True]:
            raise InvalidPatternError(f"{path}[0]", 'write the lower bound first, e.g. [">", 0, "<", 5]')


def _anything_but(operand: Any, path: str) -> Atom:
    if isinstance(operand, Mapping):
        if len(operand) != 1:
            raise InvalidPatternError(
                path, "takes a value, an array, or one of prefix, suffix, equals-ignore-case, wildcard"
            )
        ((operator, inner),) = operand.items()
        where = _join(path, str(operator))
        if operator not in _ANYTHING_BUT:
            raise InvalidPatternError(where, "not supported inside anything-but")
        texts = _str_or_str_list(inner, where)
        if operator in ("prefix", "suffix") and "" in texts:
            raise InvalidPatternError(where, f"an empty {operator} would exclude every string")
        excluded = _ANYTHING_BUT[operator](texts, where)
        return Atom("test", (f"anything-but-{operator}", frozenset(texts)), _a.anything_but(excluded))
    values = operand if isinstance(operand, list) else [operand]
    if not values:
        raise InvalidPatternError(path, "an empty array excludes nothing")
    if all(isinstance(value, str) for value in values):
        strings = frozenset(values)
        return Atom("test", ("anything-but", strings), _a.anything_but(_a.string_in(strings)))
    if all(_a.is_number(value) for value in values):
        numbers = frozenset(_a.number_key(_finite(v, f"{path}[{i}]")) for i, v in enumerate(values))
        return Atom("test", ("anything-but-numbers", numbers), _a.anything_but(_a.number_in(numbers)))
    raise InvalidPatternError(path, "takes a string, a number, or an array of only strings or only numbers")


def _any_regex(texts: list[str], how: str) -> _a.ValueTest:
    tests = [_a.regex_test(pattern, how) for pattern in texts]
    return lambda value: any(test(value) for test in tests)


_ANYTHING_BUT: Final[dict[str, Callable[[list[str], str], _a.ValueTest]]] = {
    "prefix": lambda texts, _path: _any_regex([_escape(t) for t in texts], "prefix"),
    "suffix": lambda texts, _path: _any_regex([_escape(t) for t in texts], "suffix"),
    "equals-ignore-case": lambda texts, _path: _any_regex([_a.ignore_case_regex(t) for t in texts], "full"),
    "wildcard": lambda texts, path: _any_of([_a.wildcard_test(t, path, InvalidPatternError) for t in texts]),
}

_OPERATORS: Final[dict[str, Callable[[Any, str], Atom]]] = {
    "prefix": _prefix,
    "suffix": _suffix,
    "equals-ignore-case": _equals_ignore_case,
    "wildcard": _wildcard,
    "exactly": _exactly,
    "anything-but": _anything_but,
    "numeric": _numeric,
    "cidr": _cidr,
}


# --------------------------------------------------------------------------------------------- helpers


def _escape(text: str) -> str:
    return re.escape(text)


def _any_of(tests: list[_a.ValueTest]) -> _a.ValueTest:
    return lambda value: any(test(value) for test in tests)


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


def _finite(value: int | float, path: str) -> int | float:
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidPatternError(path, f"{value!r} is not a finite number")
    return value
