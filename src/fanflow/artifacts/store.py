"""Where artifact bytes live: the store protocol, and the store for a configured root.

The seam: materializers always read and write a *local directory*; the artifact store decides how
that directory becomes durable at a URI and how a URI becomes readable locally again. The local
store (`local_store.py`, the default under `FANFLOW_HOME/artifacts`) publishes by one atomic
rename; remote stores (`fsspec_store.py`: any fsspec URL such as s3://, gs://, memory://) upload
the staged directory and publish it with a manifest written last.

Invariants:
- a store is plain, picklable data (its root URL and storage options), so it travels to worker
  processes and Dask workers unchanged and is rebuilt there by `artifact_store_for`;
- fsspec is imported only when a remote root is configured.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol, runtime_checkable

from fanflow.artifacts.local_store import (
    LOCAL_SWEEP_AGE_S,
    LOGS_DIR,
    RUNS_DIR,
    STAGING_DIR,
    LocalArtifactStore,
    LocalFileMethods,
    has_scheme,
)

__all__ = [
    "LOCAL_SWEEP_AGE_S",
    "LOGS_DIR",
    "RUNS_DIR",
    "STAGING_DIR",
    "ArtifactStore",
    "LocalArtifactStore",
    "LocalFileMethods",
    "artifact_store_for",
    "has_scheme",
]


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

    def write_text(self, uri: str, text: str) -> None:
        """Write a small text file (a step's log) at `uri`, all at once."""

    def read_text(self, uri: str) -> str:
        """Read a text file written by `write_text` (FileNotFoundError when it is missing)."""

    def sweep_staging(self, older_than_s: float | None = None) -> int:
        """Remove what killed writers left unpublished, if older than `older_than_s`."""

    @contextmanager
    def local_copy(self, uri: str) -> Iterator[str]:
        """A local directory holding the artifact's files for the duration of the block."""


def artifact_store_for(root: str, storage_options: dict[str, Any] | None = None) -> ArtifactStore:
    """The store for a configured root: a local folder (or `file://` URL), else fsspec.

    `root` and `storage_options` are all a store is made of, so a worker on another machine
    rebuilds the same store from them. fsspec (and the file system's own package, such as s3fs)
    is imported only for a remote root.
    """
    if has_scheme(root) and not root.startswith("file://"):
        try:
            from fanflow.artifacts.fsspec_store import FsspecArtifactStore
        except ImportError as exc:  # fsspec itself is missing
            raise ImportError(
                f"The artifact root {root!r} is a URL, which needs fsspec: "
                'pip install "fanflow[s3]" (or fsspec plus the file system\'s package).'
            ) from exc
        return FsspecArtifactStore(root, storage_options or {})
    return LocalArtifactStore(root.removeprefix("file://"))
