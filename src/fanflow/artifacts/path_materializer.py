"""`pathlib.Path` outputs: the file or folder a Path points to, stored and loaded back as a Path.

ZenML's `PathMaterializer`, same layout: a folder becomes `data.tar.gz`, a single file is copied
as `file_data`. Loading extracts (or copies) into a fresh temporary folder that outlives the
call, and returns a `Path` to it, so a downstream step or `.load()` gets a local path to read.

Invariants:
- extraction never writes outside its target folder: absolute names, `..`, links leading out,
  devices and other special members are refused (`ArtifactCorruptedError`), whatever the
  archive says; Python's `data` extraction filter is applied on top where it exists;
- a folder holding a symlink that leads outside it is refused at save (it would not load);
- a Path that does not exist is an error naming it, with the way out (return `str(path)` or a
  `PurePath` to store the path itself: those stay plain JSON values).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from fanflow.artifacts.materializers import BaseMaterializer
from fanflow.enums import ArtifactType
from fanflow.exceptions import ArtifactCorruptedError, MaterializerError

if TYPE_CHECKING:
    import tarfile


class PathMaterializer(BaseMaterializer):
    """A `Path` to a folder (stored as `data.tar.gz`) or to a file (stored as `file_data`)."""

    NAME = "fanflow.path"
    ASSOCIATED_TYPES = (Path,)
    ASSOCIATED_ARTIFACT_TYPE = ArtifactType.DATA
    SKIP_REGISTRATION = True  # chosen by the registry for concrete Paths (a builtin)
    ARCHIVE_NAME: ClassVar[str] = "data.tar.gz"
    FILE_NAME: ClassVar[str] = "file_data"

    def save(self, data: Any) -> None:
        path = Path(data)
        if path.is_dir():
            import tarfile

            _refuse_escaping_links(path)
            with tarfile.open(os.path.join(self.uri, self.ARCHIVE_NAME), "w:gz") as archive:
                for child in sorted(path.iterdir()):
                    archive.add(str(child), arcname=child.name)
        elif path.is_file():
            shutil.copyfile(path, os.path.join(self.uri, self.FILE_NAME))
        else:
            raise MaterializerError(
                f"PathMaterializer stores the file or folder a Path points to, but {str(path)!r} "
                "does not exist. Return str(path) (or a PurePath) to store the path itself."
            )

    def load(self, data_type: type[Any]) -> Any:
        archive = os.path.join(self.uri, self.ARCHIVE_NAME)
        single = os.path.join(self.uri, self.FILE_NAME)
        target = tempfile.mkdtemp(prefix="fanflow-path-")
        if os.path.isfile(archive):
            safe_extract(archive, target)
            return Path(target)
        if os.path.isfile(single):
            local = os.path.join(target, self.FILE_NAME)
            shutil.copyfile(single, local)
            return Path(local)
        os.rmdir(target)
        raise FileNotFoundError(f"Could not find artifact at {archive} or {single}")

    def extract_metadata(self, data: Any) -> dict[str, Any]:
        return {"path_kind": "folder" if Path(data).is_dir() else "file"}


def _refuse_escaping_links(folder: Path) -> None:
    root = os.path.realpath(folder)
    for current, dirs, files in os.walk(folder):
        for name in [*dirs, *files]:
            full = os.path.join(current, name)
            if os.path.islink(full):
                real = os.path.realpath(full)
                if real != root and not real.startswith(root + os.sep):
                    raise MaterializerError(
                        f"PathMaterializer: {full!r} is a symlink to {real!r}, outside the "
                        f"folder {str(folder)!r}; it could not be extracted again. Copy the "
                        "file into the folder instead."
                    )


def safe_extract(archive: str, target: str) -> None:
    """Extract a tar archive into `target`, refusing any member that would land outside it."""
    import tarfile  # only when a Path artifact is loaded: not on every run's import path

    root = os.path.realpath(target)
    with tarfile.open(archive, "r:*") as tar:
        members = tar.getmembers()
        for member in members:
            _check_member(member, root, archive)
        if hasattr(tarfile, "data_filter"):
            try:
                tar.extractall(target, members=members, filter="data")
            except tarfile.FilterError as exc:
                raise ArtifactCorruptedError(
                    f"Refusing to extract {archive!r}: {exc}. The archive was altered; "
                    "produce the artifact again."
                ) from exc
        else:  # pragma: no cover - Python without extraction filters; every member was checked
            tar.extractall(target, members=members)


def _check_member(member: tarfile.TarInfo, root: str, archive: str) -> None:
    def refuse(why: str) -> ArtifactCorruptedError:
        return ArtifactCorruptedError(
            f"Refusing to extract {archive!r}: its member {member.name!r} {why}. The archive "
            "was altered or not written by fanflow; produce the artifact again."
        )

    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        raise refuse("is a device, fifo or other special file")
    if os.path.isabs(member.name) or member.name.startswith(("/", "\\")):
        raise refuse("has an absolute name")
    destination = os.path.realpath(os.path.join(root, member.name))
    if destination != root and not destination.startswith(root + os.sep):
        raise refuse("would be written outside the target folder")
    if member.issym() or member.islnk():
        base = root if member.islnk() else os.path.dirname(destination)
        if os.path.isabs(member.linkname):
            raise refuse("is a link with an absolute target")
        pointed = os.path.realpath(os.path.join(base, member.linkname))
        if pointed != root and not pointed.startswith(root + os.sep):
            raise refuse("is a link leading outside the target folder")
