"""Every dashboard endpoint, in-process over a store with real runs."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Any

import pytest
from dashboard_showcase import HOSTILE, HOSTILE_LOG
from sqlalchemy import create_engine, text


def _run(http: Any, pipeline: str) -> dict[str, Any]:
    items = http.get("/api/runs", params={"pipeline": pipeline}).json()["items"]
    assert len(items) == 1
    return items[0]


def _node(http: Any, run_id: str, key: str) -> dict[str, Any]:
    nodes = {n["key"]: n for n in http.get(f"/api/runs/{run_id}").json()["nodes"]}
    return nodes[key]


def _step(http: Any, pipeline: str, name: str) -> dict[str, Any]:
    run = _run(http, pipeline)
    node = _node(http, run["id"], name)
    return http.get(f"/api/steps/{node['step_run_id']}").json()


def test_index_and_assets_ship_in_the_package_with_a_strict_policy(http: Any) -> None:
    page = http.get("/")
    assert page.status_code == 200
    assert '<script src="/static/app.js"' in page.text
    assert "http://" not in page.text and "https://" not in page.text  # no CDN
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "default-src 'none'" in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    script = http.get("/static/app.js")
    assert script.status_code == 200 and "textContent" in script.text
    for sink in (".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in script.text
    assert http.get("/static/app.css").status_code == 200
    assert http.get("/static/../server.py").status_code == 404


def test_pipelines_and_runs_filtered_and_paged(http: Any) -> None:
    names = {p["name"] for p in http.get("/api/pipelines").json()["items"]}
    assert names == {"showcase", "failing_map", "wide"}
    everything = http.get("/api/runs").json()
    assert everything["total"] == 3
    assert [r["pipeline"] for r in everything["items"]] == ["wide", "failing_map", "showcase"]
    failed = http.get("/api/runs", params={"status": "failed"}).json()
    assert [r["pipeline"] for r in failed["items"]] == ["failing_map"]
    page2 = http.get("/api/runs", params={"size": 2, "page": 2}).json()
    assert page2["total"] == 3 and [r["pipeline"] for r in page2["items"]] == ["showcase"]
    assert http.get("/api/runs", params={"pipeline": "nope"}).json()["total"] == 0
    both = http.get("/api/runs", params={"pipeline": "wide", "status": "completed"}).json()
    assert both["total"] == 1
    assert http.get("/api/runs", params={"size": "lots"}).status_code == 400
    assert http.get("/api/runs", params={"size": 100000}).status_code == 400


def test_run_page_data_collapses_maps(http: Any) -> None:
    run = _run(http, "failing_map")
    data = http.get(f"/api/runs/{run['id']}").json()
    assert data["run"]["status"] == "failed"
    assert data["parameters"] == {"n": 30}
    nodes = {n["key"]: n for n in data["nodes"]}
    assert set(nodes) == {"get_factor", "map:scale", "add_up"}
    group = nodes["map:scale"]
    assert group["total"] == 30 and group["counts"] == {"completed": 28, "failed": 2}
    assert group["upstream"] == ["get_factor"]
    assert nodes["add_up"]["upstream"] == ["map:scale"]
    assert group["p50_duration"] is not None and data["cursor"]
    quick = http.get(f"/api/runs/{run['id']}", params={"durations": "0"}).json()
    quick_group = {n["key"]: n for n in quick["nodes"]}["map:scale"]
    assert quick_group["counts"] == group["counts"] and quick["cursor"] is None
    assert http.get(f"/api/runs/{run['id'][:8]}").status_code == 200  # prefix
    missing = http.get("/api/runs/0123456789abcdef0123456789abcdef")
    assert missing.status_code == 404 and "0123456789abcdef" in missing.json()["error"]


def test_changes_since_a_cursor_of_a_finished_run_are_empty(http: Any) -> None:
    run = _run(http, "wide")
    first = http.get(f"/api/runs/{run['id']}").json()
    later = http.get(f"/api/runs/{run['id']}/changes", params={"since": first["cursor"]}).json()
    assert later["nodes"] == [] and later["complete"] is False
    assert later["run"]["status"] == "completed"
    full = http.get(f"/api/runs/{run['id']}/changes").json()
    assert full["complete"] is True and len(full["nodes"]) == 3


def test_timeline(http: Any) -> None:
    run = _run(http, "wide")
    tl = http.get(f"/api/runs/{run['id']}/timeline").json()
    lanes = {lane["key"]: lane for lane in tl["lanes"]}
    assert len(lanes["map:square"]["bars"]) == 50
    small = http.get(f"/api/runs/{run['id']}/timeline", params={"max_bars": 10, "buckets": 20})
    lane = {x["key"]: x for x in small.json()["lanes"]}["map:square"]
    assert lane["bars"] == [] and sum(lane["started"]) == 50 and len(lane["running"]) == 20


def test_branch_table_pages_sorts_and_filters(http: Any) -> None:
    run = _run(http, "failing_map")
    url = f"/api/runs/{run['id']}/groups/scale/branches"
    first = http.get(url, params={"size": 10}).json()
    assert first["total"] == 30 and [r["map_index"] for r in first["rows"]] == list(range(10))
    failed = http.get(url, params={"status": "failed"}).json()
    assert [r["map_index"] for r in failed["rows"]] == [4, 11]
    assert failed["rows"][0]["error"] == "ValueError: item 4 is bad"
    slow = http.get(url, params={"sort": "duration", "desc": "1", "size": 30}).json()["rows"]
    assert [r["duration"] for r in slow] == sorted((r["duration"] for r in slow), reverse=True)
    by_status = http.get(url, params={"sort": "status", "size": 30}).json()["rows"]
    assert [r["map_index"] for r in by_status[-2:]] == [4, 11]
    assert http.get(url, params={"sort": "name"}).status_code == 400
    assert http.get(url, params={"page": 0}).status_code == 400


def test_step_page_data_with_attempts_lineage_and_escaped_nothing(http: Any) -> None:
    flaky = _step(http, "showcase", "flaky")
    assert flaky["status"] == "completed"
    assert [a["error"] for a in flaky["attempts"]][:1] == ["RuntimeError: first attempt fails"]
    assert "Traceback" in flaky["attempts"][0]["traceback"]
    talk = _step(http, "showcase", HOSTILE)
    assert talk["name"] == HOSTILE  # returned as data; the page renders it as text
    assert talk["has_logs"] is True
    (array_input,) = talk["inputs"]
    assert array_input["name"] == "array" and array_input["total"] == 1
    assert array_input["versions"][0]["producer"]["name"] == "make_array"
    producer = http.get(f"/api/steps/{array_input['versions'][0]['producer']['id']}").json()
    (output,) = producer["outputs"]
    assert [c["name"] for c in output["versions"][0]["consumers"]] == [HOSTILE]
    failed = _step(http, "failing_map", "add_up")
    assert failed["status"] == "skipped"
    assert (
        _step(http, "failing_map", "get_factor")["outputs"][0]["versions"][0]["consumer_total"]
        == 30
    )
    assert http.get("/api/steps/" + "f" * 32).status_code == 404


def test_fan_in_inputs_are_counted_and_capped(http: Any) -> None:
    add_up = _step(http, "wide", "add_up")
    (values,) = add_up["inputs"]
    assert values["total"] == 50 and len(values["versions"]) == 20
    assert values["versions"][0]["producer"]["name"] == "map:square:0"


def test_logs_read_from_an_offset_and_tail(http: Any) -> None:
    talk = _step(http, "showcase", HOSTILE)
    url = f"/api/steps/{talk['id']}/logs"
    whole = http.get(url).json()
    assert whole["exists"] and whole["finished"]
    assert "first line of output" in whole["text"] and HOSTILE_LOG in whole["text"]
    assert "error stream line" in whole["text"]
    assert whole["offset"] == whole["size"]
    rest = http.get(url, params={"offset": 6}).json()
    assert rest["text"] == whole["text"].encode()[6:].decode()
    assert http.get(url, params={"offset": whole["size"]}).json()["text"] == ""
    tail = http.get(url, params={"tail": 10}).json()
    assert tail["text"] == whole["text"].encode()[-10:].decode()
    quiet = _step(http, "showcase", "flaky")
    assert http.get(f"/api/steps/{quiet['id']}/logs").json()["exists"] in (True, False)


def _output(http: Any, step: str) -> dict[str, Any]:
    return _step(http, "showcase", step)["outputs"][0]["versions"][0]


def test_previews_of_each_kind(http: Any) -> None:
    array = http.get(f"/api/artifacts/{_output(http, 'make_array')['id']}").json()["preview"]
    assert array["kind"] == "numpy" and array["shape"] == [32, 32, 3] and array["dtype"] == "uint8"
    assert array["stats"]["min"] == 0 and array["stats"]["max"] == 248 and array["image"] is True
    frame = http.get(f"/api/artifacts/{_output(http, 'make_frame')['id']}").json()["preview"]
    assert frame["kind"] == "table" and frame["rows"] == 3
    assert [c["name"] for c in frame["columns"]] == ["city", "temp"]
    assert frame["head"][2] == ["<b>Pune</b>", "31.2"]
    png = http.get(f"/api/artifacts/{_output(http, 'make_png')['id']}").json()["preview"]
    assert png["kind"] == "image" and png["mime"] == "image/png"
    report = http.get(f"/api/artifacts/{_output(http, HOSTILE)['id']}").json()
    assert report["version"]["name"] == "report"
    assert report["preview"]["kind"] == "json" and HOSTILE in report["preview"]["text"]
    opaque = http.get(f"/api/artifacts/{_output(http, 'make_object')['id']}").json()["preview"]
    assert opaque["kind"] == "pickle"  # described, never unpickled
    branch_id = _node(http, _run(http, "wide")["id"], "map:square")
    rows = http.get(f"/api/runs/{_run(http, 'wide')['id']}/groups/square/branches").json()
    item = http.get(f"/api/steps/{rows['rows'][0]['id']}").json()["inputs"][0]["versions"][0]
    item_preview = http.get(f"/api/artifacts/{item['id']}").json()["preview"]
    assert item_preview["kind"] == "item" and item_preview["index"] == 0
    assert branch_id["total"] == 50


def test_artifact_versions_lineage_images_and_downloads(http: Any) -> None:
    array = _output(http, "make_array")
    data = http.get(f"/api/artifacts/{array['id']}").json()
    assert data["producer"]["name"] == "make_array"
    assert [c["name"] for c in data["consumers"]] == [HOSTILE]
    assert data["version_total"] == 1 and data["versions"][0]["id"] == array["id"]
    image = http.get(f"/api/artifacts/{array['id']}/image")
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    png = http.get(f"/api/artifacts/{_output(http, 'make_png')['id']}/image")
    assert png.headers["content-type"] == "image/png"
    report = _output(http, HOSTILE)
    download = http.get(f"/api/artifacts/{report['id']}/download")
    assert download.status_code == 200
    assert "attachment" in download.headers["content-disposition"]
    assert HOSTILE.encode() in download.content
    assert http.get(f"/api/artifacts/{report['id']}/image").status_code == 404
    assert http.get("/api/artifacts/" + "e" * 32).status_code == 404


def test_multi_file_artifacts_download_as_zip(http: Any, settings: Any) -> None:
    series = _output(http, "make_frame")
    folder = Path(settings.artifact_root)
    record = http.get(f"/api/artifacts/{series['id']}").json()["version"]
    assert record["materializer"] == "fanflow.pandas"
    target = next(p for p in folder.rglob(series["id"]) if p.is_dir())
    extra = target / "notes.txt"
    extra.write_text("second file")
    try:
        response = http.get(f"/api/artifacts/{series['id']}/download")
        archive = zipfile.ZipFile(io.BytesIO(response.content))
        assert sorted(archive.namelist()) == [
            ".fanflow-visualizations.json",
            "data.parquet",
            "describe.csv",
            "notes.txt",
        ]
    finally:
        extra.unlink()


def test_previews_logs_and_downloads_never_leave_the_store(http: Any, settings: Any) -> None:
    # an artifact stored as files (a small PNG is recorded inline and reads no file at all)
    png = _output(http, "make_array")
    talk = _step(http, "showcase", HOSTILE)
    engine = create_engine(settings.metadata_url)
    with engine.begin() as conn:
        old_uri = conn.execute(
            text("SELECT uri FROM artifact_versions WHERE id = :i"), {"i": png["id"]}
        ).scalar()
        old_log = conn.execute(
            text("SELECT logs_uri FROM step_runs WHERE id = :i"), {"i": talk["id"]}
        ).scalar()
        conn.execute(
            text("UPDATE artifact_versions SET uri = '/etc' WHERE id = :i"), {"i": png["id"]}
        )
        conn.execute(
            text("UPDATE step_runs SET logs_uri = :u WHERE id = :i"),
            {"u": str(Path(settings.artifact_root) / ".." / ".." / "passwd"), "i": talk["id"]},
        )
    try:
        preview = http.get(f"/api/artifacts/{png['id']}").json()["preview"]
        assert preview["kind"] == "unavailable" and "outside" in preview["reason"]
        assert http.get(f"/api/artifacts/{png['id']}/download").status_code == 400
        assert http.get(f"/api/artifacts/{png['id']}/image").status_code == 400
        assert http.get(f"/api/steps/{talk['id']}/logs").status_code == 400
    finally:
        with engine.begin() as conn:
            conn.execute(
                text("UPDATE artifact_versions SET uri = :u WHERE id = :i"),
                {"u": old_uri, "i": png["id"]},
            )
            conn.execute(
                text("UPDATE step_runs SET logs_uri = :u WHERE id = :i"),
                {"u": old_log, "i": talk["id"]},
            )
        engine.dispose()


def test_read_only_and_host_checked(http: Any, settings: Any) -> None:
    from starlette.testclient import TestClient

    from fanflow.ui.server import LOOPBACK_HOSTS, create_app

    run = _run(http, "wide")
    assert http.post("/api/runs").status_code == 405
    assert http.delete(f"/api/runs/{run['id']}").status_code == 405
    assert http.put(f"/api/steps/{run['id']}").status_code == 405
    guarded = TestClient(
        create_app(settings, allowed_hosts=LOOPBACK_HOSTS), base_url="http://127.0.0.1"
    )
    assert guarded.get("/api/pipelines").status_code == 200
    assert guarded.get("/api/pipelines", headers={"Host": "attacker.example"}).status_code == 400


def test_serve_warns_when_binding_beyond_loopback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], settings: Any
) -> None:
    # Binding a public address is not allowed in tests, so the server start itself is replaced.
    import uvicorn

    from fanflow.ui import server

    calls: list[dict[str, Any]] = []
    monkeypatch.setenv("FANFLOW_HOME", str(settings.home))
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: calls.append(kw))
    server.serve("0.0.0.0", 8999)
    assert "WARNING" in capsys.readouterr().err
    server.serve()
    assert "WARNING" not in capsys.readouterr().err
    assert [c["host"] for c in calls] == ["0.0.0.0", "127.0.0.1"]


def test_python_dash_m_serves_on_loopback_and_checks_the_host(settings: Any) -> None:
    import os
    import socket
    import subprocess
    import sys
    import time
    import urllib.error
    import urllib.request

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "FANFLOW_HOME": str(settings.home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "fanflow.ui", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/pipelines") as resp:
                    assert resp.status == 200
                    break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
        evil = urllib.request.Request(
            f"http://127.0.0.1:{port}/api/pipelines", headers={"Host": "evil.example"}
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(evil)
        assert refused.value.code == 400
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=30)
    assert f"http://127.0.0.1:{port}/" in err and "WARNING" not in err


def test_import_fanflow_loads_no_web_server() -> None:
    import json
    import subprocess
    import sys

    code = "import sys, json, fanflow; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    modules = set(json.loads(out.stdout.strip().splitlines()[-1]))
    loaded = {m.split(".")[0] for m in modules} & {"starlette", "uvicorn", "anyio", "httpx"}
    assert not loaded and "fanflow.ui" not in modules


KILLED_RUN = """
import os, sys, time
from fanflow import pipeline, step, unmapped

