"""Examples of ZenML's "Dynamic pipelines" page, run with `zenml` -> `fanflow`."""

from __future__ import annotations

from pathlib import Path

from fanflow import pipeline, step, unmapped
from fanflow.client import Client


def test_basic_example_loads_an_artifact_and_loops():
    seen = []

    @step
    def generate_int() -> int:
        return 3

    @step
    def do_something(index: int) -> None:
        seen.append(index)

    @pipeline(dynamic=True)
    def dynamic_pipeline() -> None:
        count = generate_int()
        count_data = count.load()
        for idx in range(count_data):
            do_something(idx)

    run = dynamic_pipeline()
    assert sorted(seen) == [0, 1, 2]
    assert len(run.steps) == 4
    # As in ZenML, a plain value passed to a step call becomes an input artifact of the step.
    first = run.steps["do_something"]
    assert first.config.parameters == {}
    assert first.inputs["index"].load() == 0
    again = dynamic_pipeline()  # same values, same content: the steps are cache hits
    assert {s.status for s in again.steps.values()} == {"cached"}


def test_dynamic_step_configuration_and_runtime_options():
    @step(runtime="isolated")
    def some_step() -> int:
        return 1

    @step(runtime="inline")
    def another_step() -> int:
        return 2

    @pipeline(dynamic=True)
    def configured_pipeline():
        some_step.with_options(enable_cache=False)()
        another_step()

    run = configured_pipeline()
    assert run.steps["some_step"].config.enable_cache is False
    assert run.steps["another_step"].output.load() == 2


def test_map_reduce_over_collections():
    @step
    def producer() -> list[int]:
        return [1, 2, 3]

    @step
    def worker(value: int) -> int:
        return value * 2

    @step
    def reducer(values: list[int]) -> int:
        return sum(values)

    @pipeline(dynamic=True, enable_cache=False)
    def map_reduce():
        values = producer()
        results = worker.map(values)
        reducer(results)

    run = map_reduce()
    assert run.steps["reducer"].output.load() == 12


def test_product_unmapped_and_unpack():
    combos = []
    consumed = []

    @step
    def int_values() -> list[int]:
        return [1, 2]

    @step
    def str_values() -> list[str]:
        return ["a", "b", "c"]

    @step
    def combine(a: int, b: str) -> int:
        combos.append((a, b))
        return a

    @step
    def producer(length: int) -> list[int]:
        return [1] * length

    @step
    def consumer(a: int, b: list[int]) -> None:
        consumed.append(len(b))

    @step
    def create_int_list() -> list[int]:
        return [1, 2]

    @step
    def compute(a: int) -> tuple[int, int]:
        return a * 2, a * 3

    loaded = {}

    @pipeline(dynamic=True)
    def everything():
        combine.product(int_values(), str_values())
        a = producer(length=3)
        b = producer(length=4)
        consumer.map(a=a, b=unmapped(b))
        results = compute.map(a=create_int_list())
        double, triple = results.unpack()
        loaded["doubles"] = [f.load() for f in double]
        loaded["triples"] = [f.load() for f in triple]

    everything()
    assert sorted(combos) == [(1, "a"), (1, "b"), (1, "c"), (2, "a"), (2, "b"), (2, "c")]
    assert consumed == [4, 4, 4]
    assert loaded == {"doubles": [2, 4], "triples": [3, 6]}


def test_parallel_step_execution_with_submit():
    @step
    def some_step(arg: int) -> int:
        return arg * 2

    @step
    def downstream_step(value: int) -> int:
        return value + 1

    results = {}

    @pipeline(dynamic=True)
    def dynamic_pipeline():
        future = some_step.submit(arg=1)
        artifact = future.result()
        results["artifact_id"] = artifact.id
        results["data"] = future.load()
        downstream_step(future)
        for idx in range(3):
            some_step.submit(arg=idx)

    run = dynamic_pipeline()
    assert results["data"] == 2
    assert run.steps["downstream_step"].output.load() == 3
    assert len(run.steps) == 5


