"""Where artifact bytes live.

The seam: materializers always read and write a *local directory*; the artifact store decides how
that directory becomes durable at a URI and how a URI becomes readable locally again. The local
store (the default, under `FANFLOW_HOME/artifacts`) stages every artifact in a hidden sibling
directory and publishes it with one `rename`, so a reader never sees a half-written artifact,
even if the writer is killed mid-way. A remote (fsspec) store can implement the same protocol by
uploading the staged directory and downloading on read.

Invariants:
- `publish` is atomic for the local store: the final URI either does not exist or is complete;
- staging directories live under `<root>/.staging` and are never returned as artifact URIs;
- a store is plain, picklable data (its root), so it travels to worker processes unchanged.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol, runtime_checkable

from fanflow.exceptions import ArtifactMissingError

STAGING_DIR = ".staging"


@runtime_checkable
class ArtifactStore(Protocol):
    root: str

    def uri_for(self, *parts: str) -> str:
        """A fresh URI for a new artifact; `parts` make it readable (step, output, id)."""

    def staging(self) -> str:
        """A new empty local directory for a materializer to write into."""

    def publish(self, staging_dir: str, uri: str) -> None:
        """Make the staged directory the artifact at `uri`, all at once."""

    def discard(self, staging_dir: str) -> None:
        """Remove a staging directory whose save failed."""

    def exists(self, uri: str) -> bool: ...

    @contextmanager
    def local_copy(self, uri: str) -> Iterator[str]:
        """A local directory holding the artifact's files for the duration of the block."""


def _safe_component(part: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "-_.=" else "_" for ch in part)
    return cleaned.strip(".") or "_"


class LocalArtifactStore:
    """Artifacts as directories below one local root folder."""

    __slots__ = ("_known_dirs", "root")

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(os.path.expanduser(root))
        self._known_dirs: set[str] = set()

    def __reduce__(self) -> tuple[type, tuple[str]]:
        return (LocalArtifactStore, (self.root,))

    def __repr__(self) -> str:
        return f"LocalArtifactStore({self.root!r})"

    def _ensure_dir(self, path: str) -> None:
        if path not in self._known_dirs:
            os.makedirs(path, exist_ok=True)
            self._known_dirs.add(path)

    def uri_for(self, *parts: str) -> str:
        return os.path.join(self.root, *(_safe_component(p) for p in parts))

    def staging(self) -> str:
        parent = os.path.join(self.root, STAGING_DIR)
        self._ensure_dir(parent)
        path = os.path.join(parent, uuid.uuid4().hex)
        os.mkdir(path)
        return path

    def publish(self, staging_dir: str, uri: str) -> None:
        self._ensure_dir(os.path.dirname(uri))
        os.rename(staging_dir, uri)

    def discard(self, staging_dir: str) -> None:
        shutil.rmtree(staging_dir, ignore_errors=True)

    def exists(self, uri: str) -> bool:
        return os.path.isdir(uri)

    @contextmanager
    def local_copy(self, uri: str) -> Iterator[str]:
        if not os.path.isdir(uri):
            raise ArtifactMissingError(
                f"The artifact data at {uri!r} is missing from the artifact store "
                f"{self.root!r}: it was deleted or moved after it was recorded."
            )
        yield uri


def artifact_store_for(root: str) -> ArtifactStore:
    """The store for a configured root: a local folder now; fsspec URIs (s3://...) later."""
    if "://" in root and not root.startswith("file://"):
        raise NotImplementedError(
            f"Artifact root {root!r}: remote artifact stores (fsspec URIs) are not supported yet; "
            "use a local folder (FANFLOW_ARTIFACT_ROOT) for now."
        )
    return LocalArtifactStore(root.removeprefix("file://"))
