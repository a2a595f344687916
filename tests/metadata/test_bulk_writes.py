"""`execute_many` writes exactly what `Connection.execute` writes, and falls back where it must.

Each case writes the same rows twice into one real SQLite database, once through the shortcut
and once through SQLAlchemy's own executemany, and compares the stored text column by column
(dates, JSON with NaN and None, booleans, NULLs), so a processor applied differently, a column
out of order or a value skipped shows up as a difference.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    select,
    update,
)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from fanflow.metadata import bulk_writes, jsonio
from fanflow.metadata.bulk_writes import execute_many
from fanflow.metadata.engine import get_engine

meta = MetaData()
things = Table(
    "things",
    meta,
    Column("id", String(36), primary_key=True),
    Column("created", DateTime),
    Column("payload", JSON),
    Column("flag", Boolean),
    Column("count", Integer),
)
counter = itertools.count(100)
defaulted = Table(
    "defaulted",
    meta,
    Column("id", String(36), primary_key=True),
    Column("number", Integer, default=lambda: next(counter)),  # computed in Python per row
)


@pytest.fixture
def engine(tmp_path) -> Iterator[Engine]:
    engine = get_engine(f"sqlite:///{tmp_path / 'bulk.db'}")
    meta.create_all(engine)
    yield engine
    engine.dispose()


def rows(prefix: str) -> list[dict[str, object]]:
    when = dt.datetime(2026, 11, 30, 12, 34, 56, 789012)
    payloads = [{"a": [1, 2.5, "x"]}, None, {"loss": float("nan")}, [], "text"]
    return [
        {
            "id": f"{prefix}{i}",
            "created": when + dt.timedelta(microseconds=i) if i % 3 else None,
            "payload": payloads[i % len(payloads)],
            "flag": (True, False, None)[i % 3],
            "count": i if i % 4 else None,
        }
        for i in range(12)
    ]


def stored(engine: Engine, prefix: str) -> list[tuple[object, ...]]:
    with engine.connect() as conn:
        raw = conn.exec_driver_sql(
            "SELECT substr(id, 2), created, payload, flag, count FROM things "
            f"WHERE id LIKE '{prefix}%' ORDER BY CAST(substr(id, 2) AS INTEGER)"
        )
        return [tuple(row) for row in raw]


def test_inserts_store_the_same_text_as_sqlalchemy(engine: Engine) -> None:
    with engine.begin() as conn:
        execute_many(conn, things.insert(), rows("f"))
        conn.execute(things.insert(), rows("s"))
    fast, slow = stored(engine, "f"), stored(engine, "s")
    assert len(fast) == 12
    assert fast == slow
    with engine.connect() as conn:  # and it reads back through the types
        back = conn.execute(select(things).where(things.c.id == "f1")).one()
    assert back.created == dt.datetime(2026, 11, 30, 12, 34, 56, 789013)
    assert back.flag is False and back.payload is None


def test_updates_by_bound_key_store_the_same_text_as_sqlalchemy(engine: Engine) -> None:
    statement = (
        update(things)
        .where(things.c.id == bindparam("b_id"))
        .values(payload=bindparam("b_payload"), created=bindparam("b_created"))
    )
    later = dt.datetime(2027, 1, 2, 3, 4, 5, 6)
    with engine.begin() as conn:
        execute_many(conn, things.insert(), rows("f"))
        execute_many(conn, things.insert(), rows("s"))
        for prefix, write in (("f", execute_many), ("s", None)):
            changes = [
                {"b_id": f"{prefix}{i}", "b_payload": {"i": i}, "b_created": later} for i in (2, 5)
            ]
            if write is None:
                conn.execute(statement, changes)
            else:
                write(conn, statement, changes)
    fast, slow = stored(engine, "f"), stored(engine, "s")
    assert fast == slow
    assert jsonio.loads(fast[5][2]) == {"i": 5}


def test_a_duplicate_key_is_still_an_integrity_error(engine: Engine) -> None:
    with engine.begin() as conn:
        execute_many(conn, things.insert(), rows("f")[:2])
    with pytest.raises(IntegrityError), engine.begin() as conn:
        execute_many(conn, things.insert(), rows("f")[1:3])
    assert len(stored(engine, "f")) == 2  # the failed statement's transaction left nothing


def test_python_side_defaults_fall_back_to_sqlalchemy(engine: Engine) -> None:
    statement = defaulted.insert()
    with engine.begin() as conn:
        execute_many(conn, statement, [{"id": "a"}, {"id": "b"}])
        numbers = conn.execute(select(defaulted.c.number).order_by(defaulted.c.id)).scalars()
        assert list(numbers) == [100, 101]
    assert bulk_writes._plans[engine.dialect][statement, ("id",)] is None  # SQLAlchemy did it


def test_no_rows_is_no_statement(engine: Engine) -> None:
    with engine.begin() as conn:
        execute_many(conn, things.insert(), [])
    assert stored(engine, "") == []
