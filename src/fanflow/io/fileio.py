"""ZenML's `fileio` functions for custom materializers, over local paths.

Materializers always work in a local directory (the artifact store stages and publishes it), so
these are thin wrappers over the standard library with ZenML's names.
"""

from __future__ import annotations

import builtins
import glob as _glob
import os
import shutil
from collections.abc import Iterator
from typing import IO, Any


def open(path: str, mode: str = "r", **kwargs: Any) -> IO[Any]:
    return builtins.open(path, mode, **kwargs)


def exists(path: str) -> bool:
    return os.path.exists(path)


def isdir(path: str) -> bool:
    return os.path.isdir(path)


def listdir(path: str) -> list[str]:
    return os.listdir(path)


def makedirs(path: str) -> None:
    os.makedirs(path, exist_ok=True)


def mkdir(path: str) -> None:
    os.mkdir(path)


def remove(path: str) -> None:
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
