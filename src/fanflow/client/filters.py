"""Checking the keyword filters given to the Client's `list_*` methods.

ZenML's list methods take many keyword filters. fanflow accepts the ones it implements, ignores
the few that only change how ZenML presents results (`hydrate`, ...), and refuses every other
name: a misspelt filter (`pipline_name=`) silently ignored would return every run, which looks
like an answer but is not one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fanflow.exceptions import UnknownFilterError

# ZenML keywords that change only the shape or detail of what is returned, never which records.
PRESENTATION_ONLY = frozenset({"hydrate", "include_full_metadata", "include_resources", "project"})


def check_filters(method: str, extra: Mapping[str, Any], supported: Iterable[str]) -> None:
    """Raise `UnknownFilterError` for any keyword in `extra` that is not presentation-only."""
    unknown = [name for name in extra if name not in PRESENTATION_ONLY]
    if not unknown:
        return
    import difflib  # only to word the error

    names = sorted(supported)
    parts = []
    for name in unknown:
        close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
        parts.append(f"{name!r}" + (f" (did you mean {close[0]!r}?)" if close else ""))
    raise UnknownFilterError(
        f"{method}() got unknown filter(s) {', '.join(parts)}. It filters by "
        f"{', '.join(names)}; other ZenML filters are not supported by fanflow."
    )
