"""How the metadata store writes and reads its JSON columns.

JSON has no NaN or infinities, yet `json.dumps` writes them as bare `NaN`/`Infinity` by default,
which other readers (PostgreSQL, browsers, `jq`) reject. Every JSON column goes through `dumps`
here: values that are valid JSON are written as they are (one `json.dumps` call, the common
case); non-finite floats are written as the tagged object the artifact codec uses
(`{"__fanflow__": "float", "v": "nan"}`), and `loads` turns them back into floats, so
`run_metadata["loss"]` reads back as `nan`.
"""

from __future__ import annotations

import json
import math
from typing import Any

TAG = "__fanflow__"  # the artifact codec's tag key (fanflow.artifacts.json_codec.TAG)
# One encoder for every call: `json.dumps(..., allow_nan=False)` would build a new one each time.
_STRICT = json.JSONEncoder(allow_nan=False)


def _tag_nonfinite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return {TAG: "float", "v": repr(float(value))}
    if isinstance(value, dict):
        return {key: _tag_nonfinite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_tag_nonfinite(item) for item in value]
    return value


def _restore(value: Any) -> Any:
    if type(value) is dict:
        if value.get(TAG) == "float" and len(value) == 2:
            return float(value["v"])
        return {key: _restore(item) for key, item in value.items()}
    if type(value) is list:
        return [_restore(item) for item in value]
    return value


def dumps(value: Any) -> str:
    """Valid JSON always (never bare NaN/Infinity)."""
    try:
        return _STRICT.encode(value)
    except ValueError:
        return _STRICT.encode(_tag_nonfinite(value))


def loads(text: str | bytes) -> Any:
    data = json.loads(text)
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if TAG in text and '"float"' in text:
        return _restore(data)
    return data