def test_config_templates_with_depends_on(tmp_path: Path):
    seen = []
    config = tmp_path / "config.yaml"
    config.write_text("steps:\n  some_step:\n    parameters:\n      arg: 3\n")

    @step
    def some_step(arg: int) -> None:
        seen.append(f"arg is {arg}")

    @pipeline(dynamic=True, depends_on=[some_step])
    def dynamic_pipeline():
        some_step()

    run = dynamic_pipeline.with_options(config_path=str(config))()
    assert seen == ["arg is 3"]
    assert Client().get_pipeline_run(run.id).steps["some_step"].config.parameters == {"arg": 3}


def test_step_resolve_names_the_source():
    @step
    def located() -> int:
        return 1

    source = located.resolve()
    assert source.module == __name__
    assert source.import_path.endswith("located")


def test_run_context_gives_the_active_run_in_the_function_and_run_hooks():
    """`DynamicPipelineRunContext.get().run` is the current run, in the pipeline function and
    in run-level hooks (which fire outside any step); outside a dynamic run `get()` is None."""
    from fanflow.execution.pipeline.dynamic.run_context import DynamicPipelineRunContext

    seen: dict[str, object] = {}

    def on_end():
        context = DynamicPipelineRunContext.get()
        assert context is not None
        seen["hook_run"] = context.run.id
        seen["hook_status"] = context.run.status

    @step
    def one() -> int:
        return 1

    @pipeline(
        dynamic=True,
        enable_cache=False,
        on_start=lambda: seen.update(start=DynamicPipelineRunContext.get().run.name),
        on_end=on_end,
    )
    def context_pipeline() -> None:
        context = DynamicPipelineRunContext.get()
        assert context is not None
        seen["pipeline"] = context.pipeline
        seen["function_run"] = context.run.id
        one()

    assert DynamicPipelineRunContext.get() is None
    run = context_pipeline()
    assert DynamicPipelineRunContext.get() is None
    assert seen["function_run"] == run.id == seen["hook_run"]
    assert seen["start"] == run.name
    assert seen["pipeline"] is context_pipeline
    assert seen["hook_status"] == "completed"  # on_end fires once the run is terminal

    @pipeline
    def static_pipeline() -> None:
        seen["static"] = DynamicPipelineRunContext.get()
        one()

    static_pipeline()
    assert seen["static"] is None


def test_chunk_wires_one_item_of_a_sequence_output_to_a_downstream_step():
    """`.load()` materializes for control flow, `.chunk(index=idx)` wires one item of a
    sequence-like artifact to a downstream step (the step gets the item, not the list)."""
    import pytest

    @step
    def make_specs() -> list[str]:
        return ["a", "bb", "ccc"]

    @step
    def pair() -> tuple[int, int]:
        return 1, 2

    @step
    def process(spec: str) -> int:
        return len(spec)

    @step
    def total(lengths: list[int]) -> int:
        return sum(lengths)

    errors: dict[str, str] = {}

    @pipeline(dynamic=True, enable_cache=False)
    def chunked() -> None:
        specs = make_specs()
        lengths = [process(specs.chunk(index=idx)) for idx in range(len(specs.load()))]
        total(lengths)
        first = specs.chunk(0)
        assert first.load() == "a"
        for bad, kind in ((3, ValueError), (-1, ValueError), ("0", TypeError)):
            with pytest.raises(kind) as raised:
                specs.chunk(bad)
            errors[repr(bad)] = str(raised.value)
        scalar = process(first)
        with pytest.raises(ValueError) as raised:
            scalar.chunk(0)
        errors["scalar"] = str(raised.value)
        with pytest.raises(ValueError):
            pair.submit().chunk(0)
        assert make_specs.submit().chunk(index=2).load() == "ccc"  # a future waits, then chunks
        assert make_specs.submit()[0].chunk(1).load() == "bb"

    run = chunked()
    assert run.steps["total"].output.load() == 6
    assert [run.steps[f"process_{i}"].output.load() for i in (2, 3)] == [2, 3]
    assert run.steps["process"].inputs["spec"].load() == "a"
    assert errors["3"] == (
        "Chunk index `3` out of range for output artifact `output` of step `make_specs` (3 items)."
    )
    assert "can not be chunked" in errors["scalar"]
