"""Identifiers and timestamps shared by every layer.

Invariants: ids are 32-character lowercase hex strings shaped like UUID4s (version and variant
bits set), drawn from a generator seeded from the OS and reseeded in forked children, so they are
unique across processes without a system call per id; times are naive UTC datetimes (what the
metadata store records and the Client returns).
"""

from __future__ import annotations

import os
import random
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


# A series of ids (the items of one split): a random 24-digit prefix and an 8-digit index, so
# the whole series is its prefix and each id gives back its index. Still UUID4-shaped: the
# version and variant digits are in the prefix.
SERIES_PREFIX_LENGTH = 24


def series_prefix() -> str:
    return new_id()[:SERIES_PREFIX_LENGTH]


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
