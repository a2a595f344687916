"""Removing artifact files: those of deleted runs, and those no record points to (garbage).

Invariants:
- only paths under the store's root are ever removed; the store's own dot-folders are left alone
  (`.staging` is swept by `sweep_staging`: a young staging directory belongs to a save in
  progress; `.runs` marks runs in progress); artifact paths never start with a dot;
- a path modified after `newer_than` (the start of the oldest running run) is kept: a running
  step publishes its outputs (and writes its log) before the orchestrator records them;
- sizes are counted before removal, so a dry run reports exactly what a real one frees.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass
class Sweep:
    paths: list[str] = field(default_factory=list)
    bytes: int = 0


def path_size(path: str) -> int:
    """Bytes of a file or of every file below a directory (0 if it is gone)."""
    try:
        if not os.path.isdir(path) or os.path.islink(path):
            return os.lstat(path).st_size
    except FileNotFoundError:
        return 0
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(folder, name)).st_size
            except FileNotFoundError:
                continue
    return total


def _newest_mtime(path: str) -> float:
    newest = os.lstat(path).st_mtime
    if os.path.isdir(path) and not os.path.islink(path):
        for folder, dirs, files in os.walk(path):
            for name in dirs + files:
                try:
                    newest = max(newest, os.lstat(os.path.join(folder, name)).st_mtime)
                except FileNotFoundError:
                    continue
    return newest


def _inside(root: str, path: str) -> bool:
    root = os.path.realpath(root)
    return os.path.commonpath([root, os.path.realpath(path)]) == root and (
        os.path.realpath(path) != root
    )


def unreferenced(root: str, referenced: Iterable[str], newer_than: float | None = None) -> Sweep:
    """Files and folders under `root` that no referenced URI is, or lies inside."""
    root = os.path.abspath(root)
    keep = {os.path.normpath(p) for p in referenced}
    ancestors: set[str] = set()
    for path in keep:
        parent = os.path.dirname(path)
        while parent.startswith(root) and parent not in ancestors:
            ancestors.add(parent)
            parent = os.path.dirname(parent)
    sweep = Sweep()
    if not os.path.isdir(root):
        return sweep
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except FileNotFoundError:
            continue
        for entry in entries:
            path = os.path.normpath(entry.path)
            if folder == root and entry.name.startswith("."):
                continue  # the store's own folders (.staging, .runs); artifacts never start so
            if path in keep:
                continue
            if path in ancestors:
                pending.append(path)
                continue
            try:
                if newer_than is not None and _newest_mtime(path) >= newer_than:
                    continue
            except FileNotFoundError:
                continue
            sweep.paths.append(path)
            sweep.bytes += path_size(path)
    return sweep


def remove_paths(root: str, paths: Iterable[str]) -> Sweep:
    """Remove files/folders under `root` (others are refused), then the folders left empty."""
    done = Sweep()
    for path in paths:
        if not _inside(root, path):
            raise ValueError(
                f"Refusing to remove {path!r}: it is outside the artifact store {root!r}."
            )
        size = path_size(path)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path)
            else:
                os.remove(path)
        except FileNotFoundError:
            continue
        done.paths.append(path)
        done.bytes += size
        _prune_empty_parents(root, os.path.dirname(path))
    return done


def _prune_empty_parents(root: str, folder: str) -> None:
    root = os.path.abspath(root)
    while os.path.abspath(folder) != root and _inside(root, folder):
        try:
            os.rmdir(folder)
        except OSError:
            return
        folder = os.path.dirname(folder)
