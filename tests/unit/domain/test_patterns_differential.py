"""Differential test: our matcher against moto's EventBridge ``EventPattern`` on a generated corpus.

The generator covers the language where moto models AWS faithfully. Where moto departs from AWS, each
disagreement is pinned below in its own test, with both answers and the documented AWS behaviour that decides
it (docs/patterns.md lists the same cases). Pure comparison: no moto server, no AWS calls.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orderstream.domain.patterns import InvalidPatternError, compile_pattern

moto_models = pytest.importorskip("moto.events.models")
EventPattern = moto_models.EventPattern

KEYS = st.sampled_from(["a", "b", "c"])
WORDS = [
    "", "x", "xy", "X", "xY", "init", "initializing", "running", "a*b", "image.png", "image.PNG",
    "Zürich", "ZÜRICH", "10.0.0.7", "10.0.1.7", "192.168.1.20", "2001:db8::5",
]  # fmt: skip
STRINGS = st.one_of(st.sampled_from(WORDS), st.text(alphabet="xyXY.*é", max_size=4))
# 0 and 1 are left out: moto compares with Python's ==, where True == 1 (pinned in a test below).
NUMBERS = st.one_of(
    st.sampled_from([-7, 2, 3, 5, 10.5, 300, 3.0e2, 4999.5]),
    st.integers(-20, 20).filter(lambda n: n not in (0, 1)),
)
SCALARS = st.one_of(STRINGS, NUMBERS, st.none())  # events hold no booleans (see the True == 1 test)
WILDCARDS = st.sampled_from(["*", "x*", "*y", "x*y", "i*g", "*.png", "a\\*b", "*\\**", "10.0.*"])
NETWORKS = st.sampled_from(["10.0.0.0/24", "10.0.0.0/8", "192.168.1.0/24", "2001:db8::/32", "10.0.0.6/31"])


def _numeric() -> st.SearchStrategy[dict[str, Any]]:
    bound = st.integers(-10, 400)

    def build(lower: int, width: int, lower_op: str, upper_op: str, shape: str) -> dict[str, Any]:
        if shape == "eq":
            return {"numeric": ["=", lower]}
        if shape == "lower":
            return {"numeric": [lower_op, lower]}
        if shape == "upper":
            return {"numeric": [upper_op, lower]}
        return {"numeric": [lower_op, lower, upper_op, lower + width]}

    return st.builds(
        build,
        bound,
        st.integers(1, 50),
        st.sampled_from([">", ">="]),
        st.sampled_from(["<", "<="]),
        st.sampled_from(["eq", "lower", "upper", "range"]),
    )


def _anything_but() -> st.SearchStrategy[dict[str, Any]]:
    operand = st.one_of(
        STRINGS,
        NUMBERS,
        st.lists(STRINGS, min_size=1, max_size=3),
        st.lists(NUMBERS, min_size=1, max_size=3),
        st.builds(lambda s: {"prefix": s}, STRINGS.filter(bool)),  # an empty one is refused (event-ruler)
        st.builds(lambda s: {"suffix": s}, STRINGS.filter(bool)),
        st.builds(
            lambda s: {"equals-ignore-case": s}, st.one_of(STRINGS, st.lists(STRINGS, min_size=1, max_size=2))
        ),
        st.builds(
            lambda w: {"wildcard": w}, st.one_of(WILDCARDS, st.lists(WILDCARDS, min_size=1, max_size=2))
        ),
    )
    return st.builds(lambda value: {"anything-but": value}, operand)


MATCHERS = st.one_of(
    SCALARS,
    st.booleans(),
    st.builds(lambda s: {"prefix": s}, STRINGS),
    st.builds(lambda s: {"prefix": {"equals-ignore-case": s}}, STRINGS),
    st.builds(lambda s: {"suffix": s}, STRINGS),
    st.builds(lambda s: {"suffix": {"equals-ignore-case": s}}, STRINGS),
    st.builds(lambda s: {"equals-ignore-case": s}, STRINGS),
    st.builds(lambda w: {"wildcard": w}, WILDCARDS),
    st.builds(lambda b: {"exists": b}, st.booleans()),
    st.builds(lambda n: {"cidr": n}, NETWORKS),
    _anything_but(),
    _numeric(),
)


def _pattern_objects(depth: int, keys: st.SearchStrategy[str] = KEYS) -> st.SearchStrategy[dict[str, Any]]:
    leaf = st.lists(MATCHERS, min_size=1, max_size=3)
    if depth == 0:
        value: st.SearchStrategy[Any] = leaf
        extra: dict[str, st.SearchStrategy[Any]] = {}
    else:
        value = st.one_of(leaf, leaf, _pattern_objects(depth - 1))
        # a field is given once: the alternatives of each $or level use keys of their own
        or_keys = st.sampled_from([f"{key}{depth}" for key in "def"])
        extra = {"$or": st.lists(_pattern_objects(depth - 1, or_keys), min_size=2, max_size=3)}
    fields = st.dictionaries(keys, value, min_size=1, max_size=3)
    if not extra:
        return fields
    return st.builds(lambda base, alt: {**base, **alt}, fields, st.fixed_dictionaries({}, optional=extra))


def _events(depth: int) -> st.SearchStrategy[dict[str, Any]]:
    scalar_or_list = st.one_of(SCALARS, SCALARS, st.lists(SCALARS, min_size=1, max_size=4))
    value = scalar_or_list if depth == 0 else st.one_of(scalar_or_list, _events(depth - 1))
    return st.dictionaries(KEYS, value, min_size=1, max_size=3)


_ABSENT = object()


def _seed(matcher: Any) -> Any:
    """A value close to what ``matcher`` accepts, so generated events often match (or just miss)."""
    if not isinstance(matcher, dict):
        return matcher
    ((operator, operand),) = matcher.items()
    if operator == "exists":
        return "x" if operand else _ABSENT
    if operator == "numeric":
        return operand[1] if len(operand) == 2 else operand[3]
    if isinstance(operand, dict):
        operand = next(iter(operand.values()))
    if isinstance(operand, list):
        operand = operand[-1]
    if operator == "cidr":
        return operand.split("/")[0]
    if operator == "wildcard":
        return operand.replace("\\*", "*").replace("*", "x")
    if operator == "prefix":
        return f"{operand}tail"
    if operator == "suffix":
        return f"head{operand}"
    return operand if isinstance(operand, str | int | float) else "x"


@st.composite
def _event_for(draw: st.DrawFn, pattern: dict[str, Any], depth: int = 2) -> dict[str, Any]:
    """An event shaped like ``pattern``: its fields mostly present, values drawn near the matchers'."""
    event: dict[str, Any] = draw(_events(0)) if draw(st.booleans()) else {}
    fields = dict(pattern)
    while "$or" in fields:  # an alternative may hold its own $or
        fields.update(draw(st.sampled_from(fields.pop("$or"))))
    for key, spec in fields.items():
        if draw(st.integers(1, 10)) == 10:  # hypothesis favours small draws: keep the field by default
            event.pop(key, None)
        elif isinstance(spec, dict):
            event[key] = draw(_event_for(spec, depth - 1))
        else:
            near = _seed(draw(st.sampled_from(spec)))
            shape = draw(st.sampled_from(["near", "near", "near", "other", "list"]))
            if near is _ABSENT:
                event.pop(key, None)
            elif isinstance(near, bool):  # events hold no booleans (see the True == 1 test)
                event[key] = "x"
            elif shape == "near":
                event[key] = near
            elif shape == "other":
                event[key] = draw(SCALARS)
            else:
                event[key] = [*draw(st.lists(SCALARS, max_size=2)), near]
    return event


