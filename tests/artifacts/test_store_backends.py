"""The artifact-store suite on every backend: a local folder, fsspec `memory://` and S3 (moto).

What every store must do: round-trip values (one file or several), publish all at once and never
over an existing artifact, report missing data clearly, pickle as a small description that works
in another process, and sweep what killed writers left behind. The remote stores also publish by
manifest and verify hashes on load; a writer killed mid-upload leaves nothing visible.
"""

from __future__ import annotations

import json
import os
import pathlib
import pickle
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from typing import Any

import cloudpickle
import numpy as np
import pandas as pd
import pytest

from fanflow.artifacts.fsspec_store import MANIFEST_NAME, FsspecArtifactStore
from fanflow.artifacts.io import SavedArtifact, load_value, save_value
from fanflow.artifacts.store import ArtifactStore, LocalArtifactStore, artifact_store_for
from fanflow.exceptions import ArtifactCorruptedError, ArtifactMissingError

BACKENDS = ["local", "memory", "s3"]


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store(backend: str, tmp_path: pathlib.Path, request: pytest.FixtureRequest) -> ArtifactStore:
    return make_store(backend, tmp_path, request)


@pytest.fixture(params=["memory", "s3"])
def remote(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> FsspecArtifactStore:
    made = make_store(str(request.param), tmp_path, request)
    assert isinstance(made, FsspecArtifactStore)
    return made


def make_store(backend: str, tmp_path: pathlib.Path, request: pytest.FixtureRequest) -> Any:
    if backend == "local":
        return artifact_store_for(str(tmp_path / "artifacts"))
    if backend == "memory":
        return artifact_store_for(f"memory://fanflow-tests/{uuid.uuid4().hex}")
    server = request.getfixturevalue("s3_server")
    return artifact_store_for(
        f"s3://fanflow-test/{uuid.uuid4().hex}/artifacts", server.storage_options()
    )


def load(store: ArtifactStore, saved: SavedArtifact) -> Any:
    return load_value(saved.uri, saved.materializer, saved.data_type, store)


# --- what every store does ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        {"nested": [1, 2.5, None, "text"]},
        b"\x00raw bytes\xff" * 100,
        np.arange(1000, dtype=np.int64).reshape(10, 100),
        pd.Series([1.0, 2.0, 3.0], name="weights"),  # two files: parquet + series.json
    ],
    ids=["json", "bytes", "numpy", "pandas-series"],
)
def test_values_round_trip(store: ArtifactStore, value: Any) -> None:
    saved = save_value(value, store, store.uri_for("step", "output", uuid.uuid4().hex))
    loaded = load(store, saved)
    if isinstance(value, np.ndarray):
        np.testing.assert_array_equal(loaded, value)
    elif isinstance(value, pd.Series):
        pd.testing.assert_series_equal(loaded, value)
    else:
        assert loaded == value
    assert store.exists(saved.uri)


def test_uris_live_under_the_root(store: ArtifactStore) -> None:
    uri = store.uri_for("my step", "out/put", "id")
    assert uri.startswith(store.root)
    assert uri.endswith("/my_step/out_put/id")


def test_publish_refuses_to_replace_an_artifact(store: ArtifactStore) -> None:
    uri = store.uri_for("twice")
    first = save_value(1, store, uri)
    with pytest.raises(FileExistsError):
        save_value(2, store, uri)
    assert load(store, first) == 1


def test_a_missing_artifact_is_reported_with_its_uri(store: ArtifactStore) -> None:
    uri = store.uri_for("never", "written")
    assert not store.exists(uri)
    with pytest.raises(ArtifactMissingError, match="never"), store.local_copy(uri):
        pass


def test_store_pickles_as_a_small_description(store: ArtifactStore) -> None:
    saved = save_value([1, 2, 3], store, store.uri_for("before"))
    for dumps in (pickle.dumps, cloudpickle.dumps):
        payload = dumps(store)
        assert len(payload) < 600
        copy = pickle.loads(payload)
        assert type(copy) is type(store) and copy.root == store.root
        assert load(copy, saved) == [1, 2, 3]


def test_text_files_round_trip(store: ArtifactStore) -> None:
    uri = store.uri_for("logs", "step.log")
    store.write_text(uri, "line one\nline two ✓\n")
    assert store.read_text(uri) == "line one\nline two ✓\n"


