"""Previews of stored artifacts for the dashboard, read straight from their files.

Invariants:
- a preview only ever opens files that resolve (symlinks followed) inside the artifact store's
  root; a record pointing elsewhere gets "unavailable", never the file;
- nothing is unpickled and no user code runs: JSON, bytes, NumPy (`allow_pickle=False`) and
  Parquet are read by their formats; a pickled object is described, not loaded;
- previews are bounded: at most `TEXT_LIMIT` characters, 10 table rows, 50 items.
"""

from __future__ import annotations

import contextlib
import json
import os
import struct
import zlib
from pathlib import Path
from typing import Any

from fanflow.artifacts.io import inline_files
from fanflow.artifacts.visualizations import INDEX_NAME as VISUALIZATION_INDEX
from fanflow.metadata.records import ArtifactVersionRecord

TEXT_LIMIT = 20_000
IMAGE_MAGIC = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
    b"GIF87a": "image/gif",
    b"GIF89a": "image/gif",
}


class OutsideStore(Exception):
    """A recorded path that does not lie inside the artifact store."""


def inside(root: str, path: str) -> Path:
    """`path` resolved, if it lies inside `root` (also resolved); else `OutsideStore`."""
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(path))
    if real != real_root and real_root not in real.parents:
        raise OutsideStore(path)
    return real


def artifact_files(root: str, uri: str) -> list[Path]:
    """The files of an artifact (a directory or a single file), all inside the store."""
    base = inside(root, uri)
    if base.is_file():
        return [base]
    if not base.is_dir():
        return []
    files = []
    for dirpath, _dirs, names in os.walk(base):
        for name in sorted(names):
            files.append(inside(root, os.path.join(dirpath, name)))
    return sorted(files)


def image_type(head: bytes) -> str | None:
    for magic, mime in IMAGE_MAGIC.items():
        if head.startswith(magic):
            return mime
    return None


def _clip(text: str) -> tuple[str, bool]:
    return (text[:TEXT_LIMIT], True) if len(text) > TEXT_LIMIT else (text, False)


def preview(record: ArtifactVersionRecord, root: str) -> dict[str, Any]:
    """A JSON-able description of an artifact's value, by what its materializer wrote."""
    try:
        if record.materializer == "fanflow.item":
            return _item_preview(record)
        if record.inline_payload is not None:
            return _inline_preview(record)
        files = artifact_files(root, record.uri)
    except OutsideStore:
        return {"kind": "unavailable", "reason": "the recorded location is outside the store"}
    files = [f for f in files if f.name != VISUALIZATION_INDEX]  # bookkeeping, not data
    if not files:
        return {"kind": "unavailable", "reason": "the artifact's files are missing"}
    names = {f.name: f for f in files}
    try:
        if "data.json" in names:
            return _json_preview(names["data.json"])
        if "array.npy" in names:
            return _numpy_preview(names["array.npy"])
        if "data.parquet" in names:
            return _pandas_preview(names["data.parquet"])
        if "data.bin" in names:
            return _bytes_preview(names["data.bin"])
        if "artifact.pkl" in names:
            return {
                "kind": "pickle",
                "reason": "a pickled object: load it in Python with "
                "Client().get_artifact_version(...).load()",
                "size": names["artifact.pkl"].stat().st_size,
            }
        return _files_preview(root, record.uri, files)
    except Exception as exc:  # a damaged file must not break the page
        return {"kind": "unavailable", "reason": f"cannot read it: {type(exc).__name__}: {exc}"}


def _item_preview(record: ArtifactVersionRecord) -> dict[str, Any]:
    meta = record.run_metadata
    return {
        "kind": "item",
        "index": meta.get("index"),
        "parent_artifact_version_id": meta.get("parent_artifact_version_id"),
    }


def _inline_preview(record: ArtifactVersionRecord) -> dict[str, Any]:
    """A small value recorded inline: previewed from its recorded bytes, as its file would be."""
    payload = record.inline_payload or b""
    files = inline_files(record.materializer, payload)
    if "data.json" in files:
        return _json_text_preview(payload.decode("utf-8", errors="replace"))
    return _head_preview(payload[:4096], len(payload))


def _json_preview(path: Path) -> dict[str, Any]:
    return _json_text_preview(path.read_text(encoding="utf-8", errors="replace"))


