"""Kafka's default partitioner: the same partition as the Java client's (and aiokafka's) for any key."""

from __future__ import annotations

import pytest
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given
from hypothesis import strategies as st

from orderstream.domain.partitioning import murmur2, partition_for


@given(st.binary(max_size=64))
def test_murmur2_agrees_with_the_kafka_client(data: bytes) -> None:
    assert murmur2(data) % 2**32 == aiokafka_murmur2(data) % 2**32  # aiokafka returns it unsigned


def test_known_values_from_the_java_client() -> None:
    # org.apache.kafka.common.utils.Utils.murmur2 on these byte strings.
    assert murmur2(b"") == 275646681
    assert murmur2(b"21") == -973932308
    assert murmur2(b"foobar") == -790332482
    assert murmur2(b"abc") == 479470107
    assert murmur2(b"a-little-bit-long-string") == -985981536


def test_partition_for_is_positive_modulo_the_count() -> None:
    assert {partition_for(f"c-{i}".encode(), 6) for i in range(200)} == set(range(6))
    with pytest.raises(ValueError):
        partition_for(b"x", 0)