def test_failed_save_leaves_nothing(store: ArtifactStore) -> None:
    class Unpicklable:
        def __reduce__(self) -> Any:
            raise TypeError("no")

    uri = store.uri_for("broken")
    with pytest.raises(Exception, match="no"):
        save_value(Unpicklable(), store, uri)
    assert not store.exists(uri)


# --- publishing by manifest (remote stores) -------------------------------------------------------


def test_manifest_lists_every_file_with_size_and_hash(remote: FsspecArtifactStore) -> None:
    saved = save_value(pd.Series([1, 2], name="s"), remote, remote.uri_for("series"))
    manifest = remote.read_manifest(saved.uri)
    names = sorted(entry["path"] for entry in manifest["files"])
    # the data, and the `describe()` visualization with its index
    assert names == [".fanflow-visualizations.json", "data.parquet", "describe.csv", "series.json"]
    assert sum(entry["size"] for entry in manifest["files"]) == saved.size
    assert all(len(entry["sha256"]) == 64 for entry in manifest["files"])


def test_files_without_a_manifest_are_missing(remote: FsspecArtifactStore) -> None:
    saved = save_value({"a": 1}, remote, remote.uri_for("unpublished"))
    remote.fs.rm_file(remote._manifest_path(saved.uri))
    assert not remote.exists(saved.uri)
    with pytest.raises(ArtifactMissingError, match="no manifest"):
        load(remote, saved)


def test_loads_verify_hashes(remote: FsspecArtifactStore) -> None:
    saved = save_value({"amount": 100}, remote, remote.uri_for("tampered"))
    data = remote._path(saved.uri) + "/data.json"
    remote.fs.pipe_file(data, b'{"amount": 999}')  # same length, other bytes
    with pytest.raises(ArtifactCorruptedError, match=r"corrupted: its file 'data\.json'"):
        load(remote, saved)


