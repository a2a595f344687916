"""The local artifact store: atomic publishing, safe URIs, missing data, pickling."""

from __future__ import annotations

import os
import pathlib
import pickle
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import cloudpickle
import numpy as np
import pandas as pd
import pydantic
import pytest

from fanflow.artifacts.io import SavedArtifact, load_value, save_value
from fanflow.artifacts.materializers import BaseMaterializer
from fanflow.artifacts.registry import materializer_registry
from fanflow.artifacts.store import (
    STAGING_DIR,
    ArtifactStore,
    LocalArtifactStore,
    artifact_store_for,
)
from fanflow.exceptions import ArtifactMissingError, MaterializerError


class Measurement(pydantic.BaseModel):
    value: float
    unit: str


@pytest.fixture
def store(tmp_path: pathlib.Path) -> LocalArtifactStore:
    return LocalArtifactStore(str(tmp_path / "artifacts"))


@pytest.fixture
def cleanup() -> Iterator[list[type[BaseMaterializer]]]:
    defined: list[type[BaseMaterializer]] = []
    yield defined
    for materializer in defined:
        materializer_registry.unregister(materializer)


def staging_entries(store: LocalArtifactStore) -> list[str]:
    staging = os.path.join(store.root, STAGING_DIR)
    return os.listdir(staging) if os.path.isdir(staging) else []


def load(store: ArtifactStore, saved: SavedArtifact) -> Any:
    return load_value(saved.uri, saved.materializer, saved.data_type, store)


# --- publishing -----------------------------------------------------------------------------------


def test_publish_makes_the_staged_directory_appear_at_once(store: LocalArtifactStore) -> None:
    uri = store.uri_for("step", "output", "abc")
    staging = store.staging()
    assert os.path.isdir(staging)
    assert os.path.dirname(staging) == os.path.join(store.root, STAGING_DIR)
    with open(os.path.join(staging, "part-1"), "w") as handle:
        handle.write("one")
    os.mkdir(os.path.join(staging, "sub"))
    with open(os.path.join(staging, "sub", "part-2"), "w") as handle:
        handle.write("two")

    assert not os.path.exists(uri)
    assert not store.exists(uri)
    store.publish(staging, uri)
    assert store.exists(uri)
    assert not os.path.exists(staging)
    with open(os.path.join(uri, "sub", "part-2")) as handle:
        assert handle.read() == "two"
    assert staging_entries(store) == []


def test_staging_directories_are_fresh_and_distinct(store: LocalArtifactStore) -> None:
    first, second = store.staging(), store.staging()
    assert first != second
    assert os.listdir(first) == []
    store.discard(first)
    store.discard(second)
    assert staging_entries(store) == []


def test_publish_refuses_to_replace_an_existing_artifact(store: LocalArtifactStore) -> None:
    uri = store.uri_for("step", "output", "taken")
    first = save_value("first", store, uri)
    with pytest.raises(FileExistsError, match="already exists"):
        save_value("second", store, uri)
    assert load(store, first) == "first"
    assert staging_entries(store) == []


def test_publish_refuses_even_an_empty_directory_at_the_uri(store: LocalArtifactStore) -> None:
    uri = store.uri_for("empty")
    os.makedirs(uri)
    staging = store.staging()
    with pytest.raises(FileExistsError):
        store.publish(staging, uri)
    assert os.listdir(uri) == []


def test_failing_materializer_save_leaves_no_trace(
    store: LocalArtifactStore, cleanup: list[type[BaseMaterializer]]
) -> None:
    seen_uris: list[str] = []

    class HalfWriter(BaseMaterializer):
        SKIP_REGISTRATION = True

        def save(self, data: Any) -> None:
            seen_uris.append(self.uri)
            with open(os.path.join(self.uri, "first-half"), "w") as handle:
                handle.write(data)
            raise RuntimeError("crashed half-way")

    uri = store.uri_for("step", "output", "broken")
    with pytest.raises(MaterializerError, match="crashed half-way"):
        save_value("payload", store, uri, materializer_cls=HalfWriter)
    assert not os.path.exists(uri)
    assert staging_entries(store) == []
    # the materializer wrote into a staging directory, never at the final URI
    assert seen_uris and seen_uris[0] != uri
    assert not os.path.exists(seen_uris[0])


def test_keyboard_interrupt_during_save_also_cleans_up(store: LocalArtifactStore) -> None:
    class Interrupted(BaseMaterializer):
        SKIP_REGISTRATION = True

        def save(self, data: Any) -> None:
            with open(os.path.join(self.uri, "partial"), "w") as handle:
                handle.write("x")
            raise KeyboardInterrupt

    uri = store.uri_for("interrupted")
    with pytest.raises(KeyboardInterrupt):
        save_value(1, store, uri, materializer_cls=Interrupted)
    assert not os.path.exists(uri)
    assert staging_entries(store) == []


