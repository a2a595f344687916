"""Examples of ZenML's "Hooks" page, run with `zenml` -> `fanflow`: lifecycle hooks on steps
and pipelines (one on_start/on_end pair per attempt, none on cache hits, async hooks awaited,
failures swallowed), `run_hook`, and listing invocations from the Client."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Tuple

import pytest

from fanflow import get_step_context, pipeline, run_hook, step
from fanflow.client import Client
from fanflow.config import StepRetryConfig
from fanflow.enums import HookType
from fanflow.exceptions import RunFailedError

calls: list[str] = []


def notify_start():
    calls.append("start")


def notify_end(exception=None):
    calls.append(f"end:{type(exception).__name__ if exception else None}")


@pytest.fixture(autouse=True)
def _clear():
    calls.clear()


def test_registering_step_hooks_and_pipeline_defaults():
    @step(on_start=notify_start, on_end=notify_end)
    def my_step() -> int:
        calls.append("body")
        return 42

    @pipeline(enable_cache=False)
    def my_pipeline():
        my_step()

    run = my_pipeline()
    assert calls == ["start", "body", "end:None"]
    invocations = Client().list_hook_invocations(pipeline_run_id=run.id)
    assert [(i.hook_type, i.status) for i in invocations] == [
        (HookType.STEP_START, "completed"),
        (HookType.STEP_END, "completed"),
    ]
    assert invocations[0].step_run_id == run.steps["my_step"].id
    assert invocations[0].name.endswith("notify_start")

    @step
    def plain() -> int:
        calls.append("plain")
        return 1

    @pipeline(on_start=notify_start, on_end=notify_end, enable_cache=False)
    def defaults_pipeline():
        plain(id="a")
        plain(id="b", after="a")

    calls.clear()
    defaults_pipeline()
    # A static pipeline's hooks are every step's defaults.
    assert calls == ["start", "plain", "end:None", "start", "plain", "end:None"]


def test_one_start_end_pair_per_attempt_and_terminal_failure_once():
    attempts = []

    def on_failure(exception: BaseException):
        calls.append(f"failure:{exception}")

    @step(
        on_start=notify_start,
        on_end=notify_end,
        on_failure=on_failure,
        retry=StepRetryConfig(max_retries=1, delay=0),
    )
    def flaky() -> int:
        attempts.append(1)
        raise ValueError("boom")

    @pipeline
    def failing():
        flaky()

    with pytest.raises(RunFailedError):
        failing()
    assert calls == ["start", "end:ValueError", "start", "end:ValueError", "failure:boom"]
    run = Client().list_pipeline_runs(pipeline_name="failing")[0]
    kinds = [i.hook_type for i in Client().list_hook_invocations(pipeline_run_id=run.id)]
    assert kinds == ["step_start", "step_end", "step_start", "step_end", "step_failure"]
    attempts_recorded = [
        i.attempt
        for i in Client().list_hook_invocations(pipeline_run_id=run.id, hook_type="step_start")
    ]
    assert attempts_recorded == [1, 2]


def test_cache_hits_fire_no_step_hooks():
    @step(on_start=notify_start, on_end=notify_end)
    def cached_step() -> int:
        return 1

    @pipeline
    def cached_pipeline():
        cached_step()

    cached_pipeline()
    calls.clear()
    second = cached_pipeline()
    assert second.steps["cached_step"].status == "cached"
    assert calls == []
    assert len(Client().list_hook_invocations(pipeline_run_id=second.id)) == 0


def test_hook_failures_are_swallowed_and_recorded():
    def broken_start():
        raise RuntimeError("hook broke")

    @step(on_start=broken_start, enable_cache=False)
    def fine() -> int:
        return 7

    @pipeline
    def resilient():
        fine()

    run = resilient()
    assert run.status == "completed"
    (invocation,) = Client().list_hook_invocations(pipeline_run_id=run.id)
    assert invocation.status == "failed"
    assert "hook broke" in invocation.exception


def test_async_hooks_are_awaited():
    async def async_start():
        await asyncio.sleep(0)
        calls.append("async-start")

    @step(on_start=async_start, enable_cache=False)
    def with_async() -> int:
        calls.append("body")
        return 1

    @pipeline
    def async_pipeline():
        with_async()

    async_pipeline()
    assert calls == ["async-start", "body"]


def test_accessing_step_information_in_hooks():
    def on_failure(exception: BaseException):
        context = get_step_context()
        calls.append(f"Failed step: {context.step_run.name}")

    @step(on_failure=on_failure)
    def my_step(some_parameter: int = 1):
        raise ValueError("My exception")

    @pipeline
    def failing_pipeline():
        my_step()

    with pytest.raises(RunFailedError):
        failing_pipeline()
    assert calls == ["Failed step: my_step"]


def test_dynamic_pipeline_hooks_fire_once_for_the_run():
    @step
    def double(x: int) -> int:
        return 2 * x

    @pipeline(dynamic=True, on_start=notify_start, on_end=notify_end, enable_cache=False)
    def nightly():
        double(1)
        double(2)

    run = nightly()
    assert calls == ["start", "end:None"]
    kinds = [i.hook_type for i in Client().list_hook_invocations(pipeline_run_id=run.id)]
    assert kinds == ["run_start", "run_end"]


def test_run_hook_records_a_custom_invocation():
    def call_tool(name: str) -> str:
        return f"result of {name}"

    @step
    def agent_step() -> str:
        return run_hook(call_tool, "search")

    @pipeline
    def agent_pipeline():
        agent_step()

    run = agent_pipeline()
    assert run.steps["agent_step"].outputs["output"][0].load() == "result of search"
    invocations = Client().list_hook_invocations(pipeline_run_id=run.id, hook_type=HookType.CUSTOM)
    assert [(i.name.rsplit(".", 1)[-1], i.status) for i in invocations.items] == [
        ("call_tool", "completed")
    ]



def test_run_hook_outside_a_run_still_calls_and_logs_that_it_cannot_record(caplog):
    def call_tool(name: str) -> str:
        return f"result of {name}"

    with caplog.at_level(logging.ERROR, logger="fanflow"):
        assert run_hook(call_tool, "x") == "result of x"
    assert "Failed to record `custom` hook invocation" in caplog.text
    assert "inside a step or a dynamic pipeline" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="fanflow"):
        assert run_hook(call_tool, "y", track=False) == "result of y"
    assert caplog.text == ""


def test_run_hook_store_return_materializes_the_return_value():
    def call_tool(name: str) -> str:
        return f"result of {name}"

    def scores(values: list) -> Tuple[Annotated[int, "best"], Annotated[float, "mean"]]:
        return max(values), sum(values) / len(values)

    @step
    def agent_step() -> str:
        result = run_hook(call_tool, "search", store_return=True)
        run_hook(scores, kwargs={"values": [1, 2, 3]}, name="scoring", store_return=True)
        run_hook(call_tool, "plain")  # not stored
        return result

    @pipeline(enable_cache=False)
    def agent_pipeline():
        agent_step()

    run = agent_pipeline()
    assert run.steps["agent_step"].output.load() == "result of search"
    assert list(run.steps["agent_step"].outputs) == ["output"]  # hook outputs are not step outputs
    stored, scoring, plain = Client().list_hook_invocations(
        pipeline_run_id=run.id, hook_type=HookType.CUSTOM
    ).items
    assert list(stored.outputs) == ["output"]
    assert stored.outputs["output"][0].load() == "result of search"
    assert stored.step_run_id == run.steps["agent_step"].id
    assert scoring.name == "scoring"
    assert scoring.outputs["best"][0].load() == 3
    assert scoring.outputs["mean"][0].load() == 2.0
    assert plain.outputs == {}
    # as in ZenML, each output is a manually saved artifact named after the output
    assert Client().get_artifact_version("best").load() == 3


def test_run_hook_store_return_of_a_failing_or_mismatched_hook():
    def pair() -> Tuple[int, int]:
        return 1, 2, 3  # type: ignore[return-value]

    def boom() -> int:
        raise ValueError("tool broke")

    @step
    def agent_step() -> int:
        with pytest.raises(ValueError, match="returned 3 values"):
            run_hook(pair, store_return=True)
        with pytest.raises(ValueError, match="tool broke"):
            run_hook(boom, store_return=True)
        return 1

    @pipeline(enable_cache=False)
    def agent_pipeline():
        agent_step()

    run = agent_pipeline()
    mismatched, failed = Client().list_hook_invocations(pipeline_run_id=run.id).items
    assert mismatched.status == "completed" and mismatched.outputs == {}
    assert failed.status == "failed" and "tool broke" in failed.exception and not failed.outputs


def test_run_hook_in_a_dynamic_pipeline_function_records_with_the_run():
    def decide(n: int) -> int:
        return n * 10

    @step
    def echo(x: int) -> int:
        return x

    @pipeline(dynamic=True, enable_cache=False)
    def agent_run():
        value = run_hook(decide, 4, store_return=True)
        echo(value)

    run = agent_run()
    assert run.steps["echo"].output.load() == 40
    (invocation,) = Client().list_hook_invocations(
        pipeline_run_id=run.id, hook_type=HookType.CUSTOM
    ).items
    assert invocation.step_run_id is None
    assert invocation.outputs["output"][0].load() == 40


def _lines(path) -> list[str]:
    return path.read_text(encoding="utf-8").split() if path.exists() else []


@pytest.mark.slow
@pytest.mark.parametrize("how", ["sigterm", "fanflow runs stop"])
def test_on_pause_fires_when_the_run_stops_and_on_resume_when_it_resumes(
    how, fanflow_home, tmp_path, monkeypatch
):
    """Dynamic pipelines: `on_pause` "once when the run pauses", `on_resume` "once when a paused
    run resumes". fanflow's pause is the graceful stop (run status `stopped`), its resume is
    `run.resume()` / `fanflow runs resume`; `on_resume` fires before the resumed run's steps."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from click.testing import CliRunner

    from fanflow.cli.app import cli

    script = Path(__file__).parent / "scripts" / "pausable.py"
    ledger, release = tmp_path / "ledger.txt", tmp_path / "release"
    env = {**os.environ, "LEDGER": str(ledger), "RELEASE": str(release)}
    process = subprocess.Popen(
        [sys.executable, str(script)], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while "first" not in _lines(ledger) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert "first" in _lines(ledger), "the step never started"
        if how == "sigterm":
            process.send_signal(signal.SIGTERM)
            release.touch()
        else:
            name = Client().get_pipeline("pausable").last_run.name
            stopper = CliRunner().invoke(cli, ["runs", "stop", name, "--no-wait"])
            assert stopper.exit_code == 0, stopper.output
            release.touch()
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "RunStoppedError" in stderr
    stopped = Client().get_pipeline("pausable").last_run
    assert stopped.status == "stopped"
    assert _lines(ledger) == ["start", "first", "pause", "end"]
    paused = Client().list_hook_invocations(pipeline_run_id=stopped.id)
    kinds = [i.hook_type for i in paused]
    assert kinds == [HookType.RUN_START, HookType.RUN_PAUSE, HookType.RUN_END]
    assert paused[1].status == "completed" and paused[1].name.endswith("on_pause")

    ledger.unlink()
    monkeypatch.setenv("LEDGER", str(ledger))
    monkeypatch.setenv("RELEASE", str(release))
    monkeypatch.chdir(script.parent)  # `fanflow runs resume` imports the pipeline from here
    resumer = CliRunner().invoke(cli, ["runs", "resume", stopped.name], catch_exceptions=False)
    assert resumer.exit_code == 0, resumer.output
    assert _lines(ledger) == ["start", "resume", "second", "end"]  # `first` is reused
    resumed = Client().get_pipeline("pausable").last_run
    assert resumed.status == "completed"
    kinds = [i.hook_type for i in Client().list_hook_invocations(pipeline_run_id=resumed.id)]
    assert kinds == [HookType.RUN_START, HookType.RUN_RESUME, HookType.RUN_END]


def test_on_resume_skips_resumed_failed_runs_and_static_pipelines_ignore_pause_hooks(
    caplog,
):
    """Only a stopped (ZenML: paused) run's resume is a resume in ZenML's sense; a failed run
    resumed is a retry. ZenML ignores `on_pause`/`on_resume` on static pipelines."""
    fail = {"now": True}

    @step
    def flaky() -> int:
        if fail["now"]:
            raise ValueError("not yet")
        return 1

    @pipeline(
        dynamic=True,
        enable_cache=False,
        on_pause=lambda: calls.append("pause"),
        on_resume=lambda: calls.append("resume"),
    )
    def retried() -> None:
        flaky()

    with pytest.raises(RunFailedError) as failed:
        retried()
    fail["now"] = False
    Client().get_pipeline_run(failed.value.run_name).resume()
    assert calls == []

    with caplog.at_level(logging.WARNING, logger="fanflow"):

        @pipeline(on_pause=lambda: calls.append("pause"), on_resume=lambda: calls.append("resume"))
        def static_pipeline() -> None:
            flaky()

    assert "ignored on this static pipeline" in caplog.text
    static_pipeline()
    assert calls == []
