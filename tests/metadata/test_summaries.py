"""Run summaries, branch pages, timelines and change cursors, read from real recorded runs."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from fanflow import pipeline, step, unmapped
from fanflow.client import Client
from fanflow.metadata import summaries as S
from fanflow.metadata.sqltime import seconds_between
from fanflow.metadata.store import MetadataStore


@step(enable_cache=False)
def make_items(n: int) -> list[int]:
    return list(range(n))


@step(enable_cache=False)
def make_factor() -> int:
    return 2


@step(enable_cache=False)
def work(item: int, factor: int) -> int:
    if item in (4, 11):
        raise ValueError(f"item {item} is bad\nsecond line")
    time.sleep(0.001 * (item % 5))
    return item * factor


@step(enable_cache=False)
def add_up(values: list[int]) -> int:
    return sum(values)


@pipeline(enable_cache=False)
def mapped(n: int = 30) -> None:
    """Static: every branch runs although two fail (continue_on_failure), so counts are exact."""
    add_up(work.map(list(range(n)), factor=unmapped(make_factor())))


@step
def cheap(item: int) -> int:
    return item + 1


@step
def first() -> int:
    return 1


@pipeline
def cached_map() -> None:
    first()
    cheap.map([1, 2, 3, 4])


def _store() -> MetadataStore:
    return Client()._store


def _run_failing_map(n: int = 30) -> str:
    with pytest.raises(Exception, match="work"):
        mapped(n=n)
    return Client().list_pipeline_runs(size=1)[0].id.hex


def test_node_summaries_collapse_a_map_into_one_node_with_counts_and_errors() -> None:
    run_id = _run_failing_map()
    nodes = S.node_summaries(_store().engine, run_id)
    assert [n.key for n in nodes] == ["make_factor", "map:work", "add_up"]
    group = nodes[1]
    assert group.kind == "map" and group.name == "work" and group.step_name == "work"
    assert group.total == 30
    assert group.counts == {"completed": 28, "failed": 2}
    assert group.status == "failed"
    assert group.done == 30
    assert group.first_error in ("ValueError: item 4 is bad", "ValueError: item 11 is bad")
    assert group.first_error_step in ("map:work:4", "map:work:11")
    assert group.max_duration is not None and group.p50_duration is not None
    assert 0 <= group.p50_duration <= group.max_duration
    assert group.upstream == ("make_factor",)
    assert nodes[2].upstream == ("map:work",)
    assert nodes[2].status == "skipped"
    assert nodes[0].kind == "step" and nodes[0].step_run_id is not None
    assert nodes[0].to_dict()["counts"] == {"completed": 1}


def test_p50_and_max_duration_match_the_branches(client: Client) -> None:
    run_id = _run_failing_map(12)
    run = client.get_pipeline_run(run_id)
    durations = sorted(
        (s.end_time - s.start_time).total_seconds()
        for s in run.steps.values()
        if s.map_group == "work" and s.status in ("completed", "failed")
    )
    group = S.node_summaries(_store().engine, run_id)[1]
    assert group.max_duration == pytest.approx(durations[-1], abs=1e-6)
    assert group.p50_duration == pytest.approx(durations[(len(durations) - 1) // 2], abs=1e-6)


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2026-11-30 23:25:26.016510", "2026-11-30 23:25:26.016701"),  # 191 microseconds
        ("2026-11-30 23:25:26.999900", "2026-11-30 23:25:27.000100"),  # across a second
        ("2026-11-30 23:59:59.999999", "2026-12-01 00:00:00.000002"),  # across a day
        ("2026-11-30 10:00:00.000000", "2026-11-30 12:30:00.250000"),
    ],
)
def test_durations_in_sql_are_exact_to_the_microsecond(start: str, end: str) -> None:
    from datetime import datetime

    from sqlalchemy import DateTime, literal, select

    a, b = datetime.fromisoformat(start), datetime.fromisoformat(end)
    engine = _store().engine
    with engine.connect() as conn:
        between = conn.execute(
            select(seconds_between(literal(a, DateTime), literal(b, DateTime)))
        ).scalar()
        epoch = conn.execute(select(S.epoch_seconds(literal(b, DateTime)))).scalar()
        after = conn.execute(select(S.after(literal(b, DateTime), a))).scalar()
    assert after == pytest.approx((b - a).total_seconds(), abs=1e-6)
    assert between == pytest.approx((b - a).total_seconds(), abs=1e-6)
    assert epoch == pytest.approx((b - datetime(1970, 1, 1)).total_seconds(), abs=1e-6)


def test_cached_branches_are_counted() -> None:
    cached_map()
    cached_map()
    run_id = Client().list_pipeline_runs(size=1)[0].id.hex
    nodes = {n.key: n for n in S.node_summaries(_store().engine, run_id)}
    assert nodes["map:cheap"].cached == 4
    assert nodes["map:cheap"].status == "cached"
    assert nodes["first"].cached == 1


def test_branch_pages_sort_filter_and_count() -> None:
    run_id = _run_failing_map()
    engine = _store().engine
    page = S.list_branches(engine, run_id, "map:work", page=2, size=7)
    assert page.total == 30
    assert [r.map_index for r in page.rows] == list(range(7, 14))
    desc = S.list_branches(engine, run_id, "work", size=3, descending=True)
    assert [r.map_index for r in desc.rows] == [29, 28, 27]
    failed = S.list_branches(engine, run_id, "work", status="failed")
    assert failed.total == 2
    assert [r.map_index for r in failed.rows] == [4, 11]
    assert failed.rows[0].error == "ValueError: item 4 is bad"
    by_status = S.list_branches(engine, run_id, "work", sort="status", size=30)
    assert [r.status for r in by_status.rows[:28]] == ["completed"] * 28
    assert [r.map_index for r in by_status.rows[28:]] == [4, 11]
    by_duration = S.list_branches(engine, run_id, "work", sort="duration", descending=True, size=30)
    durations = [r.duration for r in by_duration.rows]
    assert all(d is not None for d in durations)
    assert durations == sorted(durations, reverse=True)
    last = S.list_branches(engine, run_id, "work", page=5, size=7)
    assert [r.map_index for r in last.rows] == [28, 29]
    assert S.list_branches(engine, run_id, "work", page=9, size=7).rows == []


def test_branch_pages_reject_bad_arguments() -> None:
    run_id = _run_failing_map(5)
    with pytest.raises(ValueError, match="sort must be one of"):
        S.list_branches(_store().engine, run_id, "work", sort="name")
    with pytest.raises(ValueError, match="positive"):
        S.list_branches(_store().engine, run_id, "work", page=0)


def test_unknown_run_is_a_clear_error() -> None:
    _run_failing_map(5)
    with pytest.raises(KeyError, match="No pipeline run"):
        S.node_summaries(_store().engine, "0" * 32)


def test_timeline_lists_bars_for_small_groups_and_buckets_for_large_ones() -> None:
    run_id = _run_failing_map(30)
    engine = _store().engine
    full = S.timeline(engine, run_id, max_bars=100)
    lanes = {lane.key: lane for lane in full.lanes}
    assert len(lanes["map:work"].bars) == 30
    name, status, start, end = lanes["map:work"].bars[4]
    assert (name, status) == ("map:work:4", "failed")
    assert start is not None and end is not None and 0 <= start <= end <= full.span
    assert S.timeline(engine, run_id, max_bars=100) is full  # a finished run's is kept
    bucketed = S.timeline(engine, run_id, max_bars=10, buckets=8)
    lane = {lane.key: lane for lane in bucketed.lanes}["map:work"]
    assert lane.bars == []
    assert len(lane.started) == len(lane.finished) == len(lane.running) == 8
    assert sum(lane.started) == 30 and sum(lane.finished) == 30
    # Branch-seconds per slice add up to the branches' total running time.
    ran = S.list_branches(engine, run_id, "work", size=30).rows
    total_busy = sum((r.end_time - r.start_time).total_seconds() for r in ran)
    assert sum(lane.running) * lane.bucket_width == pytest.approx(total_busy, rel=0.05, abs=1e-3)
    assert max(lane.running) > 0
    assert lane.bucket_width == pytest.approx(bucketed.span / 8)
    assert bucketed.to_dict()["lanes"][0]["key"] == "make_factor"


gate = threading.Event()


@step(enable_cache=False)
def wait_for_gate(item: int) -> int:
    if item >= 3:
        assert gate.wait(60)
    return item


@pipeline(dynamic=True, enable_cache=False)
def gated(n: int = 6) -> None:
    items = make_items(n)
    wait_for_gate.map(items)


def _wait_for(predicate, timeout: float = 60.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def test_changes_since_sends_only_what_changed(fanflow_home: Path) -> None:
    gate.clear()
    worker = threading.Thread(target=gated, kwargs={"n": 6}, daemon=True)
    worker.start()
    store = _store()

    def three_done():  # type: ignore[no-untyped-def]
        runs = Client().list_pipeline_runs(size=1)
        if not runs:
            return None
        changes = S.changes_since(store.engine, runs[0].id.hex)
        nodes = {n.key: n for n in changes.nodes}
        group = nodes.get("map:wait_for_gate")
        if group and group.counts.get("completed") == 3 and group.counts.get("running") == 3:
            return runs[0].id.hex, changes
        return None

    run_id, first = _wait_for(three_done)
    assert first.complete and first.run_status == "running"
    assert {n.key for n in first.nodes} == {"make_items", "map:wait_for_gate"}
    assert first.nodes[1].status == "running"
    assert first.nodes[1].upstream == ("make_items",)  # through the split items
    quiet = S.changes_since(store.engine, run_id, first.cursor)
    assert quiet.nodes == [] and not quiet.complete and quiet.run_status == "running"
    gate.set()
    worker.join(60)
    final = S.changes_since(store.engine, run_id, quiet.cursor)
    assert final.run_status == "completed"
    assert [n.key for n in final.nodes] == ["map:wait_for_gate"]
    assert final.nodes[0].counts == {"completed": 6}
    assert S.changes_since(store.engine, run_id, "not a cursor").complete


def test_existing_store_gets_the_group_indexes(fanflow_home: Path) -> None:
    from sqlalchemy import inspect, text

    from fanflow.metadata.engine import dispose_all, get_engine

    _run_failing_map(5)
    url = f"sqlite:///{fanflow_home / 'fanflow.db'}"
    with get_engine(url).connect() as conn:
        conn.execute(text("DROP INDEX ix_step_runs_group_index"))
        conn.execute(text("DROP INDEX ix_step_runs_group_times"))
        conn.execute(text("DROP INDEX ix_step_run_inputs_artifact"))
        # a store from before the migration that adds these indexes
        conn.execute(text("UPDATE alembic_version SET version_num = '0002_artifact_size_bigint'"))
        conn.commit()
    dispose_all()
    with get_engine(url).connect() as conn:
        names = {ix["name"] for ix in inspect(conn).get_indexes("step_runs")}
        input_indexes = {ix["name"] for ix in inspect(conn).get_indexes("step_run_inputs")}
    assert {"ix_step_runs_group_index", "ix_step_runs_group_times"} <= names
    assert "ix_step_run_inputs_artifact" in input_indexes


KILLED_RUN = """
import os, sys, time
from fanflow import pipeline, step, unmapped