PATTERNS = _pattern_objects(depth=2)
EVENTS = _events(depth=2)
PAIRS = st.one_of(
    st.tuples(PATTERNS, EVENTS),
    PATTERNS.flatmap(lambda pattern: st.tuples(st.just(pattern), _event_for(pattern))),
    PATTERNS.flatmap(lambda pattern: st.tuples(st.just(pattern), _event_for(pattern))),
)


def moto_matches(pattern: dict[str, Any], event: dict[str, Any]) -> bool:
    return bool(EventPattern(None, pattern).matches_event(event))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pair=PAIRS)
def test_agrees_with_moto(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
    pattern, event = pair
    assert compile_pattern(pattern).matches(event) == moto_matches(pattern, event)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data(), pattern=PATTERNS)
def test_agrees_with_moto_when_one_pattern_meets_many_events(
    data: st.DataObject, pattern: dict[str, Any]
) -> None:
    events = data.draw(st.lists(st.one_of(EVENTS, _event_for(pattern)), min_size=1, max_size=5))
    compiled = compile_pattern(pattern)
    assert [compiled.matches(e) for e in events] == [moto_matches(pattern, e) for e in events]


def test_corpus_produces_both_outcomes() -> None:
    """Guard against a vacuous corpus where (nearly) every pair fails, or passes, to match."""
    outcomes: list[bool] = []

    @settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
    @given(pair=PAIRS)
    def collect(pair: tuple[dict[str, Any], dict[str, Any]]) -> None:
        outcomes.append(compile_pattern(pair[0]).matches(pair[1]))

    collect()
    assert 0.05 < sum(outcomes) / len(outcomes) < 0.95


