"""Existing data under the artifact store, described for `register_artifact` (nothing copied).

Invariants:
- only a file or folder *inside* the artifact store's root can be registered: a local path is
  compared after resolving symlinks (so a link cannot smuggle in an outside folder), a URL must
  lie under the fsspec root; anything else is refused with ZenML's `FileNotFoundError`;
- the store's own bookkeeping (`.staging`, `.runs`, a published artifact's manifest) is refused;
- the content hash of local data is the same sha256 over relative names and bytes that fanflow
  records for the artifacts it writes (a single file hashes as a folder holding only it); on an
  fsspec store, where reading every byte back would cost a full download, it is a sha256 over
  the listing (relative names, sizes, and the store's ETag or checksum where it gives one).
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from fanflow.artifacts.io import hash_entries, hash_folder
from fanflow.artifacts.local_store import RUNS_DIR, STAGING_DIR, has_scheme
from fanflow.artifacts.store import ArtifactStore

_INTERNAL = (STAGING_DIR, RUNS_DIR)


def _outside(uri: str, root: str) -> FileNotFoundError:
    return FileNotFoundError(
        f"Folder `{uri}` is outside of artifact store bounds `{root}`: register_artifact "
        "registers data that already lies in the artifact store (FANFLOW_ARTIFACT_ROOT). "
        "Copy it there first, or save it with save_artifact()."
    )


def registered_location(store: ArtifactStore, uri: str) -> str:
    """The URI to record for `uri`, after checking it lies inside the store and exists."""
    root = store.root
    if has_scheme(root) and not root.startswith("file://"):
        clean = uri.rstrip("/")
        if not clean.startswith(root.rstrip("/") + "/"):
            raise _outside(uri, root)
        relative = clean[len(root.rstrip("/")) + 1 :]
        _refuse_internal(relative.split("/"), uri)
        fs = getattr(store, "fs")  # noqa: B009 - fsspec stores only
        if not fs.exists(store._path(clean)):  # type: ignore[attr-defined]
            raise FileNotFoundError(f"Nothing exists at {uri!r} to register.")
        return clean
    if has_scheme(uri) and not uri.startswith("file://"):
        raise _outside(uri, root)
    path = os.path.abspath(os.path.expanduser(uri.removeprefix("file://")))
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if real == real_root or not real.startswith(real_root + os.sep):
        raise _outside(uri, root)
    _refuse_internal(os.path.relpath(real, real_root).split(os.sep), uri)
    if not os.path.exists(path):
        raise FileNotFoundError(f"Nothing exists at {uri!r} to register.")
    return path


def _refuse_internal(parts: list[str], uri: str) -> None:
    if parts and parts[0] in _INTERNAL:
        raise ValueError(
            f"{uri!r} lies in the artifact store's own bookkeeping folder {parts[0]!r}; "
            "register data kept elsewhere in the store."
        )


def describe_registered(store: ArtifactStore, uri: str) -> tuple[str, int]:
    """(content hash, size in bytes) of the registered file or folder."""
    if not has_scheme(uri) or uri.startswith("file://"):
        path = uri.removeprefix("file://")
        if os.path.isfile(path):
            return hash_entries([(os.path.basename(path), path)])
        return hash_folder(path)
    fs: Any = getattr(store, "fs")  # noqa: B009 - fsspec stores only
    base = str(store._path(uri)).rstrip("/")  # type: ignore[attr-defined]
    digest = hashlib.sha256(b"fanflow-registered-listing\0")
    total = 0
    found = fs.find(base, detail=True) if fs.isdir(base) else {base: fs.info(base)}
    for path in sorted(found):
        info = found[path]
        relative = str(path)[len(base) + 1 :] or str(path).rsplit("/", 1)[-1]
        size = int(info.get("size") or 0)
        tag = info.get("ETag") or info.get("etag") or info.get("md5") or info.get("mtime") or ""
        digest.update(f"{relative}\0{size}\0{tag}\0".encode())
        total += size
    return digest.hexdigest(), total
