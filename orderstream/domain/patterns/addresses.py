"""IP addresses and CIDR blocks, read the way EventBridge's matcher (event-ruler) reads them.

event-ruler treats a string as an address only when it looks like one (four dot-separated runs of digits, or
hex digits and colons with at least one colon) and Java's address parser accepts it. That parser differs from
Python's ``ipaddress`` in ways users can see, and we follow it:

- IPv4 parts may carry leading zeros and are read as decimal (``010.0.0.1`` is 10.0.0.1); the whole text is at
  most 15 characters;
- an IPv6 group may carry any number of leading zeros (``00001::``), zone ids (``fe80::1%eth0``) and embedded
  IPv4 (``::ffff:1.2.3.4``) are not addresses;
- an IPv4-mapped IPv6 address (``::ffff:a00:1``) is the IPv4 address;
- a block needs ``/bits``, fewer than 32 for IPv4 and fewer than 128 for IPv6.

An address of one family is never inside a block of the other (docs/patterns.md, known differences).
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["Address", "parse_address", "parse_cidr"]

Address = tuple[int, int]
"""(4 or 6, the address as an integer)."""

_IPV4: Final = re.compile(r"[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+")
_IPV6: Final = re.compile(r"[0-9a-fA-F:]*:[0-9a-fA-F:]*")
_MASK: Final = re.compile(r"[+-]?\d+")


def parse_address(text: str) -> Address | None:
    """The address a string holds, or None when it is not one."""
    if _IPV4.fullmatch(text):
        return _parse_v4(text)
    if _IPV6.fullmatch(text):
        return _parse_v6(text)
    return None


def parse_cidr(text: str) -> tuple[int, int, int]:
    """(family, lowest, highest address) of a block such as ``10.0.0.0/24``. Raises ValueError."""
    parts = text.split("/")
    while len(parts) > 1 and parts[-1] == "":  # Java's String.split drops trailing empty strings
        parts.pop()
    if len(parts) != 2:
        raise ValueError("a CIDR block has one '/' followed by the prefix length, e.g. 10.0.0.0/24")
    if not _MASK.fullmatch(parts[1]):
        raise ValueError(f"prefix length {parts[1]!r} is not an integer")
    bits = int(parts[1])
    address = parse_address(parts[0])
    if address is None:
        raise ValueError(f"{parts[0]!r} is not an IPv4 or IPv6 address")
    family, value = address
    width = 32 if family == 4 else 128
    if not 0 <= bits < width:
        raise ValueError(
            f"IPv{family} prefix length must be 0 to {width - 1}; to match one address, list it as a value"
        )
    host = (1 << (width - bits)) - 1
    return family, value & ~host, value | host


def _parse_v4(text: str) -> Address | None:
    if len(text) > 15:
        return None
    value = 0
    for part in text.split("."):
        number = int(part)
        if number > 255:
            return None
        value = value << 8 | number
    return 4, value


def _parse_v6(text: str) -> Address | None:
    """Java's IPv6 literal parser (sun.net.util.IPAddressUtil), for texts of hex digits and colons."""
    if len(text) < 2 or (text[0] == ":" and text[1] != ":"):
        return None
    if text.endswith(":") and not text.endswith("::"):
        return None
    head, gap, tail = text.partition("::")
    if "::" in tail:
        return None
    groups: list[int] = []
    for side in (head, tail):
        if not side:
            continue
        for group in side.split(":"):
            if not group or int(group, 16) > 0xFFFF:
                return None
            groups.append(int(group, 16))
    if gap:
        if len(groups) > 7:
            return None
        tail_count = len(tail.split(":")) if tail else 0
        groups[len(groups) - tail_count : len(groups) - tail_count] = [0] * (8 - len(groups))
    elif len(groups) != 8:
        return None
    value = 0
    for number in groups:
        value = value << 16 | number
    if value >> 32 == 0xFFFF:  # IPv4-mapped: Java hands back the IPv4 address
        return 4, value & 0xFFFFFFFF
    return 6, value