def test_fallback_after_a_failed_builtin_save_leaves_one_clean_artifact(
    store: LocalArtifactStore,
) -> None:
    value = pd.DataFrame({"lists": [[1], [2, 3]]})  # Parquet writes it, but not exactly
    uri = store.uri_for("fallback")
    saved = save_value(value, store, uri)
    assert saved.materializer == "fanflow.cloudpickle"
    assert sorted(os.listdir(uri)) == ["artifact.pkl", "python_version"]
    assert staging_entries(store) == []


def test_saving_works_after_the_root_was_removed(store: LocalArtifactStore) -> None:
    save_value(1, store, store.uri_for("a", "1"))
    shutil.rmtree(store.root)
    saved = save_value(2, store, store.uri_for("a", "2"))
    assert load(store, saved) == 2


# --- URIs -----------------------------------------------------------------------------------------


def test_uri_for_sanitizes_odd_characters(store: LocalArtifactStore) -> None:
    uri = store.uri_for("map:square:3", "output", "id-1")
    relative = os.path.relpath(uri, store.root)
    assert relative.split(os.sep) == ["map_square_3", "output", "id-1"]


@pytest.mark.parametrize(
    "part",
    ["../../escape", "..", ".", "/absolute", "a/b\\c", ".staging", "", "sp ace\ttab\nnl", "x\0y"],
)
def test_uri_for_keeps_every_part_one_component_inside_the_root(
    store: LocalArtifactStore, part: str
) -> None:
    uri = store.uri_for("step", part, "id")
    relative = pathlib.PurePath(os.path.relpath(uri, store.root))
    assert len(relative.parts) == 3
    assert os.path.commonpath([store.root, uri]) == store.root
    component = relative.parts[1]
    assert component not in {"", ".", ".."}
    assert not component.startswith(".")
    assert all(ch.isalnum() or ch in "-_.=" for ch in component)


def test_uri_for_keeps_readable_characters(store: LocalArtifactStore) -> None:
    uri = store.uri_for("process_3", "output=1", "v1.2-ä")
    assert os.path.relpath(uri, store.root).split(os.sep) == ["process_3", "output=1", "v1.2-ä"]


def test_uri_for_shortens_very_long_parts_and_keeps_them_distinct(
    store: LocalArtifactStore,
) -> None:
    long_a = "step" * 200 + "a"
    long_b = "step" * 200 + "b"
    uri_a = store.uri_for(long_a, "out")
    uri_b = store.uri_for(long_b, "out")
    component_a = os.path.relpath(uri_a, store.root).split(os.sep)[0]
    assert len(component_a.encode()) <= 200
    assert uri_a != uri_b
    assert uri_a == store.uri_for(long_a, "out")
    saved = save_value("fits on disk", store, uri_a)
    assert load(store, saved) == "fits on disk"


def test_uri_for_never_points_into_staging(store: LocalArtifactStore) -> None:
    uri = store.uri_for(".staging", "x")
    assert not uri.startswith(os.path.join(store.root, STAGING_DIR) + os.sep)


# --- missing data ---------------------------------------------------------------------------------


def test_loading_from_a_missing_uri_raises_artifact_missing_error(
    store: LocalArtifactStore,
) -> None:
    uri = store.uri_for("never", "written")
    with pytest.raises(ArtifactMissingError) as caught:
        load_value(uri, "fanflow.json", "builtins.int", store)
    assert isinstance(caught.value, FileNotFoundError)
    assert uri in str(caught.value)


def test_loading_after_the_artifact_directory_was_deleted(store: LocalArtifactStore) -> None:
    saved = save_value([1, 2], store, store.uri_for("gone"))
    shutil.rmtree(saved.uri)
    with pytest.raises(ArtifactMissingError, match="deleted or moved"):
        load(store, saved)


def test_local_copy_of_a_missing_uri_raises(store: LocalArtifactStore) -> None:
    with pytest.raises(ArtifactMissingError), store.local_copy(store.uri_for("missing")):
        pass  # pragma: no cover


