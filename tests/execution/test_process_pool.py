"""ProcessExecutor: results, errors, parallelism, queueing, cancel, kill, worker deaths, shutdown,
and no re-run of the user's main script in workers."""

from __future__ import annotations

import gc
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError
from concurrent.futures import wait as futures_wait
from pathlib import Path

import cloudpickle
import pytest

from fanflow.execution.process_pool import (
    ProcessExecutor,
    RemoteTaskError,
    TaskKilledError,
    WorkerDiedError,
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="uses /proc")

# pytest imports this file under a name workers cannot import: send its functions by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])


# --- helpers ---------------------------------------------------------------------------------


def alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.fixture
def executor() -> Iterator[ProcessExecutor]:
    ex = ProcessExecutor(2)
    yield ex
    pids = ex.worker_pids
    ex.shutdown(wait=False)
    assert wait_until(lambda: not any(alive(pid) for pid in pids))


def getpid() -> int:
    return os.getpid()


def burn(seconds: float) -> int:
    """Hold the GIL (no sleeping) for about `seconds`."""
    end = time.perf_counter() + seconds
    n = 0
    while time.perf_counter() < end:
        n += 1
    return os.getpid()


def loop_forever(pid_file: str, ignore_sigterm: bool = False) -> None:
    if ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    Path(pid_file).write_text(str(os.getpid()))
    while True:
        pass


def started_pid(pid_file: Path, timeout: float = 10.0) -> int:
    assert wait_until(lambda: pid_file.exists() and pid_file.read_text() != "", timeout)
    return int(pid_file.read_text())


def append(path: str, text: str, pause: float = 0.0) -> int:
    time.sleep(pause)
    with open(path, "a") as f:
        f.write(text + "\n")
    return os.getpid()


# --- results and errors ----------------------------------------------------------------------


def test_results_and_exceptions_round_trip(executor: ProcessExecutor) -> None:
    assert executor.submit(divmod, 17, 5).result(timeout=10) == (3, 2)
    assert executor.submit(dict, a=1).result(timeout=10) == {"a": 1}

    def fail() -> None:
        raise ValueError("bad value 42")

    error = executor.submit(fail).exception(timeout=10)
    assert type(error) is ValueError and str(error) == "bad value 42"
    assert "in fail" in str(error.__cause__)  # the worker's traceback rides along

    class StepProblem(Exception):  # a class defined in a function travels by value
        pass

    def fail_custom() -> None:
        raise StepProblem("custom")

    error = executor.submit(fail_custom).exception(timeout=10)
    assert isinstance(error, StepProblem) and str(error) == "custom"


def test_unpicklable_exception_becomes_a_runtime_error_with_type_message_and_traceback(
    executor: ProcessExecutor,
) -> None:
    class HoldsALock(Exception):
        def __init__(self, message: str) -> None:
            super().__init__(message)
            self.lock = threading.Lock()

    class NeedsTwoArguments(Exception):  # pickles, but cannot be rebuilt from `args`
        def __init__(self, a: int, b: int) -> None:
            super().__init__(f"a={a}")

    def raise_lock_holder() -> None:
        raise HoldsALock("cannot travel")

    def raise_two_arguments() -> None:
        raise NeedsTwoArguments(1, 2)

    error = executor.submit(raise_lock_holder).exception(timeout=10)
    assert isinstance(error, RemoteTaskError) and isinstance(error, RuntimeError)
    assert error.type_name.endswith("HoldsALock") and error.message == "cannot travel"
    assert "raise_lock_holder" in error.traceback_text
    assert "HoldsALock: cannot travel" in str(error)

    error = executor.submit(raise_two_arguments).exception(timeout=10)
    assert isinstance(error, RemoteTaskError) and error.message == "a=1"

    # an unpicklable result fails the task, not the worker
    error = executor.submit(threading.Lock).exception(timeout=10)
    assert isinstance(error, TypeError) and "cannot be pickled" in str(error)
    assert executor.submit(abs, -3).result(timeout=10) == 3


def test_closures_lambdas_and_local_functions_work(executor: ProcessExecutor) -> None:
    factor = 7

    def scale(x: int) -> int:
        return x * factor

    def make_adder(n: int) -> Callable[[int], int]:
        return lambda x: x + n

    class Point:
        def __init__(self, x: int) -> None:
            self.x = x

    assert executor.submit(scale, 6).result(timeout=10) == 42
    assert executor.submit(lambda: factor + 1).result(timeout=10) == 8
    assert executor.submit(make_adder(5), 1).result(timeout=10) == 6
    returned = executor.submit(lambda p: Point(p.x * 2), Point(21)).result(timeout=10)
    assert isinstance(returned, Point) and returned.x == 42  # same class on the way back
    assert executor.submit(getpid).result(timeout=10) != os.getpid()


def test_unpicklable_arguments_fail_the_future_not_submit(executor: ProcessExecutor) -> None:
    error = executor.submit(len, threading.Lock()).exception(timeout=10)
    assert isinstance(error, TypeError) and "cannot be pickled" in str(error)


