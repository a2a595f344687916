"""Items of a sequence artifact: the inputs of the branches of a `.map(...)`.

Mapping over a step output that holds a list does not copy the list into N new files. The list
is read once (by a worker, not the orchestrator) to learn its length and a content hash per item;
each item is then recorded as an artifact version that *refers* to the parent's files and an index
(materializer name `fanflow.item`). A branch loads its item through a small per-process cache of
parents, so N branches in one process read the parent once: splitting is O(N), not O(N²).

Invariants:
- an item's content hash depends only on the item's value, so a branch whose item did not change
  hits the cache even when other items of the list changed;
- a loaded item is a deep copy: a branch that mutates its input cannot affect its siblings;
- strings, bytes and mappings are not mapped over (mapping over characters or keys is almost
  always a mistake); anything else with `len()` and integer indexing is.
"""

from __future__ import annotations

import copy
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from fanflow.artifacts import json_codec
from fanflow.artifacts.store import ArtifactStore
from fanflow.artifacts.type_paths import type_path

ITEM_MATERIALIZER = "fanflow.item"
PARENT_CACHE_SIZE = 4


@dataclass(frozen=True, slots=True)
class ItemSource:
    """Where an item lives: the parent artifact's files and how to read them, and the index."""

    parent_uri: str
    parent_materializer: str
    parent_data_type: str
    index: int
    parent_hash: str | None = None  # the parent's recorded sha256, checked before unpickling
    # The parent's bytes when it is inline, for a reader that has its record (the Client). In
    # a run, items never carry them: the split writes an inline parent's file at its URI, so a
    # task ships an index, not the list.
    parent_inline: bytes | None = None


@dataclass(frozen=True, slots=True)
class SplitResult:
    count: int
    hashes: list[str]
    data_types: list[str]


class NotMappable(TypeError):
    """The value cannot be split into branch inputs."""


def is_mappable(value: Any) -> bool:
    if isinstance(value, (str, bytes, bytearray, dict)):
        return False
    return hasattr(value, "__len__") and hasattr(value, "__getitem__")


def item_hash(item: Any) -> str:
    try:
        payload = json_codec.dumps(item).encode()
    except json_codec.NotJsonSafe:
        import cloudpickle

        payload = b"pickle:" + cloudpickle.dumps(item)
    return hashlib.sha256(payload).hexdigest()


def describe_items(value: Any) -> SplitResult:
    """Length, per-item hashes and per-item types of a mappable value."""
    if not is_mappable(value):
        raise NotMappable(
            f"cannot map over a value of type {type(value).__module__}."
            f"{type(value).__qualname__}; map over a list, tuple or array"
        )
    count = len(value)
    hashes = []
    data_types = []
    for index in range(count):
        item = value[index]
        hashes.append(item_hash(item))
        data_types.append(type_path(type(item)))
    return SplitResult(count, hashes, data_types)


class _ParentCache:
    """A few recently loaded parents, each loaded once even when many threads ask at once."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._values: OrderedDict[str, Any] = OrderedDict()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, source: ItemSource, store: ArtifactStore) -> Any:
        key = source.parent_uri
        with self._guard:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            with self._guard:
                if key in self._values:
                    return self._values[key]
            from fanflow.artifacts.io import load_value

            value = load_value(
                source.parent_uri,
                source.parent_materializer,
                source.parent_data_type,
                store,
                expected_hash=source.parent_hash,
                inline=source.parent_inline,
            )
            with self._guard:
                self._values[key] = value
                self._values.move_to_end(key)
                while len(self._values) > self._size:
                    evicted, _ = self._values.popitem(last=False)
                    self._locks.pop(evicted, None)
            return value


_parents = _ParentCache(PARENT_CACHE_SIZE)


def load_item(source: ItemSource, store: ArtifactStore) -> Any:
    parent = _parents.get(source, store)
    return copy.deepcopy(parent[source.index])


def item_metadata(source: ItemSource, parent_id: str) -> dict[str, Any]:
    return {
        "parent_artifact_version_id": parent_id,
        "index": source.index,
        "parent_materializer": source.parent_materializer,
        "parent_data_type": source.parent_data_type,
        "parent_content_hash": source.parent_hash,
    }


def source_from_metadata(
    uri: str, metadata: dict[str, Any], parent_inline: bytes | None = None
) -> ItemSource:
    """An item's source from its record; `parent_inline` is the parent version's inline bytes
    (its `inline_payload`), which the caller reads when the parent is inline."""
    return ItemSource(
        uri,
        metadata["parent_materializer"],
        metadata["parent_data_type"],
        int(metadata["index"]),
        metadata.get("parent_content_hash"),
        parent_inline,
    )


def parent_id(metadata: dict[str, Any]) -> str | None:
    """The artifact version id of an item's parent, from the item's recorded metadata."""
    found = metadata.get("parent_artifact_version_id")
    return str(found) if found else None
