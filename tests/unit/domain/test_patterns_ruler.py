"""The differential test: AWS's own matcher, event-ruler (Java), is the oracle for orderstream's.

``tools/patterns_oracle`` builds a small harness around event-ruler 2.0.1 with Maven (cached under .local/),
generates 20 000 seeded pattern/event pairs covering every operator and the edge cases, and runs both
matchers on them: single patterns (``compile_pattern`` + ``matches_bytes``) and compiled sets of up to 40
rules (``PatternSet`` against one ruler ``Machine``). Every difference must be one of the deliberate ones in
docs/patterns.md ("Known differences from event-ruler"), each recognised from the case itself.

Needs Java 17 and Maven, as the local Kafka broker does; CI has both. It is not skipped when they are missing:
it fails, naming what to install.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from orderstream.domain.patterns import compile_pattern
from tools.patterns_oracle import compare, harness, known

DOCS = Path(__file__).resolve().parents[3] / "docs" / "patterns.md"
CASES = 20_000


@pytest.fixture(scope="module")
def report() -> compare.Report:
    return compare.run(cases=CASES, seed=18)


def test_no_difference_is_unexplained(report: compare.Report) -> None:
    assert report.unexplained == [], "\n".join(report.unexplained[:20])
    assert report.inconsistent == [], "matches() and matches_bytes() disagree:\n" + "\n".join(
        report.inconsistent
    )


def test_the_corpus_exercises_every_outcome(report: compare.Report) -> None:
    assert report.cases == CASES
    for outcome in ("match", "no match", "invalid"):
        assert report.outcomes[outcome] > CASES // 10, report.outcomes
    assert report.sets >= 300
    assert report.set_events > 1000


def _documented_ids() -> list[str]:
    text = DOCS.read_text()
    section = text.split("## Known differences from event-ruler", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\| `([a-z-]+)` \|", section, flags=re.MULTILINE)


def test_every_known_difference_is_documented_with_its_reason() -> None:
    assert sorted(_documented_ids()) == sorted(known.IDS)


def test_differences_seen_are_known_ones(report: compare.Report) -> None:
    assert set(report.known) <= set(known.IDS)


@pytest.mark.parametrize(
    ("rule", "event", "ruler", "ours", "reason"),
    [
        ('{"a": [{"numeric": [">", 0]}]}', '{"a": 6000000000}', "match", "no match", "numeric-range"),
        ('{"a": [{"cidr": "::/0"}]}', '{"a": "10.0.0.1"}', "match", "no match", "cidr-cross-family"),
        ('{"a": [{"cidr": "::/0"}]}', '{"a": 300}', "match", "no match", "cidr-number"),
        (
            '{"a": [18446744073709551616]}',
            '{"a": 18446744073709551617}',
            "no match",
            "match",
            "beyond-double",
        ),
        ('{"a": ["x"]}', '{"a": "x", "a": "y"}', "match", "no match", "duplicate-event-key"),
    ],
)
def test_the_oracle_really_differs_where_the_docs_say(
    rule: str, event: str, ruler: str, ours: str, reason: str
) -> None:
    """Canaries: the harness is event-ruler, and each deliberate difference is still there and recognised."""
    assert harness.run([{"rule": rule, "event": event}]) == [ruler]
    assert ("match" if compile_pattern(rule).matches_bytes(event.encode()) else "no match") == ours
    assert known.explain(rule, event, known.Verdict(ours), known.Verdict(ruler)) == reason


@pytest.mark.parametrize(
    ("rule", "event"),
    [
        ('{"a": ["x"]}', '{"a": "x"}'),
        ('{"a": [{"numeric": [">", 0, "<=", 5]}]}', '{"a": 3}'),
        ('{"a": [{"cidr": "10.0.0.0/24"}]}', '{"a": "10.0.0.7"}'),
        ('{"a": [{"equals-ignore-case": "x"}]}', '{"a": "X"}'),
    ],
)
def test_recognisers_never_explain_an_ordinary_case(rule: str, event: str) -> None:
    """A made-up disagreement on an ordinary case must stay unexplained, or the test could hide real bugs."""
    for ours, theirs in (("match", "no match"), ("no match", "match")):
        assert known.explain(rule, event, known.Verdict(ours), known.Verdict(theirs)) is None