def test_sigint_is_ignored_in_workers(executor: ProcessExecutor) -> None:
    def interrupt_self() -> str:
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        return "still here"

    future = executor.submit(interrupt_self)
    assert future.exception(timeout=10) is None  # not KeyboardInterrupt
    assert future.result() == "still here"


def test_workers_see_the_parents_current_environment_and_output_descriptors(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    # A forkserver started earlier (by other tests, or just now) must not freeze what workers
    # see: environment, working directory and stdout/stderr are the parent's at worker start.
    with ProcessExecutor(1) as ex:
        ex.submit(abs, 1).result(timeout=10)
    monkeypatch.setenv("FANFLOW_PROCESS_POOL_TEST", "fresh value")
    monkeypatch.chdir(tmp_path)
    capfd.readouterr()

    def report() -> tuple[str | None, str]:
        print("hello from the worker")
        print("and to stderr", file=sys.stderr)
        return os.environ.get("FANFLOW_PROCESS_POOL_TEST"), os.getcwd()

    with ProcessExecutor(1) as ex:
        assert ex.submit(report).result(timeout=10) == ("fresh value", str(tmp_path))
        out, err = capfd.readouterr()
    assert "hello from the worker" in out and "and to stderr" in err


# --- parallelism and queueing ----------------------------------------------------------------


def test_tasks_run_in_parallel_across_processes(executor: ProcessExecutor) -> None:
    # Start both workers first so process start-up is not measured.
    warm = [executor.submit(time.sleep, 0.3) for _ in range(2)]
    for future in warm:
        future.result(timeout=10)
    assert len(executor.worker_pids) == 2

    started = time.perf_counter()
    executor.submit(burn, 0.3).result(timeout=10)
    one = time.perf_counter() - started

    started = time.perf_counter()
    pids = [f.result(timeout=10) for f in [executor.submit(burn, 0.3) for _ in range(2)]]
    two = time.perf_counter() - started

    assert len(set(pids)) == 2
    assert two < 1.6 * one, f"two tasks took {two:.2f} s, one took {one:.2f} s"


def test_queue_is_fifo_and_never_exceeds_max_workers(tmp_path: Path) -> None:
    log = tmp_path / "order.txt"
    with ProcessExecutor(1) as ex:
        futures = [ex.submit(append, str(log), str(i)) for i in range(8)]
        assert len(ex.worker_pids) <= 1
        pids = {f.result(timeout=10) for f in futures}
    assert log.read_text().split() == [str(i) for i in range(8)]
    assert len(pids) == 1


def test_cancel_of_a_queued_future(tmp_path: Path) -> None:
    log = tmp_path / "ran.txt"
    with ProcessExecutor(1) as ex:
        first = ex.submit(append, str(log), "first", 0.3)
        second = ex.submit(append, str(log), "second")
        third = ex.submit(append, str(log), "third")
        fourth = ex.submit(append, str(log), "fourth")
        assert second.cancel()
        assert ex.kill(third)  # kill of a queued task cancels it
        assert third.cancelled()
        assert not ex.kill(third)  # already done
        # `wait` must see cancelled futures as done (they are notified, not just cancelled)
        done, _ = futures_wait([first, second, third, fourth], timeout=10)
        assert len(done) == 4
    assert log.read_text().split() == ["first", "fourth"]
    with pytest.raises(CancelledError):
        second.result()


# --- kill and worker deaths ------------------------------------------------------------------


@pytest.mark.parametrize("ignore_sigterm", [False, True], ids=["sigterm", "needs-sigkill"])
def test_kill_of_a_running_task_ends_its_process(
    executor: ProcessExecutor, tmp_path: Path, ignore_sigterm: bool
) -> None:
    pid_file = tmp_path / "pid"
    future = executor.submit(loop_forever, str(pid_file), ignore_sigterm)
    pid = started_pid(pid_file)
    error = TimeoutError("step exceeded its timeout")
    assert executor.kill(future, error=error)
    assert future.exception(timeout=1) is error
    assert wait_until(lambda: not alive(pid), timeout=5), "the worker process is still there"
    assert not executor.kill(future)  # already done
    assert executor.submit(getpid).result(timeout=10) not in (pid, os.getpid())
    assert pid not in executor.worker_pids


def test_worker_that_exits_fails_its_task_and_queued_work_runs_on_a_replacement() -> None:
    with ProcessExecutor(1) as ex:
        dying = ex.submit(os._exit, 3)
        queued = ex.submit(getpid)
        error = dying.exception(timeout=10)
        assert isinstance(error, WorkerDiedError) and isinstance(error, RuntimeError)
        assert error.exitcode == 3
        assert f"worker process {error.pid} exited with code 3 while running the task" in str(error)
        assert queued.result(timeout=10) != error.pid
        assert ex.submit(abs, -1).result(timeout=10) == 1


def test_worker_killed_by_a_signal_is_reported(executor: ProcessExecutor) -> None:
    error = executor.submit(lambda: os.kill(os.getpid(), signal.SIGKILL)).exception(timeout=10)
    assert isinstance(error, WorkerDiedError) and error.exitcode == -signal.SIGKILL
    assert "SIGKILL" in str(error)


# --- shutdown ---------------------------------------------------------------------------------


def test_shutdown_wait_lets_running_and_queued_tasks_finish() -> None:
    ex = ProcessExecutor(1)
    running = ex.submit(burn, 0.4)
    queued = ex.submit(abs, -5)
    pids = ex.worker_pids
    started = time.perf_counter()
    ex.shutdown(wait=True)
    assert time.perf_counter() - started > 0.2
    assert running.done() and queued.done() and queued.result() == 5
    assert not any(alive(pid) for pid in pids) and ex.worker_pids == []
    with pytest.raises(RuntimeError, match="shut down"):
        ex.submit(abs, 1)
    ex.shutdown()  # idempotent


def test_shutdown_without_wait_kills_a_stuck_task_promptly(tmp_path: Path) -> None:
    ex = ProcessExecutor(2)
    pid_file = tmp_path / "pid"
    stuck = ex.submit(loop_forever, str(pid_file), True)  # ignores SIGTERM too
    idle = ex.submit(getpid)
    idle.result(timeout=10)
    pid = started_pid(pid_file)
    pids = ex.worker_pids
    assert len(pids) == 2
    started = time.perf_counter()
    ex.shutdown(wait=False)
    assert time.perf_counter() - started < 2.0
    assert isinstance(stuck.exception(timeout=1), TaskKilledError)
    assert not alive(pid)
    assert wait_until(lambda: not any(alive(p) for p in pids), timeout=1)
    ex.shutdown(wait=False)


def test_shutdown_cancel_futures_cancels_queued_work() -> None:
    ex = ProcessExecutor(1)
    running = ex.submit(time.sleep, 0.3)
    queued = ex.submit(abs, -1)
    ex.shutdown(wait=True, cancel_futures=True)
    assert running.result() is None and queued.cancelled()


def test_forgotten_executor_leaves_no_processes() -> None:
    ex = ProcessExecutor(1)
    ex.submit(abs, 1).result(timeout=10)
    pids = ex.worker_pids
    del ex
    gc.collect()
    assert wait_until(lambda: not any(alive(pid) for pid in pids), timeout=5)


# --- processes of their own: the user's script, the parent's death ----------------------------


def _run_script(tmp_path: Path, body: str, timeout: float = 60) -> subprocess.CompletedProcess:
    script = tmp_path / "user_script.py"
    script.write_text(textwrap.dedent(body))
    return subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=str(tmp_path),
    )


