"""Each step's stdout, stderr and logging output lands in its own log, even in parallel."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap

from fanflow import pipeline, step


def test_concurrent_steps_each_get_exactly_their_own_log():
    @step(enable_cache=False)
    def chatty(i: int) -> int:
        for line in range(50):
            print(f"step {i} line {line}")
        print(f"step {i} warns", file=sys.stderr)
        logging.getLogger("user.code").warning("step %d logged", i)
        return i

    @step(enable_cache=False)
    def quiet() -> int:
        return 0

    @pipeline(enable_cache=False)
    def noisy():
        for i in range(6):
            chatty(i, id=f"chatty_{i}")
        quiet()

    run = noisy()
    for i in range(6):
        text = run.steps[f"chatty_{i}"].logs.read()
        lines = text.splitlines()
        assert [line for line in lines if line.startswith("step ") and "line" in line] == [
            f"step {i} line {n}" for n in range(50)
        ]
        assert f"step {i} warns" in lines
        assert any(line.endswith(f"WARNING user.code: step {i} logged") for line in lines)
        assert not any(f"step {j} " in text for j in range(6) if j != i)
    assert run.steps["quiet"].logs.read() == ""


CONSOLE_SCRIPT = textwrap.dedent(
    """
    import threading, time
    from fanflow import pipeline, step

    barrier = threading.Barrier(3)

    @step(enable_cache=False)
    def talk(i: int) -> None:
        barrier.wait(5)
        for n in range(20):
            print(f"hello {i} {n}")
            time.sleep(0.001)

    @step(enable_cache=False)
    def alone() -> None:
        print("alone line")

    @pipeline(enable_cache=False)
    def talking():
        handles = [talk(i, id=f"talk_{i}") for i in range(3)]
        alone(after=[f"talk_{i}" for i in range(3)])

    talking()
    """
)


def test_console_shows_parallel_lines_prefixed_and_a_lone_step_as_is(fanflow_home, tmp_path):
    script = tmp_path / "talking.py"
    script.write_text(CONSOLE_SCRIPT)
    env = {**os.environ, "FANFLOW_HOME": str(fanflow_home)}
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    for i in range(3):
        mine = [line for line in lines if line.startswith(f"[talk_{i}] ")]
        assert [line.split("] ", 1)[1] for line in mine] == [f"hello {i} {n}" for n in range(20)]
    assert "alone line" in lines
