"""Seeded pattern/event pairs for the differential test: every operator the EventBridge docs list, and the edges.

Patterns and events are written as JSON text here, so numbers such as ``1E309`` or ``18446744073709551617`` and
duplicate keys reach both matchers exactly as a user would write them (:class:`Raw`, :class:`Pairs`). Most
events are drawn near their pattern (its values, their neighbours, arrays holding them, objects in arrays), so
both outcomes are frequent. A few patterns are invalid on purpose; the oracle must refuse the same ones.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["Case", "Pairs", "Raw", "dumps", "generate"]


class Raw:
    """A JSON fragment written as is (a number as the user typed it)."""

    def __init__(self, text: str) -> None:
        self.text = text


class Pairs:
    """A JSON object written from its pairs, so a key may repeat."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        self.pairs = pairs


def dumps(value: Any) -> str:
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Pairs | dict):
        pairs = value.pairs if isinstance(value, Pairs) else list(value.items())
        return "{" + ", ".join(f"{json.dumps(k, ensure_ascii=False)}: {dumps(v)}" for k, v in pairs) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(dumps(item) for item in value) + "]"
    return json.dumps(value, ensure_ascii=False)


@dataclass(frozen=True)
class Case:
    rule: str
    event: str


KEYS = ["a", "b", "c", "d"]
WORDS = [
    "", "x", "xy", "X", "xY", "init", "initializing", "running", "a*b", "image.png", "image.PNG", "Zürich",
    "ZÜRICH", "ß", "SS", "ss", "\u0131", "I", "i", "İ", "i̇", "Σ", "\u03c3", "ς", "ΟΔΟΣ", "K", "k", "\u212a", "😀", "??",
    "東京都", "a\nb", "a\\b", "null", "5", "true", "x.y",
]  # fmt: skip
FRAGMENTS = [
    "",
    "x",
    "X",
    "in",
    "IN",
    "Zü",
    "zÜ",
    "10.0.",
    ".png",
    ".PNG",
    "ß",
    "ss",
    "東京",
    "\u0131",
    "😀",
    "b",
]
ADDRESSES = [
    "10.0.0.7", "10.0.1.7", "010.0.0.7", "10.00.0.7", "192.168.1.20", "0.0.0.0", "255.255.255.255", "256.1.1.1",
    "2001:db8::5", "2001:DB8:0:0:0:0:0:5", "00001::", "::", "::1", "::ffff:a00:7", "::ffff:10.0.0.7",
    "fe80::1%eth0", "fe80::1", "0a00:0007::", "1.2.3.00000000004", "10.0.0.255",
]  # fmt: skip
BLOCKS = [
    "10.0.0.0/24", "10.0.0.0/8", "192.168.1.0/24", "2001:db8::/32", "10.0.0.6/31", "010.0.0.0/24", "::/0",
    "0.0.0.0/0", "fe80::/16", "10.0.0.0/24/", "10.0.0.0/+24", "0a00::/16", "2001:db8::/127", "10.0.0.1/24",
]  # fmt: skip
BAD_BLOCKS = ["10.0.0.7/32", "10.0.0.7", "::ffff:0:0/96", "banana", "10.0.0.0/33", "/24", "10.0.0.0//24"]
NUMBERS: list[Any] = [
    0, 1, -7, 2, 5, 12, 300, Raw("3.0e2"), Raw("3E2"), 10.5, 4999.5, Raw("5e9"), 5_000_000_000, 5_000_000_001,
    -6_000_000_000, 2**53 + 1, Raw("18446744073709551617"), Raw("18446744073709551616"), Raw("1E309"), 0.1,
    Raw("0.10000000000000001"), Raw("-0.0"), Raw("1e-7"), 123,
]  # fmt: skip
WILDCARDS = [
    "*", "x*", "*y", "x*y", "i*g", "*.png", "a\\*b", "*\\**", "10.0.*", "*ü*", "\\\\*", "*\n*",
]  # fmt: skip
RESERVED = ["prefix", "numeric", "exists", "regex", "cidr"]


