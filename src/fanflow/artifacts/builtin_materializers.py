"""The materializers fanflow ships with.

Invariants:
- none of them imports numpy, pandas, pyarrow or pydantic at module import; they import inside
  `save`/`load`, so `import fanflow` stays light and those libraries stay optional;
- a materializer that cannot represent a value exactly raises :class:`UseFallback` from `save`
  *before* the artifact is published; the caller then discards the staging directory and falls
  back to cloudpickle (announced once per type). Where a format's exactness depends on the data
  (Parquet, pydantic's JSON), `save` reads the written files back and compares;
- numpy and pandas materializers take only the exact library types (and numpy scalars): a
  subclass (masked array, a DataFrame subclass) would come back as its base class, so it falls
  back;
- names (`NAME`) are stable strings stored with every artifact.
"""

from __future__ import annotations

import datetime as dt
import decimal
import errno
import os
import pathlib
import sys
import uuid
from typing import Any

from fanflow.artifacts import json_codec
from fanflow.artifacts.materializers import BaseMaterializer
from fanflow.enums import ArtifactType, VisualizationType


class UseFallback(Exception):
    """Raised by `save` when this materializer cannot store the value exactly."""


class JsonMaterializer(BaseMaterializer):
    """Builtin scalars and containers (and importable dataclasses) as exact JSON (`data.json`)."""

    NAME = "fanflow.json"
    ASSOCIATED_TYPES = (
        str,
        int,
        float,
        bool,
        type(None),
        list,
        tuple,
        dict,
        set,
        frozenset,
        # exact in the codec too, so no reason to pickle them at the top level
        complex,
        dt.datetime,
        dt.date,
        dt.time,
        dt.timedelta,
        decimal.Decimal,
        uuid.UUID,
        pathlib.PurePosixPath,
        pathlib.PureWindowsPath,
        type(pathlib.Path()),
    )
    ASSOCIATED_ARTIFACT_TYPE = ArtifactType.DATA
    SKIP_REGISTRATION = True
    FILENAME = "data.json"

    @staticmethod
    def encode(data: Any) -> bytes:
        """The exact bytes `save` writes to FILENAME, built in memory (io.py hashes them)."""
        try:
            return json_codec.dumps(data).encode("utf-8")
        except json_codec.NotJsonSafe as exc:
            raise UseFallback(str(exc)) from exc

    @staticmethod
    def decode(payload: bytes) -> Any:
        """The value of `encode`'s bytes (an inline artifact is loaded from its record this way)."""
        return json_codec.loads(payload.decode("utf-8"))

    def save(self, data: Any) -> None:
        with open(os.path.join(self.uri, self.FILENAME), "wb") as handle:
            handle.write(self.encode(data))

    def load(self, data_type: type[Any]) -> Any:
        with open(os.path.join(self.uri, self.FILENAME), encoding="utf-8") as handle:
            return json_codec.loads(handle.read())

    def extract_metadata(self, data: Any) -> dict[str, Any]:
        if isinstance(data, (str, int, float, bool)) and len(repr(data)) <= 200:
            return {"value": data}
        if hasattr(data, "__len__"):
            return {"length": len(data)}
        return {}


class BytesMaterializer(BaseMaterializer):
    """`bytes` written as they are (`data.bin`)."""

    NAME = "fanflow.bytes"
    ASSOCIATED_TYPES = (bytes,)
    ASSOCIATED_ARTIFACT_TYPE = ArtifactType.DATA
    SKIP_REGISTRATION = True
    FILENAME = "data.bin"

    @staticmethod
    def encode(data: Any) -> bytes:
        """The exact bytes `save` writes to FILENAME (`artifacts.io` hashes these bytes)."""
        return bytes(data)

    @staticmethod
    def decode(payload: bytes) -> Any:
        """`encode` is the identity: the payload is the value."""
        return bytes(payload)

    def save(self, data: Any) -> None:
        with open(os.path.join(self.uri, self.FILENAME), "wb") as handle:
            handle.write(self.encode(data))

    def load(self, data_type: type[Any]) -> Any:
        with open(os.path.join(self.uri, self.FILENAME), "rb") as handle:
            return handle.read()


class NumpyMaterializer(BaseMaterializer):
    """NumPy arrays and scalars as `.npy` without pickle (object arrays fall back)."""

    NAME = "fanflow.numpy"
    ASSOCIATED_ARTIFACT_TYPE = ArtifactType.DATA
    SKIP_REGISTRATION = True
    FILENAME = "array.npy"

    def save(self, data: Any) -> None:
        import numpy as np

        if type(data) is not np.ndarray and not isinstance(data, np.generic):
            raise UseFallback(
                f"{type(data).__qualname__} is an ndarray subclass; .npy would load a plain ndarray"
            )
        array = np.asarray(data)
        if array.dtype.hasobject:
            raise UseFallback("NumPy arrays of Python objects cannot be stored without pickle")
        with open(os.path.join(self.uri, self.FILENAME), "wb") as handle:
            np.save(handle, array, allow_pickle=False)
        if not isinstance(data, np.ndarray):
            with open(os.path.join(self.uri, "scalar"), "w") as handle:
                handle.write("1")

    def load(self, data_type: type[Any]) -> Any:
        import numpy as np

        array = np.load(os.path.join(self.uri, self.FILENAME), allow_pickle=False)
        marker = os.path.join(self.uri, "scalar")
        if os.path.exists(marker):
            return array[()]
        if isinstance(data_type, type) and issubclass(data_type, np.generic):
            raise FileNotFoundError(errno.ENOENT, "scalar marker file is missing", marker)
        return array

    def extract_metadata(self, data: Any) -> dict[str, Any]:
        return {"shape": list(getattr(data, "shape", ())), "dtype": str(getattr(data, "dtype", ""))}

    # No `save_visualizations`: ZenML's for arrays (a histogram of a 1-D array, a 3-D array of
    # 3 or 4 channels as an image) are drawn with matplotlib, which fanflow does not depend on;
    # ZenML too records none when matplotlib is missing.


