"""Loyalty stage: order events in each order's sequence order → per-customer ledger → ``loyalty-events``.

The ledger (:mod:`orderstream.domain.ledger`) is an idempotent per-order ledger whose derived events have
deterministic ids, so a batch processed again after a crash changes nothing and re-emits the same ids. One
table value per customer, keyed by the customer id.
"""

from __future__ import annotations

import orjson

from orderstream.domain import contract
from orderstream.domain.contract import Event, ParseError, parse_event
from orderstream.domain.ledger import CustomerLedger, LedgerChanges
from streams.stages.batch import Batch, RecordLike, StateView
from streams.stages.keys import partition_of

STAGE = "loyalty"
TABLE = "loyalty-ledger"
WORKING = "loyalty-ledger/working"
"""Where a batch keeps the customers' :class:`LedgerChanges` until it is sealed."""


def decode_ledger(raw: bytes) -> CustomerLedger:
    return CustomerLedger.from_dict(orjson.loads(raw))


def encode_ledger(value: CustomerLedger) -> bytes:
    return orjson.dumps(value.to_dict())


class LoyaltyStage:
    """Apply order events to their customer's ledger and emit what changed."""

    def __init__(self, ledgers: StateView[CustomerLedger], partitions: int) -> None:
        self.ledgers = ledgers
        self.partitions = partitions

    def on_record(self, batch: Batch, record: RecordLike, now: float) -> None:
        """A record of ``order-lifecycle`` (loyalty deployed on its own)."""
        parsed = parse_event(record.value)
        if isinstance(parsed, ParseError):
            batch.counts["loyalty.in"] += 1
            batch.park(record, STAGE, parsed.kind, parsed.message)
            return
        home = partition_of(parsed.customer_id.encode(), self.partitions)
        if home != batch.partition:
            batch.counts["loyalty.in"] += 1
            message = (
                f"customer {parsed.customer_id!r} belongs to partition {home}, read from {record.partition}"
            )
            batch.park(record, STAGE, "wrong_partition", message)
            return
        self.on_event(batch, parsed)

    def on_event(self, batch: Batch, event: Event) -> None:
        """One event released by the sequencer (read back from ``order-lifecycle``, or fused in memory)."""
        batch.counts["loyalty.in"] += 1
        key = event.customer_id.encode()
        working = batch.changes(WORKING)
        changes = working.get(key)
        if changes is None:
            current = self.ledgers.get(key) or CustomerLedger(event.customer_id)
            changes = working[key] = LedgerChanges(current)
        derived = changes.apply(event)
        for loyalty_event in derived:
            batch.send(contract.LOYALTY_EVENTS, key, loyalty_event.to_bytes())
        if derived:
            batch.counts["loyalty.out"] += len(derived)

    def seal(self, batch: Batch) -> None:
        """The batch's ledgers, one write per customer that changed."""
        working = batch.pending.pop(WORKING, {})
        changed = batch.changes(TABLE)
        for key, changes in working.items():
            before = self.ledgers.get(key)
            after = changes.ledger()
            if after is not before:
                changed[key] = after
        self.ledgers.seal(batch)

    def committed(self, batch: Batch) -> None:
        self.ledgers.committed(batch)