class _Generator:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def pick(self, options: list[Any]) -> Any:
        return self.rng.choice(options)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    # ----------------------------------------------------------------------------------------- patterns

    def scalar(self) -> Any:
        roll = self.rng.random()
        if roll < 0.45:
            return self.pick(WORDS)
        if roll < 0.6:
            return self.pick(ADDRESSES)
        if roll < 0.9:
            return self.pick(NUMBERS)
        return self.pick([True, False, None])

    def text_or_list(self, source: list[str]) -> Any:
        if self.chance(0.6):
            return self.pick(source)
        return [self.pick(source) for _ in range(self.rng.randint(1, 3))]

    def numeric(self) -> dict[str, Any]:
        odd = [Raw("5e9"), 6e9, Raw("1E309"), Raw("0.10000000000000001"), -5e9, Raw("-6E9")]
        plain = [0, 1, 2, 5, 12, 10.5, 299.5, 300, -7, 4999.5, 0.1, Raw("3.0e2")]

        def bound() -> Any:
            return self.pick(odd if self.chance(0.08) else plain)

        low, high = self.pick([(0, 5), (1, 12), (-7, 300), (299.5, 300), (0.1, 10.5), (0, 6e9), (2, 4999.5)])
        roll = self.rng.random()
        if roll < 0.45:
            return {"numeric": [self.pick(["=", ">", ">=", "<", "<="]), bound()]}
        lower, upper = self.pick([">", ">="]), self.pick(["<", "<="])
        if roll < 0.88:
            return {"numeric": [lower, low, upper, high]}
        if roll < 0.92:
            return {"numeric": [upper, high, lower, low]}  # upper bound first
        if roll < 0.96:
            return {"numeric": [lower, low, upper, low]}  # equal bounds
        return {"numeric": self.pick([[">", "5"], [">"], [], ["!=", 5], [">", 1, ">", 2], ["=", 5, "<", 6]])}

    def anything_but(self) -> dict[str, Any]:
        shape = self.rng.randint(0, 9) if self.chance(0.92) else 10
        operand: Any
        if shape == 0:
            operand = self.pick(WORDS)
        elif shape == 1:
            operand = self.pick(NUMBERS)
        elif shape == 2:
            operand = [self.pick(WORDS) for _ in range(self.rng.randint(1, 3))]
        elif shape == 3:
            operand = [self.pick(NUMBERS) for _ in range(self.rng.randint(1, 3))]
        elif shape == 4:
            operand = {"prefix": self.text_or_list(FRAGMENTS)}
        elif shape == 5:
            operand = {"suffix": self.text_or_list(FRAGMENTS)}
        elif shape == 6:
            operand = {"equals-ignore-case": self.text_or_list(WORDS)}
        elif shape == 7:
            operand = {"wildcard": self.text_or_list(WILDCARDS)}
        elif shape == 8:
            operand = self.pick(ADDRESSES)
        else:
            operand = self.pick([[], ["x", 1], None, {"numeric": [">", 1]}, {"prefix": "x", "suffix": "y"},
                                 {"prefix": {"equals-ignore-case": "x"}}, True])  # fmt: skip
        return {"anything-but": operand}

    def wildcard(self) -> str:
        return str(self.pick(["a**b", "a\\b", "x\\"]) if self.chance(0.08) else self.pick(WILDCARDS))

    def matcher(self) -> Any:
        roll = self.rng.randint(0, 15)
        if roll <= 2:
            return self.scalar()
        if roll == 3:
            return {"prefix": self.pick(FRAGMENTS)}
        if roll == 4:
            return {"prefix": {"equals-ignore-case": self.pick(FRAGMENTS)}}
        if roll == 5:
            return {"suffix": self.pick(FRAGMENTS)}
        if roll == 6:
            return {"suffix": {"equals-ignore-case": self.pick(FRAGMENTS)}}
        if roll == 7:
            return {"equals-ignore-case": self.pick(WORDS)}
        if roll == 8:
            return {"wildcard": self.wildcard()}
        if roll == 9:
            return {"exists": self.pick([True, False])}
        if roll == 10:
            return {"cidr": self.pick(BAD_BLOCKS if self.chance(0.12) else BLOCKS)}
        if roll == 11:
            return self.anything_but()
        if roll == 12:
            return self.numeric()
        if roll == 13:
            return {"exactly": self.pick([*WORDS[:8], "10.0.0.7"]) if self.chance(0.95) else 5}
        if roll == 14:
            return self.pick(ADDRESSES)
        if self.chance(0.3):
            return self.pick(
                [{"contains": "x"}, {}, {"prefix": "x", "suffix": "y"}, ["x"], {"exists": "yes"}]
            )
        return self.scalar()

    def leaf(self) -> list[Any]:
        return [self.matcher() for _ in range(self.rng.choice([1, 1, 1, 2, 2, 3]))]

    def pattern(self, depth: int = 2, in_or: bool = False, taken: frozenset[str] = frozenset()) -> Any:
        free = [key for key in KEYS if key not in taken] if self.chance(0.9) else KEYS
        keys = self.rng.sample(free, min(len(free), self.rng.choice([1, 1, 2, 2, 3])))
        if self.chance(0.05):
            keys.append("a.b")  # the same field as {"a": {"b": ...}}
        if keys and self.chance(0.02):
            keys.append(keys[0])  # a key written twice
        if in_or and self.chance(0.03):
            keys.append(self.pick(RESERVED))
        fields: list[tuple[str, Any]] = []
        for key in keys:
            if depth > 0 and self.chance(0.3):
                fields.append((key, self.pattern(depth - 1, in_or)))
            else:
                fields.append((key, self.leaf()))
        if depth > 0 and self.chance(0.15):
            fields.append(("$or", self.or_group(depth, taken | frozenset(keys))))
        if self.chance(0.01):
            fields.append((self.pick(KEYS), self.pick(["x", 5, [], {}, None])))
        return Pairs(fields)

    def or_group(self, depth: int, taken: frozenset[str]) -> Any:
        if self.chance(0.06):
            return self.pick([["x"], [{"a": ["x"]}], {"a": ["x"]}, "x"])
        return [self.pattern(depth - 1, True, taken) for _ in range(self.rng.randint(2, 3))]

    # ----------------------------------------------------------------------------------------- events

    def near(self, matcher: Any) -> Any:
        """A value close to what ``matcher`` accepts."""
        if not isinstance(matcher, dict) or len(matcher) != 1:
            return self.variant(matcher) if self.chance(0.8) else self.scalar()
        ((operator, operand),) = matcher.items()
        if isinstance(operand, dict) and len(operand) == 1:
            operand = next(iter(operand.values()))
        if isinstance(operand, list) and operand and operator != "numeric":
            operand = self.pick(operand)
        if operator == "numeric" and isinstance(operand, list) and len(operand) >= 2:
            return self.near_number(operand[self.pick([1, len(operand) - 1])])
        if operator == "cidr" and isinstance(operand, str):
            return self.pick([operand.split("/")[0], *ADDRESSES])
        if operator == "wildcard" and isinstance(operand, str):
            return operand.replace("\\*", "*").replace("*", self.pick(["", "x", "zz"]))
        if operator == "prefix" and isinstance(operand, str):
            return self.variant(operand) + self.pick(["", "tail", "ß"])
        if operator == "suffix" and isinstance(operand, str):
            return self.pick(["", "head", "ß"]) + self.variant(operand)
        if operator == "exists":
            return self.scalar()
        return self.variant(operand)

    def variant(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.pick([value, value, value.upper(), value.lower(), value.swapcase(), value.casefold()])
        if isinstance(value, Raw | int | float) and not isinstance(value, bool):
            return self.near_number(value)
        return value

    def near_number(self, value: Any) -> Any:
        if isinstance(value, Raw) or not isinstance(value, int | float) or isinstance(value, bool):
            return value
        return self.pick([value, value, value + 1, value - 0.5, float(value), Raw(repr(value).upper())])

    def event_value(self, spec: Any, depth: int) -> Any:
        if isinstance(spec, Pairs | dict):
            obj = self.event_for(spec, depth - 1)
            if self.chance(0.25):
                return [obj, self.event_for(spec, depth - 1)]  # objects in arrays: array consistency
            if self.chance(0.05):
                return [[obj], [self.event_for(spec, depth - 1)]]
            return obj
        if not isinstance(spec, list) or not spec:
            return self.scalar()
        value = self.near(self.pick(spec))
        shape = self.rng.randint(0, 9)
        if shape <= 5:
            return value
        if shape == 6:
            return self.scalar()
        if shape == 7:
            return [self.scalar(), value]
        if shape == 8:
            return self.pick([[], {}, [[value]], {"x": value}])
        return [value, [self.scalar()]]

    def event_for(self, pattern: Any, depth: int = 2) -> Any:
        fields = list(pattern.pairs if isinstance(pattern, Pairs) else pattern.items())
        pairs: list[tuple[str, Any]] = []
        if self.chance(0.3):
            pairs.append((self.pick(KEYS), self.scalar()))
        while fields:
            key, spec = fields.pop(0)
            if key == "$or":
                if isinstance(spec, list) and spec and all(isinstance(alt, Pairs | dict) for alt in spec):
                    for alternative in self.rng.sample(spec, self.rng.randint(1, len(spec))):
                        fields.extend(
                            alternative.pairs if isinstance(alternative, Pairs) else alternative.items()
                        )
                continue
            if self.chance(0.1):
                continue  # the field is missing
            value = self.event_value(spec, depth)
            if "." in key and isinstance(value, str) and self.chance(0.5):
                head, _, tail = key.partition(".")
                pairs.append((head, {tail: value}))
            elif isinstance(value, dict) and len(value) == 1 and self.chance(0.1):
                ((inner, inner_value),) = value.items()
                pairs.append((f"{key}.{inner}", inner_value))  # a dotted key where the pattern nests
            else:
                pairs.append((key, value))
        if pairs and self.chance(0.03):
            pairs.append((pairs[0][0], self.scalar()))  # a duplicate key in the event
        if not pairs or len({key for key, _ in pairs}) == len(pairs) or self.chance(0.5):
            return dict(pairs)
        return Pairs(pairs)

    def event(self) -> Any:
        if self.chance(0.5):
            return {self.pick(KEYS): self.scalar() for _ in range(self.rng.randint(0, 3))}
        return {self.pick(KEYS): [self.scalar() for _ in range(self.rng.randint(0, 3))]}


def generate(count: int, seed: int) -> Iterator[Case]:
    """``count`` cases; a pattern is paired with a few events, most of them drawn near it."""
    generator = _Generator(random.Random(seed))
    made = 0
    while made < count:
        pattern = generator.pattern()
        rule = dumps(pattern)
        for _ in range(generator.rng.randint(1, 4)):
            event = generator.event_for(pattern) if generator.chance(0.85) else generator.event()
            if generator.chance(0.01):
                event = [event]  # a top-level array is not an event
            yield Case(rule, dumps(event))
            made += 1
            if made == count:
                return
