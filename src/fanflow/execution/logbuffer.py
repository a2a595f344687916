"""A step's captured output: the bounded log buffer and its prefixed, line-buffered console echo.

Pure text handling with no global side effects: nothing here replaces `sys.stdout` or touches
`logging`'s configuration (that is `logcapture`, which routes writes here). A `LogBuffer` keeps
what one step wrote, in write order, within a memory bound, and echoes complete lines to the
console stream a write came from, with the step's `[label] ` prefix where asked.

Invariants:

- Every complete line is written to its console stream in one ``write`` call, so lines of steps
  running side by side never mix. A partial line waits for its end of line, a ``flush()``, a
  ``\\r`` or the end of the capture (which also terminates it on the console).
- Memory is bounded: past `max_bytes` a log keeps its first part and its last
  ``min(TAIL_BYTES, max_bytes // 2)`` bytes with one ``[... N bytes omitted ...]`` marker
  between them. The console still gets everything.
- Where the source changes (stdout, stderr, a log record) mid-line, a line break is inserted in
  the log, so no stored line mixes sources.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

from fanflow.config import DEFAULT_MAX_STEP_LOG_BYTES

__all__ = [
    "LOG",
    "MAX_STEP_LOG_BYTES",
    "RECORD_FORMAT",
    "STDERR",
    "STDOUT",
    "TAIL_BYTES",
    "LiveFile",
    "LiveSink",
    "LogBuffer",
    "echo",
    "format_record",
    "is_echoing",
]

MAX_STEP_LOG_BYTES = DEFAULT_MAX_STEP_LOG_BYTES
"""Default bound on what one capture keeps (50 MiB; `FANFLOW_MAX_STEP_LOG_BYTES`)."""
TAIL_BYTES = 1024 * 1024
"""How much of the end of an over-long log is kept (capped at half the bound)."""
RECORD_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

# A partial console line longer than this is echoed without waiting for its end of line.
_PENDING_LIMIT = 64 * 1024
# Small head chunks are joined in groups this large to keep the per-chunk overhead low.
_JOIN_EVERY = 256

STDOUT, STDERR, LOG = 0, 1, 2
"""Source indexes: the two console streams and log records."""
_LINE_PIECES = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def _nbytes(text: str) -> int:
    """UTF-8 size; lone surrogates (from surrogateescape) count as the 3 bytes they encode to."""
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _split_at_byte(text: str, limit: int) -> tuple[str, str]:
    """Split `text` after at most `limit` UTF-8 bytes, never inside a character."""
    if text.isascii():
        return text[:limit], text[limit:]
    data = text.encode("utf-8", "surrogatepass")
    cut = min(limit, len(data))
    while 0 < cut < len(data) and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    return (
        data[:cut].decode("utf-8", "surrogatepass"),
        data[cut:].decode("utf-8", "surrogatepass"),
    )


class _EchoState:
    """Where one capture is in one console stream: at a line start or not, and the partial line
    that has not been written yet (so that every complete line goes out in a single write)."""

    __slots__ = ("after_cr", "at_start", "pending", "target")

    def __init__(self) -> None:
        self.at_start = True
        self.after_cr = False
        self.pending = ""
        self.target: Any = None

    def feed(self, text: str, prefix: str) -> str:
        """Prefix the lines of `text`; return what is ready to be written now."""
        if "\n" not in text and "\r" not in text:  # a piece of a line, e.g. print's arguments
            if self.at_start:
                text = prefix + text
                self.at_start = self.after_cr = False
            pending = self.pending + text
            if len(pending) > _PENDING_LIMIT:
                self.pending = ""
                return pending
            self.pending = pending
            return ""
        if prefix:
            parts: list[str] = []
            at_start, after_cr = self.at_start, self.after_cr
            for piece in _LINE_PIECES.findall(text):
                # "\r" then "\n" in two writes is one line end, not an empty line.
                if at_start and not (after_cr and piece == "\n"):
                    parts.append(prefix)
                parts.append(piece)
                last = piece[-1]
                at_start = last == "\n" or last == "\r"
                after_cr = last == "\r"
            self.at_start, self.after_cr = at_start, after_cr
            out = "".join(parts)
        else:
            out = text
            self.at_start = text[-1] in "\r\n"
        if self.pending:
            out = self.pending + out
        cut = max(out.rfind("\n"), out.rfind("\r")) + 1
        if cut == len(out) or len(out) - cut > _PENDING_LIMIT:
            self.pending = ""
            return out
        self.pending = out[cut:]
        return out[:cut]

    def take_pending(self) -> str:
        out, self.pending = self.pending, ""
        return out


_local = threading.local()


def is_echoing() -> bool:
    """True inside `echo` on this thread: a stream proxy reached from there passes text through."""
    return getattr(_local, "echoing", False)


def echo(target: Any, text: str) -> None:
    """Write to an original stream; proxies reached from inside this write pass text through."""
    previous = getattr(_local, "echoing", False)
    _local.echoing = True
    try:
        target.write(text)
    finally:
        _local.echoing = previous


class LiveSink(Protocol):
    """Where a running step's output is mirrored as it is captured (`keep_live_copy`)."""

    def write(self, text: str) -> None:
        """Called with the log's lock held: cheap, and never raises."""

    def close(self) -> None:
        """The capture ended: write nothing more (the stored log takes over)."""

    def discard(self) -> None:
        """Remove the mirror, once the stored log is written."""


