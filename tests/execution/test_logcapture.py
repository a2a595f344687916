"""Per-step log capture: routing by context, live prefixed echo, logging records, bounds.

The proxies echo to fake "original" streams injected with `install(stdout=..., stderr=...)`, so
the tests see exactly what the console would get, independent of pytest's own capturing. pytest
puts its own `sys.stdout` back at the start of each test phase, so tests install in their body
(`console.install()`), not in a fixture.
"""

from __future__ import annotations

import contextvars
import io
import logging
import re
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest

from fanflow.execution import logcapture
from fanflow.execution.logcapture import (
    MAX_BYTES_ENV,
    PREFIX_ENV,
    TAIL_BYTES,
    active_log,
    capture,
    install,
    propagate_context,
    uninstall,
)

RECORD_TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"


class FakeStream:
    """Records every write call, like a console would receive them."""

    encoding = "latin-1"
    errors = "replace"

    def __init__(self) -> None:
        self.writes: list[str] = []
        self.flushes = 0
        self.buffer = io.BytesIO()
        self.custom_attribute = "from the original"

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self.writes.append(text)
        return len(text)

    def flush(self) -> None:
        self.flushes += 1

    def isatty(self) -> bool:
        return True

    def fileno(self) -> int:
        return 42

    def writable(self) -> bool:
        return True

    @property
    def value(self) -> str:
        return "".join(self.writes)


@dataclass
class Console:
    out: FakeStream
    err: FakeStream

    def install(self) -> None:
        install(stdout=self.out, stderr=self.err)  # type: ignore[arg-type]


@pytest.fixture
def console(monkeypatch: pytest.MonkeyPatch) -> Iterator[Console]:
    monkeypatch.setenv(PREFIX_ENV, "1")  # these tests check the prefix; "auto" is tested below
    monkeypatch.delenv(MAX_BYTES_ENV, raising=False)
    saved = sys.stdout, sys.stderr
    uninstall()
    try:
        yield Console(FakeStream(), FakeStream())
    finally:
        uninstall()
        sys.stdout, sys.stderr = saved


