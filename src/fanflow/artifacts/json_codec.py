"""Exact JSON round trips for Python's builtin values.

Plain JSON loses information (tuples become lists, int dict keys become strings, sets are not
representable). This codec writes plain JSON wherever plain JSON is exact and a small tagged object
`{"__fanflow__": kind, ...}` elsewhere, so `decode(encode(v)) == v` with the same types.

Invariants:
- only *exact* builtin types are accepted (a `dict` subclass or an `IntEnum` is not JSON-safe and
  is left to another materializer): `is_json_safe` and `encode` agree on what they accept;
- a dict whose keys are all `str` and that does not contain the tag key is written as a plain
  JSON object; any other dict is written as a list of pairs;
- bytes are base64 inside containers (a top-level `bytes` goes to the raw-bytes materializer);
- dataclass instances are written with their class path and rebuilt without calling `__init__`
  (as pickle does); only classes importable by path qualify, so a class defined in `__main__`
  or inside a function is not JSON-safe here;
- datetime, date, time, timedelta, Decimal, UUID and Path values are tagged and exact (a timezone
  is kept when it is a fixed offset or a named `zoneinfo` zone; other tzinfo classes are not
  JSON-safe);
- NaN and the infinities are tagged (`{"__fanflow__": "float", "v": "nan"}`), here and in
  `to_plain_json`, so every text written is valid JSON (`allow_nan=False`);
- ints too large for Python's int/str conversion limit are written in hex, and strings that are
  not valid UTF-8 (lone surrogates) are written with ASCII escapes, so `dumps` never fails on a
  value `is_json_safe` accepted.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import datetime as dt
import decimal
import enum
import functools
import inspect
import json
import math
import os
import pathlib
import pkgutil
import uuid
import zoneinfo
from collections.abc import Mapping
from typing import Any

TAG = "__fanflow__"
_SCALARS = (str, int, float, bool, type(None))
# Above this many bits an int may exceed `sys.get_int_max_str_digits()` (4300 digits by default);
# such ints are written in hex, which the limit does not apply to.
_MAX_PLAIN_INT_BITS = 4000


def nonfinite_float(value: float) -> dict[str, str]:
    """NaN and the infinities, which JSON cannot hold: a tagged object ("nan", "inf", "-inf")."""
    return {TAG: "float", "v": repr(value)}


def restore_floats(data: Any) -> Any:
    """Metadata read back: the tagged non-finite floats `to_plain_json` wrote become floats."""
    if type(data) is dict:
        if data.get(TAG) == "float" and len(data) == 2:
            return float(data["v"])
        return {key: restore_floats(item) for key, item in data.items()}
    if type(data) is list:
        return [restore_floats(item) for item in data]
    return data


class NotJsonSafe(TypeError):
    """The value holds something this codec cannot represent exactly."""


def _encode(value: Any) -> Any:
    kind = type(value)
    if kind in _SCALARS:
        if kind is int and value.bit_length() > _MAX_PLAIN_INT_BITS:
            return {TAG: "int", "hex": hex(value)}
        if kind is float and not math.isfinite(value):
            return nonfinite_float(value)
        return value
    if kind is list:
        return [_encode(item) for item in value]
    if kind is dict:
        if all(type(key) is str for key in value) and TAG not in value:
            return {key: _encode(item) for key, item in value.items()}
        return {TAG: "dict", "items": [[_encode(k), _encode(v)] for k, v in value.items()]}
    if kind is tuple:
        return {TAG: "tuple", "items": [_encode(item) for item in value]}
    if kind is set or kind is frozenset:
        items = [_encode(item) for item in value]
        with contextlib.suppress(TypeError):
            items.sort(key=lambda item: json.dumps(item, sort_keys=True))
        return {TAG: kind.__name__, "items": items}
    if kind is bytes:
        return {TAG: "bytes", "b64": base64.b64encode(value).decode("ascii")}
    if kind is dt.datetime or kind is dt.time:
        return _encode_clock(value)
    encoder = _SIMPLE_ENCODERS.get(kind)
    if encoder is not None:
        return {TAG: kind.__name__, "v": encoder(value)}
    if kind in _PATH_TYPES:
        return {TAG: "path", "cls": kind.__name__, "v": str(value)}
    if dataclasses.is_dataclass(kind) and is_importable_class(kind):
        fields = dataclasses.fields(value)
        _check_no_extra_attributes(value, kind, fields)
        return {
            TAG: "dataclass",
            "type": f"{kind.__module__}:{kind.__qualname__}",
            "fields": {f.name: _encode(getattr(value, f.name)) for f in fields},
        }
    raise NotJsonSafe(f"{kind.__module__}.{kind.__qualname__} is not JSON-safe")


def _encode_clock(value: dt.datetime | dt.time) -> dict[str, Any]:
    """datetime/time with their timezone and `fold` kept exactly."""
    kind = type(value)
    tz = value.tzinfo
    encoded: dict[str, Any] = {TAG: kind.__name__}
    if tz is None or type(tz) is dt.timezone:
        encoded["v"] = value.isoformat()
        if tz is not None:
            offset = tz.utcoffset(None)
            if tz.tzname(None) != dt.timezone(offset).tzname(None):
                encoded["tzname"] = tz.tzname(None)
    elif type(tz) is zoneinfo.ZoneInfo and tz.key is not None:
        encoded["v"] = value.replace(tzinfo=None).isoformat()
        encoded["zone"] = tz.key
    else:
        raise NotJsonSafe(
            f"{kind.__name__} with tzinfo {type(tz).__module__}.{type(tz).__qualname__} is not "
            "JSON-safe (only fixed offsets and zoneinfo zones are)"
        )
    if value.fold:
        encoded["fold"] = value.fold
    return encoded


def _decode_clock(value: dict[str, Any]) -> Any:
    parse = dt.datetime.fromisoformat if value[TAG] == "datetime" else dt.time.fromisoformat
    decoded = parse(value["v"])
    if "zone" in value:
        decoded = decoded.replace(tzinfo=zoneinfo.ZoneInfo(value["zone"]))
    elif "tzname" in value:
        offset = decoded.utcoffset()
        if offset is not None:
            decoded = decoded.replace(tzinfo=dt.timezone(offset, value["tzname"]))
    if value.get("fold"):
        decoded = decoded.replace(fold=value["fold"])
    return decoded


def _check_no_extra_attributes(value: Any, kind: type, fields: tuple[Any, ...]) -> None:
    """A dataclass instance with attributes beyond its fields would lose them: not JSON-safe."""
    instance_dict = getattr(value, "__dict__", None)
    if not instance_dict:
        return
    names = {f.name for f in fields}
    for name in instance_dict:
        if name in names:
            continue
        if isinstance(inspect.getattr_static(kind, name, None), functools.cached_property):
            continue  # a cached value that is recomputed on demand
        raise NotJsonSafe(
            f"{kind.__module__}.{kind.__qualname__} instance has attribute {name!r} that is not "
            "a dataclass field, so it is not JSON-safe"
        )


def _decode(value: Any) -> Any:
    kind = type(value)
    if kind is list:
        return [_decode(item) for item in value]
    if kind is dict:
        tag = value.get(TAG)
        if tag is None:
            return {key: _decode(item) for key, item in value.items()}
        if tag == "tuple":
            return tuple(_decode(item) for item in value["items"])
        if tag == "dict":
            return {_decode(k): _decode(v) for k, v in value["items"]}
        if tag == "set":
            return {_decode(item) for item in value["items"]}
        if tag == "frozenset":
            return frozenset(_decode(item) for item in value["items"])
        if tag == "bytes":
            return base64.b64decode(value["b64"])
        if tag == "int":
            return int(value["hex"], 16)
        if tag == "float":
            return float(value["v"])
        if tag == "datetime" or tag == "time":
            return _decode_clock(value)
        decoder = _SIMPLE_DECODERS.get(tag)
        if decoder is not None:
            return decoder(value["v"])
        if tag == "path":
            return getattr(pathlib, value["cls"])(value["v"])
        if tag == "dataclass":
            cls = pkgutil.resolve_name(value["type"])
            instance = object.__new__(cls)
            for name, item in value["fields"].items():
                object.__setattr__(instance, name, _decode(item))
            return instance
        raise ValueError(f"unknown tag {tag!r} in fanflow JSON data")
    return value


_SIMPLE_ENCODERS: dict[type, Any] = {
    dt.date: dt.date.isoformat,
    dt.timedelta: lambda v: [v.days, v.seconds, v.microseconds],
    decimal.Decimal: str,
    uuid.UUID: str,
    complex: lambda v: [_encode(v.real), _encode(v.imag)],
}
_SIMPLE_DECODERS: dict[str, Any] = {
    "date": dt.date.fromisoformat,
    "timedelta": lambda v: dt.timedelta(days=v[0], seconds=v[1], microseconds=v[2]),
    "Decimal": decimal.Decimal,
    "UUID": uuid.UUID,
    "complex": lambda v: complex(_decode(v[0]), _decode(v[1])),
}
_PATH_TYPES = {
    type(pathlib.Path()),
    pathlib.PurePosixPath,
    pathlib.PureWindowsPath,
    pathlib.Path,
}


def is_importable_class(cls: type) -> bool:
    """True when `module:qualname` finds this very class again in another process."""
    if cls.__module__ == "__main__" or "<locals>" in cls.__qualname__:
        return False
    try:
        return pkgutil.resolve_name(f"{cls.__module__}:{cls.__qualname__}") is cls
    except (ImportError, AttributeError, ValueError):
        return False


def is_json_safe(value: Any) -> bool:
    try:
        _encode(value)
    except (NotJsonSafe, RecursionError):
        return False
    return True


def dumps(value: Any) -> str:
    """Encode exactly; raises NotJsonSafe for values outside the codec's types.

    The text is always encodable as UTF-8 (strings holding lone surrogates are escaped).
    """
    try:
        encoded = _encode(value)
        text = json.dumps(encoded, ensure_ascii=False, allow_nan=False)
    except RecursionError as exc:
        raise NotJsonSafe("value is nested too deeply (or refers to itself)") from exc
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            text = json.dumps(encoded, ensure_ascii=True, allow_nan=False)
    return text


def loads(text: str) -> Any:
    return _decode(json.loads(text))


def dumps_each(values: Mapping[str, Any]) -> dict[str, str]:
    """`dumps` of each value the codec can hold exactly (the others are left out), e.g. a run's
    parameters, so a resume gets back tuples, sets and dates rather than their plain JSON."""
    encoded = {}
    for name, value in values.items():
        try:
            encoded[name] = dumps(value)
        except NotJsonSafe:
            continue
    return encoded


class NotRecordable(TypeError):
    """A value with no faithful plain-JSON form (strict `to_plain_json`)."""


def to_plain_json(value: Any, *, strict: bool = False) -> Any:
    """Plain JSON data for metadata (parameters, run metadata, configs).

    Tuples and sets become lists and dict keys strings; enums, paths, dates, UUIDs, decimals,
    dataclasses, pydantic models and NumPy scalars are converted. Anything else becomes its
    `repr`, or raises `NotRecordable` when `strict`.
    """
    kind = type(value)
    if kind in _SCALARS:
        if kind is float and not math.isfinite(value):
            return nonfinite_float(value)
        return value
    if isinstance(value, enum.Enum):
        return to_plain_json(value.value, strict=strict)
    for base in (bool, int, float, str):
        if isinstance(value, base):
            return to_plain_json(base(value))
    if isinstance(value, (list, tuple)):
        return [to_plain_json(item, strict=strict) for item in value]
    if isinstance(value, (set, frozenset)):
        # Sorted, so the result (and cache keys built from it) does not depend on hash order.
        items = [to_plain_json(item, strict=strict) for item in value]
        return sorted(items, key=lambda item: json.dumps(item, sort_keys=True, default=repr))
    if isinstance(value, dict):
        return {str(key): to_plain_json(item, strict=strict) for key, item in value.items()}
    if isinstance(value, (dt.datetime, dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, (uuid.UUID, decimal.Decimal)):
        return str(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, type):
        pass  # a class (even a dataclass or pydantic model class) has no plain JSON form
    elif dataclasses.is_dataclass(value):
        return {
            f.name: to_plain_json(getattr(value, f.name), strict=strict)
            for f in dataclasses.fields(value)
        }
    elif callable(getattr(value, "model_dump", None)):
        try:
            return value.model_dump(mode="json")
        except Exception as exc:  # pydantic cannot serialize a field (arbitrary types)
            if strict:
                raise NotRecordable(
                    f"{kind.__module__}.{kind.__qualname__} cannot be dumped as JSON: {exc}"
                ) from exc
            return repr(value)
    if kind.__module__ == "numpy" and hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return to_plain_json(value.item(), strict=strict)
    if strict:
        raise NotRecordable(f"{kind.__module__}.{kind.__qualname__} has no plain JSON form")
    return repr(value)


def recordable_metadata(metadata: Any, what: str) -> dict[str, Any]:
    """`metadata` as plain JSON for a metadata column; `what` names the argument in the errors
    (a non-dict, or a value with no JSON form, is a ValueError as in ZenML)."""
    if not isinstance(metadata, dict):
        raise ValueError(f"{what} must be a dict, got {type(metadata).__qualname__}.")
    plain = {}
    for key, value in metadata.items():
        try:
            plain[str(key)] = to_plain_json(value, strict=True)
        except NotRecordable as exc:
            raise ValueError(
                f"{what} {key!r}: a value of type {type(value).__qualname__} cannot be "
                "recorded; use JSON-compatible values (numbers, strings, lists, dicts, ...) or "
                "fanflow.metadata.metadata_types."
            ) from exc
    return plain

