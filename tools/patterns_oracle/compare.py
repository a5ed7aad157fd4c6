"""Run event-ruler and orderstream's matcher on the same generated cases and report every difference.

1. Single patterns: ruler's verdict (match / no match / invalid) against ``compile_pattern(text)`` and
   ``matches_bytes(event)``; and, for every event that decodes, ``matches(decoded)`` against ``matches_bytes``.
2. Compiled sets: rules both sides accept, many at a time in one ruler ``Machine`` and one ``PatternSet``,
   compared per event on the full list of matching rules.
3. Each difference is either one of the known ones recognised from the case (:mod:`.known`), or gets a second
   opinion from ruler itself: the same rule asked alone (for a set), and the rule asked once per matcher of
   each field list (a list is an OR of its matchers, so the answers must OR up to the whole). When ruler's own
   second opinion agrees with us, the difference is its library's, and known; otherwise it is unexplained.
One JVM run answers each stage.
"""

from __future__ import annotations

import itertools
import json
import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from orderstream.domain.patterns import InvalidPatternError, Pattern, PatternSet, compile_pattern
from orderstream.domain.patterns.decoding import decode_event
from tools.patterns_oracle import harness
from tools.patterns_oracle.cases import Raw, dumps, generate
from tools.patterns_oracle.known import LIST_INTERFERENCE, SHARED_MACHINE, Verdict, explain

__all__ = ["Report", "run"]

MAX_SPLITS = 64


@dataclass
class Report:
    cases: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)  # ruler's answers to the single cases
    known: Counter[str] = field(default_factory=Counter)  # known differences by id
    unexplained: list[str] = field(default_factory=list)
    inconsistent: list[str] = field(default_factory=list)  # matches() and matches_bytes() disagree
    sets: int = 0
    set_events: int = 0
    set_rules: int = 0

    @property
    def unexplained_count(self) -> int:
        return len(self.unexplained) + len(self.inconsistent)

    def summary(self) -> str:
        known = ", ".join(f"{name} {count}" for name, count in sorted(self.known.items())) or "none"
        outcomes = ", ".join(f"{name} {count}" for name, count in sorted(self.outcomes.items()))
        return (
            f"{self.cases} cases (ruler: {outcomes}); {self.sets} compiled sets of {self.set_rules} rules "
            f"against {self.set_events} events; known differences: {known}; "
            f"unexplained: {len(self.unexplained)}; matches()/matches_bytes() disagreements: "
            f"{len(self.inconsistent)}"
        )


@dataclass(frozen=True)
class _Difference:
    rule: str
    event: str
    ours: Verdict
    theirs: Verdict
    in_set: bool


def run(cases: int = 20_000, seed: int = 18, set_count: int = 400) -> Report:
    report = Report()
    corpus = list(generate(cases, seed))
    answers = harness.run({"rule": case.rule, "event": case.event} for case in corpus)
    compiled: dict[str, Pattern | InvalidPatternError] = {}
    accepted: dict[str, list[str]] = {}  # rules both sides accept -> their events
    differences: list[_Difference] = []
    for case, answer in zip(corpus, answers, strict=True):
        report.cases += 1
        theirs = _ruler_verdict(answer)
        report.outcomes[theirs.outcome] += 1
        pattern = compiled.get(case.rule)
        if pattern is None:
            pattern = compiled[case.rule] = _compile(case.rule)
        ours = _our_verdict(pattern, case.event)
        _check_consistency(report, pattern, case.rule, case.event)
        if ours.outcome != "invalid" and theirs.outcome != "invalid":
            accepted.setdefault(case.rule, []).append(case.event)
        if ours.outcome != theirs.outcome:
            differences.append(_Difference(case.rule, case.event, ours, theirs, in_set=False))
    differences += _compare_sets(report, accepted, compiled, random.Random(seed), set_count)
    _second_opinion(report, [d for d in differences if not _known(report, d)])
    return report


def _ruler_verdict(answer: str) -> Verdict:
    if answer.startswith("invalid"):
        return Verdict("invalid", answer)
    if answer.startswith("error"):
        return Verdict("no match", answer)  # ruler refused the event (not an object): nothing matches
    return Verdict(answer)


def _compile(rule: str) -> Pattern | InvalidPatternError:
    try:
        return compile_pattern(rule)
    except InvalidPatternError as exc:
        return exc


def _our_verdict(compiled: Pattern | InvalidPatternError, event: str) -> Verdict:
    if isinstance(compiled, InvalidPatternError):
        return Verdict("invalid", str(compiled))
    return Verdict("match" if compiled.matches_bytes(event.encode()) else "no match")


