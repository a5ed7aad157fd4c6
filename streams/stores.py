"""A RocksDB table store (via rocksdict) that files each key under its customer's partition.

faust's RocksDB store picks the partition database from the record being processed, which is absent when the
data plane writes a batch's changes. Our tables know each key's partition (the customer's, see
:class:`streams.tables.CustomerPartitionedTable`), so this store asks the table instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

from faust.stores import STORES
from faust.stores.rocksdb import Store as RocksDBStore

URL_SCHEME = "orderstream-rocksdb"


class CustomerPartitionedRocksDBStore(RocksDBStore):
    def _partition(self, key: bytes) -> int:
        return cast(int, self.table.partition_for_key(key))

    def _set(self, key: bytes, value: bytes | None) -> None:
        partition = self._partition(key)
        self._key_index[key] = partition
        self._db_for_partition(partition).put(key, value)

    def _get(self, key: bytes) -> Any:
        return self._db_for_partition(self._partition(key)).get(key)

    def _contains(self, key: bytes) -> bool:
        return self._get(key) is not None

    def _del(self, key: bytes) -> None:
        self._key_index.pop(key, None)
        self._db_for_partition(self._partition(key)).delete(key)

    def rows_of(self, partition: int) -> Iterator[tuple[bytes, bytes]]:
        """The ``(key, value)`` pairs stored for one partition (its own database)."""
        yield from self._visible_items(self._db_for_partition(partition))


STORES.aliases[URL_SCHEME] = f"{__name__}:CustomerPartitionedRocksDBStore"
