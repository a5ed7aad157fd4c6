"""The compiled rule set: many patterns in one matcher whose cost follows the event, not the rule count.

Every branch of every pattern is a sequence of (field path, atoms) conditions. The branches are inserted into
one trie: a state holds, per field path, a :class:`_FieldIndex` that maps a value to the next states, and
branches that begin with the same conditions share their states. Paths are taken in one global order (the
most used first, exact-match paths before the others, shallow before deep), so common conditions such as
``event_type`` sit near the root and are shared by most rules.

A field index finds the atoms a value satisfies without trying them one by one: exact strings, numbers,
literals and addresses by hash; prefixes and suffixes by a hash per distinct length; numeric ranges by binary
search over their sorted bounds, each elementary interval knowing the ranges that cover it. Only wildcards,
ignore-case, anything-but and CIDR blocks are tested per value.

Matching walks the trie from the root, branching on each value of a field (several when it is an array), and
keeping the array membership of the values used so far (see :mod:`.events`). Reaching a state where a branch
ends adds its rule, once its absent fields are confirmed. As in event-ruler, an absent field is judged against
the array elements chosen by the fields that sort before it (Java string order).
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Final

from orderstream.domain.patterns.addresses import parse_address
from orderstream.domain.patterns.atoms import NUMERIC_LIMIT, Atom, ValueTest, number_key
from orderstream.domain.patterns.events import CONFLICT, FieldPath, Membership, Value, merge, values_at
from orderstream.domain.patterns.syntax import Branch

__all__ = ["Machine"]

_NONE: Final[tuple[Any, ...]] = ()
_INDEXED_KINDS: Final = {"string": 0, "number": 0, "literal": 0, "address": 0, "prefix": 1, "suffix": 1}


def _java_order(path: str) -> bytes:
    """Java's String.compareTo order (UTF-16 code units), which event-ruler sorts field names by."""
    return path.encode("utf-16-be", "surrogatepass")


class _State:
    __slots__ = ("edges", "fields", "index", "terminals")

    def __init__(self, index: int) -> None:
        self.index = index
        self.fields: dict[str, _FieldIndex] = {}
        self.edges: tuple[tuple[FieldPath, _FieldIndex], ...] = ()  # ``fields`` frozen for the walk
        self.terminals: list[tuple[int, tuple[tuple[str, bytes], ...]]] = []


