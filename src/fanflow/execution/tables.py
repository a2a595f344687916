"""Giving back the memory of a run's tables once most of their entries are gone.

A dict or set never shrinks when entries are removed: the table of a map's million pending
branches keeps its size (tens of megabytes) after every branch has been dispatched. The run's
owners of such tables (pending invocations, planned ids, handles, the scheduler's per-node
state) call `compact` between turns; a table that holds far less than its size allows is
rebuilt in place, so every alias of it stays valid.

Invariant: the contents never change, only the memory behind them; the check is `O(1)` and a
rebuild happens at most once per halving of a table, so it is amortised over the removals.
"""

from __future__ import annotations

import sys
from typing import Any

# A compact table holds an entry in well under this many bytes (dict: index + 24-byte entry
# at ≤ 2/3 load; set: 16-byte slot at ≤ 3/5 load), so a table this much larger is mostly slack.
_BYTES_PER_ENTRY = 128
# Below this size, rebuilding is not worth its time.
_SMALLEST = 64 * 1024


def compact(*tables: dict[Any, Any] | set[Any]) -> None:
    """Rebuild each table that is mostly empty slots, in place (same object, same contents)."""
    for table in tables:
        size = sys.getsizeof(table)
        if size < _SMALLEST or size < _BYTES_PER_ENTRY * len(table):
            continue
        kept = table.copy()
        table.clear()
        table.update(kept)  # type: ignore[arg-type]
