"""The Client: lookups by name, id and prefix; listings; views that load artifacts."""

from __future__ import annotations

import uuid

import pytest

from fanflow import pipeline, step
from fanflow.client import Client
from fanflow.exceptions import DoesNotExistError

# Every test here runs against SQLite and against PostgreSQL (tests/services.py).
pytestmark = pytest.mark.usefixtures("metadata_backend")


@step(enable_cache=False)
def make(x: int) -> int:
    return x


@step(enable_cache=False)
def fails() -> int:
    raise RuntimeError("nope")


@pipeline(enable_cache=False)
def simple(x: int = 1):
    make(x)


@pipeline(enable_cache=False)
def broken():
    fails()


def test_get_pipeline_runs_newest_first_and_last_runs():
    runs = [simple(x=i) for i in range(3)]
    with pytest.raises(RuntimeError):
        broken()
    pipeline_view = Client().get_pipeline("simple")
    assert [r.id for r in pipeline_view.runs] == [r.id for r in reversed(runs)]
    assert pipeline_view.last_run.id == runs[-1].id
    assert pipeline_view.last_successful_run.id == runs[-1].id
    assert pipeline_view.num_runs == 3
    broken_view = Client().get_pipeline("broken")
    assert broken_view.last_run.status == "failed"
    with pytest.raises(RuntimeError, match="no successful runs"):
        _ = broken_view.last_successful_run


def test_get_pipeline_run_by_name_id_and_prefix():
    run = simple()
    client = Client()
    assert client.get_pipeline_run(run.name).id == run.id
    assert client.get_pipeline_run(run.id).id == run.id
    assert client.get_pipeline_run(str(run.id)).id == run.id
    assert client.get_pipeline_run(run.id.hex[:10]).id == run.id
    assert isinstance(run.id, uuid.UUID)
    with pytest.raises(KeyError):
        client.get_pipeline_run("does-not-exist")


def test_ambiguous_prefix_asks_for_more_characters():
    simple.with_options(run_name="shared_a")()
    simple.with_options(run_name="shared_b")()
    with pytest.raises(KeyError, match="more characters"):
        Client().get_pipeline_run("shared_")


def test_list_pipeline_runs_filters_and_pages():
    for i in range(5):
        simple(x=i)
    with pytest.raises(RuntimeError):
        broken()
    client = Client()
    everything = client.list_pipeline_runs()
    assert everything.total == 6
    failed = client.list_pipeline_runs(status="failed")
    assert [r.status for r in failed] == ["failed"]
    page_1 = client.list_pipeline_runs(pipeline_name="simple", size=2, page=1)
    page_3 = client.list_pipeline_runs(pipeline_name="simple", size=2, page=3)
    assert page_1.total == 5 and len(page_1) == 2 and len(page_3) == 1
    assert page_1.total_pages == 3
    oldest_first = client.list_pipeline_runs(pipeline_name="simple", sort_by="asc:created", size=10)
    assert [r.config.parameters["x"] for r in oldest_first] == [0, 1, 2, 3, 4]
    assert client.list_pipeline_runs(pipeline_name="nothing_here").total == 0


def test_list_pipelines_and_missing_pipeline():
    simple()
    with pytest.raises(RuntimeError):
        broken()
    names = {p.name for p in Client().list_pipelines()}
    assert names == {"simple", "broken"}
    with pytest.raises(DoesNotExistError):
        Client().get_pipeline("absent")


def test_artifact_versions_number_per_name_and_newest_by_default():
    for i in range(3):
        simple(x=i * 10)
    client = Client()
    name = "simple::make::output"
    newest = client.get_artifact_version(name)
    assert newest.version == "3" and newest.load() == 20
    assert client.get_artifact_version(name, version="1").load() == 0
    assert client.get_artifact_version(name, version=2).load() == 10
    assert [v.version for v in client.list_artifact_versions(name=name)] == ["1", "2", "3"]
    by_id = client.get_artifact_version(str(newest.id))
    assert by_id.version == "3"
    assert newest.data_type == "builtins.int"
    assert newest.producer_step.name == "make"
    assert newest.run.name == client.get_pipeline("simple").last_run.name
    assert newest.size > 0 and len(newest.content_hash) == 64


