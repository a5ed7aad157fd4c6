"""The rules files shared by the router and the bridge (``rules/router.yaml``, ``rules/bridge.yaml``).

One YAML file per side, each a top-level ``rules:`` list. Every rule has a ``name``, an optional
``description`` and an EventBridge ``pattern`` (a mapping, or JSON text), plus the action fields its side needs:

- router: ``topic`` — the Kafka topic a matching record is copied to;
- bridge: ``topics`` (the Kafka topics the rule listens to), ``source`` (the EventBridge Source), and optional
  ``detail_type`` (default: the record's ``event_type``), ``bus`` (default: settings.event_bus), ``resources``.

Patterns are matched against the decoded record value — the event envelope itself (``event_type``,
``data.total_cents``...), not an EventBridge-wrapped event. Loading fails fast with :class:`RulesFileError`,
whose message names the file, the rule and the problem, so a typo stops a deploy instead of dropping events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, NoReturn

import yaml

from orderstream.domain.patterns import InvalidPatternError, Pattern, PatternSet, compile_pattern
from orderstream.errors import OrderstreamError

__all__ = [
    "BridgeRule",
    "BridgeRuleSet",
    "RouterRule",
    "RouterRuleSet",
    "RulesFileError",
    "load_bridge_rules",
    "load_router_rules",
]

_COMMON_FIELDS: Final = frozenset({"name", "description", "pattern"})
_ROUTER_FIELDS: Final = _COMMON_FIELDS | {"topic"}
_BRIDGE_FIELDS: Final = _COMMON_FIELDS | {"topics", "source", "detail_type", "bus", "resources"}
_MAX_SOURCE_CHARS: Final = 256  # PutEvents limit on Source and DetailType


class RulesFileError(OrderstreamError):
    """A rules file could not be used. The message reads ``<file>: rule '<name>' (#<i>): <problem>``."""

    def __init__(self, path: Path | str, rule: str | None, problem: str) -> None:
        self.path = str(path)
        self.rule = rule
        self.problem = problem
        where = f"{self.path}: rule {rule}: " if rule else f"{self.path}: "
        super().__init__(where + problem)


@dataclass(frozen=True, slots=True)
class RouterRule:
    """Copy records matching ``pattern`` to Kafka ``topic``."""

    name: str
    pattern: Pattern
    topic: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class BridgeRule:
    """Publish records of ``topics`` matching ``pattern`` to EventBridge as ``source`` / ``detail_type``."""

    name: str
    pattern: Pattern
    topics: tuple[str, ...]
    source: str
    detail_type: str | None = None
    bus: str | None = None
    resources: tuple[str, ...] = ()
    description: str = ""

    def detail_type_for(self, event: Mapping[str, Any]) -> str:
        """The DetailType of the PutEvents entry: the configured one, else the record's ``event_type``."""
        return self.detail_type or str(event.get("event_type", ""))


@dataclass(frozen=True)
class RouterRuleSet:
    """The router's rules, in file order, compiled into one matcher (its cost follows the event's fields, not
    the number of rules)."""

    rules: tuple[RouterRule, ...]
    _matcher: PatternSet = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_matcher", PatternSet([rule.pattern for rule in self.rules]))

    @property
    def target_topics(self) -> tuple[str, ...]:
        """Every topic the rules can route to (create these before starting the router)."""
        return tuple(dict.fromkeys(rule.topic for rule in self.rules))

    def matching(self, event: Mapping[str, Any]) -> tuple[RouterRule, ...]:
        """Every rule whose pattern matches ``event``, in file order."""
        rules = self.rules
        return tuple(rules[index] for index in self._matcher.matching(event))

    def route(self, event: Mapping[str, Any]) -> tuple[str, ...]:
        """The topics one event goes to, each once, in rule order."""
        matcher = self._matcher
        found = matcher.matching_object(event) if type(event) is dict else matcher.matching(event)
        if not found:
            return ()
        rules = self.rules
        return tuple(dict.fromkeys(rules[index].topic for index in found))


@dataclass(frozen=True)
class BridgeRuleSet:
    """The bridge's rules, one compiled matcher per Kafka topic, so a record only meets the rules of its topic."""

    rules: tuple[BridgeRule, ...]
    _by_topic: dict[str, tuple[tuple[BridgeRule, ...], PatternSet]] = field(
        init=False, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        index: dict[str, list[BridgeRule]] = {}
        for rule in self.rules:
            for topic in rule.topics:
                index.setdefault(topic, []).append(rule)
        compiled = {
            topic: (tuple(rules), PatternSet([rule.pattern for rule in rules]))
            for topic, rules in index.items()
        }
        object.__setattr__(self, "_by_topic", compiled)

    @property
    def source_topics(self) -> tuple[str, ...]:
        """The Kafka topics the bridge must subscribe to."""
        return tuple(self._by_topic)

    def select(self, topic: str, event: Mapping[str, Any]) -> BridgeRule | None:
        """The first rule (in file order) of ``topic`` whose pattern matches ``event``; None if none does."""
        entry = self._by_topic.get(topic)
        if entry is None:
            return None
        rules, matcher = entry
        found = matcher.matching_object(event) if type(event) is dict else matcher.matching(event)
        return rules[found[0]] if found else None


# --------------------------------------------------------------------------------------------- loading


def load_router_rules(path: Path | str) -> tuple[RouterRule, ...]:
    """Read and validate a router rules file."""
    return tuple(_build_router_rule(reader) for reader in _rule_readers(path, _ROUTER_FIELDS))


def load_bridge_rules(path: Path | str) -> tuple[BridgeRule, ...]:
    """Read and validate a bridge rules file."""
    return tuple(_build_bridge_rule(reader) for reader in _rule_readers(path, _BRIDGE_FIELDS))


def _build_router_rule(reader: _RuleReader) -> RouterRule:
    return RouterRule(
        name=reader.name,
        pattern=reader.pattern(),
        topic=reader.text("topic"),
        description=reader.optional_text("description") or "",
    )


def _build_bridge_rule(reader: _RuleReader) -> BridgeRule:
    source = reader.text("source", limit=_MAX_SOURCE_CHARS)
    if source.startswith("aws."):
        reader.fail(
            f"source {source!r} is reserved: EventBridge refuses custom events whose Source starts 'aws.'"
        )
    return BridgeRule(
        name=reader.name,
        pattern=reader.pattern(),
        topics=reader.text_list("topics", allow_empty=False),
        source=source,
        detail_type=reader.optional_text("detail_type", limit=_MAX_SOURCE_CHARS),
        bus=reader.optional_text("bus"),
        resources=reader.text_list("resources", allow_empty=True) if "resources" in reader.raw else (),
        description=reader.optional_text("description") or "",
    )


def _rule_readers(path: Path | str, allowed: frozenset[str]) -> Iterable[_RuleReader]:
    entries = _rule_entries(path)
    seen: dict[str, int] = {}
    readers = []
    for index, entry in enumerate(entries):
        reader = _RuleReader(path, index, entry, allowed)
        if reader.name in seen:
            reader.fail(f"duplicate name (first used by rule #{seen[reader.name]})")
        seen[reader.name] = index
        readers.append(reader)
    return readers


def _rule_entries(path: Path | str) -> list[Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RulesFileError(path, None, f"cannot read: {exc}") from None
    try:
        document = yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise RulesFileError(path, None, f"not valid YAML: {' '.join(str(exc).split())}") from None
    if not isinstance(document, dict) or set(document) != {"rules"}:
        raise RulesFileError(path, None, "the file must be a mapping with a single key 'rules'")
    entries = document["rules"]
    if not isinstance(entries, list):
        raise RulesFileError(path, None, "'rules' must be a list")
    return entries


class _RuleReader:
    """Reads the fields of one rule entry, turning every problem into a RulesFileError naming the rule."""

    def __init__(self, path: Path | str, index: int, raw: Any, allowed: frozenset[str]) -> None:
        self.path = path
        self.index = index
        self.label = f"#{index}"
        if not isinstance(raw, dict):
            self.fail(f"must be a mapping, got {type(raw).__name__}")
        self.raw: dict[str, Any] = raw
        name = raw.get("name")
        if not isinstance(name, str) or not name.strip():
            self.fail("'name' is missing or not a non-empty string")
        self.name = name
        self.label = f"{name!r} (#{index})"
        unknown = sorted(str(key) for key in raw if key not in allowed)
        if unknown:
            self.fail(f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}")

    def fail(self, problem: str) -> NoReturn:
        raise RulesFileError(self.path, self.label, problem)

    def pattern(self) -> Pattern:
        if "pattern" not in self.raw:
            self.fail("'pattern' is missing")
        spec = self.raw["pattern"]
        if not isinstance(spec, dict | str):
            self.fail(f"'pattern' must be a mapping or JSON text, got {type(spec).__name__}")
        try:
            return compile_pattern(spec)
        except InvalidPatternError as exc:
            self.fail(f"bad pattern at {exc.path}: {exc.problem}")

    def text(self, key: str, limit: int | None = None) -> str:
        value = self.raw.get(key)
        if not isinstance(value, str) or not value.strip():
            self.fail(f"'{key}' is missing or not a non-empty string")
        if limit is not None and len(value) > limit:
            self.fail(f"'{key}' is longer than {limit} characters")
        return value

    def optional_text(self, key: str, limit: int | None = None) -> str | None:
        if self.raw.get(key) is None:
            return None
        return self.text(key, limit)

    def text_list(self, key: str, *, allow_empty: bool) -> tuple[str, ...]:
        value = self.raw.get(key)
        need = "a list of non-empty strings" if allow_empty else "a non-empty list of non-empty strings"
        if not isinstance(value, list) or not all(isinstance(item, str) and item.strip() for item in value):
            self.fail(f"'{key}' must be {need}")
        if not value and not allow_empty:
            self.fail(f"'{key}' must be {need}")
        return tuple(value)


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, which plain YAML silently resolves to the last one."""


def _construct_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
    keys: set[Any] = set()
    for key_node, _value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in keys:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        keys.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
