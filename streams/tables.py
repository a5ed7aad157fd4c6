"""The worker's tables: faust tables of raw bytes whose every key lives in its customer's partition.

faust would file a key under the partition of the record being processed; a batch or a timer has no such
record, and the data plane writes a partition's changes itself. Deriving the partition from the key keeps
every value where recovery after a rebalance looks for it: the changelog partition numbered like the
customer's source partitions. Keys are the customer id (``loyalty-ledger``) or
:func:`streams.stages.keys.order_key` (per-order tables).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import faust

from streams.stages.keys import customer_part, partition_of


class CustomerPartitionedTable(faust.Table):  # type: ignore[type-arg]
    """A table of raw bytes keyed by customer first."""

    per_order: bool = False

    def partition_for_key(self, key: bytes) -> int:
        customer = customer_part(key) if self.per_order else key
        return partition_of(customer, self.partitions or self.app.conf.topic_partitions)

    def rows_of(self, partition: int) -> Iterator[tuple[bytes, bytes]]:
        """The stored ``(key, value)`` pairs of one partition."""
        store: Any = self.data
        rows_of = getattr(store, "rows_of", None)
        if rows_of is not None:  # the RocksDB store keeps one database per partition
            yield from rows_of(partition)
            return
        for key, value in list(store.items()):
            if value is not None and self.partition_for_key(key) == partition:
                yield key, value


def declare(app: faust.App, name: str, partitions: int, *, per_order: bool) -> CustomerPartitionedTable:
    """A customer-partitioned table of raw bytes (values are encoded by the stages)."""
    schema: faust.Schema[bytes, bytes] = faust.Schema(
        key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    table = CustomerPartitionedTable(
        app,
        name=name,
        partitions=partitions,
        schema=schema,
        key_type=bytes,  # faust picks the "raw" codec for recovery from these types
        value_type=bytes,
        beacon=app.tables.beacon,
    )
    table.per_order = per_order
    app.tables.add(table)
    return table
