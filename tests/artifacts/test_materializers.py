"""Saving values as artifacts and loading them back (`fanflow.artifacts.io`), per materializer."""

from __future__ import annotations

import dataclasses
import datetime as dt
import decimal
import logging
import os
import pathlib
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd
import pydantic
import pytest

from fanflow.artifacts.builtin_materializers import JsonMaterializer
from fanflow.artifacts.io import SavedArtifact, load_value, save_value
from fanflow.artifacts.materializers import BaseMaterializer
from fanflow.artifacts.registry import materializer_registry
from fanflow.artifacts.store import STAGING_DIR, LocalArtifactStore
from fanflow.enums import ArtifactType
from fanflow.exceptions import (
    MaterializerConflictError,
    MaterializerError,
    MaterializerInterfaceError,
)

# --- importable types used by the tests -----------------------------------------------------------


class Reading(pydantic.BaseModel):
    sensor: str
    values: list[float]
    at: dt.datetime
    window: tuple[int, int]


class Station(pydantic.BaseModel):
    name: str
    readings: list[Reading] = []
    tags: dict[str, int] = {}


class Loose(pydantic.BaseModel):
    anything: Any = None
    ratio: float = 0.0


@dataclasses.dataclass
class Sample:
    name: str
    shape: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class Batch:
    samples: tuple[Sample, ...]
    labels: dict[int, str]


@dataclasses.dataclass
class BaseRecord:
    value: int


@dataclasses.dataclass
class SubRecord(BaseRecord):
    extra: str = ""


class Celsius:
    def __init__(self, degrees: float) -> None:
        self.degrees = degrees

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.degrees == self.degrees  # type: ignore[attr-defined]

    __hash__ = None  # type: ignore[assignment]


class PreciseCelsius(Celsius):
    pass


class Kelvin:
    def __init__(self, value: float) -> None:
        self.value = value


class Fahrenheit:
    def __init__(self, value: float) -> None:
        self.value = value


class MaterializerHolder:
    class NestedMaterializer(BaseMaterializer):
        NAME = "tests.custom-name-not-a-path"
        SKIP_REGISTRATION = True


class LabeledFrame(pd.DataFrame):
    @property
    def _constructor(self) -> type[LabeledFrame]:
        return LabeledFrame


# --- fixtures and helpers -------------------------------------------------------------------------


@pytest.fixture
def store(tmp_path: pathlib.Path) -> LocalArtifactStore:
    return LocalArtifactStore(str(tmp_path / "artifacts"))


@pytest.fixture
def cleanup() -> Iterator[list[type[BaseMaterializer]]]:
    """Materializers a test defines; unregistered afterwards so tests stay independent."""
    defined: list[type[BaseMaterializer]] = []
    yield defined
    for materializer in defined:
        materializer_registry.unregister(materializer)