@pytest.fixture
def fast_switching() -> Iterator[None]:
    """Switch threads very often, so concurrent writes really interleave."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def _run_in_threads(labels: list[str], body: Any) -> dict[str, logcapture.LogBuffer]:
    barrier = threading.Barrier(len(labels))
    logs: dict[str, logcapture.LogBuffer] = {}
    errors: list[BaseException] = []

    def work(label: str) -> None:
        try:
            with capture(label) as log:
                barrier.wait()
                body(label)
            logs[label] = log
        except BaseException as exc:  # surfaced in the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(label,)) for label in labels]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return logs


# -- routing and the live echo ---------------------------------------------------------------


def test_concurrent_captures_in_threads_never_mix(console: Console, fast_switching: None) -> None:
    console.install()
    labels = [f"process_{i}" for i in range(8)]

    def body(label: str) -> None:
        for i in range(200):
            print(f"{label} line {i}")
            if i % 7 == 0:
                time.sleep(0)

    logs = _run_in_threads(labels, body)

    for label in labels:
        assert logs[label].text() == "".join(f"{label} line {i}\n" for i in range(200))
    seen: dict[str, list[int]] = defaultdict(list)
    lines = console.out.value.splitlines()
    assert len(lines) == 8 * 200
    for line in lines:
        match = re.fullmatch(r"\[(process_\d)\] (process_\d) line (\d+)", line)
        assert match is not None, line
        assert match[1] == match[2], line
        seen[match[1]].append(int(match[3]))
    assert seen == {label: list(range(200)) for label in labels}
    assert console.err.value == ""


def test_partial_lines_become_one_prefixed_line(console: Console) -> None:
    console.install()
    with capture("x") as log:
        print("a", end="")
        print("b")
    assert console.out.writes == ["[x] ab\n"]
    assert log.text() == "ab\n"


def test_every_line_of_a_write_gets_the_prefix(console: Console) -> None:
    console.install()
    with capture("x") as log:
        sys.stdout.write("one\n\ntwo\nthr")
        assert console.out.writes == ["[x] one\n[x] \n[x] two\n"]  # "thr" waits for its end
        sys.stdout.write("ee\n")
        sys.stdout.write("dos\r")
        sys.stdout.write("\n")
    assert console.out.value == "[x] one\n[x] \n[x] two\n[x] three\n[x] dos\r\n"
    assert log.text() == "one\n\ntwo\nthree\ndos\r\n"


def test_flush_and_carriage_returns_show_progress_at_once(console: Console) -> None:
    console.install()
    with capture("x") as log:
        print("50%", end="", flush=True)
        assert console.out.value == "[x] 50%"
        flushes = console.out.flushes
        sys.stdout.write("\r60%")
        sys.stdout.flush()
        assert console.out.value == "[x] 50%\r[x] 60%"
        assert console.out.flushes == flushes + 1
        print(" done")
    assert console.out.value == "[x] 50%\r[x] 60% done\n"
    assert log.text() == "50%\r60% done\n"


def test_an_unterminated_last_line_is_ended_on_the_console_at_exit(console: Console) -> None:
    console.install()
    with capture("x") as log:
        print("tail", end="")
        assert console.out.value == ""
    assert console.out.value == "[x] tail\n"
    assert log.text() == "tail"


def test_a_very_long_partial_line_is_echoed_without_waiting(console: Console) -> None:
    console.install()
    long_piece = "x" * (70 * 1024)
    with capture("x") as log:
        sys.stdout.write(long_piece)
        assert console.out.value == "[x] " + long_piece
        sys.stdout.write("y\n")
    assert console.out.value == "[x] " + long_piece + "y\n"
    assert log.text() == long_piece + "y\n"


def test_stderr_is_captured_and_echoed_to_stderr(console: Console) -> None:
    console.install()
    with capture("x") as log:
        print("out line")
        print("err line", file=sys.stderr)
        print("a", end="")
        print("E", file=sys.stderr)
        print("b")
    assert console.out.value == "[x] out line\n[x] ab\n"
    assert console.err.value == "[x] err line\n[x] E\n"
    # No line mixes sources: a partial stdout line is ended where stderr cuts in.
    assert log.text() == "out line\nerr line\na\nE\nb\n"


def test_without_a_capture_writes_pass_through_unchanged(console: Console) -> None:
    console.install()
    print("plain")
    print("no newline", end="")
    assert console.out.writes == ["plain", "\n", "no newline", ""]
    with pytest.raises(TypeError):
        sys.stdout.write(b"bytes")  # type: ignore[arg-type]
    with capture("x") as log, pytest.raises(TypeError):
        sys.stdout.write(b"bytes")  # type: ignore[arg-type]
    assert not log.has_content
    assert active_log() is None


def test_nested_captures_the_innermost_one_gets_the_output(console: Console) -> None:
    console.install()
    with capture("outer") as outer:
        print("first")
        with capture("inner") as inner:
            print("nested")
            assert active_log() is inner
        print("second")
        assert active_log() is outer
    print("outside")
    assert outer.text() == "first\nsecond\n"
    assert inner.text() == "nested\n"
    assert console.out.value == "[outer] first\n[inner] nested\n[outer] second\noutside\n"


def test_an_exception_inside_the_block_resets_the_context(console: Console) -> None:
    console.install()
    with pytest.raises(RuntimeError, match="boom"), capture("x") as log:
        print("before")
        raise RuntimeError("boom")
    assert active_log() is None
    print("after")
    assert log.text() == "before\n"
    assert console.out.value == "[x] before\nafter\n"


def test_output_after_the_block_passes_through(console: Console) -> None:
    console.install()
    with capture("x") as log:
        leftover = contextvars.copy_context()
    leftover.run(print, "late")
    assert log.text() == ""
    assert console.out.value == "late\n"


def test_auto_prefix_only_while_several_captures_are_active(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PREFIX_ENV, "auto")
    console.install()
    with capture("alone"):
        print("just me")
    first_done = threading.Event()
    second_started = threading.Event()

    def other() -> None:
        with capture("other"):
            second_started.set()
            first_done.wait(5)

    thread = threading.Thread(target=other)
    thread.start()
    second_started.wait(5)
    with capture("busy"):
        print("crowded")
    first_done.set()
    thread.join()
    assert "".join(console.out.writes) == "just me\n[busy] crowded\n"


def test_prefix_can_be_turned_off(console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    console.install()
    monkeypatch.setenv(PREFIX_ENV, "0")
    with capture("x") as log:
        print("hello")
        print("err", file=sys.stderr)
    assert console.out.value == "hello\n"
    assert console.err.value == "err\n"
    assert log.text() == "hello\nerr\n"


# -- threads started by a step -----------------------------------------------------------------


@pytest.mark.skipif(
    bool(getattr(sys.flags, "thread_inherit_context", 0)),
    reason="threads inherit the context on this interpreter",
)
def test_threads_started_by_a_step_are_captured_only_with_a_copied_context(
    console: Console,
) -> None:
    console.install()

    together = threading.Barrier(3, timeout=10)

    def say(text: str) -> None:
        print(text)

    def say_together(text: str) -> None:
        together.wait()  # the bound function runs in three threads at once
        print(text)

    with capture("x") as log:
        thread = threading.Thread(target=say, args=("plain thread",))
        thread.start()
        thread.join()
        with ThreadPoolExecutor(max_workers=4) as pool:
            pool.submit(contextvars.copy_context().run, say, "copied context").result()
            list(pool.map(propagate_context(say_together), ["bound 1", "bound 2", "bound 3"]))
    assert "plain thread" not in log.text()
    assert "plain thread" in console.out.writes
    assert sorted(log.text().splitlines()) == ["bound 1", "bound 2", "bound 3", "copied context"]
    for text in ("copied context", "bound 1", "bound 2", "bound 3"):
        assert f"[x] {text}\n" in console.out.writes


# -- logging ---------------------------------------------------------------------------------


class CurrentStderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Like the engine's console handler: writes to whatever `sys.stderr` is at the time."""

    @property  # type: ignore[override]
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