@pytest.mark.parametrize("start_method", ["forkserver", "spawn"])
def test_a_script_without_main_guard_is_not_rerun_in_workers(
    tmp_path: Path, start_method: str
) -> None:
    marker = tmp_path / "top_level_runs.txt"
    result = _run_script(
        tmp_path,
        f"""
        import os
        with open({str(marker)!r}, "a") as f:
            f.write(f"{{os.getpid()}}\\n")

        from fanflow.execution.process_pool import ProcessExecutor

        def square(x):
            return x * x

        ex = ProcessExecutor(2, start_method={start_method!r})
        print([f.result(timeout=30) for f in [ex.submit(square, i) for i in range(4)]])
        ex.shutdown()
        """,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[0, 1, 4, 9]"
    assert len(marker.read_text().split()) == 1  # the script's own run, nothing in workers
    assert result.stderr == ""


def test_workers_exit_when_the_parent_dies(tmp_path: Path) -> None:
    pid_file = tmp_path / "worker_pid"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
                import os, time
                from pathlib import Path
                from fanflow.execution.process_pool import ProcessExecutor

                def long_task():
                    Path({str(pid_file)!r}).write_text(str(os.getpid()))
                    time.sleep(60)

                ex = ProcessExecutor(2)
                busy = ex.submit(long_task)
                idle_pid = ex.submit(os.getpid).result()
                print(idle_pid, flush=True)
                time.sleep(60)
                """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        idle_pid = int(proc.stdout.readline())
        busy_pid = started_pid(pid_file)
        assert alive(idle_pid) and alive(busy_pid)
    finally:
        proc.kill()  # SIGKILL: no atexit, no finalizers
        proc.wait()
    assert wait_until(lambda: not alive(busy_pid) and not alive(idle_pid), timeout=5)


# --- overhead ---------------------------------------------------------------------------------


def test_many_small_tasks_reuse_the_same_workers(executor: ProcessExecutor) -> None:
    """Per-task cost stays at two pipe messages because workers are long-lived: 300 no-op tasks
    run in at most `max_workers` processes (timed by the benchmarks, not asserted here)."""

    def pid() -> int:
        return os.getpid()

    seen = {executor.submit(pid).result(timeout=10) for _ in range(300)}
    assert 1 <= len(seen) <= executor.max_workers