class PandasMaterializer(BaseMaterializer):
    """pandas DataFrame and Series as Parquet (needs pyarrow); a Series keeps its name."""

    NAME = "fanflow.pandas"
    ASSOCIATED_ARTIFACT_TYPE = ArtifactType.DATA
    SKIP_REGISTRATION = True
    FILENAME = "data.parquet"
    SERIES_COLUMN = "__series__"

    def save(self, data: Any) -> None:
        try:
            import pyarrow  # noqa: F401
        except ImportError as exc:
            raise UseFallback("pyarrow is not installed, so Parquet is not available") from exc
        import pandas as pd

        if type(data) is not pd.DataFrame and type(data) is not pd.Series:
            raise UseFallback(
                f"{type(data).__qualname__} is a pandas subclass; Parquet would load its base class"
            )
        _check_label_types(data)
        path = os.path.join(self.uri, self.FILENAME)
        try:
            if isinstance(data, pd.Series):
                frame = data.to_frame(name=self.SERIES_COLUMN)
                with open(os.path.join(self.uri, "series.json"), "w", encoding="utf-8") as handle:
                    handle.write(json_codec.dumps({"name": data.name}))
                frame.to_parquet(path)
            else:
                data.to_parquet(path)
        except json_codec.NotJsonSafe as exc:
            raise UseFallback(f"the Series name {data.name!r} is not JSON-safe") from exc
        except (ValueError, TypeError, NotImplementedError) as exc:
            raise UseFallback(f"Parquet cannot store this value exactly: {exc}") from exc
        except Exception as exc:
            if type(exc).__module__.startswith("pyarrow"):
                raise UseFallback(f"Parquet cannot store this value exactly: {exc}") from exc
            raise
        problem = _pandas_difference(data, self.load(type(data)))
        if problem is not None:
            raise UseFallback(f"Parquet does not round-trip this value exactly ({problem})")

    def load(self, data_type: type[Any]) -> Any:
        import pandas as pd

        frame = pd.read_parquet(os.path.join(self.uri, self.FILENAME))
        series_meta = os.path.join(self.uri, "series.json")
        if os.path.exists(series_meta):
            with open(series_meta, encoding="utf-8") as handle:
                name = json_codec.loads(handle.read())["name"]
            series = frame[self.SERIES_COLUMN]
            series.name = name
            return series
        if isinstance(data_type, type) and issubclass(data_type, pd.Series):
            raise FileNotFoundError(errno.ENOENT, "Series metadata file is missing", series_meta)
        return frame

    def extract_metadata(self, data: Any) -> dict[str, Any]:
        shape = getattr(data, "shape", ())
        return {"shape": list(shape)}

    def save_visualizations(self, data: Any) -> dict[str, Any]:
        """ZenML's built-in visualization: summary statistics (`describe()`) as `describe.csv`.

        A DataFrame without columns has nothing to describe (pandas raises), so it gets none.
        `describe_csv` gives pandas' exact text, several times faster for numeric frames.
        """
        from fanflow.artifacts.pandas_describe import describe_csv

        if getattr(data, "ndim", 1) == 2 and len(data.columns) == 0:
            return {}
        path = os.path.join(self.uri, "describe.csv")
        with open(path, "w", encoding="utf-8", newline="") as handle:
            handle.write(describe_csv(data))
        return {path: VisualizationType.CSV}


class PydanticMaterializer(BaseMaterializer):
    """pydantic models as their JSON (`data.json`), rebuilt with `model_validate_json`."""

    NAME = "fanflow.pydantic"
    ASSOCIATED_ARTIFACT_TYPE = ArtifactType.DATA
    SKIP_REGISTRATION = True
    FILENAME = "data.json"

    def save(self, data: Any) -> None:
        try:
            text = data.model_dump_json()
            restored = type(data).model_validate_json(text)
        except Exception as exc:  # serialization or re-validation failed
            raise UseFallback(f"pydantic's JSON cannot store this model: {exc}") from exc
        if restored != data:
            raise UseFallback("pydantic's JSON does not round-trip this model exactly")
        with open(os.path.join(self.uri, self.FILENAME), "w", encoding="utf-8") as handle:
            handle.write(text)

    def load(self, data_type: type[Any]) -> Any:
        with open(os.path.join(self.uri, self.FILENAME), encoding="utf-8") as handle:
            return data_type.model_validate_json(handle.read())


