"""Operator commands to running workers over the ``orderstream.control`` topic.

``orderstream dlq resume`` writes one small JSON record there; every worker of that app id reads the topic
from its end (no consumer group: each worker sees every command) and resumes the partitions the DLQ flood
guard paused. A topic rather than an HTTP call reaches every task of an ECS service without knowing their
addresses, and works the same locally.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from aiokafka import TopicPartition

from orderstream import kafka
from orderstream.domain import contract
from orderstream.settings import KafkaSettings

log = logging.getLogger("orderstream.control")

RESUME = "resume"


def resume_command(app_id: str, partitions: Iterable[int] | None) -> bytes:
    return orjson.dumps(
        {
            "command": RESUME,
            "app_id": app_id,
            "partitions": None if partitions is None else sorted(set(partitions)),
            "at": time.time(),
        }
    )


def parse_command(value: bytes | None) -> dict[str, Any] | None:
    """A command record, or None for anything that is not one (logged, never fatal)."""
    try:
        doc = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None
    if not isinstance(doc, dict) or doc.get("command") != RESUME or not isinstance(doc.get("app_id"), str):
        return None
    parts = doc.get("partitions")
    if parts is not None and not (isinstance(parts, list) and all(isinstance(p, int) for p in parts)):
        return None
    return doc


async def ensure_topic(settings: KafkaSettings) -> None:
    await kafka.create_topics(settings, [contract.CONTROL], partitions=1)


async def send_resume(settings: KafkaSettings, app_id: str, partitions: Iterable[int] | None) -> None:
    await ensure_topic(settings)
    producer = kafka.producer(settings)
    await producer.start()
    try:
        await producer.send_and_wait(
            contract.CONTROL, resume_command(app_id, partitions), key=app_id.encode()
        )
    finally:
        await producer.stop()


async def listen(
    settings: KafkaSettings, app_id: str, on_resume: Callable[[list[int] | None], list[int]]
) -> None:
    """Apply resume commands for ``app_id`` until cancelled; commands sent before this started are old news."""
    await ensure_topic(settings)
    consumer = kafka.consumer(settings, group_id=None)
    await consumer.start()
    try:
        tp = TopicPartition(contract.CONTROL, 0)
        consumer.assign([tp])
        await consumer.seek_to_end(tp)
        while True:
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    command = parse_command(record.value)
                    if command is None or command["app_id"] != app_id:
                        continue
                    resumed = on_resume(command["partitions"])
                    log.warning(
                        "control: resume %s → resumed partitions %s",
                        "all" if command["partitions"] is None else command["partitions"],
                        resumed or "none (none was paused here)",
                    )
    except asyncio.CancelledError:
        raise
    finally:
        await consumer.stop()