Loggers = Callable[[], tuple[logging.Logger, logging.Logger]]


@pytest.fixture
def loggers() -> Iterator[Loggers]:
    """Sets up a user logger and the engine logger, each printing only to (the proxied)
    sys.stderr. Call it in the test body: pytest adds its own handlers to loggers that do not
    propagate when a test phase starts, and those re-raise logging errors."""
    saved: list[tuple[logging.Logger, list[logging.Handler], bool, int]] = []

    def configure() -> tuple[logging.Logger, logging.Logger]:
        user = logging.getLogger("steps.user")
        engine = logging.getLogger("fanflow")
        for logger in (user, engine):
            saved.append((logger, logger.handlers, logger.propagate, logger.level))
            handler = CurrentStderrHandler()
            handler.setFormatter(logging.Formatter("%(message)s"))
            logger.handlers = [handler]
            logger.propagate = False
            logger.setLevel(logging.INFO)
        return user, engine

    try:
        yield configure
    finally:
        for logger, handlers, propagate, level in reversed(saved):
            logger.handlers = handlers
            logger.propagate = propagate
            logger.setLevel(level)


def test_log_records_are_captured_per_thread_but_not_the_engines(
    console: Console, loggers: Loggers, fast_switching: None
) -> None:
    console.install()
    user, engine = loggers()
    labels = [f"step_{i}" for i in range(8)]

    def body(label: str) -> None:
        for i in range(20):
            user.info("hello %d from %s", i, label)
            engine.info("engine line %d for %s", i, label)
            logging.getLogger("fanflow.worker").info("worker line for %s", label)
            print(f"printed {i}")

    logs = _run_in_threads(labels, body)

    for label in labels:
        lines = logs[label].text().splitlines()
        assert len(lines) == 40
        for i in range(20):
            assert re.fullmatch(
                rf"{RECORD_TIME} INFO steps.user: hello {i} from {label}", lines[2 * i]
            )
            assert lines[2 * i + 1] == f"printed {i}"
    # The handlers printed every record; a step's records carry its prefix like its prints,
    # engine lines never do; nothing else went to stderr.
    err_lines = console.err.value.splitlines()
    assert len(err_lines) == 8 * 20 * 3
    for label in labels:
        mine = [line for line in err_lines if line.startswith(f"[{label}] ")]
        assert mine == [f"[{label}] hello {i} from {label}" for i in range(20)]
    assert sum(line.startswith("engine line") for line in err_lines) == 8 * 20
    assert sum(line.startswith("worker line") for line in err_lines) == 8 * 20


