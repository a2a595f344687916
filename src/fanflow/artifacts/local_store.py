"""Artifacts in a local folder, published by one atomic rename.

Every artifact is staged in a hidden directory under the root (`<root>/.staging`) and published
with one `rename`, so a reader never sees a half-written artifact, even if the writer is killed
mid-way.

Invariants:
- `publish` is atomic: the final URI either does not exist or is complete;
- staging directories live under `<root>/.staging`, named after the writing process
  (`host.pid.id`), and are never returned as artifact URIs;
- loads never follow a symlink that leads outside the root;
- `publish` never replaces an existing artifact: a URI that exists raises FileExistsError;
- `uri_for` turns each part into one safe path component (no separators, no leading dot, at most
  200 bytes: longer parts are shortened and suffixed with a hash of the full text);
- the store pickles as its root alone;
- `LocalFileMethods` are ZenML's artifact-store file methods over local paths (`open`,
  `listdir`, ...), for custom materializers written as `self.artifact_store.open(...)`; every
  store offers them.
"""

from __future__ import annotations

import builtins
import contextlib
import glob as _glob
import hashlib
import os
import shutil
import socket
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import IO, Any

from fanflow.config.home import make_private_dirs
from fanflow.exceptions import ArtifactCorruptedError, ArtifactMissingError
from fanflow.ids import new_id
from fanflow.processes import process_alive

STAGING_DIR = ".staging"
RUNS_DIR = ".runs"  # one empty file per run in progress, named after its process
LOGS_DIR = "logs"
LOCAL_SWEEP_AGE_S = 3600.0


def owner_tag() -> str:
    """`host.pid` of this process, the prefix of the staging folders and run marks it makes."""
    return f"{socket.gethostname()}.{os.getpid()}"


def owner_is_gone(name: str) -> bool | None:
    """For a name made as `host.pid.rest`: True when that process on this host has ended,
    False when it runs (or cannot be checked), None when the owner is unknown (another host,
    or a name without an owner)."""
    parts = name.rsplit(".", 2)
    if len(parts) != 3 or not parts[1].isdigit() or parts[0] != socket.gethostname():
        return None
    return not process_alive(int(parts[1]))