class CloudpickleMaterializer(BaseMaterializer):
    """The announced fallback: any value cloudpickle can serialize (`artifact.pkl`).

    A pickle is only safe to load with the same Python and library versions, so the versions
    are stored next to it and a mismatch is reported when loading.
    """

    NAME = "fanflow.cloudpickle"
    ASSOCIATED_ARTIFACT_TYPE = ArtifactType.DATA
    SKIP_REGISTRATION = True
    FILENAME = "artifact.pkl"
    # Unpickling runs code, so the files are checked against the recorded sha256 first.
    VERIFY_HASH_ON_LOAD = True

    def save(self, data: Any) -> None:
        import cloudpickle

        payload = cloudpickle.dumps(data)
        with open(os.path.join(self.uri, self.FILENAME), "wb") as handle:
            handle.write(payload)
        with open(os.path.join(self.uri, "python_version"), "w") as handle:
            handle.write(_python_version())

    def load(self, data_type: type[Any]) -> Any:
        import pickle

        version_file = os.path.join(self.uri, "python_version")
        if os.path.exists(version_file):
            with open(version_file) as handle:
                saved_version = handle.read().strip()
            if saved_version != _python_version():
                import logging

                logging.getLogger("fanflow").warning(
                    "Loading a pickled artifact written by Python %s with Python %s; "
                    "this may fail or give wrong results.",
                    saved_version,
                    _python_version(),
                )
        with open(os.path.join(self.uri, self.FILENAME), "rb") as handle:
            return pickle.load(handle)


def _python_version() -> str:
    return ".".join(str(part) for part in sys.version_info[:3])


def _check_label_types(data: Any) -> None:
    """Mixed-type column labels are silently turned into strings by Parquet: fall back early."""
    import pandas as pd

    columns = getattr(data, "columns", None)
    if columns is None:
        return
    levels = columns.levels if isinstance(columns, pd.MultiIndex) else [columns]
    for level in levels:
        label_types = {type(label) for label in level}
        if len(label_types) > 1 or tuple in label_types:
            raise UseFallback("column labels of mixed types (or tuples) do not survive Parquet")


def _pandas_difference(original: Any, restored: Any) -> str | None:
    """Why `restored` is not an exact copy of `original` (a DataFrame or Series), or None."""
    import pandas as pd

    if type(restored) is not type(original):
        return f"loads as {type(restored).__qualname__}"
    options: dict[str, Any] = {
        "check_exact": True,
        "check_dtype": True,
        "check_index_type": "equiv",
        "check_names": True,
        "check_freq": True,
        "check_flags": True,
        "check_categorical": True,
    }
    try:
        if isinstance(original, pd.DataFrame):
            pd.testing.assert_frame_equal(
                original, restored, check_column_type="equiv", check_like=False, **options
            )
        else:
            pd.testing.assert_series_equal(original, restored, check_series_type=True, **options)
    except (AssertionError, TypeError, ValueError) as exc:
        return str(exc).strip().splitlines()[0]
    if original.attrs != restored.attrs:
        return "attrs differ"
    # Object columns compare equal across types (a list and an ndarray of the same numbers);
    # require the same element types too.
    columns = (
        [(name, original[name], restored[name]) for name in original.columns]
        if isinstance(original, pd.DataFrame)
        else [(original.name, original, restored)]
    )
    indexes = [("index", original.index, restored.index)]
    if isinstance(original, pd.DataFrame):
        indexes.append(("columns", original.columns, restored.columns))
    for label, before, after in [*columns, *indexes]:
        if isinstance(before, pd.DataFrame):  # duplicate labels select a frame
            return f"duplicate label {label!r}"
        object_dtype = str(getattr(before, "dtype", "")) == "object"
        if object_dtype and [type(v) for v in before] != [type(v) for v in after]:
            return f"element types of {label!r} change"
    return None


BUILTIN_MATERIALIZERS: dict[str, type[BaseMaterializer]] = {
    cls.NAME: cls
    for cls in (
        JsonMaterializer,
        BytesMaterializer,
        NumpyMaterializer,
        PandasMaterializer,
        PydanticMaterializer,
        CloudpickleMaterializer,
    )
}

# Types matched by their qualified name while walking a value's MRO, so that numpy, pandas and
# pydantic are never imported just to choose a materializer.
BUILTIN_BY_TYPE_NAME: dict[str, type[BaseMaterializer]] = {
    "numpy.ndarray": NumpyMaterializer,
    "numpy.generic": NumpyMaterializer,
    # pandas >= 3 reports its public classes as `pandas.DataFrame`; older versions by their
    # defining module.
    "pandas.DataFrame": PandasMaterializer,
    "pandas.Series": PandasMaterializer,
    "pandas.core.frame.DataFrame": PandasMaterializer,
    "pandas.core.series.Series": PandasMaterializer,
    "pydantic.main.BaseModel": PydanticMaterializer,
}

JSON_EXACT_TYPES = frozenset(JsonMaterializer.ASSOCIATED_TYPES)
