"""The operators of a field list (``{"prefix": ...}``, ``{"numeric": [...]}``...) and plain values, as atoms.

Each function validates its operand the way event-ruler does (docs/patterns.md, *Validation*) and raises
:class:`InvalidPatternError` naming the path of the offending piece.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from orderstream.domain.patterns import atoms as _a
from orderstream.domain.patterns.addresses import parse_address, parse_cidr
from orderstream.domain.patterns.atoms import NUMERIC_LIMIT, Atom
from orderstream.domain.patterns.errors import InvalidPatternError

__all__ = ["OPERATORS", "exact", "expect_bool", "join", "kind"]


def exact(value: Any, path: str) -> Atom:
    """A plain value. Strings that are IP addresses compare as addresses, as event-ruler compares them."""
    if isinstance(value, str):
        address = parse_address(value)
        return Atom("address", address) if address is not None else Atom("string", value)
    if value is None or isinstance(value, bool):
        return Atom("literal", value)
    if isinstance(value, int | float):
        return Atom("number", _a.number_key(_finite(value, path)))
    raise InvalidPatternError(
        path, f"expected a string, number, boolean, null or operator, got {kind(value)}"
    )


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
    return _expect_str(operand["equals-ignore-case"], join(path, "equals-ignore-case"))


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
            raise InvalidPatternError(where, f"numeric bounds must be numbers, got {kind(bound)}")
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
        where = join(path, str(operator))
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

OPERATORS: Final[dict[str, Callable[[Any, str], Atom]]] = {
    "prefix": _prefix,
    "suffix": _suffix,
    "equals-ignore-case": _equals_ignore_case,
    "wildcard": _wildcard,
    "exactly": _exactly,
    "anything-but": _anything_but,
    "numeric": _numeric,
    "cidr": _cidr,
}


def _escape(text: str) -> str:
    return re.escape(text)


def _any_of(tests: list[_a.ValueTest]) -> _a.ValueTest:
    return lambda value: any(test(value) for test in tests)


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def kind(value: Any) -> str:
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
        raise InvalidPatternError(path, f"expected a string, got {kind(value)}")
    return value


def expect_bool(value: Any, path: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidPatternError(path, f"expected true or false, got {kind(value)}")
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
