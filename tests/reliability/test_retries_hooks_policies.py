"""Retries, timeouts, hooks and failure policies."""

from __future__ import annotations

import threading
import time

import pytest

from fanflow import get_step_context, pipeline, step
from fanflow.client import Client
from fanflow.config.retry_config import StepRetryConfig
from fanflow.exceptions import RunFailedError, StepTimeoutError
from fanflow.execution.step_hooks import HookValidationError


def test_flaky_step_succeeds_on_retry_and_every_attempt_is_recorded():
    calls = []

    @step(enable_cache=False, retry=StepRetryConfig(max_retries=3, delay=0, backoff=2))
    def flaky() -> int:
        calls.append(time.perf_counter())
        if len(calls) < 3:
            raise ConnectionError(f"try {len(calls)} failed")
        return 7

    @pipeline(enable_cache=False)
    def retrying():
        flaky()

    run = retrying()
    view = run.steps["flaky"]
    assert view.status == "completed" and view.output.load() == 7
    attempts = view.attempts
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert attempts[0]["error"] == "ConnectionError: try 1 failed"
    assert "ConnectionError" in attempts[1]["traceback"]
    assert attempts[2]["error"] is None


def test_retries_exhausted_fail_with_every_attempt_and_backoff_delays():
    calls = []

    @step(enable_cache=False, retry=StepRetryConfig(max_retries=2, delay=0.1, backoff=2))
    def always_fails() -> int:
        calls.append(time.perf_counter())
        raise RuntimeError(f"attempt {len(calls)}")

    @pipeline(enable_cache=False)
    def hopeless():
        always_fails()

    with pytest.raises(RunFailedError):
        hopeless()
    assert len(calls) == 3
    assert 0.08 <= calls[1] - calls[0] < 0.5 and 0.18 <= calls[2] - calls[1] < 0.7
    view = Client().get_pipeline("hopeless").last_run.steps["always_fails"]
    assert [a["error"] for a in view.attempts] == [f"RuntimeError: attempt {i}" for i in (1, 2, 3)]
    assert view.exception == "RuntimeError: attempt 3"


def test_pipeline_level_retry_is_the_default_for_steps():
    calls = []

    @step(enable_cache=False)
    def once_flaky() -> int:
        calls.append(1)
        if len(calls) == 1:
            raise TimeoutError("transient")
        return 1

    @pipeline(enable_cache=False, retry=StepRetryConfig(max_retries=1))
    def forgiving():
        once_flaky()

    assert forgiving().steps["once_flaky"].status == "completed"


def test_timeout_fails_a_thread_step_clearly_and_the_run_moves_on():
    release = threading.Event()

    @step(enable_cache=False, timeout=0.3)
    def stuck() -> int:
        release.wait(5)
        return 1

    @step(enable_cache=False)
    def fine() -> int:
        return 2

    @pipeline(enable_cache=False)
    def timing_out():
        stuck()
        fine()

    started = time.perf_counter()
    with pytest.raises(RunFailedError) as info:
        timing_out()
    release.set()
    assert time.perf_counter() - started < 3
    assert isinstance(info.value.__cause__, StepTimeoutError)
    assert "timeout of 0.3 s" in str(info.value.__cause__)
    steps = Client().get_pipeline("timing_out").last_run.steps
    assert steps["stuck"].status == "failed" and "StepTimeoutError" in steps["stuck"].exception
    assert steps["fine"].status == "completed"


def test_step_hooks_run_with_the_exception_and_a_raising_hook_changes_nothing():
    seen = []

    def on_fail(exc: BaseException) -> None:
        seen.append(("failure", get_step_context().step_name, type(exc).__name__))

    def on_ok() -> None:
        seen.append(("success", get_step_context().step_name))
        raise RuntimeError("hook bug")

    @step(enable_cache=False, on_failure=on_fail, on_success=on_ok)
    def good() -> int:
        return 1

    @step(enable_cache=False, on_failure=on_fail)
    def bad() -> int:
        raise ValueError("no")

    @pipeline(enable_cache=False)
    def hooked():
        good()
        bad()

    with pytest.raises(RunFailedError) as info:
        hooked()
    assert isinstance(info.value.__cause__, ValueError)
    assert ("success", "good") in seen and ("failure", "bad", "ValueError") in seen
    steps = Client().get_pipeline("hooked").last_run.steps
    assert steps["good"].status == "completed"
    assert "hook bug" in steps["good"].run_metadata["hook_errors"][0]


def test_pipeline_hooks_are_step_defaults_in_static_and_run_level_in_dynamic():
    seen = []

    @step(enable_cache=False)
    def one() -> int:
        return 1

    @pipeline(enable_cache=False, on_success=lambda: seen.append("static"))
    def static_hooked():
        one()
        one()

    static_hooked()
    assert seen == ["static", "static"]

    seen.clear()

    @step(enable_cache=False)
    def boom() -> int:
        raise KeyError("x")

    @pipeline(dynamic=True, enable_cache=False, on_failure=lambda exc: seen.append(type(exc)))
    def dynamic_hooked():
        one()
        boom()

    with pytest.raises(RunFailedError):
        dynamic_hooked()
    assert len(seen) == 1


def test_hook_signatures_are_checked_at_definition():
    with pytest.raises(HookValidationError):

        @step(on_success=lambda exc: None)
        def wrong() -> None:
            return None

    with pytest.raises(HookValidationError):

        @step(on_failure=lambda a, b: None)
        def wrong_too() -> None:
            return None


def _policy_pipeline(mode: str, log: list[str]):
    """1 -> {2 fails once 3 and 4 run, 3 slow, 4 slow} -> 5 after 3, 6 after 2."""
    running = threading.Semaphore(0)

    @step(enable_cache=False)
    def root() -> int:
        return 1

    @step(enable_cache=False)
    def failing(x: int) -> int:
        for _ in range(2):
            running.acquire(timeout=5)
        raise ValueError("step 2 failed")

    @step(enable_cache=False)
    def slow(x: int) -> int:
        running.release()
        time.sleep(0.3)
        log.append("slow")
        return x

    @step(enable_cache=False)
    def after(x: int) -> int:
        log.append("after")
        return x

    @pipeline(enable_cache=False, name=f"policy_{mode}", execution_mode=mode)
    def policy():
        r = root()
        two = failing(r, id="two")
        three = slow(r, id="three")
        slow(r, id="four")
        after(three, id="five")
        after(two, id="six")

    return policy


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (
            "continue_on_failure",
            {"three": "completed", "four": "completed", "five": "completed", "six": "skipped"},
        ),
        (
            "stop_on_failure",
            {"three": "completed", "four": "completed", "five": "skipped", "six": "skipped"},
        ),
        ("fail_fast", {"three": "stopped", "four": "stopped", "five": "skipped", "six": "skipped"}),
    ],
)
def test_execution_modes(mode, expected):
    log: list[str] = []
    if mode == "fail_fast":  # ZenML re-raises the failed step's own exception
        with pytest.raises(ValueError, match="step 2 failed") as raised:
            _policy_pipeline(mode, log)()
        assert not isinstance(raised.value, RunFailedError)
    else:  # the RuntimeError subclass naming the failed steps
        with pytest.raises(RunFailedError) as info:
            _policy_pipeline(mode, log)()
        assert isinstance(info.value, RuntimeError)
        assert "two" in str(info.value)
    steps = Client().get_pipeline(f"policy_{mode}").last_run.steps
    assert steps["two"].status == "failed"
    assert {name: steps[name].status for name in expected} == expected
