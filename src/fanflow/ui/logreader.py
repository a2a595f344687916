"""A step's log for the dashboard, read a byte range at a time: the stored log of a finished step,
or the live copy the worker keeps while the step runs — a file `<log>.live` in a local folder, or
numbered parts under `<log>.live/` in an object store, which cannot append (read in order and
joined, as `fanflow logs --follow` does).

The page polls with a byte-offset cursor: each answer carries the bytes after `offset` (at most
`LOG_CHUNK`) and the offset to ask from next, so only new output travels. The text is JSON, and
the page inserts it as a text node, so a log can never become markup.

Invariants:
- only files inside the artifact store are read: a local path must resolve (symlinks followed)
  inside the root, a URL must start with the root's URL;
- a live read returns whole lines (a line is never split between two answers; a chunk with no
  line break at all is cut at a character boundary), so the page never shows a half-written line
  or a split multi-byte character;
- a missing file is "no output yet", never an error: the worker creates the live copy on the
  first write and removes it once the stored log is written.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass
from typing import Any

from fanflow.artifacts.store import artifact_store_for, has_scheme
from fanflow.ui import previews

LOG_CHUNK = 256 * 1024
# Where the worker mirrors a running step's output: the stored log's URI plus this suffix
# (`fanflow.execution.worker.LIVE_LOG_SUFFIX`; `fanflow logs --follow` reads the same file).
LIVE_SUFFIX = ".live"


@dataclass(frozen=True, slots=True)
class LogSlice:
    """Bytes `[start, offset)` of a log file of `size` bytes, decoded."""

    text: str
    start: int
    offset: int
    size: int


class LogFiles:
    """Reads log files under one artifact root (local folder or fsspec URL)."""

    def __init__(self, root: str, storage_options: dict[str, Any] | None = None) -> None:
        self.root = root
        self.remote = has_scheme(root) and not root.startswith("file://")
        self._options = storage_options or {}
        self._store: Any = None

    @property
    def store(self) -> Any:
        if self._store is None:  # fsspec (and s3fs...) only once a log is asked for
            self._store = artifact_store_for(self.root, self._options)
        return self._store

    def live_uri(self, run_id: str, step_run_id: str) -> str:
        """The live copy of a step's log, where the worker writes it."""
        return self.store.uri_for("logs", run_id, f"{step_run_id}.log") + LIVE_SUFFIX

    def read(
        self, uri: str, offset: int, *, tail: int | None = None, whole_lines: bool
    ) -> LogSlice | None:
        """The bytes of `uri` from `offset` (or, with `tail`, its last `tail` bytes), or None
        when the file does not exist. Raises `previews.OutsideStore` for
        a file outside the store."""
        if self.remote:
            return self._read_remote(uri, offset, tail, whole_lines)
        path = previews.inside(self.root.removeprefix("file://"), uri.removeprefix("file://"))
        try:
            with open(path, "rb") as handle:
                size = os.fstat(handle.fileno()).st_size
                return _slice(handle, size, offset, tail, whole_lines)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            return None

    def _read_remote(
        self, uri: str, offset: int, tail: int | None, whole_lines: bool
    ) -> LogSlice | None:
        root = self.root.rstrip("/")
        if not uri.startswith(root + "/") or "/../" in uri[len(root) :]:
            raise previews.OutsideStore(uri)
        if uri.endswith(LIVE_SUFFIX):
            parts = self.store.read_live_parts(uri[: -len(LIVE_SUFFIX)])
            if parts:
                data = b"".join(parts)
                return _slice(io.BytesIO(data), len(data), offset, tail, whole_lines)
        fs = self.store.fs
        path = self.store._path(uri)
        try:
            size = int(fs.size(path))
            with fs.open(path, "rb") as handle:
                return _slice(handle, size, offset, tail, whole_lines)
        except FileNotFoundError:
            return None


def _slice(handle: Any, size: int, offset: int, tail: int | None, whole_lines: bool) -> LogSlice:
    start = min(offset, size)
    if tail is not None and offset == 0:
        start = max(size - tail, 0)
    handle.seek(start)
    data = handle.read(min(LOG_CHUNK, size - start))
    if whole_lines:
        data = _whole(data, full=len(data) >= LOG_CHUNK)
    return LogSlice(data.decode("utf-8", errors="replace"), start, start + len(data), size)


def _whole(data: bytes, full: bool) -> bytes:
    """`data` up to its last line break; a full chunk with none is cut at a character boundary
    instead (a very long line still moves on)."""
    cut = data.rfind(b"\n") + 1
    if cut:
        return data[:cut]
    if not full:
        return b""
    end = len(data)
    # Step back over continuation bytes (10xxxxxx) to the start of the last character.
    lead = end - 1
    while lead > 0 and data[lead] & 0xC0 == 0x80 and end - lead < 4:
        lead -= 1
    first = data[lead]
    length = 1 if first < 0x80 else 2 if first >> 5 == 0b110 else 3 if first >> 4 == 0b1110 else 4
    return data if lead + length <= end else data[:lead]