@step(enable_cache=False)
def hang(i: int, gate: str) -> int:
    while i >= 1 and not os.path.exists(gate):
        time.sleep(0.05)
    return i

@step(enable_cache=False)
def after(values: list[int]) -> int:
    return sum(values)

@pipeline(enable_cache=False, max_parallelism=2)
def killed(gate: str) -> None:
    after(hang.map([0, 1, 2, 3], gate=unmapped(gate)))

killed(gate=sys.argv[1])
"""


def test_a_run_whose_orchestrator_died_reads_as_failed(fanflow_home: Path, tmp_path: Path) -> None:
    import os
    import subprocess
    import sys
    import time

    from starlette.testclient import TestClient

    from fanflow.config import load_settings
    from fanflow.ui.server import create_app

    env = {**os.environ, "FANFLOW_HOME": str(fanflow_home)}
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_RUN, str(tmp_path / "never")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    with TestClient(create_app(load_settings())) as http:
        try:
            deadline = time.monotonic() + 60
            while True:
                runs = http.get("/api/runs").json()["items"]
                if runs:
                    nodes = {
                        n["key"]: n for n in http.get(f"/api/runs/{runs[0]['id']}").json()["nodes"]
                    }
                    if nodes.get("map:hang", {}).get("counts", {}).get("running"):
                        break
                assert time.monotonic() < deadline
                time.sleep(0.1)
            assert runs[0]["status"] == "running"
            assert nodes["after"]["status"] == "initializing"  # planned, not started
        finally:
            proc.kill()
            proc.wait(30)
        run_id = runs[0]["id"]
        data = http.get(f"/api/runs/{run_id}").json()
        assert (
            data["run"]["status"] == "failed"
            and "ended without finishing" in data["run"]["exception"]
        )
        nodes = {n["key"]: n for n in data["nodes"]}
        assert nodes["after"]["status"] == "skipped"
        assert "running" not in nodes["map:hang"]["counts"]
        assert nodes["map:hang"]["status"] == "failed"
        assert http.get("/api/runs", params={"status": "failed"}).json()["total"] == 1
        assert http.get("/api/runs", params={"status": "running"}).json()["total"] == 0
        branches = http.get(f"/api/runs/{run_id}/groups/hang/branches").json()["rows"]
        assert "running" not in {b["status"] for b in branches}
        hung = branches[1]
        assert hung["status"] == "failed"
        assert http.get(f"/api/steps/{hung['id']}").json()["status"] == "failed"


def test_warm_up_sends_the_first_requests_through_the_app(settings: Any) -> None:
    from fanflow.ui.server import create_app
    from fanflow.ui.warmup import WARM_UP_PATHS, warm_up

    statuses = warm_up(create_app(settings, allowed_hosts=["127.0.0.1"]))
    assert statuses == [200] * len(WARM_UP_PATHS)
