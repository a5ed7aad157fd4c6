"""The streams topology written in quixstreams 3.x: the peer ``bench/streams.py`` measures the worker against.

    <quix venv>/bin/python bench/quix_peer.py BOOTSTRAP GROUP OUT_TOPIC STATE_DIR

It runs in a venv of its own (``bench/streams.py`` creates it under ``.local/``: quixstreams pins its own
pydantic and confluent-kafka). The work per record is the worker's, with the project's own domain rules:
validate the envelope, drop duplicate event ids and re-order per order (the sequencer's rules, on the
record's timestamp), apply released events to the customer's ledger, send the loyalty events it derives.
State is quixstreams' RocksDB state with changelog topics, keyed by customer like the worker's tables;
the three source topics are concatenated (quixstreams aligns co-partitioned topics by timestamp).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the project's pure domain

from quixstreams import Application, State

from orderstream.domain import contract, ledger, sequencing
from orderstream.domain.contract import ParseError, parse_event

REORDER_TIMEOUT = 30.0


def process(value: bytes, key: Any, timestamp: int, headers: Any, state: State) -> list[bytes]:
    event = parse_event(value)
    if isinstance(event, ParseError):
        return []
    order_key = f"order:{event.order_id}"
    stored = state.get(order_key)
    before = sequencing.OrderState.from_dict(stored) if stored else sequencing.OrderState()
    after, outcome = sequencing.accept(before, event, timestamp / 1000.0, REORDER_TIMEOUT)
    if after is not before:
        state.set(order_key, after.to_dict())
    if not outcome.released:
        return []
    stored = state.get("ledger")
    customer = ledger.CustomerLedger.from_dict(stored) if stored else ledger.CustomerLedger(event.customer_id)
    changes = ledger.LedgerChanges(customer)
    out = [derived.to_bytes() for released in outcome.released for derived in changes.apply(released.event)]
    state.set("ledger", changes.ledger().to_dict())
    return out


def main() -> None:
    bootstrap, group, out_topic, state_dir = sys.argv[1:5]
    app = Application(
        broker_address=bootstrap,
        consumer_group=group,
        auto_offset_reset="earliest",
        commit_interval=1.0,
        state_dir=state_dir,
        loglevel="WARNING",
        processing_guarantee="at-least-once",
    )
    sources = [
        app.topic(name, key_deserializer="bytes", value_deserializer="bytes")
        for name in contract.SOURCE_TOPICS
    ]
    out = app.topic(out_topic, key_serializer="bytes", value_serializer="bytes")
    sdf = app.dataframe(sources[0]).concat(app.dataframe(sources[1])).concat(app.dataframe(sources[2]))
    sdf = sdf.apply(process, stateful=True, expand=True, metadata=True)
    sdf.to_topic(out)
    app.run()


if __name__ == "__main__":
    main()
