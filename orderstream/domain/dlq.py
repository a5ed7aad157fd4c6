"""Dead-letter record format, shared by every stage that parks bad input in ``orderstream.dlq``.

A DLQ record keeps the original key and value bytes untouched; what went wrong travels in headers, so
``orderstream dlq list`` can show it and ``orderstream dlq replay`` can send the record back where it came from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

H_STAGE = "orderstream.stage"
H_ERROR_TYPE = "orderstream.error_type"
H_ERROR_MESSAGE = "orderstream.error_message"
H_SOURCE_TOPIC = "orderstream.source_topic"
H_SOURCE_PARTITION = "orderstream.source_partition"
H_SOURCE_OFFSET = "orderstream.source_offset"
H_FAILED_AT = "orderstream.failed_at"
H_REPLAY_COUNT = "orderstream.replay_count"

MAX_MESSAGE_CHARS = 1000

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """Why one record was parked, and where it came from."""

    stage: str
    error_type: str
    message: str
    source_topic: str
    source_partition: int
    source_offset: int
    replay_count: int = 0
    failed_at: str = ""

    def headers(self, original: Iterable[tuple[str, bytes]] = ()) -> Headers:
        """Headers for the DLQ record: the original ones first, then ours (ours win on read)."""
        failed_at = self.failed_at or datetime.now(UTC).isoformat(timespec="milliseconds")
        ours = {
            H_STAGE: self.stage,
            H_ERROR_TYPE: self.error_type,
            H_ERROR_MESSAGE: self.message[:MAX_MESSAGE_CHARS],
            H_SOURCE_TOPIC: self.source_topic,
            H_SOURCE_PARTITION: str(self.source_partition),
            H_SOURCE_OFFSET: str(self.source_offset),
            H_FAILED_AT: failed_at,
            H_REPLAY_COUNT: str(self.replay_count),
        }
        kept = [(k, v) for k, v in original if k not in ours]
        return kept + [(k, v.encode()) for k, v in ours.items()]

    @classmethod
    def from_headers(cls, headers: Iterable[tuple[str, bytes | None]]) -> DeadLetter:
        """Read the DLQ headers back (the last value of a repeated header wins)."""
        h: dict[str, str] = {}
        for key, value in headers:
            h[key] = (value or b"").decode("utf-8", "replace")
        return cls(
            stage=h.get(H_STAGE, ""),
            error_type=h.get(H_ERROR_TYPE, ""),
            message=h.get(H_ERROR_MESSAGE, ""),
            source_topic=h.get(H_SOURCE_TOPIC, ""),
            source_partition=_int(h.get(H_SOURCE_PARTITION)),
            source_offset=_int(h.get(H_SOURCE_OFFSET)),
            replay_count=_int(h.get(H_REPLAY_COUNT)),
            failed_at=h.get(H_FAILED_AT, ""),
        )


def replay_count(headers: Mapping[str, bytes] | Iterable[tuple[str, bytes]]) -> int:
    """How many times a record was already replayed from the DLQ (0 for a fresh one)."""
    items = headers.items() if isinstance(headers, Mapping) else headers
    count = 0
    for key, value in items:
        if key == H_REPLAY_COUNT:
            count = _int(value.decode("utf-8", "replace"))
    return count


def _int(text: str | None) -> int:
    try:
        return int(text) if text is not None else -1
    except ValueError:
        return -1


H_TRUNCATED = "orderstream.truncated"
H_ORIGINAL_SIZE = "orderstream.original_size"
H_ORIGINAL_SHA256 = "orderstream.original_sha256"


def truncated(value: bytes, limit: int) -> tuple[bytes, Headers]:
    """A value too large for the DLQ, cut to ``limit`` bytes, and the headers that say so.

    The DLQ record still names its source topic, partition and offset, where the whole value stays for the
    topic's retention; the size and SHA-256 let an operator check a copy fetched from there.
    """
    headers: Headers = [
        (H_TRUNCATED, b"true"),
        (H_ORIGINAL_SIZE, str(len(value)).encode()),
        (H_ORIGINAL_SHA256, hashlib.sha256(value).hexdigest().encode()),
    ]
    return value[: max(0, limit)], headers