def test_files_past_the_small_size_are_streamed_and_verified(
    remote: FsspecArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fanflow.artifacts import fsspec_store

    monkeypatch.setattr(fsspec_store, "SMALL_FILE_BYTES", 0)
    array = np.arange(50_000, dtype=np.float64)
    saved = save_value(array, remote, remote.uri_for("streamed"))
    np.testing.assert_array_equal(load(remote, saved), array)
    (entry,) = remote.read_manifest(saved.uri)["files"]
    data = remote._path(saved.uri) + "/" + entry["path"]
    tampered = bytearray(remote.fs.cat_file(data))
    tampered[-1] ^= 0xFF
    remote.fs.pipe_file(data, bytes(tampered))
    with pytest.raises(ArtifactCorruptedError, match=r"\.npy"):
        load(remote, saved)


def test_a_file_deleted_after_publishing_is_reported(remote: FsspecArtifactStore) -> None:
    saved = save_value({"x": 1}, remote, remote.uri_for("gone"))
    remote.fs.rm_file(remote._path(saved.uri) + "/data.json")
    with pytest.raises(ArtifactMissingError, match=r"'data\.json' is missing"):
        load(remote, saved)


def test_a_materializer_may_not_write_the_manifest_name(remote: FsspecArtifactStore) -> None:
    staging = remote.staging()
    pathlib.Path(staging, MANIFEST_NAME).write_text("{}")
    with pytest.raises(ValueError, match="reserves"):
        remote.publish(staging, remote.uri_for("reserved"))


# --- sweeping unpublished leftovers ---------------------------------------------------------------


def _age_marker(remote: FsspecArtifactStore, marker: str, seconds: float) -> None:
    body = json.loads(remote.fs.cat_file(marker))
    body["time"] -= seconds
    remote.fs.pipe_file(marker, json.dumps(body).encode())


def _leave_unpublished(remote: FsspecArtifactStore, name: str) -> tuple[str, str]:
    """Files at a URI and a pending marker for it, as a writer killed mid-upload leaves them."""
    uri = remote.uri_for(name)
    marker = remote._write_marker(uri)
    remote.fs.pipe_file(remote._path(uri) + "/data.json", b"[1, 2")
    return uri, marker


def test_sweep_removes_old_unpublished_uploads_only(remote: FsspecArtifactStore) -> None:
    old_uri, old_marker = _leave_unpublished(remote, "old")
    young_uri, _ = _leave_unpublished(remote, "young")
    published = save_value("kept", remote, remote.uri_for("published"))
    stale_marker = remote._write_marker(published.uri)  # a writer killed after its manifest
    _age_marker(remote, old_marker, 7200)
    _age_marker(remote, stale_marker, 7200)

    assert remote.sweep_staging(older_than_s=3600) == 1

    assert not remote.fs.exists(remote._path(old_uri) + "/data.json")
    assert remote.fs.exists(remote._path(young_uri) + "/data.json")  # maybe a live writer
    assert load(remote, published) == "kept"
    assert [body["uri"] for _, body in remote.pending()] == [young_uri]


def test_a_long_upload_keeps_its_marker_fresh(
    remote: FsspecArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fanflow.artifacts import fsspec_store

    monkeypatch.setattr(fsspec_store, "MARKER_REFRESH_S", 0.0)
    seen: list[float] = []
    real_put = remote.fs.put_file

    def put_and_look(local: str, path: str, *args: Any, **kwargs: Any) -> None:
        real_put(local, path, *args, **kwargs)
        ((_, body),) = remote.pending()
        seen.append(float(body["time"]))
        time.sleep(0.01)

    monkeypatch.setattr(remote.fs, "put_file", put_and_look)
    # four files: the Parquet data, the Series name, `describe.csv` and the visualization index
    save_value(pd.Series([1, 2, 3], name="s"), remote, remote.uri_for("long"))
    assert len(seen) == 4 and seen == sorted(seen) and seen[-1] > seen[0]  # rewritten each time
    assert remote.pending() == []


def test_sweep_of_an_empty_store_finds_nothing(store: ArtifactStore) -> None:
    assert store.sweep_staging() == 0


def test_publishing_leaves_no_pending_marker(remote: FsspecArtifactStore) -> None:
    save_value(list(range(10)), remote, remote.uri_for("clean"))
    assert remote.pending() == []


# --- a writer killed mid-upload -----------------------------------------------------------------

KILLED_WRITER = """
import json, os, sys, time
import numpy as np
from fanflow.artifacts.store import artifact_store_for
from fanflow.artifacts.io import save_value

root, options, uri, flag = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3], sys.argv[4]
store = artifact_store_for(root, options)
real_put = store.fs.put_file
uploaded = []

def put_then_stall(local, remote, *args, **kwargs):
    real_put(local, remote, *args, **kwargs)
    uploaded.append(remote)
    if len(uploaded) == 1:
        open(flag, "w").write(remote)
        time.sleep(600)  # the test kills us here: one file uploaded, no manifest

store.fs.put_file = put_then_stall
import pandas as pd
save_value(pd.Series(np.arange(100000), name="big"), store, uri)
"""


def test_writer_killed_mid_upload_leaves_nothing_visible(
    s3_server: Any, tmp_path: pathlib.Path
) -> None:
    store = FsspecArtifactStore(
        f"s3://fanflow-test/{uuid.uuid4().hex}/artifacts", s3_server.storage_options()
    )
    uri = store.uri_for("step", "output", "killed")
    flag = tmp_path / "uploaded-one-file"
    script = tmp_path / "writer.py"
    script.write_text(textwrap.dedent(KILLED_WRITER))
    writer = subprocess.Popen(
        [sys.executable, str(script), store.root, s3_server.storage_options_json(), uri, str(flag)]
    )
    try:
        deadline = time.monotonic() + 60
        while not flag.exists():
            assert writer.poll() is None, "the writer ended before uploading"
            assert time.monotonic() < deadline, "the writer never uploaded a file"
            time.sleep(0.05)
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.kill()
        writer.wait()

    reader = FsspecArtifactStore(store.root, s3_server.storage_options())
    leftovers = reader.fs.find(reader._path(uri))
    assert leftovers, "the writer was killed before it uploaded anything"
    assert not reader.exists(uri)
    with pytest.raises(ArtifactMissingError), reader.local_copy(uri):
        pass
    assert [body["uri"] for _, body in reader.pending()] == [uri]

    assert reader.sweep_staging(older_than_s=3600) == 0  # too young: may be a live writer
    assert reader.sweep_staging(older_than_s=0) == 1
    reader.fs.invalidate_cache()
    assert reader.fs.find(reader._path(uri)) == []
    assert reader.pending() == []


def test_local_writer_killed_mid_save_leaves_nothing_visible(tmp_path: pathlib.Path) -> None:
    store = LocalArtifactStore(str(tmp_path / "artifacts"))
    uri = store.uri_for("step", "output", "killed")
    flag = tmp_path / "saving"
    code = textwrap.dedent(
        f"""
        import time
        from fanflow.artifacts.store import LocalArtifactStore
        from fanflow.artifacts.io import save_value

        class Slow:
            def __reduce__(self):
                open({str(flag)!r}, "w").close()
                time.sleep(600)

        store = LocalArtifactStore({store.root!r})
        save_value(Slow(), store, {uri!r})
        """
    )
    writer = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 60
        while not flag.exists():
            assert writer.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.kill()
        writer.wait()
    assert not store.exists(uri)
    assert store.sweep_staging(older_than_s=0) == 1


# --- construction -------------------------------------------------------------------------------


@pytest.mark.parametrize("root", ["s3://bucket/artifacts", "gs://bucket/x", "memory://x"])
def test_urls_make_fsspec_stores(root: str) -> None:
    made = artifact_store_for(root, {"anon": True})
    assert isinstance(made, FsspecArtifactStore)
    assert made.root == root and made.storage_options == {"anon": True}


def test_a_url_whose_file_system_is_not_installed_fails_clearly() -> None:
    made = artifact_store_for("nosuchfs://bucket/x")
    with pytest.raises((ImportError, ValueError), match="nosuchfs"):
        made.exists(made.uri_for("a"))


# --- moving the root: artifacts recorded under the previous one --------------------------------


def test_a_remote_store_still_reads_artifacts_recorded_in_a_local_folder(
    remote: FsspecArtifactStore, tmp_path: pathlib.Path
) -> None:
    local = LocalArtifactStore(str(tmp_path / "before"))
    saved = save_value({"kept": True}, local, local.uri_for("old"))
    assert remote.exists(saved.uri)
    assert load(remote, saved) == {"kept": True}
    log = local.uri_for("old.log")
    local.write_text(log, "printed")
    assert remote.read_text(log) == "printed"


def test_a_local_store_names_the_remote_store_an_artifact_lives_in(
    tmp_path: pathlib.Path,
) -> None:
    local = LocalArtifactStore(str(tmp_path / "artifacts"))
    with (
        pytest.raises(ArtifactMissingError, match="FANFLOW_ARTIFACT_ROOT"),
        local.local_copy("s3://bucket/prefix/step/output/id"),
    ):
        pass


def test_the_client_reads_old_local_artifacts_after_the_root_moved(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from fanflow import pipeline, step
    from fanflow.client import Client

    @step(enable_cache=False)
    def produce() -> list[int]:
        return [1, 2, 3]

    @pipeline(enable_cache=False, name="root_moves")
    def root_moves() -> None:
        produce()

    before = root_moves()
    monkeypatch.setenv("FANFLOW_ARTIFACT_ROOT", f"memory://moved/{uuid.uuid4().hex}")
    after = root_moves()
    client = Client()
    assert client.get_pipeline_run(before.name).steps["produce"].output.load() == [1, 2, 3]
    moved = client.get_pipeline_run(after.name).steps["produce"].output
    assert moved.uri.startswith("memory://moved/")
    assert moved.load() == [1, 2, 3]


def test_an_upload_that_fails_cleans_up_after_itself(
    remote: FsspecArtifactStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_put = remote.fs.put_file
    calls: list[str] = []

    def fail_on_second(local: str, path: str, *args: Any, **kwargs: Any) -> None:
        calls.append(path)
        if len(calls) == 2:
            raise OSError("connection reset")
        real_put(local, path, *args, **kwargs)

    monkeypatch.setattr(remote.fs, "put_file", fail_on_second)
    uri = remote.uri_for("failed")
    with pytest.raises(OSError, match="connection reset"):
        save_value(pd.Series([1.0], name="s"), remote, uri)  # two files: the second fails
    remote.fs.invalidate_cache()
    assert not remote.exists(uri)
    assert remote.fs.find(remote._path(uri)) == []
    assert remote.pending() == []