def _check_consistency(report: Report, pattern: Pattern | InvalidPatternError, rule: str, event: str) -> None:
    if isinstance(pattern, InvalidPatternError):
        return
    decoded = decode_event(event.encode())
    if isinstance(decoded, dict | list) and pattern.matches(decoded) != pattern.matches_bytes(event.encode()):
        report.inconsistent.append(f"rule {rule} | event {event}")


def _compare_sets(
    report: Report,
    accepted: dict[str, list[str]],
    compiled: dict[str, Pattern | InvalidPatternError],
    rng: random.Random,
    set_count: int,
) -> list[_Difference]:
    rules = sorted(accepted)
    if len(rules) < 2:
        return []
    plans = []
    for _ in range(set_count):
        chosen = rng.sample(rules, rng.randint(2, min(40, len(rules))))
        plans.append((chosen, [rng.choice(accepted[rng.choice(chosen)]) for _ in range(rng.randint(1, 8))]))
    answers = harness.run({"rules": chosen, "events": events} for chosen, events in plans)
    differences = []
    for (chosen, events), answer in zip(plans, answers, strict=True):
        report.sets += 1
        report.set_rules += len(chosen)
        ours_set = PatternSet([_required(compiled[rule]) for rule in chosen])
        if not answer.startswith("set "):
            report.unexplained.append(f"set of {len(chosen)} rules: ruler answered {answer}")
            continue
        for event, theirs in zip(events, json.loads(answer[4:]), strict=True):
            report.set_events += 1
            decoded = decode_event(event.encode())
            ours = set(ours_set.matching(decoded)) if isinstance(decoded, dict) else set()
            for index in sorted(ours ^ set(theirs)):
                ours_v = Verdict("match" if index in ours else "no match")
                theirs_v = Verdict("match" if index in theirs else "no match")
                differences.append(_Difference(chosen[index], event, ours_v, theirs_v, in_set=True))
    return differences


def _required(pattern: Pattern | InvalidPatternError) -> Pattern:
    if isinstance(pattern, InvalidPatternError):
        raise AssertionError("only rules both sides accept go into sets")
    return pattern


def _known(report: Report, difference: _Difference) -> bool:
    reason = explain(difference.rule, difference.event, difference.ours, difference.theirs)
    if reason is not None:
        report.known[reason] += 1
    return reason is not None


def _second_opinion(report: Report, differences: list[_Difference]) -> None:
    """Ask ruler the rule alone, and once per matcher of its lists; see the module docstring."""
    requests: list[dict[str, str]] = []
    plans = []
    for difference in differences:
        variants = _split_lists(difference.rule) if difference.theirs.outcome != "invalid" else []
        start = len(requests)
        requests.append({"rule": difference.rule, "event": difference.event})
        requests.extend({"rule": variant, "event": difference.event} for variant in variants)
        plans.append((difference, start, len(variants)))
    answers = harness.run(requests) if requests else []
    for difference, start, count in plans:
        alone = _ruler_verdict(answers[start])
        split = [_ruler_verdict(answer).outcome for answer in answers[start + 1 : start + 1 + count]]
        ored = "match" if "match" in split else "no match"
        if difference.in_set and alone.outcome == difference.ours.outcome:
            report.known[SHARED_MACHINE] += 1
        elif split and "invalid" not in split and ored == difference.ours.outcome:
            report.known[LIST_INTERFERENCE] += 1
        else:
            report.unexplained.append(
                f"rule {difference.rule} | event {difference.event} | ours {difference.ours.outcome} "
                f"{difference.ours.problem} | ruler {difference.theirs.outcome} {difference.theirs.problem}"
                f"{' (in a set; alone: ' + alone.outcome + ')' if difference.in_set else ''}"
            )


def _split_lists(rule: str) -> list[str]:
    """The rule once per combination of single matchers from its field lists (none if it has no list of 2+)."""
    try:
        tree = json.loads(rule, parse_int=Raw, parse_float=Raw)
    except ValueError:
        return []
    variants = _variants(tree)
    if len(variants) < 2 or len(variants) > MAX_SPLITS:
        return []
    return [dumps(variant) for variant in variants]


def _variants(node: Any) -> list[Any]:
    if not isinstance(node, dict):
        return [node]
    options: list[list[tuple[str, Any]]] = []
    for key, value in node.items():
        if key == "$or" and isinstance(value, list):
            choices = [list(combo) for combo in itertools.product(*(_variants(item) for item in value))]
        elif isinstance(value, list):
            choices = [[matcher] for matcher in value]
        else:
            choices = _variants(value)
        options.append([(key, choice) for choice in choices])
        if _count(options) > MAX_SPLITS:
            return [node] * (MAX_SPLITS + 1)
    return [dict(combo) for combo in itertools.product(*options)]


def _count(options: list[list[tuple[str, Any]]]) -> int:
    total = 1
    for choices in options:
        total *= len(choices)
    return total
