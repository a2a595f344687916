"""A split's items as one object: ids from a prefix, hashes in one buffer, records on demand."""

from __future__ import annotations

import hashlib
import uuid

from fanflow.artifacts.items import ITEM_MATERIALIZER, SplitResult
from fanflow.execution import recording
from fanflow.execution.known import KnownArtifact, SplitItems

PARENT = KnownArtifact(
    artifact_version_id="ab" * 16,
    name="flow::list_shards::output",
    uri="/store/list_shards/output/abc",
    materializer="fanflow.json",
    data_type="builtins.list",
    content_hash="cd" * 32,
)


def _hash(index: int) -> str:
    return hashlib.sha256(str(index).encode()).hexdigest()


def test_items_are_made_on_demand_with_their_own_id_hash_and_source():
    result = SplitResult(5, [_hash(i) for i in range(5)], ["builtins.int"] * 5)
    split = SplitItems(PARENT, result, PARENT.name)
    ids = split.ids
    assert len(ids) == 5 and len(set(ids)) == 5
    assert all(uuid.UUID(av_id).version == 7 for av_id in ids)
    assert ids[-1] == ids[4] and ids[1:3] == [ids[1], ids[2]]
    item = split.known(3)
    assert item.id == ids[3] and split.index_of(ids[3]) == 3
    assert item.content_hash == _hash(3) and item.data_type == "builtins.int"
    assert item.materializer == ITEM_MATERIALIZER and item.uri == PARENT.uri
    assert item.item is not None and item.item.index == 3
    assert item.item.parent_hash == PARENT.content_hash
    # Ids of another series, or past the end of this one, are not its items.
    assert split.index_of("ab" * 16) is None
    assert split.index_of(split.prefix + f"{5:08x}") is None


def test_mixed_types_and_hashes_that_are_not_sha256_hex_are_kept_as_given():
    result = SplitResult(3, ["pickle-digest", _hash(1), _hash(2)], ["builtins.int", "a.B", "c.D"])
    split = SplitItems(PARENT, result, PARENT.name)
    assert [split.content_hash(i) for i in range(3)] == result.hashes
    assert [split.data_type(i) for i in range(3)] == result.data_types


def test_item_records_come_in_slices_and_match_the_items():
    result = SplitResult(7, [_hash(i) for i in range(7)], ["builtins.int"] * 7)
    split = SplitItems(PARENT, result, PARENT.name)
    slices = list(recording.item_version_slices(split, "run-id", 3))
    assert [len(part) for part in slices] == [3, 3, 1]
    versions = [av for part in slices for av in part]
    assert [av.id for av in versions] == list(split.ids)
    assert [av.artifact_name for av in versions] == [f"{PARENT.name}[{i}]" for i in range(7)]
    assert [av.content_hash for av in versions] == result.hashes
    assert all(av.run_metadata["parent_artifact_version_id"] == PARENT.id for av in versions)
    assert [av.run_metadata["index"] for av in versions] == list(range(7))
