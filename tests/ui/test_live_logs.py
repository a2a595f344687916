"""The step log endpoint's live tail: while a step runs, `/api/steps/ID/logs` reads the live copy
the worker appends to (`<log>.live`), from a byte-offset cursor, whole lines only; once the step
has ended it reads the stored log. Also over an fsspec (memory://) artifact store."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from fanflow import pipeline, step
from fanflow.client import Client
from fanflow.config import Settings
from fanflow.ids import utcnow
from fanflow.metadata.engine import dispose_all, get_engine
from fanflow.ui.logreader import LogFiles

HOSTILE = "<script>window.__pwned = 1</script><img src=y onerror=alert(2)>"


@step(enable_cache=False)
def speak() -> int:
    print("stored line")
    return 1


@step(enable_cache=False)
def quiet() -> int:
    return 2


@pipeline(enable_cache=False)
def chatty() -> None:
    speak()
    quiet()


@pytest.fixture
def live_store(fanflow_home: Path) -> Iterator[dict[str, Any]]:
    """A finished run, then its run and `speak` step set back to running (as if the worker were
    still printing), with the orchestrator this very process so the run reads as alive."""
    run = chatty()
    record = Client().get_pipeline_run(run.name)
    steps = {name: view.id.hex for name, view in record.steps.items()}
    url = f"sqlite:///{fanflow_home / 'fanflow.db'}"
    yield {
        "url": url,
        "home": fanflow_home,
        "run_id": record.id.hex,
        "steps": steps,
        "live": fanflow_home / "artifacts" / "logs" / record.id.hex / f"{steps['speak']}.log.live",
    }
    dispose_all()


def _set_running(url: str, run_id: str, step_id: str) -> None:
    with get_engine(url).connect() as conn:
        conn.execute(
            text(
                "UPDATE pipeline_runs SET status='running', end_time=NULL, orchestrator_pid=:p,"
                " orchestrator_host=:h, heartbeat=:now WHERE id=:r"
            ),
            {"p": os.getpid(), "h": socket.gethostname(), "now": utcnow(), "r": run_id},
        )
        conn.execute(
            text("UPDATE step_runs SET status='running', end_time=NULL, logs_uri=NULL WHERE id=:s"),
            {"s": step_id},
        )
        conn.commit()


@pytest.fixture
def http(live_store: dict[str, Any]) -> Iterator[Any]:
    from starlette.testclient import TestClient

    from fanflow.ui.server import create_app

    home = live_store["home"]
    settings = Settings(
        home=home,
        metadata_url=live_store["url"],
        artifact_root=str(home / "artifacts"),
        max_parallelism=None,
        orchestrator="local",
        logging_verbosity="INFO",
    )
    with TestClient(create_app(settings)) as client:
        yield client


def test_a_running_steps_live_log_is_read_from_a_cursor_in_whole_lines(
    http: Any, live_store: dict[str, Any]
) -> None:
    step_id = live_store["steps"]["speak"]
    _set_running(live_store["url"], live_store["run_id"], step_id)
    url = f"/api/steps/{step_id}/logs"
    live: Path = live_store["live"]

    nothing = http.get(url).json()  # the worker has not written yet
    assert nothing == {
        "text": "",
        "start": 0,
        "offset": 0,
        "size": 0,
        "finished": False,
        "exists": False,
        "source": "live",
    }
    live.write_bytes(f"first\n{HOSTILE}\nnaïve ünïcode\nhalf a li".encode())
    first = http.get(url, params={"offset": 0, "tail": 1000}).json()
    assert first["source"] == "live" and first["exists"] and not first["finished"]
    assert first["text"] == f"first\n{HOSTILE}\nnaïve ünïcode\n"  # the half line waits
    assert first["offset"] == len(first["text"].encode())
    assert first["size"] == live.stat().st_size
    cursor = first["offset"]
    assert http.get(url, params={"offset": cursor}).json()["text"] == ""
    with open(live, "ab") as handle:
        handle.write(b"ne\nsecond \xc3")  # the line ends; a character is cut mid-way
    more = http.get(url, params={"offset": cursor}).json()
    assert more["text"] == "half a line\n"  # only the new bytes, whole lines
    assert more["start"] == cursor and more["offset"] == cursor + len(b"half a line\n")
    with open(live, "ab") as handle:
        handle.write(b"\xa9\n")
    last = http.get(url, params={"offset": more["offset"]}).json()
    assert last["text"] == "second \u00e9\n"
    tail = http.get(url, params={"tail": 8}).json()
    assert tail["start"] == live.stat().st_size - 8 and tail["text"].endswith("\u00e9\n")
    # The live copy is gone while the step is still recorded as running (the stored log is
    # being written): the cursor is kept, so nothing is shown twice.
    live.unlink()
    gone = http.get(url, params={"offset": last["offset"]}).json()
    assert gone["exists"] is False and gone["offset"] == last["offset"]


def test_a_finished_step_reads_its_stored_log_and_a_silent_one_has_none(
    http: Any, live_store: dict[str, Any]
) -> None:
    stored = http.get(f"/api/steps/{live_store['steps']['speak']}/logs").json()
    assert stored["source"] == "stored" and stored["finished"]
    assert "stored line" in stored["text"]
    live_store["live"].parent.mkdir(parents=True, exist_ok=True)
    live_store["live"].write_text("stale live copy\n")  # ignored once the step has ended
    assert http.get(f"/api/steps/{live_store['steps']['speak']}/logs").json() == stored
    silent = http.get(f"/api/steps/{live_store['steps']['quiet']}/logs").json()
    assert silent["exists"] is False and silent["finished"] and silent["source"] is None


def test_the_cursor_must_be_a_non_negative_integer(http: Any, live_store: dict[str, Any]) -> None:
    url = f"/api/steps/{live_store['steps']['speak']}/logs"
    for bad in ("-1", "x"):
        response = http.get(url, params={"offset": bad})
        assert response.status_code == 400 and "offset" in response.json()["error"]
    assert http.get("/api/steps/" + "0" * 32 + "/logs").status_code == 404


def test_live_logs_are_read_from_an_fsspec_store() -> None:
    import fsspec

    root = "memory://fanflow-live-logs"
    files = LogFiles(root)
    uri = files.live_uri("r" * 32, "s" * 32)
    assert uri == f"{root}/logs/{'r' * 32}/{'s' * 32}.log.live"
    assert files.read(uri, 0, whole_lines=True) is None  # not written yet
    fs = fsspec.filesystem("memory")
    fs.pipe(uri, b"one\ntwo\nthr")
    first = files.read(uri, 0, whole_lines=True)
    assert first is not None and first.text == "one\ntwo\n" and first.offset == 8
    fs.pipe(uri, b"one\ntwo\nthree\n")
    rest = files.read(uri, first.offset, whole_lines=True)
    assert rest is not None and rest.text == "three\n" and rest.start == 8
    from fanflow.ui import previews

    with pytest.raises(previews.OutsideStore):
        files.read("memory://elsewhere/x.log.live", 0, whole_lines=True)
    fs.rm(uri)


def test_live_parts_in_an_object_store_are_read_in_order_from_the_cursor() -> None:
    """Object stores cannot append: a worker uploads a running step's output as numbered parts
    under `<log>.live/`; the reader joins them in order and serves bytes after the cursor."""
    from fanflow.artifacts.fsspec_store import FsspecArtifactStore

    root = "memory://fanflow-live-parts"
    files = LogFiles(root)
    uri = files.live_uri("r" * 32, "p" * 32)
    worker = FsspecArtifactStore(root)
    log_uri = uri.removesuffix(".live")
    assert files.read(uri, 0, whole_lines=True) is None  # nothing uploaded yet
    worker.write_live_part(log_uri, 0, "first\nsec")
    first = files.read(uri, 0, whole_lines=True)
    assert first is not None and first.text == "first\n" and first.offset == 6
    worker.write_live_part(log_uri, 1, f"ond\n{HOSTILE}\n")
    rest = files.read(uri, first.offset, whole_lines=True)
    assert rest is not None and rest.text == f"second\n{HOSTILE}\n" and rest.start == 6
    again = files.read(uri, rest.offset, whole_lines=True)
    assert again is not None and again.text == ""
    worker.remove_live_parts(log_uri)  # the step ended: its log is stored instead
    assert files.read(uri, rest.offset, whole_lines=True) is None


def test_the_endpoint_reads_stored_and_live_logs_from_an_fsspec_store(
    live_store: dict[str, Any],
) -> None:
    """An artifact root that is a URL: the stored log and the live copy are read through fsspec
    (here its in-memory file system), by byte ranges as from a folder."""
    import fsspec
    from starlette.testclient import TestClient

    from fanflow.ui.server import create_app

    root = "memory://fanflow-dashboard-logs"
    settings = Settings(
        home=live_store["home"],
        metadata_url=live_store["url"],
        artifact_root=root,
        max_parallelism=None,
        orchestrator="local",
        logging_verbosity="INFO",
    )
    fs = fsspec.filesystem("memory")
    speak, run_id = live_store["steps"]["speak"], live_store["run_id"]
    stored_uri = f"{root}/logs/{run_id}/{speak}.log"
    fs.pipe(stored_uri, b"stored over fsspec\n")
    with get_engine(live_store["url"]).connect() as conn:
        conn.execute(
            text("UPDATE step_runs SET logs_uri=:u WHERE id=:s"), {"u": stored_uri, "s": speak}
        )
        conn.commit()
    try:
        with TestClient(create_app(settings)) as client:
            url = f"/api/steps/{speak}/logs"
            stored = client.get(url).json()
            assert stored["source"] == "stored" and stored["text"] == "stored over fsspec\n"
            _set_running(live_store["url"], run_id, speak)
            fs.pipe(stored_uri + ".live", b"live over fsspec\nand mo")
            live = client.get(url).json()
            assert live["source"] == "live" and live["text"] == "live over fsspec\n"
            fs.pipe(stored_uri + ".live", b"live over fsspec\nand more\n")
            assert client.get(url, params={"offset": live["offset"]}).json()["text"] == "and more\n"
    finally:
        fs.rm(f"{root}/logs", recursive=True)
