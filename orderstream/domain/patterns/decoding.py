"""Decoding raw record values for matching.

orjson decodes almost everything; the one valid JSON it refuses is a number beyond a double's range (``1E309``),
which event-ruler still reads. Such values are decoded again with the standard library, so they match as they
would on the bus (as infinities: no numeric range holds them). Anything else orjson refuses is not JSON.
"""

from __future__ import annotations

import json
from typing import Any, Final

import orjson

__all__ = ["NOT_JSON", "decode_event"]

NOT_JSON: Final[Any] = object()


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def decode_event(raw: bytes) -> Any:
    """The decoded value, or NOT_JSON."""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return NOT_JSON
