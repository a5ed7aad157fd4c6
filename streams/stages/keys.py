"""Table keys and the customer partition.

Every table is keyed by customer first, so a key lives in its customer's partition: the partition number
of that customer's records on every co-partitioned topic (Kafka's default partitioner, murmur2 of the
customer id). A key of several parts is length-prefixed, ``b"<len(customer)>:<customer><rest>"``, so no id
content (a ``\\x1f``, a colon, anything) can make two customers' keys collide or hide the customer part.
"""

from __future__ import annotations

from orderstream.domain.partitioning import partition_for


def order_key(customer_id: str, order_id: str) -> bytes:
    """The key of a per-order value: unambiguous for any ids."""
    customer = customer_id.encode()
    return b"%d:%s%s" % (len(customer), customer, order_id.encode())


def customer_part(key: bytes) -> bytes:
    """The customer id (bytes) of an :func:`order_key`."""
    size, _, rest = key.partition(b":")
    return rest[: int(size)]


def order_part(key: bytes) -> bytes:
    """The order id (bytes) of an :func:`order_key`."""
    size, _, rest = key.partition(b":")
    return rest[int(size) :]


def partition_of(customer: bytes, partitions: int) -> int:
    """The partition of a customer's records and state (Kafka's default partitioner on the id)."""
    return partition_for(customer, partitions)
