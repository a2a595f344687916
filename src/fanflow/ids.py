"""Identifiers and timestamps shared by every layer.

Invariants: ids are 32-character lowercase hex UUID4s; times are naive UTC datetimes (what the
metadata store records and the Client returns).
"""

from __future__ import annotations

import uuid
from datetime import datetime, timezone


def new_id() -> str:
    return uuid.uuid4().hex


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def normalize_id(text: object) -> str:
    """`UUID`, dashed or plain hex -> plain lowercase hex (prefixes stay prefixes)."""
    return str(text).replace("-", "").lower()
