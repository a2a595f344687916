"""Saving one value as an artifact and loading it back.

`save_value` is what a worker calls for each step output: choose a materializer, write into a
staging directory, hash it, publish atomically, and return a plain :class:`SavedArtifact` for the
orchestrator to record. `load_value` is the inverse, given what was recorded.

Invariants:
- nothing is published unless `save` finished; a failed save leaves no trace in the store;
- the content hash is a sha256 over the relative file names and bytes of the artifact directory;
  for the builtin one-file materializers (JSON, bytes) the value is encoded once in memory, the
  hash is taken over those bytes (the same hash the directory walk gives) and the file is
  written from them: one pass, no walk, no read-back;
- the cloudpickle fallback is announced once per type per process, on the `fanflow` logger;
- small values inline: when the caller allows it (`inline_limit`, step outputs), a value the
  builtin one-file materializers encode to at most that many bytes is not written to the store
  at all. Its bytes travel in the :class:`SavedArtifact` (`inline`) and are recorded in the
  artifact version's row, in the same transaction as the step that produced it; the recorded
  `uri` stays the location the files would have had, and `load_value(..., inline=...)` decodes
  the bytes instead of reading files. The content hash is the one the file would have had, so
  caches keyed by content see no difference between an inline artifact and a stored one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pkgutil
import threading
from dataclasses import dataclass, field
from typing import Any

from fanflow.artifacts.builtin_materializers import (
    BytesMaterializer,
    CloudpickleMaterializer,
    JsonMaterializer,
    UseFallback,
)
from fanflow.artifacts.materializers import BaseMaterializer
from fanflow.artifacts.registry import materializer_registry
from fanflow.artifacts.store import ArtifactStore
from fanflow.artifacts.type_paths import type_path
from fanflow.artifacts.visualizations import record_visualizations
from fanflow.exceptions import ArtifactCorruptedError, ArtifactMissingError, MaterializerError
from fanflow.ids import new_id

logger = logging.getLogger("fanflow")

_announced_fallbacks: set[type] = set()
_announce_lock = threading.Lock()
_type_cache: dict[str, type] = {}

# The one-file materializers by recorded name: the only ones whose artifacts may be inline.
_INLINE_BY_NAME: dict[str, Any] = {cls.NAME: cls for cls in (JsonMaterializer, BytesMaterializer)}

# The largest value stored in its metadata record instead of the artifact store (step outputs).
INLINE_LIMIT = 64 * 1024

# Exactly these classes (not subclasses, which may override `save`) write one file, FILENAME,
# holding `encode(value)`.
_ONE_FILE_MATERIALIZERS: frozenset[type[BaseMaterializer]] = frozenset(
    (JsonMaterializer, BytesMaterializer)
)


@dataclass(frozen=True, slots=True)
class SavedArtifact:
    """What the orchestrator needs to record about an artifact written by a worker."""

    id: str
    uri: str
    materializer: str
    data_type: str
    artifact_type: str
    size: int
    content_hash: str
    metadata: dict[str, Any] = field(default_factory=dict)
    # the encoded bytes of an inline artifact (nothing was written to the store); else None
    inline: bytes | None = None


def resolve_type(path: str) -> type:
    """The class at `module.qualname`, or `object` when it cannot be imported here."""
    found = _type_cache.get(path)
    if found is not None:
        return found
    try:
        if path.startswith("builtins."):
            import builtins

            resolved = getattr(builtins, path[len("builtins.") :])
        else:
            resolved = pkgutil.resolve_name(path)
    except (ImportError, AttributeError, ValueError):
        resolved = object
    _type_cache[path] = resolved
    return resolved


def _announce_fallback(data_type: type, reason: str | None) -> None:
    with _announce_lock:
        if data_type in _announced_fallbacks:
            return
        _announced_fallbacks.add(data_type)
    because = f" ({reason})" if reason else ""
    logger.warning(
        "No materializer stores %s exactly%s; falling back to cloudpickle. Such artifacts load "
        "only with compatible Python and library versions; register a materializer for the "
        "type to avoid this.",
        type_path(data_type),
        because,
    )


def hash_folder(directory: str) -> tuple[str, int]:
    """The content hash and total size of every file under `directory` (see `hash_entries`)."""
    entries: list[tuple[str, str]] = []
    for current, dirs, files in os.walk(directory):
        dirs.sort()
        for name in files:
            full = os.path.join(current, name)
            entries.append((os.path.relpath(full, directory), full))
    return hash_entries(entries)


def hash_entries(entries: list[tuple[str, str]]) -> tuple[str, int]:
    """The content hash and total size of files given as (relative name, path) pairs: each
    name and its bytes in name order, so a folder hashes the same wherever it lies."""
    digest = hashlib.sha256()
    total = 0
    for relative, full in sorted(entries):
        digest.update(relative.encode())
        digest.update(b"\0")
        with open(full, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
                total += len(chunk)
        digest.update(b"\0")
    return digest.hexdigest(), total


def _digest_one_file(filename: str, payload: bytes) -> str:
    """`hash_folder` of a directory holding only `filename` with `payload`, without the disk."""
    digest = hashlib.sha256(filename.encode())
    digest.update(b"\0")
    digest.update(payload)
    digest.update(b"\0")
    return digest.hexdigest()


def _save_one_file(
    materializer_cls: Any, value: Any, store: ArtifactStore, uri: str, inline_limit: int
) -> tuple[str, int, dict[str, Any], bytes | None]:
    """Encode once, hash those bytes, write them to a staging directory and publish it (or,
    when they fit in `inline_limit`, return them to be recorded inline and write nothing).

    Returns (content hash, size, metadata, inline bytes or None). Raises UseFallback before
    touching the store when the value cannot be encoded exactly.
    """
    payload: bytes = materializer_cls.encode(value)
    metadata = materializer_cls(uri).extract_metadata(value) or {}
    content_hash = _digest_one_file(materializer_cls.FILENAME, payload)
    if inline_limit and len(payload) <= inline_limit:
        return content_hash, len(payload), metadata, payload
    staging = store.staging()
    try:
        with open(os.path.join(staging, materializer_cls.FILENAME), "wb") as handle:
            handle.write(payload)
        store.publish(staging, uri)
    except BaseException:
        store.discard(staging)
        raise
    return content_hash, len(payload), metadata, None


def _write(
    materializer_cls: type[BaseMaterializer],
    value: Any,
    store: ArtifactStore,
    staging: str | None = None,
) -> tuple[str, dict[str, Any]]:
    """Save into a new staging directory, or into `staging` (holding a step's side files)."""
    before = None if staging is None else _files_below(staging)
    staging = staging or store.staging()
    try:
        materializer = materializer_cls(staging, artifact_store=store)
        materializer.save(value)
        metadata = materializer.extract_metadata(value) or {}
        record_visualizations(materializer, value, staging)
    except UseFallback:
        if before is None:
            store.discard(staging)
        else:  # keep the side files for the fallback, drop what the materializer wrote
            for path in _files_below(staging) - before:
                os.remove(path)
        raise
    except BaseException:
        store.discard(staging)
        raise
    return staging, metadata


def _files_below(folder: str) -> set[str]:
    return {os.path.join(current, name) for current, _, names in os.walk(folder) for name in names}


def save_value(
    value: Any,
    store: ArtifactStore,
    uri: str,
    materializer_cls: type[BaseMaterializer] | None = None,
    artifact_id: str | None = None,
    staging: str | None = None,
    inline_limit: int = 0,
) -> SavedArtifact:
    """Write `value` to `uri` (atomically) and describe what was written.

    `staging` is a staging directory that already holds files to publish with the value (a
    step's side files, see `side_files.py`); the value's files are written next to them, and
    such a value is never inline. With `inline_limit`, a value the builtin JSON or bytes
    materializer encodes to at most that many bytes is returned inline instead (see the
    module's invariants). Raises MaterializerError when no materializer can save the value.
    """
    data_type = type(value)
    chosen = materializer_cls or materializer_registry.select(data_type)
    if chosen in _ONE_FILE_MATERIALIZERS and staging is None:
        try:
            content_hash, size, metadata, inline = _save_one_file(
                chosen, value, store, uri, inline_limit
            )
        except UseFallback as exc:
            if materializer_cls is not None:
                raise MaterializerError(f"{chosen.NAME} cannot save this value: {exc}") from exc
            _announce_fallback(data_type, str(exc))
            chosen = CloudpickleMaterializer
        except (MaterializerError, OSError):
            raise
        except Exception as exc:
            raise MaterializerError(
                f"Materializer {chosen.NAME} failed to save a value of type "
                f"{type_path(data_type)}: {type(exc).__name__}: {exc}"
            ) from exc
        else:
            saved = _described(chosen, data_type, uri, artifact_id, content_hash, size, metadata)
            if inline is not None:
                saved = _with_inline(saved, inline)
            return saved
    return _save_general(value, store, uri, materializer_cls, artifact_id, chosen, staging)


def _described(
    chosen: type[BaseMaterializer],
    data_type: type,
    uri: str,
    artifact_id: str | None,
    content_hash: str,
    size: int,
    metadata: dict[str, Any],
) -> SavedArtifact:
    return SavedArtifact(
        id=artifact_id or new_id(),
        uri=uri,
        materializer=chosen.NAME,
        data_type=type_path(data_type),
        artifact_type=str(chosen.ASSOCIATED_ARTIFACT_TYPE),
        size=size,
        content_hash=content_hash,
        metadata={"storage_size": size, **metadata},
    )


def _with_inline(saved: SavedArtifact, inline: bytes) -> SavedArtifact:
    return SavedArtifact(
        saved.id,
        saved.uri,
        saved.materializer,
        saved.data_type,
        saved.artifact_type,
        saved.size,
        saved.content_hash,
        saved.metadata,
        inline,
    )


def _save_general(
    value: Any,
    store: ArtifactStore,
    uri: str,
    materializer_cls: type[BaseMaterializer] | None,
    artifact_id: str | None,
    chosen: type[BaseMaterializer],
    given_staging: str | None = None,
) -> SavedArtifact:
    """Any materializer: `save` into a staging directory, hash what it wrote, publish."""
    data_type = type(value)
    try:
        staging, metadata = _write(chosen, value, store, given_staging)
    except UseFallback as exc:
        if materializer_cls is not None:
            if given_staging is not None:
                store.discard(given_staging)
            raise MaterializerError(f"{chosen.NAME} cannot save this value: {exc}") from exc
        _announce_fallback(data_type, str(exc))
        chosen = CloudpickleMaterializer
        staging, metadata = _save_pickle(value, store, given_staging)
    except MaterializerError:
        raise
    except Exception as exc:
        if chosen is CloudpickleMaterializer:
            raise _unsaveable(data_type, exc) from exc
        raise MaterializerError(
            f"Materializer {chosen.NAME} failed to save a value of type "
            f"{type_path(data_type)}: {type(exc).__name__}: {exc}"
        ) from exc
    else:
        if chosen is CloudpickleMaterializer and materializer_cls is None:
            _announce_fallback(data_type, None)
    try:
        content_hash, size = hash_folder(staging)
        store.publish(staging, uri)
    except BaseException:
        store.discard(staging)
        raise
    return _described(chosen, data_type, uri, artifact_id, content_hash, size, metadata)


def _save_pickle(
    value: Any, store: ArtifactStore, staging: str | None = None
) -> tuple[str, dict[str, Any]]:
    try:
        return _write(CloudpickleMaterializer, value, store, staging)
    except Exception as exc:
        raise _unsaveable(type(value), exc) from exc


def _unsaveable(data_type: type, exc: BaseException) -> MaterializerError:
    return MaterializerError(
        f"No materializer can save a value of type {type_path(data_type)}: none is registered "
        f"for it and the cloudpickle fallback failed ({type(exc).__name__}: {exc}). Return a "
        "serializable value, or register a materializer for the type."
    )


def _verify_hash(local_dir: str, uri: str, expected: str, materializer_name: str) -> None:
    actual, _ = hash_folder(local_dir)
    if actual != expected:
        raise ArtifactCorruptedError(
            f"Refusing to load the artifact at {uri!r}: its files changed since it was saved "
            f"(sha256 {actual[:12]}..., recorded {expected[:12]}...). It is stored with "
            f"{materializer_name}, which runs code while loading, so a modified copy is never "
            "loaded. Restore the artifact's files, or produce it again."
        )


def load_value(
    uri: str,
    materializer_name: str,
    data_type_path: str,
    store: ArtifactStore,
    data_type: type | None = None,
    expected_hash: str | None = None,
    inline: bytes | None = None,
) -> Any:
    """Load an artifact recorded with `materializer_name` and `data_type_path` from `uri`.

    For a materializer whose loading runs code (`VERIFY_HASH_ON_LOAD`, such as the cloudpickle
    fallback), the files are first hashed and compared with `expected_hash`, the hash recorded
    when the artifact was saved: files changed since then are refused, never unpickled. An
    inline artifact (`inline`, its recorded bytes) is decoded without touching the store.
    """
    if inline is not None:
        return decode_inline(materializer_name, inline, uri)
    materializer_cls = materializer_registry.resolve(materializer_name)
    target_type = data_type or resolve_type(data_type_path)
    if getattr(materializer_cls, "LOADS_FROM_STORE_URI", False):
        # Registered data (`register_artifact`): a file or folder fanflow did not write, with
        # no manifest; the materializer reads it through the store itself.
        return materializer_cls(uri, artifact_store=store).load(target_type)
    with store.local_copy(uri) as local_dir:
        if expected_hash and getattr(materializer_cls, "VERIFY_HASH_ON_LOAD", False):
            _verify_hash(local_dir, uri, expected_hash, materializer_name)
        materializer = materializer_cls(local_dir, artifact_store=store)
        try:
            return materializer.load(target_type)
        except FileNotFoundError as exc:
            raise ArtifactMissingError(
                f"The artifact at {uri!r} is incomplete: {exc.filename or exc} is missing."
            ) from exc


def decode_inline(materializer_name: str, payload: bytes, uri: str) -> Any:
    """The value of an inline artifact: its one-file materializer's `decode` of the bytes."""
    cls = _INLINE_BY_NAME.get(materializer_name)
    if cls is None:
        raise MaterializerError(
            f"The artifact at {uri!r} is stored inline in its metadata record, but its "
            f"materializer {materializer_name!r} does not store values inline."
        )
    return cls.decode(payload)


def inline_files(materializer_name: str, payload: bytes) -> dict[str, bytes]:
    """The files an inline artifact would have had on disk ({file name: bytes}), for
    downloads and previews."""
    cls = _INLINE_BY_NAME.get(materializer_name)
    return {} if cls is None else {str(cls.FILENAME): payload}


def ensure_files(uri: str, materializer_name: str, payload: bytes, store: ArtifactStore) -> None:
    """Give an inline artifact its files at `uri` (for a consumer that reads raw files, such as
    an `UnmaterializedArtifact` input): published like any artifact, all at once; a copy that
    another reader published first is kept."""
    files = inline_files(materializer_name, payload)
    if not files or store.exists(uri):
        return
    staging = store.staging()
    try:
        for name, data in files.items():
            with open(os.path.join(staging, name), "wb") as handle:
                handle.write(data)
        store.publish(staging, uri)
    except BaseException:
        store.discard(staging)
        if not store.exists(uri):
            raise