@pytest.fixture
def fanflow_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Records of the `fanflow` logger, even if it stopped propagating to the root logger."""
    logger = logging.getLogger("fanflow")
    old_level, old_propagate = logger.level, logger.propagate
    logger.addHandler(caplog.handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False  # caplog's handler sits on the root logger too: no duplicates
    try:
        yield caplog
    finally:
        logger.removeHandler(caplog.handler)
        logger.setLevel(old_level)
        logger.propagate = old_propagate


_counter = iter(range(10**9))


def save(store: LocalArtifactStore, value: Any, **kwargs: Any) -> SavedArtifact:
    return save_value(value, store, store.uri_for("step", "output", str(next(_counter))), **kwargs)


def load(store: LocalArtifactStore, saved: SavedArtifact) -> Any:
    return load_value(saved.uri, saved.materializer, saved.data_type, store)


def roundtrip(store: LocalArtifactStore, value: Any, **kwargs: Any) -> tuple[SavedArtifact, Any]:
    saved = save(store, value, **kwargs)
    return saved, load(store, saved)


def disk_size(directory: str) -> int:
    total = 0
    for current, _dirs, files in os.walk(directory):
        total += sum(os.path.getsize(os.path.join(current, name)) for name in files)
    return total


def staging_leftovers(store: LocalArtifactStore) -> list[str]:
    staging = os.path.join(store.root, STAGING_DIR)
    return os.listdir(staging) if os.path.isdir(staging) else []


def fallback_warnings(log: pytest.LogCaptureFixture, type_name: str) -> list[str]:
    return [
        record.getMessage()
        for record in log.records
        if record.name == "fanflow" and "cloudpickle" in record.getMessage()
        if type_name in record.getMessage()
    ]


# --- builtin values: JSON and bytes ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "data_type"),
    [
        ("text ünïcödé", "builtins.str"),
        (42, "builtins.int"),
        (10**40, "builtins.int"),
        (-0.0, "builtins.float"),
        (float("inf"), "builtins.float"),
        (True, "builtins.bool"),
        (None, "builtins.NoneType"),
        ([1, "two", [3.0, None]], "builtins.list"),
        ({"a": 1, "b": {"c": [True]}}, "builtins.dict"),
        ((1, (2, "three")), "builtins.tuple"),
        ({1: (2, 3), None: "x"}, "builtins.dict"),
        ({1, 2, 3}, "builtins.set"),
        (frozenset({"a"}), "builtins.frozenset"),
        ([b"bytes", {b"inside"}], "builtins.list"),
    ],
    ids=lambda value: repr(value)[:20],
)
def test_builtin_values_round_trip_as_json(
    store: LocalArtifactStore, value: Any, data_type: str
) -> None:
    saved, loaded = roundtrip(store, value)
    assert saved.materializer == "fanflow.json"
    assert saved.data_type == data_type
    assert saved.artifact_type == str(ArtifactType.DATA)
    assert type(loaded) is type(value)
    assert loaded == value or (value != value and loaded != loaded)
    assert os.listdir(saved.uri) == ["data.json"]


def test_float_sign_of_zero_survives(store: LocalArtifactStore) -> None:
    _, loaded = roundtrip(store, -0.0)
    assert str(loaded) == "-0.0"


@pytest.mark.parametrize(
    "value",
    [
        dt.datetime(2024, 5, 17, 12, 0, tzinfo=dt.timezone.utc),
        dt.date(2024, 5, 17),
        dt.timedelta(hours=5),
        decimal.Decimal("3.140"),
        uuid.UUID(int=7),
        pathlib.PurePosixPath("data/file.csv"),
        complex(1, -2),
    ],
    ids=lambda value: type(value).__name__,
)
def test_stdlib_values_at_top_level_use_json_not_pickle(
    store: LocalArtifactStore, value: Any
) -> None:
    saved, loaded = roundtrip(store, value)
    assert saved.materializer == "fanflow.json"
    assert type(loaded) is type(value)
    assert repr(loaded) == repr(value)


@pytest.mark.parametrize("value", [b"", b"\x00\x01\xff" * 100, bytes(range(256))])
def test_bytes_round_trip_raw(store: LocalArtifactStore, value: bytes) -> None:
    saved, loaded = roundtrip(store, value)
    assert saved.materializer == "fanflow.bytes"
    assert saved.data_type == "builtins.bytes"
    assert loaded == value
    assert type(loaded) is bytes
    with open(os.path.join(saved.uri, "data.bin"), "rb") as handle:
        assert handle.read() == value


def test_bool_stays_bool_and_int_stays_int(store: LocalArtifactStore) -> None:
    _, loaded_true = roundtrip(store, True)
    _, loaded_one = roundtrip(store, 1)
    assert loaded_true is True
    assert type(loaded_one) is int


def test_json_metadata_describes_small_values(store: LocalArtifactStore) -> None:
    assert save(store, "hello").metadata["value"] == "hello"
    assert save(store, [1, 2, 3]).metadata["length"] == 3


# --- numpy ----------------------------------------------------------------------------------------


def assert_same_array(expected: np.ndarray, actual: Any) -> None:
    assert type(actual) is np.ndarray
    assert actual.dtype == expected.dtype
    assert actual.shape == expected.shape
    # bytes compare NaN, NaT and -0.0 exactly
    assert actual.tobytes() == expected.tobytes()
    assert actual.flags.f_contiguous == expected.flags.f_contiguous or actual.ndim < 2


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.int8).reshape(3, 4),
        np.array([0, 65535], dtype=np.uint16),
        np.array([1.5, np.nan, -np.inf, -0.0], dtype=np.float32),
        np.linspace(0, 1, 7, dtype=np.float64),
        np.array([1 + 2j, -0.5j], dtype=np.complex128),
        np.array([True, False]),
        np.array(["2024-01-01", "NaT"], dtype="datetime64[ns]"),
        np.array([1, -2], dtype="timedelta64[s]"),
        np.array(["ä", "longer"], dtype="<U6"),
        np.array([b"ab", b"c"], dtype="S2"),
        np.arange(4, dtype=">i4"),
        np.zeros((0, 3)),
        np.asfortranarray(np.arange(6.0).reshape(2, 3)),
        np.arange(20)[::3],
        np.array([(1, 2.5, "x"), (3, -1.0, "yz")], dtype=[("a", "i4"), ("b", "f8"), ("c", "U2")]),
        np.zeros(2, dtype=np.dtype([("flag", "u1"), ("value", "<f8")], align=True)),
        np.array(7.25),
        np.array("zero-d"),
    ],
    ids=lambda array: f"{array.dtype}-{array.shape}",
)
def test_numpy_arrays_round_trip(store: LocalArtifactStore, array: np.ndarray) -> None:
    saved, loaded = roundtrip(store, array)
    assert saved.materializer == "fanflow.numpy"
    assert saved.data_type == "numpy.ndarray"
    assert_same_array(array, loaded)


def test_zero_d_array_stays_an_array(store: LocalArtifactStore) -> None:
    _, loaded = roundtrip(store, np.array(3))
    assert isinstance(loaded, np.ndarray)
    assert loaded.ndim == 0
    assert loaded == 3


def test_structured_array_keeps_its_fields(store: LocalArtifactStore) -> None:
    array = np.array([(1, "a")], dtype=[("id", "<i8"), ("name", "<U3")])
    _, loaded = roundtrip(store, array)
    assert loaded.dtype.names == ("id", "name")
    assert loaded["name"][0] == "a"


@pytest.mark.parametrize(
    "scalar",
    [
        np.float64(2.5),
        np.float32(-0.0),
        np.int8(-7),
        np.uint64(2**64 - 1),
        np.bool_(True),
        np.complex64(1 - 1j),
        np.datetime64("2024-02-29T12:00"),
        np.str_("text"),
    ],
    ids=lambda scalar: type(scalar).__name__,
)
def test_numpy_scalars_round_trip_as_scalars(store: LocalArtifactStore, scalar: Any) -> None:
    saved, loaded = roundtrip(store, scalar)
    assert saved.materializer == "fanflow.numpy"
    assert saved.data_type == f"numpy.{type(scalar).__qualname__}"
    assert type(loaded) is type(scalar)
    assert loaded == scalar
    assert np.asarray(loaded).dtype == np.asarray(scalar).dtype


def test_object_arrays_fall_back_to_cloudpickle(
    store: LocalArtifactStore, fanflow_log: pytest.LogCaptureFixture
) -> None:
    array = np.array([{"a": 1}, None, [1, 2]], dtype=object)
    saved, loaded = roundtrip(store, array)
    assert saved.materializer == "fanflow.cloudpickle"
    assert saved.data_type == "numpy.ndarray"
    assert loaded.dtype == object
    assert list(loaded) == list(array)
    assert not staging_leftovers(store)


def test_ndarray_subclasses_keep_their_type(store: LocalArtifactStore) -> None:
    masked = np.ma.masked_array([1, 2, 3], mask=[False, True, False])
    saved, loaded = roundtrip(store, masked)
    assert saved.materializer == "fanflow.cloudpickle"
    assert type(loaded) is np.ma.MaskedArray
    assert list(loaded.mask) == [False, True, False]


# --- pandas ---------------------------------------------------------------------------------------


def assert_same_frame(expected: pd.DataFrame, actual: Any) -> None:
    assert type(actual) is type(expected)
    pd.testing.assert_frame_equal(actual, expected, check_exact=True, check_column_type=True)
    assert [type(label) for label in actual.columns] == [type(label) for label in expected.columns]


def test_dataframe_with_index_and_non_default_dtypes_round_trips(
    store: LocalArtifactStore,
) -> None:
    frame = pd.DataFrame(
        {
            "category": pd.Categorical(["x", "y", "x"]),
            "nullable": pd.array([1, None, 3], dtype="Int64"),
            "small": np.array([1.5, 2.5, -0.0], dtype=np.float32),
            "flag": [True, False, True],
            "when": pd.to_datetime(["2024-01-01", "2024-06-01", "2025-01-01"]).tz_localize("UTC"),
            "text": pd.array(["a", None, "c"], dtype="string"),
            "u8": np.array([0, 128, 255], dtype=np.uint8),
        },
        index=pd.Index([10, 20, 30], name="id"),
    )
    saved, loaded = roundtrip(store, frame)
    assert saved.materializer == "fanflow.pandas"
    assert saved.data_type == "pandas.DataFrame"
    assert_same_frame(frame, loaded)
    assert loaded.index.name == "id"
    assert list(loaded.dtypes) == list(frame.dtypes)
    assert saved.metadata["shape"] == [3, 7]


def test_dataframe_with_multiindex_round_trips(store: LocalArtifactStore) -> None:
    index = pd.MultiIndex.from_tuples([("a", 1), ("a", 2), ("b", 1)], names=["key", "n"])
    frame = pd.DataFrame({"v": [1.0, 2.0, 3.0]}, index=index)
    saved, loaded = roundtrip(store, frame)
    assert saved.materializer == "fanflow.pandas"
    assert_same_frame(frame, loaded)


@pytest.mark.parametrize("name", ["values", 3, None, ("multi", 1)], ids=repr)
def test_series_keeps_its_name(store: LocalArtifactStore, name: Any) -> None:
    series = pd.Series([1.5, 2.5, None], index=pd.Index(["a", "b", "c"], name="key"), name=name)
    saved, loaded = roundtrip(store, series)
    assert saved.materializer == "fanflow.pandas"
    assert saved.data_type == "pandas.Series"
    assert type(loaded) is pd.Series
    assert loaded.name == name
    assert type(loaded.name) is type(name)
    pd.testing.assert_series_equal(loaded, series, check_exact=True)


def test_series_named_like_the_internal_column(store: LocalArtifactStore) -> None:
    series = pd.Series([1, 2], name="__series__")
    _, loaded = roundtrip(store, series)
    pd.testing.assert_series_equal(loaded, series, check_exact=True)


@pytest.mark.parametrize(
    "columns",
    [[1, 2], [0.5, 1.5], [1, "b"], [("a", 1), ("b", 2)]],
    ids=["int", "float", "mixed", "tuples"],
)
def test_dataframe_with_non_string_column_names_round_trips(
    store: LocalArtifactStore, columns: list[Any]
) -> None:
    frame = pd.DataFrame([[1, 2], [3, 4]], columns=columns)
    saved, loaded = roundtrip(store, frame)
    assert saved.materializer in {"fanflow.pandas", "fanflow.cloudpickle"}
    assert list(loaded.columns) == columns
    assert [type(label) for label in loaded.columns] == [type(label) for label in columns]
    pd.testing.assert_frame_equal(loaded, frame, check_exact=True)


@pytest.mark.parametrize(
    "frame",
    [
        pd.DataFrame({"lists": [[1, 2], [3]]}),
        pd.DataFrame({"tuples": [(1, 2), (3,)]}),
        pd.DataFrame({"mixed": [1, "x"]}),
        pd.DataFrame({"objects": pd.Series(["a", "b"], dtype=object)}),
        pd.DataFrame({"v": [1, 2, 3]}, index=pd.date_range("2024-01-01", periods=3, freq="D")),
        pd.DataFrame([[1, 2]], columns=["dup", "dup"]),
        pd.DataFrame({"c": [1 + 1j]}),
    ],
    ids=["lists", "tuples", "mixed", "object-str", "freq", "duplicate-columns", "complex"],
)
def test_dataframes_parquet_cannot_store_exactly_fall_back_and_round_trip(
    store: LocalArtifactStore, frame: pd.DataFrame
) -> None:
    saved, loaded = roundtrip(store, frame)
    assert saved.materializer == "fanflow.cloudpickle"
    pd.testing.assert_frame_equal(loaded, frame, check_exact=True, check_freq=True)
    for column in range(frame.shape[1]):
        assert [type(v) for v in loaded.iloc[:, column]] == [type(v) for v in frame.iloc[:, column]]
    assert not staging_leftovers(store)


def test_dataframe_subclass_keeps_its_type(store: LocalArtifactStore) -> None:
    frame = LabeledFrame({"a": [1, 2]})
    saved, loaded = roundtrip(store, frame)
    assert type(loaded) is LabeledFrame
    assert saved.data_type.endswith("test_materializers.LabeledFrame")
    pd.testing.assert_frame_equal(loaded, frame)


def test_dataframe_attrs_survive(store: LocalArtifactStore) -> None:
    frame = pd.DataFrame({"a": [1]})
    frame.attrs["source"] = "sensor-7"
    _, loaded = roundtrip(store, frame)
    assert loaded.attrs == {"source": "sensor-7"}


# --- pydantic -------------------------------------------------------------------------------------


def test_pydantic_model_round_trips_as_json(store: LocalArtifactStore) -> None:
    station = Station(
        name="north",
        readings=[
            Reading(
                sensor="t1",
                values=[1.5, -0.25],
                at=dt.datetime(2024, 1, 1, 12, tzinfo=dt.timezone.utc),
                window=(0, 10),
            )
        ],
        tags={"floor": 3},
    )
    saved, loaded = roundtrip(store, station)
    assert saved.materializer == "fanflow.pydantic"
    assert saved.data_type.endswith("test_materializers.Station")
    assert type(loaded) is Station
    assert loaded == station
    assert type(loaded.readings[0].window) is tuple


def test_pydantic_model_defined_in_a_function_falls_back(store: LocalArtifactStore) -> None:
    class LocalModel(pydantic.BaseModel):
        x: int

    saved, loaded = roundtrip(store, LocalModel(x=3))
    assert saved.materializer == "fanflow.cloudpickle"
    assert loaded.x == 3
    assert type(loaded).__qualname__ == LocalModel.__qualname__


@pytest.mark.parametrize(
    "model",
    [Loose(ratio=float("inf")), Loose(anything=(1, 2)), Loose(anything={1: "int key"})],
    ids=["inf", "tuple-in-any", "int-key-in-any"],
)
def test_pydantic_models_json_cannot_store_exactly_fall_back(
    store: LocalArtifactStore, model: Loose
) -> None:
    saved, loaded = roundtrip(store, model)
    assert saved.materializer == "fanflow.cloudpickle"
    assert type(loaded) is Loose
    assert loaded == model


# --- dataclasses ----------------------------------------------------------------------------------


def test_importable_dataclasses_round_trip_as_json(store: LocalArtifactStore) -> None:
    batch = Batch(samples=(Sample("a", (1, 2)), Sample("b", ())), labels={0: "neg", 1: "pos"})
    saved, loaded = roundtrip(store, batch)
    assert saved.materializer == "fanflow.json"
    assert saved.data_type.endswith("test_materializers.Batch")
    assert type(loaded) is Batch
    assert loaded == batch
    assert type(loaded.samples[0]) is Sample
    assert type(loaded.samples[0].shape) is tuple


def test_local_types_fall_back_to_cloudpickle_with_one_warning_per_type(
    store: LocalArtifactStore, fanflow_log: pytest.LogCaptureFixture
) -> None:
    @dataclasses.dataclass
    class LocalPoint:
        x: int

    class LocalThing:
        def __init__(self, value: int) -> None:
            self.value = value

    for index in range(3):
        saved, loaded = roundtrip(store, LocalPoint(index))
        assert saved.materializer == "fanflow.cloudpickle"
        assert loaded == LocalPoint(index)
    assert len(fallback_warnings(fanflow_log, "LocalPoint")) == 1

    for index in range(2):
        _, loaded = roundtrip(store, LocalThing(index))
        assert loaded.value == index
    assert len(fallback_warnings(fanflow_log, "LocalThing")) == 1
    assert len(fallback_warnings(fanflow_log, "LocalPoint")) == 1


def test_fallback_warning_names_the_type(
    store: LocalArtifactStore, fanflow_log: pytest.LogCaptureFixture
) -> None:
    class Unusual:
        pass

    save(store, Unusual())
    (message,) = fallback_warnings(fanflow_log, "Unusual")
    assert "test_fallback_warning_names_the_type.<locals>.Unusual" in message


# --- values nothing can save ----------------------------------------------------------------------


def _generator() -> Iterator[int]:
    yield 1


@pytest.mark.parametrize(
    ("factory", "type_name"),
    [(_generator, "builtins.generator"), (threading.Lock, "_thread.lock")],
    ids=["generator", "lock"],
)
def test_unsaveable_values_raise_materializer_error_naming_the_type(
    store: LocalArtifactStore, factory: Callable[[], Any], type_name: str
) -> None:
    uri = store.uri_for("step", "unsaveable")
    with pytest.raises(MaterializerError) as caught:
        save_value(factory(), store, uri)
    message = str(caught.value)
    assert type_name in message
    assert "cloudpickle" in message
    assert not os.path.exists(uri)
    assert not staging_leftovers(store)


# --- SavedArtifact fields -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "x" * 1000,
        {"nested": list(range(100))},
        b"\x00" * 4096,
        np.arange(1000, dtype=np.float64),
        pd.DataFrame({"a": range(50)}),
        pd.Series([1, 2, 3], name="s"),
        Station(name="s"),
        Sample("a", (1,)),
    ],
    ids=lambda value: type(value).__name__,
)
def test_saved_size_is_bytes_on_disk(store: LocalArtifactStore, value: Any) -> None:
    saved = save(store, value)
    assert saved.size == disk_size(saved.uri)
    assert saved.size > 0
    assert saved.metadata["storage_size"] == saved.size


@pytest.mark.parametrize(
    ("make_value", "make_other"),
    [
        (lambda: {"a": [1, 2, (3, 4)]}, lambda: {"a": [1, 2, (3, 5)]}),
        (lambda: {3, 1, 2}, lambda: {3, 1, 4}),
        (lambda: b"payload", lambda: b"payloaD"),
        (lambda: np.arange(10), lambda: np.arange(1, 11)),
        (lambda: pd.DataFrame({"a": [1.0, 2.0]}), lambda: pd.DataFrame({"a": [1.0, 2.5]})),
        (lambda: Station(name="x"), lambda: Station(name="y")),
    ],
    ids=["json", "set", "bytes", "numpy", "pandas", "pydantic"],
)
def test_content_hash_is_stable_for_equal_values_and_differs_otherwise(
    store: LocalArtifactStore, make_value: Callable[[], Any], make_other: Callable[[], Any]
) -> None:
    first = save(store, make_value())
    second = save(store, make_value())
    other = save(store, make_other())
    assert first.uri != second.uri
    assert first.content_hash == second.content_hash
    assert first.content_hash != other.content_hash
    assert len(first.content_hash) == 64
    int(first.content_hash, 16)


def test_saved_artifact_ids_and_uris(store: LocalArtifactStore) -> None:
    uri = store.uri_for("step", "out")
    saved = save_value(1, store, uri, artifact_id="fixed-id")
    assert saved.id == "fixed-id"
    assert saved.uri == uri
    assert os.path.isdir(uri)
    generated = {save(store, 1).id for _ in range(3)}
    assert len(generated) == 3


def test_data_type_is_module_and_qualname(store: LocalArtifactStore) -> None:
    class Local:
        pass

    assert save(store, Sample("a", ())).data_type == f"{__name__}.Sample"
    assert save(store, Local()).data_type == (
        f"{__name__}.test_data_type_is_module_and_qualname.<locals>.Local"
    )
    assert save(store, np.float32(1)).data_type == "numpy.float32"


# --- custom materializers in ZenML's shape --------------------------------------------------------


def _celsius_materializer() -> type[BaseMaterializer]:
    class CelsiusMaterializer(BaseMaterializer):
        ASSOCIATED_TYPES = (Celsius,)
        ASSOCIATED_ARTIFACT_TYPE = ArtifactType.DATA

        def load(self, data_type: type[Any]) -> Any:
            with self.artifact_store.open(os.path.join(self.uri, "degrees.txt")) as handle:
                return data_type(float(handle.read()))

        def save(self, data: Any) -> None:
            with self.artifact_store.open(os.path.join(self.uri, "degrees.txt"), "w") as handle:
                handle.write(repr(data.degrees))

        def extract_metadata(self, data: Any) -> dict[str, Any]:
            return {"degrees": data.degrees}

    return CelsiusMaterializer


def test_custom_materializer_is_registered_on_definition_and_used(
    store: LocalArtifactStore, cleanup: list[type[BaseMaterializer]]
) -> None:
    assert materializer_registry.select(Celsius).NAME == "fanflow.cloudpickle"
    materializer = _celsius_materializer()
    cleanup.append(materializer)
    assert materializer_registry.select(Celsius) is materializer
    saved, loaded = roundtrip(store, Celsius(21.5))
    assert saved.materializer == materializer.NAME
    assert saved.artifact_type == "DataArtifact"
    assert saved.metadata["degrees"] == 21.5
    assert loaded == Celsius(21.5)
    with open(os.path.join(saved.uri, "degrees.txt")) as handle:
        assert handle.read() == "21.5"


def test_custom_materializer_is_selected_for_subclasses(
    store: LocalArtifactStore, cleanup: list[type[BaseMaterializer]]
) -> None:
    materializer = _celsius_materializer()
    cleanup.append(materializer)
    assert materializer_registry.select(PreciseCelsius) is materializer
    saved, loaded = roundtrip(store, PreciseCelsius(-3.25))
    assert saved.materializer == materializer.NAME
    assert saved.data_type.endswith("PreciseCelsius")
    assert type(loaded) is PreciseCelsius
    assert loaded.degrees == -3.25


def test_unregister_restores_the_default(cleanup: list[type[BaseMaterializer]]) -> None:
    materializer = _celsius_materializer()
    materializer_registry.unregister(materializer)
    assert materializer_registry.select(Celsius).NAME == "fanflow.cloudpickle"


def test_user_materializer_for_a_base_class_wins_over_dataclass_json(
    store: LocalArtifactStore, cleanup: list[type[BaseMaterializer]]
) -> None:
    assert materializer_registry.select(SubRecord) is JsonMaterializer

    class RecordMaterializer(BaseMaterializer):
        ASSOCIATED_TYPES = (BaseRecord,)

        def load(self, data_type: type[Any]) -> Any:
            with open(os.path.join(self.uri, "value")) as handle:
                return data_type(int(handle.read()))

        def save(self, data: Any) -> None:
            with open(os.path.join(self.uri, "value"), "w") as handle:
                handle.write(str(data.value))

    cleanup.append(RecordMaterializer)
    assert materializer_registry.select(BaseRecord) is RecordMaterializer
    assert materializer_registry.select(SubRecord) is RecordMaterializer
    saved, loaded = roundtrip(store, SubRecord(5))
    assert saved.materializer == RecordMaterializer.NAME
    assert loaded == SubRecord(5)


def test_skip_registration_is_not_selected_but_works_when_passed(
    store: LocalArtifactStore, cleanup: list[type[BaseMaterializer]]
) -> None:
    class ReversedText(BaseMaterializer):
        ASSOCIATED_TYPES = (str,)
        SKIP_REGISTRATION = True

        def load(self, data_type: type[Any]) -> Any:
            with open(os.path.join(self.uri, "reversed.txt"), encoding="utf-8") as handle:
                return handle.read()[::-1]

        def save(self, data: Any) -> None:
            with open(os.path.join(self.uri, "reversed.txt"), "w", encoding="utf-8") as handle:
                handle.write(data[::-1])

    cleanup.append(ReversedText)
    assert materializer_registry.select(str) is JsonMaterializer
    saved, loaded = roundtrip(store, "abc", materializer_cls=ReversedText)
    assert saved.materializer == ReversedText.NAME
    assert os.listdir(saved.uri) == ["reversed.txt"]
    assert loaded == "abc"


def test_skip_registration_is_not_inherited(cleanup: list[type[BaseMaterializer]]) -> None:
    class Template(BaseMaterializer):
        SKIP_REGISTRATION = True

    class Concrete(Template):
        ASSOCIATED_TYPES = (Kelvin,)

    cleanup.append(Concrete)
    assert materializer_registry.select(Kelvin) is Concrete


def test_explicit_materializer_cls_overrides_selection(store: LocalArtifactStore) -> None:
    saved, loaded = roundtrip(store, Sample("a", (1,)), materializer_cls=JsonMaterializer)
    assert saved.materializer == "fanflow.json"
    assert loaded == Sample("a", (1,))


def test_explicit_materializer_that_cannot_save_raises_instead_of_falling_back(
    store: LocalArtifactStore,
) -> None:
    uri = store.uri_for("step", "explicit")
    with pytest.raises(MaterializerError, match=r"fanflow\.json"):
        save_value([object()], store, uri, materializer_cls=JsonMaterializer)
    assert not os.path.exists(uri)
    assert not staging_leftovers(store)


def test_conflicting_user_materializers_raise_unless_override(
    store: LocalArtifactStore, cleanup: list[type[BaseMaterializer]]
) -> None:
    class FirstKelvin(BaseMaterializer):
        ASSOCIATED_TYPES = (Kelvin,)

    cleanup.append(FirstKelvin)

    with pytest.raises(MaterializerConflictError, match="Kelvin") as caught:

        class SecondKelvin(BaseMaterializer):
            ASSOCIATED_TYPES = (Kelvin,)

    assert "OVERRIDE" in str(caught.value)
    assert materializer_registry.select(Kelvin) is FirstKelvin

    class ReplacingKelvin(BaseMaterializer):
        ASSOCIATED_TYPES = (Kelvin,)
        OVERRIDE = True

    cleanup.append(ReplacingKelvin)
    assert materializer_registry.select(Kelvin) is ReplacingKelvin


def test_failed_registration_changes_nothing(cleanup: list[type[BaseMaterializer]]) -> None:
    class KelvinOnly(BaseMaterializer):
        ASSOCIATED_TYPES = (Kelvin,)

    cleanup.append(KelvinOnly)

    with pytest.raises(MaterializerConflictError):

        class FahrenheitAndKelvin(BaseMaterializer):
            ASSOCIATED_TYPES = (Fahrenheit, Kelvin)

    assert materializer_registry.select(Fahrenheit).NAME == "fanflow.cloudpickle"
    assert materializer_registry.select(Kelvin) is KelvinOnly


def test_redefining_the_same_materializer_is_not_a_conflict(
    cleanup: list[type[BaseMaterializer]],
) -> None:
    first = _celsius_materializer()
    cleanup.append(first)
    second = _celsius_materializer()  # same module and qualname: a re-run notebook cell
    cleanup.append(second)
    assert first is not second
    assert materializer_registry.select(Celsius) is second


def test_user_materializer_cannot_take_a_builtin_name(
    store: LocalArtifactStore, cleanup: list[type[BaseMaterializer]]
) -> None:
    with pytest.raises(MaterializerConflictError, match=r"fanflow\.json"):

        class Hijack(BaseMaterializer):
            NAME = "fanflow.json"
            ASSOCIATED_TYPES = (Fahrenheit,)

    _, loaded = roundtrip(store, {"still": "json"})
    assert loaded == {"still": "json"}
    assert materializer_registry.resolve("fanflow.json") is JsonMaterializer


@pytest.mark.parametrize(
    "attributes",
    [
        {},
        {"ASSOCIATED_TYPES": ("not a class",)},
        {"ASSOCIATED_TYPES": (list[int],)},
        {"ASSOCIATED_TYPES": (Fahrenheit,), "ASSOCIATED_ARTIFACT_TYPE": "NoSuchArtifact"},
    ],
    ids=["no-types", "string", "generic-alias", "bad-artifact-type"],
)
def test_badly_declared_materializers_raise_interface_errors(
    attributes: dict[str, Any], cleanup: list[type[BaseMaterializer]]
) -> None:
    with pytest.raises(MaterializerInterfaceError):
        type("Broken", (BaseMaterializer,), dict(attributes))
    assert materializer_registry.select(Fahrenheit).NAME == "fanflow.cloudpickle"


def test_failing_custom_save_is_reported_with_the_materializer_name(
    store: LocalArtifactStore, cleanup: list[type[BaseMaterializer]]
) -> None:
    class Exploding(BaseMaterializer):
        ASSOCIATED_TYPES = (Fahrenheit,)

        def save(self, data: Any) -> None:
            with open(os.path.join(self.uri, "partial"), "w") as handle:
                handle.write("half")
            raise OSError("disk on fire")

    cleanup.append(Exploding)
    uri = store.uri_for("step", "exploding")
    with pytest.raises(MaterializerError, match="disk on fire") as caught:
        save_value(Fahrenheit(1.0), store, uri)
    assert Exploding.NAME in str(caught.value)
    assert not os.path.exists(uri)
    assert not staging_leftovers(store)


def test_unknown_materializer_name_fails_clearly(store: LocalArtifactStore) -> None:
    saved = save(store, 1)
    with pytest.raises(MaterializerError, match=r"no\.such\.Materializer"):
        load_value(saved.uri, "no.such.Materializer", saved.data_type, store)


def test_materializer_can_be_resolved_by_its_import_path() -> None:
    assert (
        materializer_registry.resolve("fanflow.artifacts.builtin_materializers.JsonMaterializer")
        is JsonMaterializer
    )
    nested = f"{__name__}.MaterializerHolder.NestedMaterializer"
    assert materializer_registry.resolve(nested) is MaterializerHolder.NestedMaterializer


def test_skip_registration_is_per_class_as_in_zenml(cleanup) -> None:
    """A base materializer that skips registration does not make its subclasses skip."""

    class Payload:
        pass

    class AbstractBase(BaseMaterializer):
        SKIP_REGISTRATION = True

    class Concrete(AbstractBase):
        ASSOCIATED_TYPES = (Payload,)

    cleanup.append(Concrete)
    assert BaseMaterializer.SKIP_REGISTRATION is True
    assert AbstractBase.SKIP_REGISTRATION is True
    assert Concrete.SKIP_REGISTRATION is False  # the attribute says what happened
    assert materializer_registry.select(Payload) is Concrete


def test_materializers_defined_before_the_registry_is_imported_are_registered() -> None:
    """`artifacts/materializers.py` imports no registry; the registry registers classes that
    were defined before it was imported, when it is imported."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from fanflow.artifacts.materializers import BaseMaterializer\n"
        "assert 'fanflow.artifacts.registry' not in sys.modules\n"
        "class Early: pass\n"
        "class EarlyMaterializer(BaseMaterializer):\n"
        "    ASSOCIATED_TYPES = (Early,)\n"
        "from fanflow.artifacts.registry import materializer_registry\n"
        "assert materializer_registry.select(Early) is EarlyMaterializer\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.strip() == "ok", done.stderr
