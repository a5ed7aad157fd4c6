"""The per-order sequencer: drop duplicates, reject conflicts, release events in ``sequence`` order.

Pure and deterministic: :func:`accept` and :func:`expire` take the state, the input and the clock ``now``
(seconds of stream time, passed by the caller: see :mod:`orderstream.domain.streamtime`) and return a new :class:`OrderState` plus an :class:`Outcome`. Nothing is
mutated and nothing is read from the environment, so the faust agent that owns the table and the timer stays a
few lines long, and every rule here is tested without a broker. The rules are DESIGN.md's "Sequencer"; the
choices it leaves open are written down in docs/domain.md.

The state is small and plain: the next position expected, the event id released at each passed position (a
passed position without an id was skipped), the events held behind a gap with their arrival time, and the ids
of the last few rejected events. ``to_dict``/``from_dict`` turn it into JSON-compatible data for a faust table.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

from orderstream.domain.contract import EVENT_ADAPTER, Event

RejectReason = Literal["conflict", "late"]

MAX_REMEMBERED_REJECTS: Final = 16
"""Rejected ids kept so a redelivered reject is dropped as a duplicate, not parked in the DLQ again."""

STATE_FORMAT: Final = 1
"""Version of the ``to_dict`` layout, so a future layout can migrate what an older worker stored."""


@dataclass(frozen=True, slots=True)
class Held:
    """An early arrival waiting for the positions before it; ``arrived_at`` starts its gap's clock."""

    event: Event
    arrived_at: float


@dataclass(frozen=True, slots=True)
class Released:
    """An event leaving the sequencer; ``gap_before`` says the position right before it was skipped."""

    event: Event
    gap_before: bool = False


