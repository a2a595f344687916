"""Data registered with `register_artifact`: a file or folder fanflow did not write.

ZenML's `PreexistingDataMaterializer`: nothing is saved (the data already lies in the artifact
store); loading copies the file or folder to a fresh temporary location and returns a
`pathlib.Path` to it, so the caller gets a local path whatever the store.

Invariants:
- the record's URI is read through the store it was registered in: a local path under the
  store's root, or a URL under an fsspec root; the data has no manifest, so `io.load_value` hands
  this materializer the URI itself (`LOADS_FROM_STORE_URI`), never a staged copy;
- a local load never follows a symlink that leads outside the artifact root;
- the temporary copy outlives the call (as in ZenML); it is the caller's to delete.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar

from fanflow.artifacts.local_store import has_scheme
from fanflow.artifacts.materializers import BaseMaterializer
from fanflow.enums import ArtifactType
from fanflow.exceptions import ArtifactCorruptedError, ArtifactMissingError

# Some ZenML releases documented the loaded value's type as `PreexistingArtifactPath`; it is a
# plain `pathlib.Path` (as in ZenML 0.98), so `isinstance(value, PreexistingArtifactPath)` holds.
PreexistingArtifactPath = Path


class PreexistingDataMaterializer(BaseMaterializer):
    """Loads registered files and folders as a local `Path`; never saves."""

    NAME = "fanflow.preexisting"
    ASSOCIATED_TYPES = (Path,)
    ASSOCIATED_ARTIFACT_TYPE = ArtifactType.DATA
    SKIP_REGISTRATION = True
    LOADS_FROM_STORE_URI: ClassVar[bool] = True

    def save(self, data: Any) -> None:
        raise NotImplementedError(
            "PreexistingDataMaterializer only loads data registered with register_artifact()."
        )

    def load(self, data_type: type[Any]) -> Any:
        target = tempfile.mkdtemp(prefix="fanflow-registered-")
        if has_scheme(self.uri) and not self.uri.startswith("file://"):
            return self._download(target)
        source = self.uri.removeprefix("file://")
        self._refuse_outside_root(source)
        name = os.path.basename(source.rstrip(os.sep)) or "data"
        if os.path.isdir(source):
            copy = os.path.join(target, name)
            shutil.copytree(source, copy, symlinks=True)
            return Path(copy)
        if os.path.isfile(source):
            copy = os.path.join(target, name)
            shutil.copyfile(source, copy)
            return Path(copy)
        os.rmdir(target)
        raise ArtifactMissingError(
            f"The registered data at {self.uri!r} is missing: it was deleted or moved after it "
            "was registered."
        )

    def _refuse_outside_root(self, source: str) -> None:
        root = getattr(self.artifact_store, "root", None)
        if root is None or has_scheme(str(root)):
            return
        real_root = os.path.realpath(root)
        paths = [source]
        for current, dirs, files in os.walk(source):
            paths.extend(os.path.join(current, name) for name in [*dirs, *files])
        for path in paths:
            real = os.path.realpath(path)
            if real != real_root and not real.startswith(real_root + os.sep):
                raise ArtifactCorruptedError(
                    f"Refusing to load {path!r}: it resolves to {real!r}, outside the artifact "
                    f"store {root!r} (a symlink leads out of it)."
                )

    def _download(self, target: str) -> Path:
        fs = self.artifact_store.fs
        remote = str(self.artifact_store._path(self.uri)).rstrip("/")
        name = remote.rsplit("/", 1)[-1] or "data"
        copy = os.path.join(target, name)
        if fs.isdir(remote):
            for path in sorted(str(p) for p in fs.find(remote)):
                relative = path[len(remote) + 1 :]
                local = os.path.normpath(os.path.join(copy, *relative.split("/")))
                if not local.startswith(copy + os.sep):
                    raise ArtifactCorruptedError(
                        f"Refusing to download {path!r}: its name leaves the target folder."
                    )
                os.makedirs(os.path.dirname(local), exist_ok=True)
                fs.get_file(path, local)
            os.makedirs(copy, exist_ok=True)
            return Path(copy)
        try:
            fs.get_file(remote, copy)
        except FileNotFoundError:
            raise ArtifactMissingError(
                f"The registered data at {self.uri!r} is missing: it was deleted or moved after "
                "it was registered."
            ) from None
        return Path(copy)
