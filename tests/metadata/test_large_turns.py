"""A turn that records more rows than one statement carries is written whole, in one
transaction, with version numbers that continue across the statements."""

from __future__ import annotations

import pytest

from fanflow import pipeline, step, unmapped
from fanflow.client import Client
from fanflow.config import load_settings
from fanflow.ids import new_id
from fanflow.metadata import store as store_module
from fanflow.metadata.records import NewArtifactVersion
from fanflow.metadata.store import MetadataStore


@pytest.fixture
def small_statements(monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr(store_module, "ROWS_PER_STATEMENT", 3)
    return 3


def _version(name: str) -> NewArtifactVersion:
    return NewArtifactVersion(
        id=new_id(),
        artifact_name=name,
        uri=f"memory://nowhere/{new_id()}",
        materializer="fanflow.json",
        data_type="builtins.int",
        artifact_type="DataArtifact",
        size=1,
        content_hash=new_id(),
        save_type="manual",
        producer_step_run_id=None,
        producer_run_id=None,
        inline_payload=b"1",
    )


def test_versions_of_one_name_are_numbered_across_statements(metadata_backend, small_statements):
    store = MetadataStore(load_settings().metadata_url)
    news = [_version("shared") for _ in range(8)] + [_version(f"own-{i}") for i in range(7)]
    store.record(artifact_versions=news)
    records = store.get_artifact_versions_by_ids([av.id for av in news])
    assert len(records) == 15
    assert [records[av.id].version for av in news[:8]] == [str(n) for n in range(1, 9)]
    assert {records[av.id].version for av in news[8:]} == {"1"}


@step
def list_shards(n: int) -> list[int]:
    return list(range(n))


@step
def process(shard: int, factor: int) -> int:
    return shard * factor


@step
def total(values: list[int]) -> int:
    return sum(values)


@pipeline(dynamic=True, enable_cache=False)
def mapped(n: int = 10):
    total(process.map(list_shards(n), factor=unmapped(3)))


def test_a_map_wider_than_one_statement_is_recorded_whole(metadata_backend, small_statements):
    run = mapped(n=20)
    assert run.status == "completed"
    assert run.steps["total"].output.load() == 3 * sum(range(20))
    steps = Client().get_pipeline_run(run.id).steps
    branches = [s for s in steps.values() if s.name.startswith("map:process:")]
    assert len(branches) == 20
    assert all(s.status == "completed" for s in branches)
    assert sorted(s.output.load() for s in branches) == [3 * i for i in range(20)]
    # The fan-in's twenty input links went in seven statements; all of them, in order.
    fan_in = steps["total"].inputs["values"]
    assert [av.load() for av in fan_in] == [3 * i for i in range(20)]


def test_split_items_are_recorded_slice_by_slice_with_names_indexes_and_links(
    metadata_backend, small_statements
):
    run = mapped(n=11)
    assert run.status == "completed"
    steps = Client().get_pipeline_run(run.id).steps
    parent = steps["list_shards"].output
    items = [steps[f"map:process:{i}"].inputs["shard"][0] for i in range(11)]
    assert [item.name for item in items] == [f"{parent.name}[{i}]" for i in range(11)]
    assert [item.version for item in items] == ["1"] * 11
    assert [item.run_metadata["index"] for item in items] == list(range(11))
    assert {item.run_metadata["parent_artifact_version_id"] for item in items} == {
        parent.id.hex
    }
    assert [item.load() for item in items] == list(range(11))
    # Items of one split share an id prefix; each id reads as a time-ordered UUID7.
    hexes = [item.id.hex for item in items]
    assert len({h[:24] for h in hexes}) == 1 and len(set(hexes)) == 11
    assert all(item.id.version == 7 for item in items)