class _FieldIndex:
    """The atoms one state tests on one field path, indexed; each atom set (a field list) has a next state."""

    __slots__ = (
        "addresses", "anything", "cidrs", "leaves", "literals", "lookup", "numbers", "prefixes", "ranges",
        "strings", "suffixes", "tests",
    )  # fmt: skip

    def __init__(self) -> None:
        self.leaves: dict[frozenset[Atom], _State] = {}
        self.strings: dict[str, tuple[_State, ...]] = {}
        self.numbers: dict[int | float, tuple[_State, ...]] = {}
        self.literals: dict[Any, tuple[_State, ...]] = {}
        self.addresses: dict[tuple[int, int], tuple[_State, ...]] = {}
        self.prefixes: list[tuple[int, dict[str, tuple[_State, ...]]]] = []
        self.suffixes: list[tuple[int, dict[str, tuple[_State, ...]]]] = []
        self.ranges: _Ranges | None = None
        self.cidrs: list[tuple[ValueTest, _State]] = []
        self.tests: list[tuple[ValueTest, _State]] = []
        self.anything: tuple[_State, ...] = ()
        self.lookup: Callable[[Any], tuple[_State, ...]] = self.next_states

    def build(self) -> None:
        prefixes: dict[int, dict[str, tuple[_State, ...]]] = {}
        suffixes: dict[int, dict[str, tuple[_State, ...]]] = {}
        ranges: list[tuple[tuple[float, bool, float, bool], _State]] = []
        for atoms, state in self.leaves.items():
            for atom in atoms:
                kind, operand = atom.kind, atom.operand
                if kind == "string":
                    _add(self.strings, operand, state)
                elif kind == "number":
                    _add(self.numbers, operand, state)
                elif kind == "literal":
                    _add(self.literals, _literal_key(operand), state)
                elif kind == "address":
                    _add(self.addresses, operand, state)
                elif kind == "prefix":
                    _add(prefixes.setdefault(len(operand), {}), operand, state)
                elif kind == "suffix":
                    _add(suffixes.setdefault(len(operand), {}), operand, state)
                elif kind == "range":
                    ranges.append((operand, state))
                elif kind == "exists":
                    self.anything = _union(self.anything, (state,))
                elif kind == "cidr":
                    self.cidrs.append((_required(atom.test), state))
                else:
                    self.tests.append((_required(atom.test), state))
        self.prefixes = sorted(prefixes.items())
        self.suffixes = sorted(suffixes.items())
        self.ranges = _Ranges(ranges) if ranges else None
        self.lookup = self._fastest_lookup()

    def _fastest_lookup(self) -> Callable[[Any], tuple[_State, ...]]:
        """``next_states`` itself, or a shortcut when only exact strings (the usual rule) are indexed."""
        others = (
            self.numbers, self.literals, self.addresses, self.prefixes, self.suffixes, self.cidrs, self.tests,
            self.anything, self.ranges,
        )  # fmt: skip
        if any(others):
            return self.next_states
        get = self.strings.get

        def strings_only(value: Any) -> tuple[_State, ...]:
            return get(value, _NONE) if type(value) is str else _NONE

        return strings_only

    def next_states(self, value: Any) -> tuple[_State, ...]:
        kind = type(value)
        found = self.anything
        if kind is str:
            hit = self.strings.get(value)
            if hit:
                found = _union(found, hit)
            if self.prefixes:
                size = len(value)
                for length, table in self.prefixes:
                    if length > size:
                        break
                    hit = table.get(value[:length])
                    if hit:
                        found = _union(found, hit)
            if self.suffixes:
                size = len(value)
                for length, table in self.suffixes:
                    if length > size:
                        break
                    hit = table.get(value[size - length :])
                    if hit:
                        found = _union(found, hit)
            if self.addresses:
                address = parse_address(value)
                hit = self.addresses.get(address) if address is not None else None
                if hit:
                    found = _union(found, hit)
            for test, state in self.cidrs:
                if test(value):
                    found = _union(found, (state,))
        elif kind is int or kind is float:
            hit = self.numbers.get(number_key(value))
            if hit:
                found = _union(found, hit)
            if self.ranges is not None:
                found = _union(found, self.ranges.covering(value))
        else:
            hit = self.literals.get(_literal_key(value))
            if hit:
                found = _union(found, hit)
        for test, state in self.tests:
            if test(value):
                found = _union(found, (state,))
        return found


class _Ranges:
    """Numeric ranges by elementary interval: for each bound and each gap between bounds, who covers it."""

    __slots__ = ("bounds", "segments")

    def __init__(self, ranges: list[tuple[tuple[float, bool, float, bool], _State]]) -> None:
        self.bounds = sorted({bound for (low, _, high, _), _state in ranges for bound in (low, high)})
        # segment 2i is the gap below bounds[i], 2i+1 is bounds[i] itself, the last one is above every bound
        segments: list[list[_State]] = [[] for _ in range(2 * len(self.bounds) + 1)]
        for (low, low_inclusive, high, high_inclusive), state in ranges:
            first = 2 * bisect_left(self.bounds, low) + (1 if low_inclusive else 2)
            last = 2 * bisect_left(self.bounds, high) + (1 if high_inclusive else 0)
            for segment in range(first, last + 1):
                segments[segment].append(state)
        self.segments = [tuple(dict.fromkeys(states)) for states in segments]

    def covering(self, value: int | float) -> tuple[_State, ...]:
        if not -NUMERIC_LIMIT <= value <= NUMERIC_LIMIT:
            return _NONE
        position = bisect_left(self.bounds, value)
        exact = position < len(self.bounds) and self.bounds[position] == value
        return self.segments[2 * position + (1 if exact else 0)]


