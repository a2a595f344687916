"""Artifacts in any fsspec file system: S3, GCS, Azure, memory:// and the like.

Object stores have no atomic rename, so an artifact is *published by its manifest*: the staged
files are uploaded to the artifact's URI first, and a small manifest (`MANIFEST_NAME`: the file
list with sizes and sha256 hashes) is written after them, last. Readers look for the manifest
before anything else, so an artifact without one does not exist for them, whatever files lie
under its URI; loads verify every file against the manifest.

A writer announces itself before uploading with a *pending marker* under `<root>/.staging/`
(naming the URI and refreshed while the upload runs) and removes it once the manifest is written.
A writer killed mid-upload leaves its marker behind; `sweep_staging` deletes the files of marked
URIs that never got a manifest, once the marker is older than a safe age (so never a live
writer's), and then the marker. Listing `.staging/` is cheap; the whole bucket is never listed.

Invariants:
- files first, manifest last: the manifest's presence means every file it lists is complete;
- `publish` never replaces an artifact: a URI that already has a manifest raises FileExistsError;
- a store pickles as its root URL and storage options (no file-system object, no credentials
  beyond what the user put in the options), so a Dask worker rebuilds it with
  `artifact_store_for(url, storage_options)`;
- materializers still see a local directory: a temporary staging directory when saving, and a
  temporary download (removed after the block) when loading.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

import fsspec

from fanflow.artifacts.local_store import (
    STAGING_DIR,
    LocalArtifactStore,
    LocalFileMethods,
    has_scheme,
    safe_component,
)
from fanflow.exceptions import ArtifactCorruptedError, ArtifactMissingError
from fanflow.ids import new_id

MANIFEST_NAME = ".fanflow-manifest.json"
MANIFEST_FORMAT = 1
# A pending marker younger than this may belong to a live writer; markers are refreshed at least
# every MARKER_REFRESH_S while an upload runs, so a live writer's marker never gets this old.
REMOTE_SWEEP_AGE_S = 6 * 3600.0
MARKER_REFRESH_S = 600.0
LIVE_PARTS_SUFFIX = ".live"
"""A running step's output parts live under its log's URI plus this (`<log>.live/00000000`)."""
_CHUNK = 1 << 20
SMALL_FILE_BYTES = 8 << 20  # read in one request; larger files are streamed


def _file_digest(path: str) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _staged_files(directory: str) -> list[str]:
    """Relative paths (with `/`) of every file below `directory`, sorted."""
    found: list[str] = []
    for current, dirs, files in os.walk(directory):
        dirs.sort()
        for name in files:
            relative = os.path.relpath(os.path.join(current, name), directory)
            found.append(relative.replace(os.sep, "/"))
    return sorted(found)


class FsspecArtifactStore(LocalFileMethods):
    """Artifacts as prefixes of an fsspec URL, each published by a manifest written last."""

    __slots__ = ("_fs", "_fs_pid", "_root_path", "root", "storage_options")

    def __init__(self, root: str, storage_options: dict[str, Any] | None = None) -> None:
        self.root = root.rstrip("/")
        self.storage_options = dict(storage_options or {})
        self._fs: Any = None
        self._fs_pid = 0
        self._root_path = ""

    def __reduce__(self) -> tuple[type, tuple[str, dict[str, Any]]]:
        return (FsspecArtifactStore, (self.root, self.storage_options))

    def __repr__(self) -> str:
        return f"FsspecArtifactStore({self.root!r})"

    @property
    def fs(self) -> Any:
        """The fsspec file system, made on first use (so unpickling costs nothing) and again in a
        forked child (an async client's connections do not survive a fork)."""
        if self._fs is None or self._fs_pid != os.getpid():
            try:
                self._fs, self._root_path = fsspec.core.url_to_fs(self.root, **self.storage_options)
            except ImportError as exc:
                raise ImportError(
                    f"The artifact root {self.root!r} needs a package that is not installed: "
                    f'{exc}. For s3:// URLs: pip install "fanflow[s3]".'
                ) from exc
            self._fs_pid = os.getpid()
        return self._fs

    def _path(self, uri: str) -> str:
        fs = self.fs
        if uri == self.root or uri.startswith(self.root + "/"):
            return (self._root_path.rstrip("/") + uri[len(self.root) :]) or "/"
        return str(fs._strip_protocol(uri))

    # --- the ArtifactStore protocol ------------------------------------------------------------

    def uri_for(self, *parts: str) -> str:
        return "/".join([self.root, *(safe_component(p) for p in parts)])

    def staging(self) -> str:
        return tempfile.mkdtemp(prefix="fanflow-staging-")

    def discard(self, staging_dir: str) -> None:
        shutil.rmtree(staging_dir, ignore_errors=True)

    def exists(self, uri: str) -> bool:
        if not has_scheme(uri):  # a local path: a materializer's file, or an older local artifact
            return os.path.exists(uri)
        return self._has_manifest(self._manifest_path(uri))

    def _has_manifest(self, manifest_path: str) -> bool:
        """One GET: cheaper on object stores than `exists`, which may list after a miss."""
        try:
            self._get(manifest_path)
        except FileNotFoundError:
            return False
        return True

    def _get(self, path: str) -> bytes:
        """A whole (small) object in one request. s3fs would otherwise ask for its size first
        (a HEAD, and a listing when it is missing) to decide whether to fetch it in parts."""
        fs = self.fs
        protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
        if "s3" in protocols:
            return bytes(fs.cat_file(path, max_concurrency=1))
        return bytes(fs.cat_file(path))

    def publish(self, staging_dir: str, uri: str) -> None:
        """Upload the staged files, then the manifest; remove the local staging directory."""
        fs = self.fs
        base = self._path(uri).rstrip("/")
        manifest_path = f"{base}/{MANIFEST_NAME}"
        if self._has_manifest(manifest_path):
            raise FileExistsError(
                f"Cannot publish an artifact at {uri!r}: an artifact is already published there."
            )
        names = _staged_files(staging_dir)
        if MANIFEST_NAME in names:
            raise ValueError(
                f"A materializer wrote a file named {MANIFEST_NAME!r}, which fanflow reserves "
                "for the artifact's manifest; rename that file."
            )
        marker = self._write_marker(uri)
        refreshed = time.monotonic()
        entries = []
        uploaded: list[str] = []
        try:
            for name in names:
                local = os.path.join(staging_dir, *name.split("/"))
                digest, size = _file_digest(local)
                if time.monotonic() - refreshed > MARKER_REFRESH_S:
                    self._write_marker(uri, marker)
                    refreshed = time.monotonic()
                uploaded.append(f"{base}/{name}")
                fs.put_file(local, uploaded[-1])
                entries.append({"path": name, "size": size, "sha256": digest})
            manifest = {"format": MANIFEST_FORMAT, "files": entries, "published": time.time()}
            fs.pipe_file(manifest_path, json.dumps(manifest, sort_keys=True).encode())
        except BaseException:
            # Best effort: what stays behind (a failed delete) is the sweep's, by its marker.
            with contextlib.suppress(Exception):
                for path in uploaded:
                    with contextlib.suppress(FileNotFoundError):
                        fs.rm_file(path)
                fs.rm_file(marker)
            raise
        with contextlib.suppress(FileNotFoundError):
            fs.rm_file(marker)
        shutil.rmtree(staging_dir, ignore_errors=True)

    @contextmanager
    def local_copy(self, uri: str) -> Iterator[str]:
        """Download the artifact into a temporary directory, verifying every file's hash.

        A local path (an artifact recorded before the root moved to this store) is read in
        place, as the local store would.
        """
        if not has_scheme(uri):
            with LocalArtifactStore(os.path.dirname(uri) or ".").local_copy(uri) as local:
                yield local
            return
        manifest = self.read_manifest(uri)
        base = self._path(uri).rstrip("/")
        target = tempfile.mkdtemp(prefix="fanflow-load-")
        try:
            for entry in manifest["files"]:
                self._download_verified(uri, f"{base}/{entry['path']}", entry, target)
            yield target
        finally:
            shutil.rmtree(target, ignore_errors=True)

    def read_manifest(self, uri: str) -> dict[str, Any]:
        """The published artifact's manifest; ArtifactMissingError when it has none."""
        try:
            raw = self._get(self._manifest_path(uri))
        except FileNotFoundError:
            raise ArtifactMissingError(
                f"The artifact data at {uri!r} is missing from the artifact store {self.root!r}: "
                "it has no manifest, so it was never completely published (its writer was "
                "stopped mid-upload) or it was deleted after it was recorded."
            ) from None
        try:
            manifest = json.loads(raw)
            files = manifest["files"]
            if not isinstance(files, list):
                raise TypeError("files is not a list")
        except (ValueError, KeyError, TypeError) as exc:
            raise ArtifactCorruptedError(
                f"The manifest of the artifact at {uri!r} cannot be read ({exc})."
            ) from exc
        return dict(manifest)

    def _download_verified(self, uri: str, remote: str, entry: dict[str, Any], target: str) -> None:
        relative = str(entry["path"])
        local = os.path.join(target, *relative.split("/"))
        os.makedirs(os.path.dirname(local), exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        try:
            if int(entry["size"]) <= SMALL_FILE_BYTES:  # one GET, no HEAD first
                data = self._get(remote)
                digest.update(data)
                size = len(data)
                with open(local, "wb") as sink:
                    sink.write(data)
            else:
                with self.fs.open(remote, "rb") as source, open(local, "wb") as sink:
                    while chunk := source.read(_CHUNK):
                        digest.update(chunk)
                        size += len(chunk)
                        sink.write(chunk)
        except FileNotFoundError:
            raise ArtifactMissingError(
                f"The artifact at {uri!r} is incomplete: its file {relative!r} is missing from "
                "the artifact store although its manifest lists it."
            ) from None
        if size != entry["size"] or digest.hexdigest() != entry["sha256"]:
            raise ArtifactCorruptedError(
                f"The artifact at {uri!r} is corrupted: its file {relative!r} has {size} bytes "
                f"with sha256 {digest.hexdigest()[:12]}..., but was published with "
                f"{entry['size']} bytes and sha256 {str(entry['sha256'])[:12]}.... It was "
                "changed after it was written; re-run the step that produced it."
            )

    def write_text(self, uri: str, text: str) -> None:
        self.fs.pipe_file(self._path(uri), text.encode("utf-8", "replace"))

    def read_text(self, uri: str) -> str:
        if not has_scheme(uri):
            return super().read_text(uri)
        return self._get(self._path(uri)).decode("utf-8", "replace")

    # --- a running step's log, in parts ---------------------------------------------------------

    def _live_dir(self, log_uri: str) -> str:
        return f"{self._path(log_uri)}{LIVE_PARTS_SUFFIX}"

    def write_live_part(self, log_uri: str, index: int, text: str) -> None:
        """Part `index` (0, 1, ...) of the output of the running step whose log will be at
        `log_uri`. Object stores cannot append, so each flush of new output is one small object
        under `<log>.live/`; `fanflow logs --follow` reads them in order."""
        data = text.encode("utf-8", "replace")
        self.fs.pipe_file(f"{self._live_dir(log_uri)}/{index:08d}", data)

    def read_live_parts(self, log_uri: str, after: int = -1) -> list[bytes]:
        """The parts after number `after`, in order, stopping at the first one missing (not
        written yet, or removed because the step ended and its log was stored)."""
        fs = self.fs
        base = self._live_dir(log_uri)
        fs.invalidate_cache(base)
        try:
            names = fs.ls(base, detail=False)
        except FileNotFoundError:
            return []
        numbers = sorted(
            int(tail)
            for tail in (n.rstrip("/").rsplit("/", 1)[-1] for n in names)
            if tail.isdigit()
        )
        found: list[bytes] = []
        expected = after + 1
        for number in numbers:
            if number < expected:
                continue
            if number != expected:
                break
            try:
                found.append(self._get(f"{base}/{number:08d}"))
            except FileNotFoundError:
                break
            expected += 1
        return found

    def remove_live_parts(self, log_uri: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.fs.rm(self._live_dir(log_uri), recursive=True)

    # --- unpublished leftovers -------------------------------------------------------------------

    def _manifest_path(self, uri: str) -> str:
        return f"{self._path(uri).rstrip('/')}/{MANIFEST_NAME}"

    def _marker_dir(self) -> str:
        return f"{self._path(self.root).rstrip('/')}/{STAGING_DIR}"

    def _write_marker(self, uri: str, path: str | None = None) -> str:
        path = path or f"{self._marker_dir()}/{new_id()}.json"
        body = {"uri": uri, "time": time.time(), "pid": os.getpid(), "host": socket.gethostname()}
        self.fs.pipe_file(path, json.dumps(body).encode())
        return path

    def pending(self) -> list[tuple[str, dict[str, Any]]]:
        """The pending markers: (marker path, its content) for uploads not known to be done."""
        fs = self.fs
        marker_dir = self._marker_dir()
        fs.invalidate_cache(marker_dir)
        try:
            paths = fs.ls(marker_dir, detail=False)
        except FileNotFoundError:
            return []
        found = []
        for path in paths:
            try:
                body = json.loads(self._get(str(path)))
            except (FileNotFoundError, ValueError):
                continue
            if isinstance(body, dict) and isinstance(body.get("uri"), str):
                found.append((str(path), body))
        return found

    def sweep_staging(self, older_than_s: float | None = None) -> int:
        """Delete unpublished uploads whose marker is older than `older_than_s`; returns how many.

        An upload whose manifest exists was published: only its stale marker goes.
        """
        age = REMOTE_SWEEP_AGE_S if older_than_s is None else older_than_s
        cutoff = time.time() - age
        fs = self.fs
        removed = 0
        for marker, body in self.pending():
            if float(body.get("time", 0)) >= cutoff:
                continue
            uri = body["uri"]
            if not self._has_manifest(self._manifest_path(uri)):
                with contextlib.suppress(FileNotFoundError):
                    fs.rm(self._path(uri), recursive=True)
                removed += 1
            with contextlib.suppress(FileNotFoundError):
                fs.rm_file(marker)
        return removed

    # --- ZenML's file methods: remote URLs go to fsspec, local paths stay local ------------------

    def open(self, path: str, mode: str = "r", **kwargs: Any) -> IO[Any]:
        if has_scheme(path):
            return self.fs.open(self._path(path), mode, **kwargs)  # type: ignore[no-any-return]
        return super().open(path, mode, **kwargs)

    def isdir(self, path: str) -> bool:
        if has_scheme(path):
            return bool(self.fs.isdir(self._path(path)))
        return super().isdir(path)

    def listdir(self, path: str) -> list[str]:
        if has_scheme(path):
            return [p.rstrip("/").rsplit("/", 1)[-1] for p in self.fs.ls(self._path(path), False)]
        return super().listdir(path)

    def size(self, path: str) -> int:
        if has_scheme(path):
            return int(self.fs.size(self._path(path)))
        return super().size(path)
