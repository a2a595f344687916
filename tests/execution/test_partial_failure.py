"""Partial failure of a fan-out: a map that tolerates failed branches, and its fan-in."""

from __future__ import annotations

import pytest

from fanflow import MapResults, pipeline, step
from fanflow.client import Client
from fanflow.config.retry_config import StepRetryConfig
from fanflow.exceptions import RunFailedError

SOURCES = ["orders.csv", "customers.csv", "broken.csv", "invoices.csv"]


@step(enable_cache=False, allow_failures=True)
def validate(source: str) -> str:
    if "broken" in source:
        raise ValueError(f"{source}: 3 rows have no id")
    return source


@step(enable_cache=False)
def report(valid: list[str], sources: list[str]) -> str:
    assert isinstance(valid, MapResults)
    bad = [sources[i] for i in valid.failed_indices]
    return f"{len(valid)} valid; bad: {', '.join(bad)}"


@pipeline(enable_cache=False)
def validate_sources():
    report(validate.map(SOURCES), SOURCES)


def test_data_validation_report_names_the_bad_source():
    run = validate_sources()
    assert run.status == "completed"
    assert run.steps["report"].output.load() == "3 valid; bad: broken.csv"
    statuses = {name: view.status for name, view in run.steps.items()}
    assert statuses["map:validate:2"] == "failed"
    assert [statuses[f"map:validate:{i}"] for i in (0, 1, 3)] == ["completed"] * 3
    assert run.run_metadata["map_success_ratio"] == {"validate": 0.75}
    assert "3 rows have no id" in run.steps["map:validate:2"].exception_info.message


@step(enable_cache=False)
def check(x: int) -> int:
    if x % 4 == 0:
        raise ValueError(f"bad item {x}")
    return x


@step(enable_cache=False)
def total(values: list[int]) -> str:
    return f"{sum(values)} without {list(values.failed_indices)}"


@pipeline(enable_cache=False)
def ratio_per_call(ratio: float = 0.7):
    total(check.with_options(min_success_ratio=ratio).map(list(range(1, 9))))


def test_with_options_sets_the_ratio_per_call_and_the_fan_in_gets_values_in_index_order():
    run = ratio_per_call(ratio=0.75)  # 2 of 8 fail: exactly 0.75
    assert run.steps["total"].output.load() == f"{sum(range(1, 9)) - 4 - 8} without [3, 7]"


def test_below_the_ratio_the_run_fails_and_says_the_ratio_reached():
    expected = r"2 of 8 branches failed; success ratio 75% is below min_success_ratio=0.9"
    with pytest.raises(RunFailedError, match=expected):
        ratio_per_call(ratio=0.9)
    run = Client().get_pipeline("ratio_per_call").last_run
    assert run.status == "failed"
    assert run.steps["total"].status == "skipped"


attempts: dict[int, int] = {}


@step(enable_cache=False, min_success_ratio=1.0, retry=StepRetryConfig(max_retries=2))
def flaky(x: int) -> int:
    attempts[x] = attempts.get(x, 0) + 1
    if attempts[x] < 3:
        raise RuntimeError("not yet")
    return x


@pipeline(enable_cache=False)
def retried():
    total(flaky.map([1, 2]))


def test_retries_count_before_a_branch_counts_as_failed():
    attempts.clear()
    run = retried()
    assert run.status == "completed" and attempts == {1: 3, 2: 3}
    assert run.steps["total"].output.load() == "3 without []"


@step(enable_cache=False)
def shards(n: int) -> list[int]:
    return list(range(n))


@pipeline(dynamic=True, enable_cache=False)
def dynamic_validation(n: int = 8):
    results = check.with_options(allow_failures=True).map(shards(n))
    total(results)


def test_dynamic_maps_tolerate_failed_branches_too():
    run = dynamic_validation(n=8)  # items 0 and 4 fail
    assert run.status == "completed"
    assert run.steps["total"].output.load() == f"{sum(range(8)) - 4} without [0, 4]"
    assert run.steps["map:check:0"].status == "failed"


def test_bad_ratios_are_rejected_at_definition():
    with pytest.raises(ValueError, match=r"min_success_ratio= must be a number with 0 < r <= 1"):
        check.with_options(min_success_ratio=0)
    with pytest.raises(ValueError, match="allow_failures= must be True or False"):
        check.with_options(allow_failures="yes")
