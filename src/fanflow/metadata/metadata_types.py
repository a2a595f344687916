"""Typed metadata values ZenML programs log (`from fanflow.metadata.metadata_types import ...`).

Each is a subclass of a JSON type (`int` or `str`), so `log_metadata` records it as that plain
value; the class says what the number or string means (bytes, a dtype, a URI, a path).
"""

from __future__ import annotations


class Uri(str):
    """A URI (an artifact location, a web page, ...)."""


class Path(str):
    """A file-system path."""


class DType(str):
    """A data type name (`str(np.float64)`, `"int64"`, ...)."""

    def __new__(cls, value: object) -> DType:
        return super().__new__(cls, str(value))


class StorageSize(int):
    """A size in bytes."""


MetadataType = (
    str | int | float | bool | list | dict | set | tuple | Uri | Path | DType | StorageSize
)

__all__ = ["DType", "MetadataType", "Path", "StorageSize", "Uri"]
