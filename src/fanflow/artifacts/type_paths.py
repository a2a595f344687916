"""`module.qualname` of a type, as artifacts record it.

One string per type for the whole process: a wide map records the same data type for every
branch, and building the name per value would hold one copy of it per branch (~60 bytes each)
in every record the orchestrator keeps.
"""

from __future__ import annotations

_paths: dict[type, str] = {}


def type_path(data_type: type) -> str:
    """The recorded name of `data_type`, shared by every caller."""
    path = _paths.get(data_type)
    if path is None:
        path = _paths[data_type] = f"{data_type.__module__}.{data_type.__qualname__}"
    return path