# --------------------------------------------------------------------------------------------- pinned disagreements
# Each test states moto's answer and ours; the comment names the documented AWS behaviour that decides it.


def test_objects_inside_arrays() -> None:
    # event-ruler README, "JSON Array Matching": the array structure is crushed out, so
    # {"employees": {"firstName": ["Anna"]}} matches an array of employee objects. moto does not descend arrays.
    pattern = {"employees": {"firstName": ["Anna"]}}
    event = {"employees": [{"firstName": "John"}, {"firstName": "Anna"}]}
    assert compile_pattern(pattern).matches(event) is True
    assert moto_matches(pattern, event) is False


def test_booleans_are_not_numbers() -> None:
    # JSON true is a literal, not the number 1; numeric matching "only works with values that are JSON numbers"
    # (user guide, numeric matching). moto compares with Python ==, where True == 1.
    for pattern, event in [
        ({"n": [1]}, {"n": True}),
        ({"n": [True]}, {"n": 1}),
        ({"n": [{"numeric": [">", 0]}]}, {"n": True}),
    ]:
        assert compile_pattern(pattern).matches(event) is False
        assert moto_matches(pattern, event) is True


def test_empty_arrays_and_objects_hold_no_value() -> None:
    # exists matching works on leaf nodes only (user guide / event-ruler README); [] and {} contribute no
    # leaf value, so the field does not exist and anything-but has nothing to compare. moto sees a key.
    cases = [
        ({"a": [{"exists": True}]}, {"a": []}, False, True),
        ({"a": [{"exists": False}]}, {"a": []}, True, False),
        ({"a": [{"exists": True}]}, {"a": {}}, False, True),
        ({"a": [{"anything-but": "x"}]}, {"a": {}}, False, True),
    ]
    for pattern, event, ours, moto in cases:
        assert compile_pattern(pattern).matches(event) is ours
        assert moto_matches(pattern, event) is moto


def test_cidr_only_matches_ip_address_strings() -> None:
    # cidr matches IP addresses, which events carry as strings; moto passes numbers to ipaddress.ip_address,
    # which reads 5 as 0.0.0.5.
    pattern, event = {"ip": [{"cidr": "0.0.0.0/24"}]}, {"ip": 5}
    assert compile_pattern(pattern).matches(event) is False
    assert moto_matches(pattern, event) is True


def test_wildcard_star_spans_line_breaks() -> None:
    # "*" stands for zero or more characters, any characters; moto's regex "." stops at a newline.
    pattern, event = {"s": [{"wildcard": "a*b"}]}, {"s": "a\nb"}
    assert compile_pattern(pattern).matches(event) is True
    assert moto_matches(pattern, event) is False


def test_numeric_matching_range_is_bounded() -> None:
    # event-ruler README: numeric matching is limited to values between -5.0e9 and +5.0e9 inclusive.
    pattern, event = {"n": [{"numeric": [">", 0]}]}, {"n": 6_000_000_000}
    assert compile_pattern(pattern).matches(event) is False
    assert moto_matches(pattern, event) is True


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [
        ({"$or": [{"a": ["x"]}]}, "event-ruler README: $or needs 2+ objects"),
        (
            {"a": [{"wildcard": "a**b"}]},
            "event-ruler README: consecutive wildcard characters are not allowed",
        ),
        ({"a": [{"wildcard": "a\\b"}]}, "event-ruler README: a backslash may only escape '*' or '\\'"),
        ({"a": [{"numeric": [">", 5, "<", 5]}]}, "an empty numeric range can never match"),
        ({"a": [{"numeric": [">", 6e9]}]}, "event-ruler README: numeric range is ±5.0e9"),
        ({"a": [{"anything-but": ["x", 1]}]}, "user guide: lists contain only strings, or only numbers"),
        ({"a": [{"contains": "x"}]}, "not an EventBridge operator"),
    ],
)
def test_patterns_we_refuse_that_moto_accepts(pattern: dict[str, Any], reason: str) -> None:
    EventPattern.load(__import__("json").dumps(pattern))  # moto: accepted
    with pytest.raises(InvalidPatternError):
        compile_pattern(pattern)
