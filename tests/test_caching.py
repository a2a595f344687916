"""Caching: on by default, keyed on code, parameters, input content and output config."""

from __future__ import annotations

import pytest

from fanflow import pipeline, step

CALLS: list[str] = []


@step
def load(n: int) -> list[int]:
    CALLS.append("load")
    return list(range(n))


@step
def total(values: list[int], offset: int = 0) -> int:
    CALLS.append("total")
    return sum(values) + offset


@pipeline
def cached_pipeline(n: int = 3, offset: int = 0):
    total(load(n), offset=offset)


@pytest.fixture(autouse=True)
def _reset_calls():
    CALLS.clear()


def test_identical_rerun_is_cached_and_runs_no_body():
    first = cached_pipeline()
    assert CALLS == ["load", "total"] and first.status == "completed"
    CALLS.clear()
    second = cached_pipeline()
    assert CALLS == []
    assert second.status == "completed"  # as in ZenML: the run completed, its steps are cached
    assert {s.status for s in second.steps.values()} == {"cached"}
    cached_total = second.steps["total"]
    assert cached_total.output.load() == 3
    assert cached_total.output.id == first.steps["total"].output.id
    assert cached_total.original_step_run_id == first.steps["total"].id


def test_changing_a_parameter_reruns_that_step_and_dependents_and_back_hits_cache():
    cached_pipeline(n=3)
    CALLS.clear()
    cached_pipeline(n=4)
    assert CALLS == ["load", "total"]
    CALLS.clear()
    run = cached_pipeline(n=3)
    assert CALLS == []
    assert run.steps["total"].output.load() == 3


def test_changing_only_a_downstream_parameter_keeps_upstream_cached():
    cached_pipeline(offset=0)
    CALLS.clear()
    run = cached_pipeline(offset=10)
    assert CALLS == ["total"]
    assert run.steps["load"].status == "cached" and run.steps["total"].status == "completed"


def test_redefining_a_steps_code_reruns_it_while_upstream_stays_cached():
    global total
    cached_pipeline()
    original = total

    @step(name="total")
    def total(values: list[int], offset: int = 0) -> int:
        CALLS.append("total v2")
        return sum(values) * 100 + offset

    try:

        @pipeline(name="cached_pipeline")
        def redefined(n: int = 3, offset: int = 0):
            total(load(n), offset=offset)

        CALLS.clear()
        run = redefined()
        assert CALLS == ["total v2"]
        assert run.steps["load"].status == "cached"
        assert run.steps["total"].output.load() == 300
    finally:
        total = original


def test_pipeline_name_is_not_part_of_the_key():
    cached_pipeline()

    @pipeline(name="another_name")
    def other(n: int = 3, offset: int = 0):
        total(load(n), offset=offset)

    CALLS.clear()
    run = other()
    assert CALLS == []
    assert run.status == "completed"
    assert {s.status for s in run.steps.values()} == {"cached"}


def test_enable_cache_false_on_pipeline_or_step():
    cached_pipeline()
    CALLS.clear()
    cached_pipeline.with_options(enable_cache=False)()
    assert CALLS == ["load", "total"]

    uncached_total = total.with_options(enable_cache=False)

    @pipeline
    def partly(n: int = 3):
        uncached_total(load(n))

    CALLS.clear()
    partly()
    assert CALLS == ["total"]


def test_step_setting_wins_over_pipeline_setting():
    forced = total.with_options(enable_cache=True)

    @pipeline(enable_cache=False)
    def mostly_uncached(n: int = 3):
        forced(load(n))

    mostly_uncached()
    CALLS.clear()
    mostly_uncached()
    assert CALLS == ["load"]


def test_cache_miss_when_cached_artifact_files_are_gone():
    import shutil

    first = cached_pipeline(n=30_000)  # `load`'s list is beyond the inline limit: a folder
    assert not first.steps["load"].output.is_inline
    shutil.rmtree(first.steps["load"].output.uri)
    CALLS.clear()
    run = cached_pipeline(n=30_000)
    assert CALLS == ["load"]  # `total`'s inputs are the same content again: still cached
    assert run.steps["load"].output.load() == list(range(30_000))
    assert run.steps["total"].output.load() == sum(range(30_000))


def test_a_small_output_is_cached_without_any_files():
    first = cached_pipeline()
    output = first.steps["total"].output
    assert output.is_inline
    CALLS.clear()
    second = cached_pipeline()
    assert CALLS == []
    assert second.steps["total"].output.id == output.id
    assert second.steps["total"].output.load() == 3