def _json_text_preview(raw: str) -> dict[str, Any]:
    try:
        text = json.dumps(json.loads(raw), indent=2, ensure_ascii=False)
    except ValueError:
        text = raw
    text, clipped = _clip(text)
    return {"kind": "json", "text": text, "clipped": clipped}


def _bytes_preview(path: Path) -> dict[str, Any]:
    with open(path, "rb") as handle:
        head = handle.read(4096)
    return _head_preview(head, path.stat().st_size)


def _head_preview(head: bytes, size: int) -> dict[str, Any]:
    mime = image_type(head)
    if mime:
        return {"kind": "image", "mime": mime, "size": size}
    try:
        text, clipped = _clip(head.decode("utf-8"))
        return {"kind": "text", "text": text, "clipped": clipped or size > 4096, "size": size}
    except UnicodeDecodeError:
        return {"kind": "bytes", "hex": head[:256].hex(" "), "size": size}


def _numpy_preview(path: Path) -> dict[str, Any]:
    import numpy as np

    array = np.load(path, allow_pickle=False, mmap_mode="r")
    info: dict[str, Any] = {
        "kind": "numpy",
        "shape": list(array.shape),
        "dtype": str(array.dtype),
        "size": int(array.size),
    }
    if array.size and (np.issubdtype(array.dtype, np.number) or array.dtype == np.bool_):
        values = np.asarray(array, dtype=np.float64)
        finite = values[np.isfinite(values)]
        if finite.size:
            info["stats"] = {
                "min": float(finite.min()),
                "max": float(finite.max()),
                "mean": float(finite.mean()),
                "std": float(finite.std()),
            }
        info["nan_count"] = int(values.size - finite.size)
    flat = np.asarray(array).ravel()[:50]
    info["head"] = [str(v) for v in flat.tolist()]
    info["image"] = _looks_like_image(array)
    return info


def _looks_like_image(array: Any) -> bool:
    if str(array.dtype) != "uint8":
        return False
    shape = array.shape
    return (len(shape) == 2 and min(shape) >= 4) or (
        len(shape) == 3 and shape[2] in (1, 3, 4) and min(shape[:2]) >= 4
    )


def numpy_png(path: Path, max_side: int = 256) -> bytes:
    """A PNG thumbnail of a uint8 image array (grey, RGB or RGBA), nearest-neighbour scaled."""
    import numpy as np

    array = np.load(path, allow_pickle=False, mmap_mode="r")
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    step = max(1, -(-max(array.shape[:2]) // max_side))
    small = np.ascontiguousarray(array[::step, ::step])
    return encode_png(small)


def encode_png(pixels: Any) -> bytes:
    """PNG bytes of a 2-D (grey) or 3-D (RGB/RGBA) uint8 array."""
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    color = {1: 0, 3: 2, 4: 6}[channels]
    raw = b"".join(b"\x00" + pixels[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


def _pandas_preview(path: Path) -> dict[str, Any]:
    import pyarrow.parquet as pq

    parquet = pq.ParquetFile(path)
    schema = parquet.schema_arrow
    head: list[list[str]] = []
    for batch in parquet.iter_batches(batch_size=10):
        table = batch.to_pylist()
        head = [[_cell(row.get(name)) for name in schema.names] for row in table[:10]]
        break
    columns = [
        {"name": field.name, "type": str(field.type)}
        for field in schema
        if not field.name.startswith("__index_level_")
    ]
    shown = [c["name"] for c in columns]
    keep = [i for i, name in enumerate(schema.names) if name in shown]
    return {
        "kind": "table",
        "rows": parquet.metadata.num_rows,
        "columns": columns,
        "head": [[row[i] for i in keep] for row in head],
    }


def _cell(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 200 else text[:200] + "…"


def _files_preview(root: str, uri: str, files: list[Path]) -> dict[str, Any]:
    base = inside(root, uri)
    listing = [
        {"name": str(f.relative_to(base)) if base.is_dir() else f.name, "size": f.stat().st_size}
        for f in files[:50]
    ]
    result: dict[str, Any] = {"kind": "files", "files": listing, "total_files": len(files)}
    first = files[0]
    if len(files) == 1 and first.stat().st_size <= TEXT_LIMIT:
        head = first.read_bytes()
        if image_type(head[:16]):
            result["image"] = True
        else:
            with contextlib.suppress(UnicodeDecodeError):
                result["text"] = head.decode("utf-8")
    return result