@dataclass(frozen=True, slots=True)
class Rejected:
    """An event that must go to the DLQ instead of the lifecycle; ``detail`` is the human-readable why."""

    event: Event
    reason: RejectReason
    detail: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one call produced, in the order the caller must forward it."""

    released: list[Released] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    duplicate: bool = False

    def __add__(self, other: Outcome) -> Outcome:
        return Outcome(
            released=[*self.released, *other.released],
            rejected=[*self.rejected, *other.rejected],
            duplicate=self.duplicate or other.duplicate,
        )


@dataclass(frozen=True, slots=True)
class OrderState:
    """Everything the sequencer remembers about one order. Treat as immutable: functions return new ones."""

    next_sequence: int = 1
    released_ids: dict[int, str] = field(default_factory=dict)
    """Position → event_id released there. A position below ``next_sequence`` missing here was skipped."""
    held: dict[int, Held] = field(default_factory=dict)
    """Position → early arrival; every key is above ``next_sequence``."""
    rejected_ids: tuple[str, ...] = ()

    def knows(self, event_id: str) -> bool:
        """Whether this event id was already released, held or rejected for this order."""
        return (
            event_id in self.rejected_ids
            or any(held.event.event_id == event_id for held in self.held.values())
            or event_id in self.released_ids.values()
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form (integer keys become lists, since JSON object keys are strings)."""
        return {
            "format": STATE_FORMAT,
            "next_sequence": self.next_sequence,
            "released": [[seq, event_id] for seq, event_id in sorted(self.released_ids.items())],
            "held": [
                {"arrived_at": held.arrived_at, "event": held.event.to_dict()}
                for _, held in sorted(self.held.items())
            ],
            "rejected_ids": list(self.rejected_ids),
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> OrderState:
        """Rebuild what :meth:`to_dict` wrote. Raises (KeyError, ValueError) on anything else."""
        if doc.get("format") != STATE_FORMAT:
            raise ValueError(f"unknown sequencer state format {doc.get('format')!r}")
        held = [
            Held(EVENT_ADAPTER.validate_python(item["event"]), float(item["arrived_at"]))
            for item in doc["held"]
        ]
        return cls(
            next_sequence=int(doc["next_sequence"]),
            released_ids={int(seq): str(event_id) for seq, event_id in doc["released"]},
            held={item.event.sequence: item for item in held},
            rejected_ids=tuple(str(event_id) for event_id in doc["rejected_ids"]),
        )


def deadline(state: OrderState, reorder_timeout: float) -> float | None:
    """When the lowest open gap times out (the earliest held arrival + timeout); ``None`` if nothing is held.

    The caller schedules :func:`expire` for this time; calling it earlier or later is harmless.
    """
    if not state.held:
        return None
    return min(held.arrived_at for held in state.held.values()) + reorder_timeout


def accept(state: OrderState, event: Event, now: float, reorder_timeout: float) -> tuple[OrderState, Outcome]:
    """Take one event of this order arriving at ``now``.

    Gaps whose time is up at ``now`` are passed *before* the event is placed, so the result depends only on
    arrival times, never on when the caller's expiry timer happened to fire.
    """
    _check_timeout(reorder_timeout)
    seq = event.sequence
    if not state.held and seq == state.next_sequence and not state.knows(event.event_id):
        # The common case, in order with nothing waiting: no gap is open, so nothing can expire; the event
        # is released at once. Same result as the general path below, without its intermediate states.
        released_ids = {**state.released_ids, seq: event.event_id}
        return OrderState(seq + 1, released_ids, {}, state.rejected_ids), Outcome(released=[Released(event)])
    state, before = expire(state, now, reorder_timeout)
    state, placed = _place(state, event, now)
    state, after = expire(state, now, reorder_timeout)  # only does anything when reorder_timeout == 0
    return state, before + placed + after


def expire(state: OrderState, now: float, reorder_timeout: float) -> tuple[OrderState, Outcome]:
    """Pass every gap that has been open ``reorder_timeout`` seconds at ``now`` and release what follows it.

    Gaps are passed one at a time, lowest first: after a gap is skipped the run of held events behind it is
    released, and the next gap gets its own clock (the earliest arrival among the events still held).
    """
    _check_timeout(reorder_timeout)
    released: list[Released] = []
    while (due := deadline(state, reorder_timeout)) is not None and now >= due:
        state = replace(state, next_sequence=min(state.held))
        state, run = _release_run(state, gap_before=True)
        released += run
    return state, Outcome(released=released)


def _place(state: OrderState, event: Event, now: float) -> tuple[OrderState, Outcome]:
    """Dedup, then reject, hold or release one event (no clock involved beyond recording its arrival)."""
    if state.knows(event.event_id):
        return state, Outcome(duplicate=True)
    seq = event.sequence
    if seq < state.next_sequence:
        return _reject_passed(state, event)
    if seq in state.held:
        other = state.held[seq].event.event_id
        return _reject(state, event, "conflict", f"sequence {seq} is already held as event {other}")
    state = replace(state, held={**state.held, seq: Held(event, now)})
    state, run = _release_run(state, gap_before=False)
    return state, Outcome(released=run)


def _reject_passed(state: OrderState, event: Event) -> tuple[OrderState, Outcome]:
    """An event for a position already behind us: a conflict if it was released, late if it was skipped."""
    seq = event.sequence
    released_id = state.released_ids.get(seq)
    if released_id is not None:
        return _reject(
            state, event, "conflict", f"sequence {seq} was already released as event {released_id}"
        )
    return _reject(state, event, "late", f"sequence {seq} was skipped after its reorder timeout")


def _reject(state: OrderState, event: Event, reason: RejectReason, detail: str) -> tuple[OrderState, Outcome]:
    remembered = (*state.rejected_ids, event.event_id)[-MAX_REMEMBERED_REJECTS:]
    detail = f"order {event.order_id}: {detail}"
    return replace(state, rejected_ids=remembered), Outcome(rejected=[Rejected(event, reason, detail)])


def _release_run(state: OrderState, gap_before: bool) -> tuple[OrderState, list[Released]]:
    """Release the consecutive held events starting at ``next_sequence``; the first gets ``gap_before``."""
    held = dict(state.held)
    released_ids = dict(state.released_ids)
    position = state.next_sequence
    run: list[Released] = []
    while position in held:
        event = held.pop(position).event
        run.append(Released(event, gap_before=gap_before and not run))
        released_ids[position] = event.event_id
        position += 1
    return replace(state, next_sequence=position, held=held, released_ids=released_ids), run


def _check_timeout(reorder_timeout: float) -> None:
    if reorder_timeout < 0:
        raise ValueError(f"reorder_timeout must be >= 0 seconds, got {reorder_timeout}")
