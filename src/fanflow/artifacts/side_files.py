"""Side files: what a step wrote into its output's URI before returning the value.

ZenML hands a step the URI its output artifact will live at (`get_step_context().
get_output_artifact_uri()`), and steps write extra files there (TensorBoard logs, a model
card, checkpoints); the output's materializer then writes the value into the same folder.
fanflow keeps that promise and its own publish rule (an artifact appears all at once, complete):

- local store: the folder the step wrote is *moved* (one rename, same file system) into a fresh
  staging directory, the materializer writes next to the side files, and the whole directory is
  hashed and published by the usual rename back to the URI;
- fsspec store: the files the step uploaded under the URI are downloaded into the staging
  directory, and the publish uploads everything again with the manifest last, so the manifest
  lists (and loads verify) the side files like any other file.

Invariants:
- the published artifact holds the side files and the value's files, hashed together;
- a file the materializer writes replaces a side file of the same name (ZenML's behaviour: both
  write into one folder);
- symlinks among the side files are refused (fanflow never publishes a symlink: loads refuse
  them), as is a plain file written at the URI itself.
"""

from __future__ import annotations

import os

from fanflow.artifacts.local_store import has_scheme
from fanflow.artifacts.store import ArtifactStore
from fanflow.exceptions import MaterializerError


def prepare_output_uri(store: ArtifactStore, uri: str) -> None:
    """Create the (local) folder a step may write side files into, as ZenML does before the
    step runs; object stores have no folders, so nothing is made there."""
    if not has_scheme(uri):
        os.makedirs(uri, exist_ok=True)


def adopt_side_files(store: ArtifactStore, uri: str, output_name: str) -> str | None:
    """A staging directory holding what the step wrote at `uri`, or None when it wrote nothing.

    The returned directory is the store's own staging directory: save the value into it and
    publish it (or discard it) as any other.
    """
    if has_scheme(uri) and not uri.startswith("file://"):
        return _download_remote(store, uri, output_name)
    path = uri.removeprefix("file://")
    if not os.path.lexists(path):
        return None
    if os.path.islink(path) or not os.path.isdir(path):
        raise MaterializerError(
            f"Output {output_name!r}: the step wrote a file at the output's artifact URI "
            f"{uri!r} itself; write side files *inside* that folder "
            "(os.path.join(get_step_context().get_output_artifact_uri(), 'name'))."
        )
    _refuse_links(path, output_name)
    staging = store.staging()
    os.rmdir(staging)  # an empty placeholder: the step's folder takes its name
    os.rename(path, staging)
    return staging


def _refuse_links(folder: str, output_name: str) -> None:
    for current, dirs, files in os.walk(folder):
        for name in [*dirs, *files]:
            full = os.path.join(current, name)
            if os.path.islink(full):
                raise MaterializerError(
                    f"Output {output_name!r}: the side file {full!r} is a symlink. fanflow "
                    "never publishes symlinks (loads refuse them); write a copy of the file."
                )


def _download_remote(store: ArtifactStore, uri: str, output_name: str) -> str | None:
    fs = getattr(store, "fs", None)
    path_of = getattr(store, "_path", None)
    if fs is None or path_of is None:
        return None
    base = str(path_of(uri)).rstrip("/")
    try:
        found = sorted(str(p) for p in fs.find(base))
    except FileNotFoundError:
        return None
    files = [p for p in found if p.startswith(base + "/")]
    if not files:
        return None
    from fanflow.artifacts.fsspec_store import MANIFEST_NAME

    staging = store.staging()
    try:
        for remote in files:
            relative = remote[len(base) + 1 :]
            if relative == MANIFEST_NAME:
                raise MaterializerError(
                    f"Output {output_name!r}: an artifact is already published at {uri!r}."
                )
            local = os.path.join(staging, *relative.split("/"))
            if not _within(local, staging):
                raise MaterializerError(
                    f"Output {output_name!r}: the side file {remote!r} has a name that leaves "
                    "the artifact's folder."
                )
            os.makedirs(os.path.dirname(local), exist_ok=True)
            fs.get_file(remote, local)
    except BaseException:
        store.discard(staging)
        raise
    return staging


def _within(path: str, folder: str) -> bool:
    real = os.path.normpath(path)
    return real.startswith(os.path.normpath(folder) + os.sep)