@step(enable_cache=False)
def slow(i: int, gate: str) -> int:
    while i >= 2 and not os.path.exists(gate):
        time.sleep(0.05)
    return i

@step(enable_cache=False)
def after(values: list[int]) -> int:
    return sum(values)

@pipeline(enable_cache=False, max_parallelism=2)
def planned(gate: str) -> None:
    after(slow.map([0, 1, 2, 3, 4, 5], gate=unmapped(gate)))

planned(gate=sys.argv[1])
"""


def test_planned_steps_and_a_dead_orchestrator_are_shown_as_the_client_shows_them(
    fanflow_home: Path, tmp_path: Path
) -> None:
    import os
    import subprocess
    import sys

    from fanflow.metadata.liveness import as_seen

    env = {**os.environ, "FANFLOW_HOME": str(fanflow_home)}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(tmp_path / "never")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def two_done():  # type: ignore[no-untyped-def]
            runs = Client().list_pipeline_runs(size=1)
            if not runs:
                return None
            nodes = {n.key: n for n in S.node_summaries(_store().engine, runs[0].id.hex)}
            group = nodes.get("map:slow")
            if group and group.counts.get("completed") == 2 and group.counts.get("running"):
                return runs[0].id.hex, nodes
            return None

        run_id, nodes = _wait_for(two_done)
        # The downstream step is planned but not recorded yet: it waits, with its upstream.
        assert nodes["after"].status == "initializing"
        assert nodes["after"].upstream == ("map:slow",)
        assert nodes["after"].step_run_id is None
        assert nodes["map:slow"].total == 6
        assert sum(nodes["map:slow"].counts.values()) == 6
    finally:
        proc.kill()
        proc.wait(30)
    run = as_seen(_store().get_run(run_id))
    assert run.status == "failed"  # its orchestrator is gone
    seen = {
        n.key: n for n in S.as_seen_nodes(S.node_summaries(_store().engine, run_id), run.status)
    }
    assert seen["after"].status == "skipped"
    group = seen["map:slow"]
    assert group.counts.get("running", 0) == 0 and group.counts.get("initializing", 0) == 0
    assert group.counts["completed"] == 2 and group.status == "failed"
    assert sum(group.counts.values()) == 6