class Machine:
    """Patterns (each a tuple of branches) compiled into one trie. Immutable once built; thread-safe."""

    __slots__ = ("_root", "_states")

    def __init__(self, patterns: Sequence[Sequence[Branch]]) -> None:
        order = _path_order(branch for branches in patterns for branch in branches)
        self._states: list[_State] = [_State(0)]
        self._root = self._states[0]
        for rule, branches in enumerate(patterns):
            for branch in branches:
                self._insert(rule, branch, order)
        paths: dict[str, FieldPath] = {}
        for state in self._states:
            for field in state.fields.values():
                field.build()
            state.edges = tuple((paths.setdefault(p, FieldPath(p)), f) for p, f in state.fields.items())

    def _insert(self, rule: int, branch: Branch, order: dict[str, tuple[Any, ...]]) -> None:
        state = self._root
        for path, atoms in sorted(branch.values, key=lambda condition: order[condition[0]]):
            field = state.fields.get(path)
            if field is None:
                field = state.fields[path] = _FieldIndex()
            following = field.leaves.get(atoms)
            if following is None:
                following = field.leaves[atoms] = _State(len(self._states))
                self._states.append(following)
            state = following
        absent = tuple((path, _java_order(path)) for path in branch.absent)
        state.terminals.append((rule, absent))

    def matching(self, event: dict[str, Any]) -> list[int]:
        """The indexes of the patterns that match ``event``, ascending."""
        root = self._root
        if root.terminals:
            return self._walk(event, {})
        # Most events take no first step at all: answer them before any set-up. A plain string under a
        # plain key (``event_type``) is looked up directly; anything else reads the field's values.
        for path, field in root.edges:
            lookup = field.lookup
            if path.simple:
                value = event.get(path.name)
                if type(value) is str:
                    if lookup(value):
                        return self._walk(event, {path.name: [(value, None)]})
                    continue
            values = path.values(event)
            for value, _member in values:  # a plain loop: any() and a generator cost more
                if lookup(value):
                    return self._walk(event, {path.name: values})
        return []

    def _walk(self, event: dict[str, Any], cache: dict[str, list[Value]]) -> list[int]:
        found: list[int] = []
        seen: set[int] | None = None  # states reached through several values of one field: walked once
        stack: list[tuple[_State, Membership, tuple[tuple[bytes, Membership], ...]]] = [
            (self._root, None, ())
        ]
        pop, push = stack.pop, stack.append
        while stack:
            state, membership, chosen = pop()
            if state.terminals:
                for rule, absent in state.terminals:
                    if not absent or _all_absent(event, cache, absent, chosen):
                        found.append(rule)
            for path, field in state.edges:
                values = cache.get(path.name)
                if values is None:
                    values = cache[path.name] = path.values(event)
                several = len(values) > 1
                for value, member in values:
                    following = field.lookup(value)
                    if not following:
                        continue
                    if member is None:
                        for state_after in following:
                            if several and membership is None:
                                if seen is None:
                                    seen = set()
                                elif state_after.index in seen:
                                    continue
                                seen.add(state_after.index)
                            push((state_after, membership, chosen))
                        continue
                    merged = merge(membership, member)
                    if merged is CONFLICT:
                        continue
                    picked = (*chosen, (_java_order(path.name), member))
                    for state_after in following:
                        push((state_after, merged, picked))
        if len(found) > 1:
            return sorted(set(found))
        return found


def _all_absent(
    event: dict[str, Any],
    cache: dict[str, list[Any]],
    absent: tuple[tuple[str, bytes], ...],
    chosen: tuple[tuple[bytes, Membership], ...],
) -> bool:
    for path, rank in absent:
        values = cache.get(path)
        if values is None:
            values = cache[path] = values_at(event, path)
        if not values:
            continue
        constraint: Membership = None
        for chosen_rank, member in chosen:
            if chosen_rank < rank:
                constraint = merge(constraint, member)
        for _value, member in values:
            if merge(constraint, member) is not CONFLICT:
                return False
    return True


def _path_order(branches: Iterable[Branch]) -> dict[str, tuple[Any, ...]]:
    """Most used paths first; among equals, exact-match paths, then shallow ones, then by name."""
    uses: dict[str, int] = {}
    kinds: dict[str, int] = {}
    for branch in branches:
        for path, atoms in branch.values:
            uses[path] = uses.get(path, 0) + 1
            rank = max(_INDEXED_KINDS.get(atom.kind, 2) for atom in atoms)
            kinds[path] = max(kinds.get(path, 0), rank)
    return {path: (-uses[path], kinds[path], path.count("."), _java_order(path)) for path in uses}


def _add(table: dict[Any, tuple[_State, ...]], key: Any, state: _State) -> None:
    table[key] = _union(table.get(key, _NONE), (state,))


def _union(first: tuple[_State, ...], second: tuple[_State, ...]) -> tuple[_State, ...]:
    if not first:
        return second
    return first + tuple(state for state in second if state not in first)


def _literal_key(value: Any) -> Any:
    return ("literal", value)  # keeps true apart from 1 and false from 0, which hash alike


def _required(test: ValueTest | None) -> ValueTest:
    if test is None:
        raise AssertionError("an atom of this kind carries a test")
    return test
