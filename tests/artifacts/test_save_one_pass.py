"""Saving JSON and bytes values in one pass, and the per-type materializer cache.

The one-pass path hashes the bytes it encoded in memory instead of walking and re-reading the
published directory; the recorded hash must be exactly the one the directory walk gives, or
content-based caching would treat every value saved before and after as different.
"""

from __future__ import annotations

import os
import pathlib
from typing import Any

import pytest

from fanflow.artifacts.builtin_materializers import BytesMaterializer, JsonMaterializer
from fanflow.artifacts.io import hash_folder, load_value, save_value
from fanflow.artifacts.materializers import BaseMaterializer
from fanflow.artifacts.registry import materializer_registry
from fanflow.artifacts.store import STAGING_DIR, LocalArtifactStore
from fanflow.exceptions import MaterializerError


@pytest.fixture
def store(tmp_path: pathlib.Path) -> LocalArtifactStore:
    return LocalArtifactStore(str(tmp_path / "artifacts"))


@pytest.mark.parametrize(
    "value",
    [7, "héllo \ud800", [1, (2, 3), {"a": {4}}], None, 2.5, b"\x00raw bytes", {"k": b"x"}],
)
def test_one_pass_hash_equals_the_directory_walk(store: LocalArtifactStore, value: Any) -> None:
    uri = store.uri_for("inv", "output", "a1")
    saved = save_value(value, store, uri)
    assert (saved.content_hash, saved.size) == hash_folder(uri)
    assert saved.metadata["storage_size"] == saved.size
    assert load_value(uri, saved.materializer, saved.data_type, store) == value
    assert os.listdir(os.path.join(store.root, STAGING_DIR)) == []


def test_one_pass_records_the_materializer_metadata(store: LocalArtifactStore) -> None:
    saved = save_value(41, store, store.uri_for("inv", "out", "a2"))
    assert saved.materializer == JsonMaterializer.NAME
    assert saved.metadata["value"] == 41
    raw = save_value(b"abc", store, store.uri_for("inv", "out", "a3"))
    assert raw.materializer == BytesMaterializer.NAME
    assert pathlib.Path(raw.uri, "data.bin").read_bytes() == b"abc"


def test_publishing_over_an_existing_artifact_leaves_no_staging(store: LocalArtifactStore) -> None:
    uri = store.uri_for("inv", "out", "a4")
    save_value(1, store, uri)
    with pytest.raises(FileExistsError):
        save_value(2, store, uri)
    assert load_value(uri, JsonMaterializer.NAME, "builtins.int", store) == 1
    assert os.listdir(os.path.join(store.root, STAGING_DIR)) == []


def test_explicit_json_materializer_refuses_a_value_it_cannot_encode(
    store: LocalArtifactStore,
) -> None:
    with pytest.raises(MaterializerError, match=r"fanflow\.json cannot save"):
        save_value(object(), store, store.uri_for("inv", "out", "a5"), JsonMaterializer)
    assert not os.path.exists(store.uri_for("inv", "out", "a5"))


class Meters(float):
    """A float subclass: not JSON-exact, so it is pickled until a materializer claims it."""


def test_unencodable_builtin_container_falls_back_to_pickle(store: LocalArtifactStore) -> None:
    value = [Meters(1.5)]
    saved = save_value(value, store, store.uri_for("inv", "out", "a6"))
    assert saved.materializer == "fanflow.cloudpickle"
    assert (saved.content_hash, saved.size) == hash_folder(saved.uri)


def test_select_cache_is_emptied_by_registration() -> None:
    assert materializer_registry.select(Meters).NAME == "fanflow.cloudpickle"

    class MetersMaterializer(BaseMaterializer):
        ASSOCIATED_TYPES = (Meters,)

        def save(self, data: Any) -> None:
            with open(os.path.join(self.uri, "m.txt"), "w") as handle:
                handle.write(repr(float(data)))

        def load(self, data_type: type[Any]) -> Any:
            with open(os.path.join(self.uri, "m.txt")) as handle:
                return Meters(float(handle.read()))

    try:
        assert materializer_registry.select(Meters) is MetersMaterializer
    finally:
        materializer_registry.unregister(MetersMaterializer)
    assert materializer_registry.select(Meters).NAME == "fanflow.cloudpickle"


def test_select_cache_is_emptied_by_zenml_style_registration() -> None:
    class Feet(float):
        pass

    class FeetMaterializer(BaseMaterializer):
        SKIP_REGISTRATION = True

    assert materializer_registry.select(Feet).NAME == "fanflow.cloudpickle"
    materializer_registry.register_and_overwrite_type(key=Feet, type_=FeetMaterializer)
    try:
        assert materializer_registry.select(Feet) is FeetMaterializer
    finally:
        materializer_registry.unregister(FeetMaterializer)
    assert materializer_registry.select(Feet).NAME == "fanflow.cloudpickle"
