"""The compiled rule set (PatternSet): every matching pattern, in a stable order, the same answers as the
patterns one at a time, and bounded work on events that could multiply it."""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest

from orderstream.domain.patterns import InvalidPatternError, Pattern, PatternSet, compile_pattern
from orderstream.domain.patterns.decoding import decode_event
from tools.patterns_oracle.cases import generate


def test_every_matching_pattern_comes_back_in_the_order_given() -> None:
    patterns = [
        compile_pattern({"event_type": ["order.created"]}),
        compile_pattern({"data": {"region": [{"prefix": "eu-"}]}}),
        compile_pattern({"event_type": ["payment.failed"]}),
        compile_pattern(
            {"data": {"total_cents": [{"numeric": [">=", 100]}]}, "event_type": ["order.created"]}
        ),
        compile_pattern({"event_type": [{"anything-but": "payment.failed"}]}),
    ]
    rules = PatternSet(patterns)
    event = {"event_type": "order.created", "data": {"region": "eu-west", "total_cents": 150}}
    assert rules.matching(event) == [0, 1, 3, 4]
    assert rules.first(event) == 0
    assert rules.matching({"event_type": "payment.failed"}) == [2]
    assert rules.first({"event_type": "shipment.delivered", "data": {}}) == 4
    assert rules.first({"other": 1}) is None
    assert len(rules) == 5


def test_only_objects_are_events() -> None:
    rules = PatternSet([compile_pattern({"a": [{"exists": False}]})])
    assert rules.matching({}) == [0]
    assert rules.matching([{}]) == []
    assert rules.matching("x") == []
    assert PatternSet([]).matching({"a": 1}) == []


def _corpus(count: int) -> list[tuple[Pattern, str]]:
    pairs = []
    for case in generate(count, seed=5):
        try:
            pairs.append((compile_pattern(case.rule), case.event))
        except InvalidPatternError:
            continue
    return pairs


def test_a_set_answers_as_its_patterns_do_one_at_a_time() -> None:
    """On generated patterns and events: the compiled set and the single patterns are the same function."""
    corpus = _corpus(6000)
    rng = random.Random(3)
    events = [decode_event(event.encode()) for _pattern, event in corpus]
    for _ in range(150):
        chosen = rng.sample(corpus, rng.randint(2, 60))
        rules = PatternSet([pattern for pattern, _event in chosen])
        for event in rng.sample(events, 10) + [decode_event(e.encode()) for _p, e in chosen[:5]]:
            if not isinstance(event, dict):
                continue
            expected = [i for i, (pattern, _event) in enumerate(chosen) if pattern.matches(event)]
            assert rules.matching(event) == expected


def test_a_thousand_rules_on_one_field_each_find_their_events() -> None:
    regions = [f"r{i}" for i in range(1000)]
    rules = PatternSet([compile_pattern({"data": {"region": [region]}}) for region in regions])
    for index in (0, 499, 999):
        assert rules.matching({"data": {"region": regions[index]}}) == [index]
    bands = PatternSet(
        [compile_pattern({"amount": [{"numeric": [">=", i * 10, "<", i * 10 + 25]}]}) for i in range(1000)]
    )
    assert bands.matching({"amount": 55}) == [4, 5]  # [40, 65) and [50, 75)
    assert bands.matching({"amount": 0}) == [0]
    assert bands.matching({"amount": -1}) == []
    assert bands.matching({"amount": 10_000}) == [998, 999]
    prefixes = PatternSet([compile_pattern({"id": [{"prefix": f"c-{i}"}]}) for i in range(1, 1000)])
    assert prefixes.matching({"id": "c-123"}) == [0, 11, 122]  # c-1, c-12, c-123


def test_many_values_on_many_fields_do_not_multiply_the_work() -> None:
    """Every value of ``a`` leads to the same state: it is walked once, not once per value (else 200**3)."""
    pattern = compile_pattern(
        {"a": [{"exists": True}], "b": [{"exists": True}], "c": [{"numeric": [">", 0]}]}
    )
    event: dict[str, Any] = {"a": list(range(200)), "b": list(range(200)), "c": [*range(-200, 0), 5]}
    assert pattern.matches(event)
    assert not pattern.matches({**event, "c": list(range(-200, 1))})


@pytest.mark.parametrize("number", [2**64 + 1, 2**64, -(2**63) - 1, 2**70 + 3, 10**30, 2**53 + 1, -(10**400)])
def test_wide_integers_match_alike_decoded_and_as_bytes(number: int) -> None:
    raw = f'{{"n": {number}}}'.encode()
    patterns: list[dict[str, Any]] = [
        {"n": [number]},
        {"n": [float(number)] if abs(number) < 1e308 else [1]},
        {"n": [{"anything-but": [number]}]},
        {"n": [{"exists": True}]},
        {"n": [{"numeric": [">", 0]}]},
        {"n": [{"numeric": ["<", 0]}]},
    ]
    for source in patterns:
        compiled = compile_pattern(source)
        assert compiled.matches({"n": number}) == compiled.matches_bytes(raw), source
    # both read a too-wide integer as the nearest double, as orjson does
    assert compile_pattern({"n": [2**64]}).matches_bytes(b'{"n": 18446744073709551617}')
    assert compile_pattern({"n": [2**64]}).matches({"n": 2**64 + 1})


def test_numbers_beyond_a_double_are_read_not_refused() -> None:
    raw = b'{"n": 1E309, "m": 5}'
    assert compile_pattern({"n": [{"exists": True}]}).matches_bytes(raw)
    assert not compile_pattern({"n": [{"numeric": [">", 0]}]}).matches_bytes(raw)
    assert compile_pattern({"m": [5]}).matches_bytes(raw)
    assert compile_pattern({"n": [{"anything-but": [5]}]}).matches_bytes(raw)
    assert not compile_pattern({"m": [5]}).matches_bytes(b'{"m": NaN}')  # not JSON


def test_top_level_arrays_are_not_events() -> None:
    pattern = compile_pattern({"a": ["x"]})
    assert not pattern.matches([{"a": "x"}])
    assert not pattern.matches_bytes(orjson.dumps([{"a": "x"}]))
    assert not pattern.matches_bytes(b'"x"')
