"""ZenML's `fileio` functions for custom materializers, over local paths.

Materializers always work in a local directory (the artifact store stages and publishes it), so
these are thin wrappers over the standard library with ZenML's names. A URL (`s3://...`, as a
step gets from `get_output_artifact_uri()` on a remote artifact store) goes to fsspec with the
configured `FANFLOW_ARTIFACT_STORAGE_OPTIONS`, for `open`, `exists`, `isdir`, `listdir`,
`makedirs` and `remove`, so ZenML code writing side files through `fileio` works there too.
"""

from __future__ import annotations

import builtins
import glob as _glob
import os
import shutil
from collections.abc import Iterator
from typing import IO, Any


def _remote(path: str) -> tuple[Any, str] | None:
    """(file system, path within it) for a URL; None for a local path."""
    text = os.fspath(path)
    scheme, sep, _ = text.partition("://")
    if not sep or scheme == "file" or not scheme.replace("+", "").replace("-", "").isalnum():
        return None
    import fsspec

    from fanflow.config import load_settings

    fs, inner = fsspec.core.url_to_fs(text, **load_settings().artifact_storage_options)
    return fs, inner


def open(path: str, mode: str = "r", **kwargs: Any) -> IO[Any]:
    remote = _remote(path)
    if remote is not None:
        fs, inner = remote
        return fs.open(inner, mode, **kwargs)  # type: ignore[no-any-return]
    return builtins.open(path, mode, **kwargs)


def exists(path: str) -> bool:
    remote = _remote(path)
    if remote is not None:
        return bool(remote[0].exists(remote[1]))
    return os.path.exists(path)


def isdir(path: str) -> bool:
    remote = _remote(path)
    if remote is not None:
        return bool(remote[0].isdir(remote[1]))
    return os.path.isdir(path)


def listdir(path: str) -> list[str]:
    remote = _remote(path)
    if remote is not None:
        fs, inner = remote
        return [str(p).rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(inner, detail=False)]
    return os.listdir(path)


def makedirs(path: str) -> None:
    remote = _remote(path)
    if remote is not None:
        remote[0].makedirs(remote[1], exist_ok=True)
        return
    os.makedirs(path, exist_ok=True)


def mkdir(path: str) -> None:
    os.mkdir(path)


def remove(path: str) -> None:
    remote = _remote(path)
    if remote is not None:
        remote[0].rm_file(remote[1])
        return
    os.remove(path)


def rmtree(path: str) -> None:
    shutil.rmtree(path)


def rename(src: str, dst: str, overwrite: bool = False) -> None:
    if os.path.exists(dst) and not overwrite:
        raise FileExistsError(dst)
    os.replace(src, dst)


def copy(src: str, dst: str, overwrite: bool = False) -> None:
    if os.path.exists(dst) and not overwrite:
        raise FileExistsError(dst)
    shutil.copyfile(src, dst)


def glob(pattern: str) -> list[str]:
    return _glob.glob(pattern)


def size(path: str) -> int:
    if os.path.isdir(path):
        return sum(
            os.path.getsize(os.path.join(root, name))
            for root, _, files in os.walk(path)
            for name in files
        )
    return os.path.getsize(path)


def walk(top: str) -> Iterator[tuple[str, list[str], list[str]]]:
    return os.walk(top)
