"""The index on branch durations (migration 0004): an older store gets it when opened, the reads
by duration use it on SQLite and PostgreSQL, and pages sorted by duration come out exactly as a
sort of the branches in Python would give them (ties by index, unfinished branches last)."""

from __future__ import annotations

import importlib.util
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import bindparam, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.schema import CreateIndex

from fanflow import pipeline, step, unmapped
from fanflow.client import Client
from fanflow.config import load_settings
from fanflow.metadata import revisions
from fanflow.metadata import schema as t
from fanflow.metadata import summaries as S
from fanflow.metadata.engine import dispose_all, get_engine

pytestmark = pytest.mark.usefixtures("metadata_backend")

INDEX = "ix_step_runs_group_duration"
MIGRATION = (
    Path(S.__file__).parent / "migration_scripts" / "versions" / "r0006_dashboard_indexes.py"
)


@step(enable_cache=False)
def work(item: int, factor: int) -> int:
    return item * factor


@pipeline(enable_cache=False)
def mapped(n: int = 40) -> None:
    work.map(list(range(n)), factor=unmapped(2))


def _migration() -> object:
    spec = importlib.util.spec_from_file_location("r0004", MIGRATION)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_migration_writes_the_expression_the_reads_use() -> None:
    """SQLite serves a query from an index on an expression only if it is the same expression:
    the migration's text must stay what `sqltime.seconds_between` compiles to."""
    index = next(ix for ix in t.step_runs.indexes if ix.name == INDEX)
    written = _migration().DURATION_SQL  # type: ignore[attr-defined]
    for name, dialect in (("sqlite", sqlite.dialect()), ("postgresql", postgresql.dialect())):
        ddl = str(CreateIndex(index).compile(dialect=dialect))
        assert ddl == (
            f"CREATE INDEX {INDEX} ON step_runs (run_id, map_group, {written[name]}, "
            "map_index, status, start_time, end_time)"
        )


def _set_durations(url: str, run_id: str, seconds: dict[int, float | None]) -> None:
    """Give branch i the duration seconds[i] (None: still running, no end)."""
    origin = datetime(2026, 1, 2, 3, 4, 5)
    rows = [
        {
            "b_index": i,
            "b_start": origin + timedelta(seconds=i),
            "b_end": None if d is None else origin + timedelta(seconds=i + d),
            "b_status": "running" if d is None else "completed",
        }
        for i, d in seconds.items()
    ]
    sr = t.step_runs
    with get_engine(url).connect() as conn:
        conn.execute(
            update(sr)
            .where(sr.c.run_id == run_id, sr.c.map_index == bindparam("b_index"))
            .values(
                start_time=bindparam("b_start"),
                end_time=bindparam("b_end"),
                status=bindparam("b_status"),
            ),
            rows,
        )
        conn.commit()


def _older_store(url: str) -> None:
    """The store as the revision before 0006_dashboard_indexes left it: no duration index."""
    before = revisions.KNOWN[revisions.KNOWN.index("0006_dashboard_indexes") - 1]
    with get_engine(url).connect() as conn:
        conn.execute(text(f"DROP INDEX {INDEX}"))
        conn.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": before})
        conn.commit()
    dispose_all()


def _plan(url: str, run_id: str, descending: bool) -> str:
    by = [S.DURATION.desc(), t.step_runs.c.map_index.desc()] if descending else [S.DURATION]
    query = (
        select(t.step_runs.c.map_index)
        .where(
            t.step_runs.c.run_id == run_id,
            t.step_runs.c.map_group == "work",
            S.DURATION.is_not(None),
        )
        .order_by(*by)
        .limit(5)
        .offset(10)
    )
    engine = get_engine(url)
    sql = str(query.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return " ".join(
                str(row[-1]) for row in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)
            )
        conn.exec_driver_sql("SET enable_seqscan = off")  # 40 rows: make the choice visible
        conn.exec_driver_sql("SET enable_sort = off")
        return " ".join(str(row[0]) for row in conn.exec_driver_sql("EXPLAIN " + sql))


def test_an_older_store_gets_the_index_and_duration_reads_use_it() -> None:
    mapped(n=40)
    run_id = Client().list_pipeline_runs(size=1)[0].id.hex
    url = load_settings().metadata_url
    _older_store(url)
    engine = get_engine(url)  # opening it upgrades it
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalar() == (
            revisions.HEAD
        )
    for descending in (False, True):
        plan = _plan(url, run_id, descending)
        assert INDEX in plan, plan
        assert "TEMP B-TREE" not in plan and " Sort " not in plan, plan


def test_pages_by_duration_match_a_sort_in_python() -> None:
    n = 40
    mapped(n=n)
    run_id = Client().list_pipeline_runs(size=1)[0].id.hex
    # ties (exact in binary, so equal as floats too), minute and day boundaries, a microsecond,
    # and unfinished branches
    seconds: dict[int, float | None] = {
        i: [0.25, 1.5, 61.5, 86400.75, None, 3.0, 0.25, 0.5][i % 8] for i in range(n)
    }
    seconds[9] = 0.000001
    _set_durations(load_settings().metadata_url, run_id, seconds)
    engine = get_engine(load_settings().metadata_url)
    timed = [i for i in range(n) if seconds[i] is not None]
    untimed = [i for i in range(n) if seconds[i] is None]
    ascending = sorted(timed, key=lambda i: (seconds[i], i)) + untimed
    descending = sorted(timed, key=lambda i: (-seconds[i], -i)) + untimed[::-1]  # type: ignore[operator]
    for expected, flag in ((ascending, False), (descending, True)):
        for size in (7, 50):
            got = []
            for page in range(1, n // size + 2):
                rows = S.list_branches(
                    engine, run_id, "work", sort="duration", descending=flag, page=page, size=size
                ).rows
                got += [r.map_index for r in rows]
            assert got == expected, (flag, size)
    group = next(g for g in S.node_summaries(engine, run_id) if g.kind == "map")
    durations = sorted(d for d in seconds.values() if d is not None)
    assert group.max_duration == pytest.approx(86400.75, abs=1e-6)
    assert group.p50_duration == pytest.approx(durations[(len(durations) - 1) // 2], abs=1e-6)
