"""Artifact safety: pickles are checked against their recorded sha256 before loading, the home
is created owner-only, and loads never follow symlinks out of the artifact root."""

from __future__ import annotations

import os
import stat

import pytest

from fanflow import load_artifact, pipeline, step
from fanflow.exceptions import ArtifactCorruptedError


class Opaque:
    """No materializer stores this, so it is pickled."""

    def __init__(self, value: int) -> None:
        self.value = value


@step(enable_cache=False)
def make_opaque() -> Opaque:
    return Opaque(7)


@step(enable_cache=False)
def read_opaque(item: Opaque) -> int:
    return item.value


@step(enable_cache=False)
def make_number() -> int:
    return 41


@step(enable_cache=False)
def make_numbers() -> list[int]:
    """Beyond the inline limit (64 KiB as JSON): stored as a folder of files."""
    return list(range(30_000))


def test_a_modified_pickle_is_refused_by_load_and_as_a_step_input():
    @pipeline(enable_cache=False)
    def pickled():
        make_opaque()

    output = pickled().steps["make_opaque"].output
    assert output.load().value == 7
    pickle_file = os.path.join(output.uri, "artifact.pkl")
    with open(pickle_file, "ab") as handle:
        handle.write(b"tampered")
    with pytest.raises(ArtifactCorruptedError, match="changed since it was saved") as info:
        load_artifact(str(output.id))
    assert output.uri in str(info.value)

    @pipeline(enable_cache=False)
    def reads_it():
        read_opaque(output)

    with pytest.raises(RuntimeError) as failed:
        reads_it()
    assert isinstance(failed.value.__cause__, ArtifactCorruptedError)


def test_a_new_home_is_created_owner_only(fanflow_home):
    assert not fanflow_home.exists()

    @pipeline(enable_cache=False)
    def first_run():
        make_number()

    first_run()
    assert stat.S_IMODE(fanflow_home.stat().st_mode) == 0o700
    assert stat.S_IMODE((fanflow_home / "artifacts").stat().st_mode) == 0o700


def test_an_existing_home_keeps_its_permissions(fanflow_home):
    fanflow_home.mkdir(mode=0o755)
    fanflow_home.chmod(0o755)

    @pipeline(enable_cache=False)
    def in_shared_home():
        make_number()

    in_shared_home()
    assert stat.S_IMODE(fanflow_home.stat().st_mode) == 0o755


def test_a_symlink_leading_outside_the_artifact_root_is_not_followed(tmp_path):
    @pipeline(enable_cache=False)
    def numbered():
        make_numbers()

    output = numbered().steps["make_numbers"].output
    secret = tmp_path / "secret.json"
    secret.write_text("12345")
    data_file = os.path.join(output.uri, "data.json")
    os.remove(data_file)
    os.symlink(secret, data_file)
    with pytest.raises(ArtifactCorruptedError, match="symlink") as info:
        output.load()
    assert str(secret) in str(info.value)


def test_a_symlink_planted_after_a_load_is_refused_on_the_next_load(tmp_path):
    """A store remembers a link-free artifact folder (a fan-out loads it once per branch), but
    a link planted in it afterwards is still found."""
    from fanflow.artifacts.local_store import LocalArtifactStore
    from fanflow.config import load_settings

    @pipeline(enable_cache=False)
    def numbered_twice():
        make_numbers()

    output = numbered_twice().steps["make_numbers"].output
    store = LocalArtifactStore(load_settings().artifact_root)
    for _ in range(2):  # the second load finds the folder's scan remembered
        with store.local_copy(output.uri) as folder:
            assert os.listdir(folder) == ["data.json"]
    secret = tmp_path / "secret.json"
    secret.write_text("12345")
    data_file = os.path.join(output.uri, "data.json")
    os.remove(data_file)
    os.symlink(secret, data_file)
    with pytest.raises(ArtifactCorruptedError, match="symlink"), store.local_copy(output.uri):
        pass


def test_an_artifact_folder_that_is_a_symlink_out_of_the_root_is_refused(tmp_path):
    @pipeline(enable_cache=False)
    def numbered_again():
        make_numbers()

    output = numbered_again().steps["make_numbers"].output
    elsewhere = tmp_path / "elsewhere"
    os.rename(output.uri, elsewhere)
    os.symlink(elsewhere, output.uri)
    with pytest.raises(ArtifactCorruptedError, match="outside the artifact store"):
        output.load()


@step(enable_cache=False)
def make_opaques() -> list[Opaque]:
    return [Opaque(1), Opaque(2)]


def test_mapping_over_a_modified_pickled_list_is_refused():
    @pipeline(enable_cache=False)
    def pickled_list():
        make_opaques()

    parent = pickled_list().steps["make_opaques"].output
    with open(os.path.join(parent.uri, "artifact.pkl"), "ab") as handle:
        handle.write(b"tampered")

    @pipeline(dynamic=True, enable_cache=False)
    def maps_it():
        read_opaque.map(parent)

    with pytest.raises(RuntimeError) as failed:
        maps_it()
    chain, error = [], failed.value
    while error is not None:
        chain.append(error)
        error = error.__cause__
    assert any(isinstance(e, ArtifactCorruptedError) for e in chain), chain