@pytest.mark.parametrize(
    ("make_value", "filename"),
    [
        (lambda: {"a": 1}, "data.json"),
        (lambda: b"raw", "data.bin"),
        (lambda: np.arange(3), "array.npy"),
        (lambda: np.float32(2.5), "array.npy"),
        (lambda: np.float32(2.5), "scalar"),
        (lambda: pd.DataFrame({"a": [1, 2]}), "data.parquet"),
        (lambda: pd.Series([1, 2], name="s"), "data.parquet"),
        (lambda: pd.Series([1, 2], name="s"), "series.json"),
        (lambda: Measurement(value=1.5, unit="m"), "data.json"),
        (lambda: object(), "artifact.pkl"),
    ],
    ids=[
        "json",
        "bytes",
        "numpy",
        "numpy-scalar-data",
        "numpy-scalar-marker",
        "dataframe",
        "series-data",
        "series-name",
        "pydantic",
        "cloudpickle",
    ],
)
def test_loading_when_a_file_inside_the_artifact_was_deleted(
    store: LocalArtifactStore, make_value: Callable[[], Any], filename: str
) -> None:
    saved = save_value(make_value(), store, store.uri_for("partial", filename))
    path = os.path.join(saved.uri, filename)
    assert os.path.exists(path), os.listdir(saved.uri)
    os.remove(path)
    with pytest.raises(ArtifactMissingError) as caught:
        load(store, saved)
    message = str(caught.value)
    assert saved.uri in message
    assert "incomplete" in message


# --- pickling and construction --------------------------------------------------------------------


@pytest.mark.parametrize("dumps", [pickle.dumps, cloudpickle.dumps], ids=["pickle", "cloudpickle"])
def test_store_pickles_and_works_after_unpickling(
    store: LocalArtifactStore, dumps: Callable[[Any], bytes]
) -> None:
    before = save_value({"k": (1, 2)}, store, store.uri_for("before"))
    copy = pickle.loads(dumps(store))
    assert type(copy) is LocalArtifactStore
    assert copy.root == store.root
    assert load(copy, before) == {"k": (1, 2)}
    after = save_value([3], copy, copy.uri_for("after"))
    assert load(store, after) == [3]
    assert repr(copy) == repr(store)


def test_pickled_store_is_small(store: LocalArtifactStore) -> None:
    for index in range(20):
        save_value(index, store, store.uri_for("many", str(index)))
    assert len(pickle.dumps(store)) < 300 + len(store.root)


def test_local_store_satisfies_the_protocol(store: LocalArtifactStore) -> None:
    assert isinstance(store, ArtifactStore)


def test_root_is_made_absolute(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = LocalArtifactStore("relative/root")
    assert store.root == str(tmp_path / "relative" / "root")


def test_artifact_store_for_local_paths(tmp_path: pathlib.Path) -> None:
    plain = artifact_store_for(str(tmp_path / "a"))
    assert isinstance(plain, LocalArtifactStore)
    assert plain.root == str(tmp_path / "a")
    from_file_uri = artifact_store_for(f"file://{tmp_path / 'b'}")
    assert isinstance(from_file_uri, LocalArtifactStore)
    assert from_file_uri.root == str(tmp_path / "b")


# --- ZenML's artifact-store file methods ----------------------------------------------------------


def test_zenml_style_file_methods(store: LocalArtifactStore, tmp_path: pathlib.Path) -> None:
    base = str(tmp_path / "files")
    store.makedirs(os.path.join(base, "a", "b"))
    assert store.isdir(os.path.join(base, "a", "b"))
    with store.open(os.path.join(base, "a", "x.txt"), "w") as handle:
        handle.write("hello")
    assert store.exists(os.path.join(base, "a"))
    assert sorted(store.listdir(os.path.join(base, "a"))) == ["b", "x.txt"]
    assert store.size(os.path.join(base, "a", "x.txt")) == 5
    assert store.stat(os.path.join(base, "a", "x.txt")).st_size == 5
    store.copyfile(os.path.join(base, "a", "x.txt"), os.path.join(base, "y.txt"))
    with pytest.raises(FileExistsError):
        store.copyfile(os.path.join(base, "a", "x.txt"), os.path.join(base, "y.txt"))
    store.rename(os.path.join(base, "y.txt"), os.path.join(base, "z.txt"))
    assert store.glob(os.path.join(base, "*.txt")) == [os.path.join(base, "z.txt")]
    walked = {os.path.relpath(current, base) for current, _dirs, _files in store.walk(base)}
    assert walked == {".", "a", os.path.join("a", "b")}
    store.remove(os.path.join(base, "z.txt"))
    store.rmtree(os.path.join(base, "a"))
    assert store.listdir(base) == []


def test_sweep_staging_removes_only_old_leftovers_of_unknown_writers(tmp_path):
    import os
    import time

    from fanflow.artifacts.store import LocalArtifactStore

    store = LocalArtifactStore(str(tmp_path / "root"))
    mine = store.staging()  # this process is alive: kept however old
    parent = os.path.dirname(mine)
    old, young = os.path.join(parent, "other-host.1.a"), os.path.join(parent, "no-owner")
    os.mkdir(old)
    os.mkdir(young)
    past = time.time() - 7200
    for path in (old, mine):
        os.utime(path, (past, past))
    assert store.sweep_staging(older_than_s=3600) == 1
    assert not os.path.exists(old) and os.path.isdir(young) and os.path.isdir(mine)
