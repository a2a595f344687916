"""Live progress: the terminal block (rendered by rich into a buffer and on a real pty), the
summary lines on pipes, and `FANFLOW_PROGRESS=0`."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from fanflow.execution.progress import ProgressObserver, default_observers, group_of

SCRIPT = """
import sys
from fanflow import pipeline, step, unmapped

@step
def shards(n: int) -> list[int]:
    return list(range(n))

@step(enable_cache=False)
def process(shard: int, factor: int) -> int:
    if shard == 5 and "--fail" in sys.argv:
        raise ValueError("shard 5 is broken")
    return shard * factor

@step(enable_cache=False)
def total(values: list[int]) -> int:
    print("total", sum(values))
    return sum(values)

@pipeline(dynamic=True, enable_cache=False)
def wide(n: int):
    total(process.map(shards(n), factor=unmapped(2)))

if __name__ == "__main__":
    try:
        wide(n=int(sys.argv[1]))
    except Exception:
        pass
"""


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _render(observer: ProgressObserver) -> str:
    buffer = io.StringIO()
    Console(file=buffer, force_terminal=True, width=140, color_system=None).print(observer.render())
    return buffer.getvalue()


def _feed_map(observer: ProgressObserver, clock: FakeClock) -> None:
    """48 branches cached, 452 started, 352 of those finished (two failed): 400 of 1,000 done
    in 4 s of the fake clock."""
    observer.run_started("wide-run", "wide", None)
    observer.steps_added(["shards"])
    observer.step_started("shards")
    observer.step_finished("shards", 0.1, None)
    observer.steps_added([f"map:process:{i}" for i in range(1000)] + ["total"])
    for i in range(48):
        clock.now += 0.01
        observer.step_cached(f"map:process:{i}")
    for i in range(48, 500):
        observer.step_started(f"map:process:{i}")
    for i in range(48, 400):
        clock.now += 0.01
        error = ValueError(f"shard {i} broke") if i in (57, 59) else None
        observer.step_finished(f"map:process:{i}", 0.01, error)


def test_group_of_collapses_map_branches():
    assert group_of("map:process:17") == "map:process"
    assert group_of("train_3") == "train_3"


def test_terminal_block_has_one_row_per_group_with_counts_rate_and_eta():
    clock = FakeClock()
    observer = ProgressObserver(terminal=False, clock=clock)
    _feed_map(observer, clock)
    text = _render(observer)
    lines = text.splitlines()
    assert len(lines) <= 6  # title, finished groups, the map, total, first failure
    row = next(line for line in lines if "map:process" in line)
    assert "map:process \u00d71,000" in row and "400/1,000 done" in row
    assert "100 running" in row and "2 failed" in row and "48 cached" in row
    assert "100/s" in row and "ETA 6.0s" in row  # 400 done in 4 s; 600 left
    assert any("1 finished group" in line for line in lines)  # `shards` collapsed
    assert any(line.split()[1:3] == ["total", "waiting"] for line in lines if "total" in line)
    failures = [line for line in lines if "failed:" in line]
    assert failures == ["\u2717 Step `map:process:57` failed: ValueError: shard 57 broke"]


def test_live_block_is_drawn_on_a_terminal_console_and_left_complete():
    clock = FakeClock()
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=140, color_system=None)
    observer = ProgressObserver(terminal=True, console=console, clock=clock)
    _feed_map(observer, clock)
    for i in range(500, 1000):
        observer.step_started(f"map:process:{i}")
    for i in range(400, 1000):
        observer.step_finished(f"map:process:{i}", 0.01, None)
    observer.step_started("total")
    observer.step_finished("total", 0.01, None)
    observer.run_finished("wide-run", "failed", 5.0)
    drawn = buffer.getvalue()
    assert "\x1b[" in drawn  # cursor control: a live, redrawn block
    last_frame = drawn.rsplit("fanflow wide-run", 1)[1]
    assert "3 finished groups" in last_frame and "1,002 steps" in last_frame
    assert last_frame.count("failed: ValueError") == 1  # the first failure, shown once


def test_summary_lines_are_throttled_not_one_per_step(caplog):
    clock = FakeClock()
    observer = ProgressObserver(terminal=False, clock=clock, interval=5.0)
    with caplog.at_level("INFO", logger="fanflow"):
        observer.run_started("wide-run", "wide", None)
        observer.steps_added([f"map:process:{i}" for i in range(10_000)])
        for i in range(10_000):
            clock.now += 0.001
            observer.step_started(f"map:process:{i}")
            observer.step_finished(
                f"map:process:{i}", 0.001, ValueError("no") if i % 1000 == 3 else None
            )
            observer.turn_finished()
        observer.run_finished("wide-run", "failed", clock.now - 100.0)
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 1 + 1 + 2 + 1  # start, first failure, a line per 5 s, the end
    assert messages[1] == "Step `map:process:3` failed: ValueError: no"
    assert messages[2].startswith("[5.0s] 5,000/10,000 steps done (0 running, 5 failed")
    assert "map:process 5,000/10,000 1,000/s ETA 5.0s" in messages[2]
    assert messages[-1].endswith("10,000 steps: 9,990 completed, 10 failed.")


def test_progress_can_be_turned_off(monkeypatch):
    from fanflow.execution.observers import ConsoleObserver

    monkeypatch.setenv("FANFLOW_PROGRESS", "0")
    assert [type(o) for o in default_observers()] == [ConsoleObserver]
    monkeypatch.setenv("FANFLOW_PROGRESS", "1")
    assert [type(o) for o in default_observers()] == [ProgressObserver]
    monkeypatch.setenv("FANFLOW_PROGRESS_INTERVAL", "soon")
    with pytest.raises(ValueError, match="FANFLOW_PROGRESS_INTERVAL must be a number"):
        default_observers()


def _script(tmp_path: Path) -> Path:
    path = tmp_path / "wide.py"
    path.write_text(SCRIPT)
    return path


def _env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FANFLOW_")}
    return {**env, "FANFLOW_HOME": str(home), **extra}


@pytest.mark.slow
def test_on_a_pipe_a_wide_map_prints_a_few_lines_and_stdout_stays_exact(tmp_path, fanflow_home):
    result = subprocess.run(
        [sys.executable, str(_script(tmp_path)), "3000"],
        capture_output=True,
        text=True,
        env=_env(fanflow_home),
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"total {2 * sum(range(3000))}\n"
    lines = result.stderr.splitlines()
    assert lines[0].startswith("Initiating a new run for the pipeline: `wide`")
    assert lines[-1].endswith("3,002 steps: 3,002 completed.")
    assert len(lines) < 3 + 3000 // 100  # a summary line every 5 s, not a line per step
    off = subprocess.run(
        [sys.executable, str(_script(tmp_path)), "60"],
        capture_output=True,
        text=True,
        env=_env(fanflow_home, FANFLOW_PROGRESS="0"),
        timeout=300,
    )
    assert "Step `map:process:3` has started." in off.stderr  # the per-step lines instead


@pytest.mark.slow
def test_on_a_terminal_the_live_block_goes_to_stderr_and_stdout_stays_exact(tmp_path, fanflow_home):
    leader, follower = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, str(_script(tmp_path)), "400", "--fail"],
            stdout=subprocess.PIPE,
            stderr=follower,
            text=True,
            env=_env(fanflow_home, COLUMNS="140"),
        )
        os.close(follower)
        follower = -1
        chunks = []
        while True:
            try:
                data = os.read(leader, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        stdout, _ = process.communicate(timeout=300)
    finally:
        os.close(leader)
        if follower != -1:
            os.close(follower)
    terminal = b"".join(chunks).decode("utf-8", errors="replace")
    assert stdout == ""  # the map's failure stops the run before `total`; nothing else on stdout
    assert "\x1b[" in terminal and "map:process \u00d7400" in terminal
    assert "Step `map:process:5` failed: ValueError: shard 5 is broken" in terminal
    assert "with status `failed`" in terminal


def test_a_run_inside_another_runs_live_block_falls_back_to_summary_lines():
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=100, color_system=None)
    outer = ProgressObserver(terminal=True, console=console)
    inner = ProgressObserver(terminal=True, console=console)
    outer.run_started("outer", "outer", 1)
    try:
        inner.run_started("inner", "inner", 1)  # rich allows one live display at a time
        assert inner.terminal is False
        inner.run_finished("inner", "completed", 0.1)
    finally:
        outer.run_finished("outer", "completed", 0.2)
    assert "fanflow outer" in buffer.getvalue()


def test_a_declared_map_shows_its_whole_width_while_its_branches_arrive_in_chunks():
    clock = FakeClock()
    observer = ProgressObserver(terminal=False, clock=clock)
    observer.run_started("wide-run", "wide", None)
    observer.map_declared("process", 1000)
    observer.steps_added([f"map:process:{i}" for i in range(100)])
    assert observer.groups["map:process"].total == 1000
    observer.steps_added([f"map:process:{i}" for i in range(100, 200)])
    assert observer.groups["map:process"].total == 1000
    # The map call raised after 150 branches: the total shrinks to what was added.
    observer.map_declared("process", 150)
    assert observer.groups["map:process"].total == 150