def _subdirs(path: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(path) as entries:
            return [e for e in entries if e.is_dir(follow_symlinks=False)]
    except (FileNotFoundError, NotADirectoryError):
        return []


_MAX_COMPONENT_BYTES = 200


def safe_component(part: str) -> str:
    cleaned = "".join(ch if ch.isalnum() or ch in "-_.=" else "_" for ch in str(part))
    cleaned = cleaned.strip(".") or "_"
    if len(cleaned.encode("utf-8")) > _MAX_COMPONENT_BYTES:
        digest = hashlib.sha256(str(part).encode("utf-8", "surrogatepass")).hexdigest()[:16]
        head = cleaned.encode("utf-8")[:120].decode("utf-8", "ignore")
        cleaned = f"{head}-{digest}"
    return cleaned


class LocalFileMethods:
    """ZenML's artifact-store file methods over local paths (a materializer's `self.uri`)."""

    __slots__ = ()

    def read_text(self, uri: str) -> str:
        with builtins.open(uri, encoding="utf-8", errors="replace") as handle:
            return handle.read()

    def open(self, path: str, mode: str = "r", **kwargs: Any) -> IO[Any]:
        return builtins.open(path, mode, **kwargs)

    def isdir(self, path: str) -> bool:
        return os.path.isdir(path)

    def listdir(self, path: str) -> list[str]:
        return os.listdir(path)

    def makedirs(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def mkdir(self, path: str) -> None:
        os.mkdir(path)

    def remove(self, path: str) -> None:
        os.remove(path)

    def rmtree(self, path: str) -> None:
        shutil.rmtree(path)

    def rename(self, src: str, dst: str, overwrite: bool = False) -> None:
        if not overwrite and os.path.lexists(dst):
            raise FileExistsError(f"{dst!r} already exists")
        os.replace(src, dst)

    def copyfile(self, src: str, dst: str, overwrite: bool = False) -> None:
        if not overwrite and os.path.lexists(dst):
            raise FileExistsError(f"{dst!r} already exists")
        shutil.copyfile(src, dst)

    def glob(self, pattern: str) -> list[str]:
        return _glob.glob(pattern)

    def walk(self, top: str, topdown: bool = True) -> Iterator[tuple[str, list[str], list[str]]]:
        return os.walk(top, topdown=topdown)

    def stat(self, path: str) -> os.stat_result:
        return os.stat(path)

    def size(self, path: str) -> int:
        return os.path.getsize(path)


class LocalArtifactStore(LocalFileMethods):
    """Artifacts as directories below one local root folder."""

    __slots__ = ("_flat_dirs", "_known_dirs", "_plain_dirs", "root")

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(os.path.expanduser(root))
        self._known_dirs: set[str] = set()
        # Folders between the root and an artifact found to be real folders (not links): a
        # load checks each once per store object, and the artifact's own folder every time.
        self._plain_dirs: set[str] = set()
        self._flat_dirs: dict[str, int] = {}  # artifact folder -> its mtime when found link-free

    def __reduce__(self) -> tuple[type, tuple[str]]:
        return (LocalArtifactStore, (self.root,))

    def __repr__(self) -> str:
        return f"LocalArtifactStore({self.root!r})"

    def _ensure_dir(self, path: str, *, recheck: bool = False) -> None:
        if recheck or path not in self._known_dirs:
            make_private_dirs(path)
            self._known_dirs.add(path)

    def uri_for(self, *parts: str) -> str:
        return os.path.join(self.root, *(safe_component(p) for p in parts))

    def staging(self) -> str:
        parent = os.path.join(self.root, STAGING_DIR)
        self._ensure_dir(parent)
        path = os.path.join(parent, f"{owner_tag()}.{new_id()}")
        try:
            os.mkdir(path)
        except FileNotFoundError:  # the root was removed since we created it
            self._ensure_dir(parent, recheck=True)
            os.mkdir(path)
        return path

    def publish(self, staging_dir: str, uri: str) -> None:
        if os.path.lexists(uri):
            raise FileExistsError(
                f"Cannot publish an artifact at {uri!r}: something already exists there."
            )
        parent = os.path.dirname(uri)
        self._ensure_dir(parent)
        try:
            os.rename(staging_dir, uri)
        except FileNotFoundError:
            if not os.path.isdir(staging_dir):
                raise
            self._ensure_dir(parent, recheck=True)  # the parent was removed since we created it
            os.rename(staging_dir, uri)

    def discard(self, staging_dir: str) -> None:
        shutil.rmtree(staging_dir, ignore_errors=True)

    def exists(self, uri: str) -> bool:
        return os.path.isdir(uri)

    def sweep_staging(self, older_than_s: float | None = None) -> int:
        """Remove staging directories left behind by killed writers; returns how many.

        A staging directory is named after the process writing it (`host.pid.id`): one whose
        process on this host is gone goes at once; any other (another host's, or an old-style
        name) only once older than `older_than_s` (an hour by default), since it may belong to a
        save in progress elsewhere.
        """
        parent = os.path.join(self.root, STAGING_DIR)
        try:
            entries = list(os.scandir(parent))
        except FileNotFoundError:
            return 0
        cutoff = time.time() - (LOCAL_SWEEP_AGE_S if older_than_s is None else older_than_s)
        removed = 0
        for entry in entries:
            try:
                owner_gone = owner_is_gone(entry.name)
                if owner_gone or (
                    owner_gone is None and entry.stat(follow_symlinks=False).st_mtime < cutoff
                ):
                    shutil.rmtree(entry.path, ignore_errors=True)
                    removed += 1
            except FileNotFoundError:
                continue
        return removed

    # --- runs in progress, and artifact folders no record points to -------------------------

    def mark_run(self, run_id: str) -> None:
        """Note that this process runs `run_id`, until `unmark_run` (a crash leaves it)."""
        folder = os.path.join(self.root, RUNS_DIR)
        self._ensure_dir(folder)
        with builtins.open(os.path.join(folder, f"{owner_tag()}.{run_id}"), "w"):
            pass

    def unmark_run(self, run_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.remove(os.path.join(self.root, RUNS_DIR, f"{owner_tag()}.{run_id}"))

    def run_marks(self) -> tuple[list[str], float | None]:
        """Marks of runs whose process on this host is gone (crashed), and the earliest start
        (mtime) of the runs that may still be live, here or on another host."""
        folder = os.path.join(self.root, RUNS_DIR)
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            return [], None
        crashed: list[str] = []
        live_since: float | None = None
        for entry in entries:
            if owner_is_gone(entry.name):
                crashed.append(entry.path)
                continue
            with contextlib.suppress(FileNotFoundError):
                started = entry.stat().st_mtime
                live_since = started if live_since is None else min(live_since, started)
        return crashed, live_since

    def artifact_folders(self, written_before: float) -> list[str]:
        """Published artifact folders (`root/<step>/<output>/<id>`, `custom_artifacts` too)
        last written before `written_before`: candidates for the leftover sweep."""
        found: list[str] = []
        for first in _subdirs(self.root):
            if first.name.startswith(".") or first.name == LOGS_DIR:
                continue
            for second in _subdirs(first.path):
                for third in _subdirs(second.path):
                    with contextlib.suppress(FileNotFoundError):
                        if third.stat(follow_symlinks=False).st_mtime < written_before:
                            found.append(third.path)
        return found

    def remove_artifact(self, uri: str) -> None:
        """Delete an artifact folder that no record points to (never one outside the root)."""
        if _is_within(os.path.abspath(uri), self.root) and not os.path.islink(uri):
            shutil.rmtree(uri, ignore_errors=True)

    def write_text(self, uri: str, text: str) -> None:
        self._ensure_dir(os.path.dirname(uri))
        temporary = f"{uri}.{new_id()}.tmp"
        with builtins.open(temporary, "w", encoding="utf-8", errors="replace") as handle:
            handle.write(text)
        os.replace(temporary, uri)

    @contextmanager
    def local_copy(self, uri: str) -> Iterator[str]:
        if has_scheme(uri) and not uri.startswith("file://"):
            raise ArtifactMissingError(
                f"The artifact at {uri!r} lives in a remote store, but this artifact store is the "
                f"local folder {self.root!r}. Set FANFLOW_ARTIFACT_ROOT (and "
                "FANFLOW_ARTIFACT_STORAGE_OPTIONS) to the store it was written to."
            )
        uri = uri.removeprefix("file://")
        if not os.path.isdir(uri):
            raise ArtifactMissingError(
                f"The artifact data at {uri!r} is missing from the artifact store "
                f"{self.root!r}: it was deleted or moved after it was recorded."
            )
        self._refuse_escaping_links(uri)
        yield uri

    def _refuse_escaping_links(self, uri: str) -> None:
        """Never read through a symlink that leads outside the artifact root.

        fanflow writes no symlinks, so one inside the store was planted: following it would let
        whoever can write the store make a load read (or unpickle) any file of this user. An
        artifact saved at an explicit path outside the root keeps that path, but links within
        it must stay within it.
        """
        path = os.path.abspath(uri)
        if _is_within(path, self.root):
            allowed = _real_root(self.root)
            parent = os.path.dirname(path)
            if parent not in self._plain_dirs:
                self._check_folders(parent, allowed)
            status = os.lstat(path)
            if stat.S_ISLNK(status.st_mode):
                target = os.path.realpath(path)
                if not _is_within(target, allowed):
                    raise _escaping_link(path, target, self.root)
            elif self._flat_dirs.get(path) == status.st_mtime_ns:
                return  # scanned already, and no entry was added, removed or replaced since
        else:
            allowed = os.path.realpath(path)
            status = None
        pending = [uri]
        flat = True
        while pending:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    if entry.is_symlink():
                        target = os.path.realpath(entry.path)
                        if not _is_within(target, allowed):
                            raise _escaping_link(entry.path, target, self.root)
                    elif entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
                        flat = False
        if flat and status is not None and stat.S_ISDIR(status.st_mode):
            # A folder of files only: planting a link in it changes its mtime, so the next load
            # of the same artifact (every branch of a fan-out loads it) skips the scan.
            if len(self._flat_dirs) >= _FLAT_DIRS_KEPT:  # bounded: a long chain loads many
                self._flat_dirs.clear()
            self._flat_dirs[path] = status.st_mtime_ns

    def _check_folders(self, folder: str, allowed: str) -> None:
        """The folders from the root down to `folder`: none may be a link leading outside."""
        current = self.root
        for part in folder[len(self.root) :].split(os.sep):
            if not part:
                continue
            current = os.path.join(current, part)
            if current in self._plain_dirs:
                continue
            if os.path.islink(current):
                target = os.path.realpath(current)
                if not _is_within(target, allowed):
                    raise _escaping_link(current, target, self.root)
            else:
                self._plain_dirs.add(current)


_FLAT_DIRS_KEPT = 4096
_real_roots: dict[str, str] = {}


def _real_root(root: str) -> str:
    """The artifact root with symlinks resolved (cached: a root does not move while in use)."""
    real = _real_roots.get(root)
    if real is None:
        real = _real_roots[root] = os.path.realpath(root)
    return real


def _is_within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip(os.sep) + os.sep)


def _escaping_link(path: str, target: str, root: str) -> ArtifactCorruptedError:
    return ArtifactCorruptedError(
        f"Refusing to load through {path!r}: it is a symlink to {target!r}, outside the artifact "
        f"store {root!r}. fanflow never writes symlinks; remove it and restore the artifact."
    )


def has_scheme(root: str) -> bool:
    """Whether `root` is a URL (`s3://...`) rather than a local path."""
    scheme, sep, _ = root.partition("://")
    return bool(sep) and scheme.replace("+", "").replace("-", "").isalnum()
