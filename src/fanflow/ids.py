"""Identifiers and timestamps shared by every layer.

Invariants: ids are 32-character lowercase hex strings shaped like UUIDs (version and variant
bits set), drawn from a generator seeded from the OS and reseeded in forked children, so they are
unique across processes without a system call per id; times are naive UTC datetimes (what the
metadata store records and the Client returns).

Two kinds: `new_id` (UUID4, random throughout) for what users name by a typed prefix (runs,
pipelines, artifacts saved by hand), and `new_ordered_id` (UUID7 of RFC 9562: the millisecond
time first, then random bits) for the rows a run writes by the thousand (step runs, their
artifact versions, artifact names, split items). Random keys put every insert on a random page
of the primary-key index, so each turn of a wide map rewrote pages all over the store (a
100,000-branch map spent a quarter of its CPU in the kernel writing them); time-ordered keys
land next to each other.
"""

from __future__ import annotations

import os
import random
import time
from datetime import datetime, timezone

_VERSION_4 = 0x4000 << 64
_VARIANT = 0x8000 << 48
_CLEAR = ~((0xF000 << 64) | (0xC000 << 48))
_generator = random.Random(os.urandom(32))


def _reseed() -> None:
    _generator.seed(os.urandom(32))


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reseed)


def new_id() -> str:
    bits = (_generator.getrandbits(128) & _CLEAR) | _VERSION_4 | _VARIANT
    return f"{bits:032x}"


_RAND_B = (1 << 62) - 1


def new_ordered_id() -> str:
    """UUID7: 48 bits of Unix time in milliseconds, the version, 74 random bits."""
    rand = _generator.getrandbits(74)
    bits = (
        (time.time_ns() // 1_000_000) << 80
        | 0x7 << 76
        | (rand >> 62) << 64
        | 0b10 << 62
        | (rand & _RAND_B)
    )
    return f"{bits:032x}"


# A series of ids (the items of one split): a time-ordered 24-digit prefix and an 8-digit
# index, so the whole series is its prefix and each id gives back its index. Still UUID7-shaped:
# the version and variant digits are in the prefix.
SERIES_PREFIX_LENGTH = 24


def series_prefix() -> str:
    return new_ordered_id()[:SERIES_PREFIX_LENGTH]


def series_id(prefix: str, index: int) -> str:
    return f"{prefix}{index:08x}"


def series_index(prefix: str, av_id: str) -> int | None:
    """The index of `av_id` in the series with `prefix`, or None when it is not one of it."""
    if len(av_id) != 32 or not av_id.startswith(prefix):
        return None
    try:
        return int(av_id[SERIES_PREFIX_LENGTH:], 16)
    except ValueError:
        return None


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def normalize_id(text: object) -> str:
    """`UUID`, dashed or plain hex -> plain lowercase hex (prefixes stay prefixes)."""
    return str(text).replace("-", "").lower()