def test_log_records_with_exceptions_or_bad_arguments(console: Console, loggers: Loggers) -> None:
    console.install()
    user, _ = loggers()
    with capture("x") as log:
        try:
            raise ValueError("boom")
        except ValueError:
            user.exception("it failed")
        user.error("%d apples", "three")  # logging reports this through its handlers
    text = log.text()
    assert re.search(rf"^{RECORD_TIME} ERROR steps.user: it failed\nTraceback", text, re.M)
    assert "ValueError: boom\n" in text
    assert "'%d apples' % ('three',) (formatting failed:" in text
    assert "Logging error" not in text
    assert "Logging error" in console.err.value


def test_records_outside_a_capture_and_below_the_level_are_not_captured(
    console: Console, loggers: Loggers
) -> None:
    console.install()
    user, _ = loggers()
    user.info("before")
    with capture("x") as log:
        user.debug("too detailed")
        user.info("inside")
    user.info("after")
    assert re.fullmatch(rf"{RECORD_TIME} INFO steps.user: inside\n", log.text())


def test_install_adds_no_logging_handler(console: Console) -> None:
    console.install()
    # A root handler would make logging.basicConfig() a no-op and silence logging.lastResort.
    root_handlers = list(logging.getLogger().handlers)
    assert type(sys.stdout).__name__ == "_StreamProxy"
    uninstall()
    default_factory = logging.getLogRecordFactory()
    install()
    assert logging.getLogger().handlers == root_handlers
    assert logging.getLogRecordFactory() is not default_factory
    uninstall()
    assert logging.getLogRecordFactory() is default_factory


# -- bounded memory --------------------------------------------------------------------------


def test_truncation_keeps_the_head_and_the_tail_with_one_marker(console: Console) -> None:
    console.install()
    lines = [f"line {i:04d}\n" for i in range(300)]  # 10 bytes each
    with capture("x", max_bytes=1000) as log:
        for line in lines:
            sys.stdout.write(line)
    head, tail = "".join(lines[:50]), "".join(lines[-50:])
    assert log.text() == head + "[... 2000 bytes omitted ...]\n" + tail
    assert log.written_bytes == 3000
    assert log.omitted_bytes == 2000
    assert log.byte_size == len(log.text().encode())
    assert console.out.value == "".join(f"[x] {line}" for line in lines)


