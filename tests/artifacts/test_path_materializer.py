"""`PathMaterializer` never extracts outside its target folder, whatever the stored archive says,
and refuses at save what could not be extracted again."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from fanflow.artifacts.path_materializer import PathMaterializer, safe_extract
from fanflow.exceptions import ArtifactCorruptedError, MaterializerError


def _archive(folder: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> str:
    path = folder / PathMaterializer.ARCHIVE_NAME
    with tarfile.open(path, "w:gz") as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                tar.addfile(info)
    return str(path)


def _file(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def _link(name: str, target: str, hard: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = tarfile.LNKTYPE if hard else tarfile.SYMTYPE
    info.linkname = target
    return info


@pytest.mark.parametrize(
    "members, why",
    [
        ([(_file("../escaped.txt"), b"x")], "outside the target folder"),
        ([(_file("a/../../escaped.txt"), b"x")], "outside the target folder"),
        ([(_file("/tmp/absolute.txt"), b"x")], "absolute name"),
        ([(_link("link", "/etc/passwd"), None)], "absolute target"),
        ([(_link("link", "../../outside"), None)], "leading outside"),
        ([(_link("hard", "../outside", hard=True), None)], "leading outside"),
    ],
    ids=["dotdot", "nested-dotdot", "absolute", "symlink-absolute", "symlink-up", "hardlink-up"],
)
def test_members_escaping_the_target_are_refused(tmp_path: Path, members, why) -> None:
    store = tmp_path / "artifact"
    store.mkdir()
    _archive(store, members)
    with pytest.raises(ArtifactCorruptedError, match=why):
        PathMaterializer(str(store)).load(Path)
    assert not (tmp_path / "escaped.txt").exists()


def test_device_members_are_refused(tmp_path: Path) -> None:
    info = tarfile.TarInfo("dev")
    info.type = tarfile.CHRTYPE
    archive = _archive(tmp_path, [(info, None)])
    target = tmp_path / "out"
    target.mkdir()
    with pytest.raises(ArtifactCorruptedError, match="special file"):
        safe_extract(archive, str(target))


def test_links_inside_the_folder_round_trip(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "sub" / "data.txt").write_text("payload")
    os.symlink("sub/data.txt", source / "alias.txt")
    store = tmp_path / "artifact"
    store.mkdir()
    PathMaterializer(str(store)).save(source)
    loaded = PathMaterializer(str(store)).load(Path)
    assert (loaded / "alias.txt").read_text() == "payload"
    assert (loaded / "sub" / "data.txt").read_text() == "payload"


def test_a_link_leading_out_of_the_folder_is_refused_at_save(tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (tmp_path / "secret").write_text("secret")
    os.symlink(tmp_path / "secret", source / "leak")
    store = tmp_path / "artifact"
    store.mkdir()
    with pytest.raises(MaterializerError, match="outside the folder"):
        PathMaterializer(str(store)).save(source)


def test_an_empty_folder_round_trips(tmp_path: Path) -> None:
    source = tmp_path / "empty"
    source.mkdir()
    store = tmp_path / "artifact"
    store.mkdir()
    PathMaterializer(str(store)).save(source)
    loaded = PathMaterializer(str(store)).load(Path)
    assert loaded.is_dir() and list(loaded.iterdir()) == []