class LiveFile:
    """An append-only file mirroring a log while it is written; opened on the first write, so a
    step that prints nothing costs nothing. Failing to write it never fails the step."""

    __slots__ = ("_handle", "_path_factory", "broken", "path")

    def __init__(self, path: Callable[[], str | None]) -> None:
        self._path_factory = path
        self.path: str | None = None
        self._handle: Any = None
        self.broken = False

    def write(self, text: str) -> None:
        if self.broken:
            return
        try:
            if self._handle is None:
                self.path = self._path_factory()
                if self.path is None:
                    self.broken = True
                    return
                os.makedirs(os.path.dirname(self.path), exist_ok=True)
                self._handle = open(self.path, "a", encoding="utf-8", errors="replace")  # noqa: SIM115
            self._handle.write(text)
            self._handle.flush()
        except OSError:
            self.broken = True

    def close(self) -> None:
        if self._handle is not None:
            with contextlib.suppress(OSError):
                self._handle.close()
            self._handle = None

    def discard(self) -> None:
        if self.path is not None:
            with contextlib.suppress(OSError):
                os.remove(self.path)


class LogBuffer:
    """What one `capture` block collected: stdout, stderr and log records in write order.

    Thread-safe: a step may write to it from several threads (see `propagate_context`), and
    `text()` may be read while it is being written. Where the source changes (stdout, stderr,
    a log record) in the middle of a line, a line break is inserted, so no line mixes sources.
    """

    __slots__ = (
        "_auto_prefix",
        "_echo",
        "_head",
        "_head_budget",
        "_head_bytes",
        "_head_recent",
        "_last_source",
        "_live",
        "_live_budget",
        "_lock",
        "_mid_line",
        "_prefix",
        "_tail",
        "_tail_bytes",
        "_tail_limit",
        "_written",
        "closed",
        "label",
    )

    def __init__(self, label: str, *, max_bytes: int, prefix_mode: str = "always") -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be at least 1, not {max_bytes}.")
        self.label = label
        self._prefix = f"[{label}] " if prefix_mode != "never" else ""
        self._auto_prefix = prefix_mode == "auto"
        self._lock = threading.RLock()
        self.closed = False
        self._tail_limit = min(TAIL_BYTES, max_bytes // 2)
        self._head_budget = max_bytes - self._tail_limit
        self._head: list[str] = []
        self._head_recent: list[str] = []
        self._head_bytes = 0
        self._tail: deque[tuple[str, int]] = deque()
        self._tail_bytes = 0
        self._written = 0
        self._mid_line = False
        self._last_source = -1
        self._echo = (_EchoState(), _EchoState())
        self._live: LiveSink | None = None
        self._live_budget = max_bytes

    def keep_live_copy(self, sink: LiveSink) -> None:
        """Also hand everything captured, as it arrives (up to the buffer's size limit), to
        `sink` (a `LiveFile`, or parts in an object store), so another process can follow a
        running step's output."""
        self._live = sink

    def discard_live_copy(self) -> None:
        """Remove the live copy (after the stored log was written)."""
        if self._live is not None:
            self._live.discard()

    # -- reading ------------------------------------------------------------------------------

    def text(self) -> str:
        """Everything kept, with the omission marker where the middle was dropped."""
        with self._lock:
            head = "".join(self._head) + "".join(self._head_recent)
            tail = "".join(chunk for chunk, _ in self._tail)
            if self._written == self._head_bytes + self._tail_bytes:
                return head + tail
            return head + self._marker(head.endswith("\n") or not head) + tail

    @property
    def has_content(self) -> bool:
        return self._written > 0

    @property
    def written_bytes(self) -> int:
        """UTF-8 bytes the step produced, including any omitted ones."""
        return self._written

    @property
    def omitted_bytes(self) -> int:
        """UTF-8 bytes dropped from the middle to keep memory bounded (0 if none)."""
        with self._lock:
            return self._written - self._head_bytes - self._tail_bytes

    @property
    def byte_size(self) -> int:
        """UTF-8 size of `text()` (what is kept, marker included)."""
        with self._lock:
            size = self._head_bytes + self._tail_bytes
            if self._written > size:
                size += _nbytes(self._marker(self._last_head_char() in ("", "\n")))
            return size

    def __repr__(self) -> str:
        return f"<LogBuffer {self.label!r}: {self._written} bytes written>"

    def _last_head_char(self) -> str:
        chunks = self._head_recent or self._head
        return chunks[-1][-1:] if chunks else ""

    def _marker(self, head_ends_line: bool) -> str:
        omitted = self._written - self._head_bytes - self._tail_bytes
        lead = "" if head_ends_line else "\n"
        return f"{lead}[... {omitted} bytes omitted ...]\n"

    # -- writing (the lock is held by the caller) ---------------------------------------------

    def _append(self, text: str, source: int) -> None:
        if self._mid_line and source != self._last_source:
            text = "\n" + text
        self._last_source = source
        self._mid_line = text[-1] != "\n"
        size = _nbytes(text)
        self._written += size
        if self._live is not None and self._written <= self._live_budget:
            self._live.write(text)
        room = self._head_budget - self._head_bytes
        if size <= room:
            self._add_head(text, size)
            return
        if room > 0:
            first, text = _split_at_byte(text, room)
            if first:
                first_size = _nbytes(first)
                self._add_head(first, first_size)
                size -= first_size
            # The head is complete: a later, smaller write must not land before the tail.
            self._head_budget = self._head_bytes
        self._add_tail(text, size)

    def _add_head(self, text: str, size: int) -> None:
        recent = self._head_recent
        recent.append(text)
        if len(recent) >= _JOIN_EVERY:
            self._head.append("".join(recent))
            recent.clear()
        self._head_bytes += size

    def _add_tail(self, text: str, size: int) -> None:
        tail = self._tail
        tail.append((text, size))
        self._tail_bytes += size
        excess = self._tail_bytes - self._tail_limit
        while excess > 0 and tail[0][1] <= excess:
            _, dropped = tail.popleft()
            self._tail_bytes -= dropped
            excess -= dropped
        if excess > 0:
            chunk, chunk_size = tail[0]
            _, kept = _split_at_byte(chunk, excess)
            # Cutting inside a multi-byte character keeps that whole character.
            if _nbytes(kept) > chunk_size - excess:
                kept = kept[1:]
            kept_size = _nbytes(kept)
            tail[0] = (kept, kept_size)
            self._tail_bytes -= chunk_size - kept_size

    def write(
        self, index: int, target: Any, text: str, concurrent: bool, *, keep: bool = True
    ) -> bool:
        """Capture a write to stream `index` and echo it; False when closed (caller passes it
        through). `concurrent`: another capture is active (the `auto` prefix mode starts
        prefixing then). `keep=False` only echoes (a handler printing a record the log has)."""
        with self._lock:
            if self.closed:
                return False
            if keep:
                self._append(text, index)
            state = self._echo[index]
            if state.target is not target and state.pending:
                echo(state.target, state.take_pending())
            state.target = target
            prefix = self._prefix
            if self._auto_prefix:
                if not concurrent:
                    prefix = ""
                else:  # once a step has run beside another, its lines keep their prefix
                    self._auto_prefix = False
            out = state.feed(text, prefix)
            if out:
                echo(target, out)
            return True

    def flush(self, index: int) -> None:
        with self._lock:
            state = self._echo[index]
            if state.pending:
                echo(state.target, state.take_pending())

    def add_record(self, record: logging.LogRecord) -> None:
        line = format_record(record) + "\n"
        with self._lock:
            if not self.closed:
                self._append(line, LOG)

    def close(self) -> None:
        """Stop capturing; end the step's unterminated console lines so the next step's lines
        start at a line start."""
        with self._lock:
            self.closed = True
            if self._live is not None:
                self._live.close()
            for state in self._echo:
                if state.target is not None and (state.pending or not state.at_start):
                    state.at_start = True
                    # A broken console must not hide the step's own error.
                    with contextlib.suppress(Exception):
                        echo(state.target, state.take_pending() + "\n")


_formatter = logging.Formatter(RECORD_FORMAT)


def format_record(record: logging.LogRecord) -> str:
    """RECORD_FORMAT without touching the record (the real handlers format it later) and
    without raising on bad arguments (logging reports those through its handlers)."""
    try:
        message = record.getMessage()
    except Exception as exc:
        message = f"{record.msg!r} % {record.args!r} (formatting failed: {exc})"
    parts = [f"{_formatter.formatTime(record)} {record.levelname} {record.name}: {message}"]
    if record.exc_info:
        parts.append(_formatter.formatException(record.exc_info))
    if record.stack_info:
        parts.append(_formatter.formatStack(record.stack_info))
    return "\n".join(parts)