def test_the_limit_comes_from_the_environment_and_the_tail_is_one_mebibyte(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    console.install()
    mib = 1024 * 1024
    assert mib == TAIL_BYTES
    monkeypatch.setenv(MAX_BYTES_ENV, str(3 * mib))
    data = "".join(f"{i:07d}\n" for i in range(5 * mib // 8))
    with capture("x") as log:
        for start in range(0, len(data), 65536):
            sys.stdout.write(data[start : start + 65536])
    assert log.text() == data[: 2 * mib] + f"[... {2 * mib} bytes omitted ...]\n" + data[-mib:]
    assert console.out.value.count("\n") == data.count("\n")


def test_a_bad_limit_in_the_environment_is_an_error_naming_it(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    console.install()
    monkeypatch.setenv(MAX_BYTES_ENV, "lots")
    with pytest.raises(ValueError, match="FANFLOW_MAX_STEP_LOG_BYTES must be a positive"):
        capture("x").__enter__()
    assert active_log() is None


def test_truncation_never_splits_a_character(console: Console) -> None:
    console.install()
    with capture("x", max_bytes=101) as log:
        for _ in range(100):
            sys.stdout.write("é€")  # 2 + 3 bytes
        print()
    text = log.text()
    match = re.fullmatch(r"([é€]*)\n(\[\.\.\. \d+ bytes omitted \.\.\.\]\n)(.*)", text, re.S)
    assert match is not None, text
    head, marker, tail = match.groups()
    assert len(head.encode()) <= 51 and len(head.encode()) >= 48
    assert len(tail.encode()) <= 50 and len(tail.encode()) >= 47
    assert tail.endswith("é€\n")
    kept = len(head.encode()) + len(tail.encode())
    assert log.omitted_bytes == 501 - kept
    assert f"[... {501 - kept} bytes omitted" in marker
    assert log.byte_size == len(text.encode())


def test_an_empty_capture_has_no_content(console: Console) -> None:
    console.install()
    with capture("x") as log:
        pass
    assert not log.has_content
    assert log.text() == ""
    assert log.byte_size == 0
    with capture("y") as other:
        print("é")
    assert other.has_content
    assert other.byte_size == 3
    assert console.out.value == "[y] é\n"


# -- the proxies -------------------------------------------------------------------------------


def test_the_proxy_looks_like_the_original_stream(console: Console) -> None:
    console.install()
    proxy = sys.stdout
    assert proxy is not console.out
    assert proxy.encoding == "latin-1"
    assert proxy.errors == "replace"
    assert proxy.isatty() is True
    assert proxy.fileno() == 42
    assert proxy.writable() is True
    assert proxy.buffer is console.out.buffer
    assert proxy.custom_attribute == "from the original"  # type: ignore[attr-defined]
    assert proxy.write("seven\n") == 6
    proxy.writelines(["a\n", "b\n"])
    with capture("x"):
        assert proxy.write("eight\n") == 6
        proxy.writelines(["c\n", "d\n"])
    assert console.out.value == "seven\na\nb\n[x] eight\n[x] c\n[x] d\n"


def test_install_is_idempotent_and_thread_safe(console: Console) -> None:
    console.install()
    proxies = sys.stdout, sys.stderr
    barrier = threading.Barrier(16)

    def race() -> None:
        barrier.wait()
        install()

    threads = [threading.Thread(target=race) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    install()
    assert (sys.stdout, sys.stderr) == proxies


def test_only_a_replaced_stream_is_wrapped_again(console: Console) -> None:
    console.install()
    stdout_proxy, stderr_proxy = sys.stdout, sys.stderr
    replacement = FakeStream()
    sys.stderr = replacement  # type: ignore[assignment]
    try:
        install()
        assert sys.stdout is stdout_proxy
        assert sys.stderr is not replacement
        with capture("x") as log:
            print("to stdout")
            print("to stderr", file=sys.stderr)
        assert log.text() == "to stdout\nto stderr\n"
        assert console.out.value == "[x] to stdout\n"
        assert replacement.value == "[x] to stderr\n"
    finally:
        sys.stderr = stderr_proxy


def test_a_replaced_stream_is_wrapped_again_without_capturing_twice(console: Console) -> None:
    console.install()
    first_proxy = sys.stdout

    class Tee:
        """What a test runner's capture does: replace sys.stdout, forwarding to the old one."""

        def write(self, text: str) -> int:
            return first_proxy.write(text)

        def flush(self) -> None:
            first_proxy.flush()

    sys.stdout = Tee()  # type: ignore[assignment]
    try:
        with capture("x") as log:
            print("once")
        assert sys.stdout is not first_proxy
        assert type(sys.stdout) is type(first_proxy)
        assert log.text() == "once\n"
        assert console.out.value == "[x] once\n"
        first_proxy.write("direct\n")  # an old reference still works
        assert console.out.value == "[x] once\ndirect\n"
    finally:
        sys.stdout = first_proxy


def test_uninstall_puts_the_replaced_streams_back() -> None:
    saved = sys.stdout, sys.stderr
    uninstall()
    before = sys.stdout, sys.stderr
    try:
        install()
        assert type(sys.stdout).__name__ == "_StreamProxy"
        assert type(sys.stderr).__name__ == "_StreamProxy"
        uninstall()
        assert (sys.stdout, sys.stderr) == before
    finally:
        uninstall()
        sys.stdout, sys.stderr = saved


# -- cost ------------------------------------------------------------------------------------


def test_a_silent_capture_leaves_no_trace(console: Console) -> None:
    """Entering and leaving a capture that saw no output allocates nothing lasting: no text, no
    console line, no extra thread (its cost is measured by the benchmarks, not asserted here)."""
    console.install()
    threads = threading.active_count()
    for _ in range(2_000):
        with capture("x") as log:
            pass
        assert log.text() == ""
    assert console.out.value == "" and console.err.value == ""
    assert threading.active_count() == threads