def test_step_run_views():
    run = simple(x=5)
    view = run.steps["make"]
    assert view.name == "make" and view.status == "completed"
    assert view.config.parameters == {"x": 5}
    assert view.inputs == {}
    with pytest.raises(ValueError, match="no inputs"):
        _ = view.input
    assert view.start_time <= view.end_time
    assert view.pipeline_run.id == run.id
    assert Client().get_run_step(view.id).name == "make"


def test_client_reads_a_run_from_inside_its_own_step():
    seen = {}

    @step(enable_cache=False)
    def first() -> str:
        return "a"

    @step(enable_cache=False)
    def reader(x: str) -> None:
        from fanflow import get_step_context

        run = Client().get_pipeline_run(get_step_context().pipeline_run.name)
        seen["status"] = run.status
        seen["first"] = run.steps["first"].output.load()
        seen["self"] = run.steps["reader"].status

    @pipeline(enable_cache=False)
    def introspective():
        reader(first())

    introspective()
    assert seen == {"status": "running", "first": "a", "self": "running"}


def test_run_steps_behaves_like_a_read_only_dict():
    run = simple(x=3)
    steps = run.steps
    assert len(steps) == 1 and "make" in steps and "nope" not in steps
    assert list(steps) == ["make"] and list(dict(steps)) == ["make"]
    assert steps["make"].output.load() == 3
    assert [name for name, _ in steps.items()] == ["make"]
    assert steps.get("nope") is None
    with pytest.raises(KeyError):
        _ = steps["nope"]


@pipeline(dynamic=True, enable_cache=False)
def mapped(n: int = 30):
    make.map(list(range(n)))


def test_looking_up_one_step_reads_only_that_step(monkeypatch):
    """`run.steps[name]` on a wide run reads one step: the listing order (every step's row) is
    read only for a listing or a miss."""
    run = mapped(n=30)
    client = Client()
    store = client._store
    listings: list[str] = []
    for method in ("step_positions", "step_graph", "get_steps"):
        real = getattr(store, method)

        def counted(*args, _real=real, _name=method, **kwargs):
            listings.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(store, method, counted)
    steps = client.get_pipeline_run(run.id).steps
    assert steps["map:make:29"].output.load() == 29
    assert listings == []
    with pytest.raises(KeyError, match="Did you mean"):
        _ = steps["map:make:290"]
    assert listings == ["step_positions"]
    assert list(steps)[-1] == "map:make:29" and listings == ["step_positions"]


@step(enable_cache=False)
def add_up(values: list[int]) -> int:
    return sum(values)


@pipeline(dynamic=True, enable_cache=False)
def mapped_and_reduced(n: int = 30):
    add_up(make.map(list(range(n))))


def test_a_fan_ins_output_is_read_without_its_input_links_which_load_when_asked():
    """A fan-in over a million branches has a million input links: looking it up by name and
    loading its output reads none of them; `.inputs` reads them on first use."""
    from sqlalchemy import event

    run = mapped_and_reduced(n=30)
    client = Client()
    link_reads: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        if "step_run_inputs" in statement:
            link_reads.append(statement)

    engine = client._store.engine
    event.listen(engine, "before_cursor_execute", note)
    try:
        fan_in = client.get_pipeline_run(run.id).steps["add_up"]
        assert fan_in.output.load() == sum(range(30))
        assert link_reads == []
        values = fan_in.inputs["values"]
        assert [av.load() for av in values] == list(range(30))
        assert len(link_reads) == 1
        _ = fan_in.inputs  # read once per view
        assert len(link_reads) == 1
        with pytest.raises(ValueError, match="multiple inputs"):
            _ = fan_in.input  # thirty linked artifacts: ambiguous, as in ZenML
    finally:
        event.remove(engine, "before_cursor_execute", note)


def test_resume_goes_through_the_launcher_seam_the_package_registers():
    """The Client imports no launcher: `run.resume()` calls what `fanflow` registered."""
    import fanflow
    from fanflow.client import resuming

    @step(enable_cache=False)
    def failing() -> int:
        raise ValueError("boom")

    @pipeline(enable_cache=False)
    def seam_check():
        failing()

    with pytest.raises(Exception, match="boom"):
        seam_check()
    run = Client().get_pipeline("seam_check").last_run
    seen = []
    previous = resuming.register_resumer(lambda view: seen.append(view.name) or view)
    try:
        assert previous is fanflow._resume_run
        assert run.resume() is run
        assert seen == [run.name]
    finally:
        resuming.register_resumer(previous)
