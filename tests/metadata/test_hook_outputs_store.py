"""Hook invocations and the artifact versions `run_hook(..., store_return=True)` stored, on
PostgreSQL (foreign keys enforced): recorded, read back, and deleted with their run."""

from __future__ import annotations

import pytest

from fanflow import pipeline, run_hook, step
from fanflow.client import Client
from fanflow.metadata.maintenance import delete_runs
from fanflow.metadata.store import MetadataStore


def lookup(query: str) -> str:
    return query.upper()


@step
def agent() -> str:
    return run_hook(lookup, "q", store_return=True)


@pipeline(enable_cache=False, on_start=lambda: None)
def agent_flow():
    agent()


@pytest.fixture
def on_postgres(postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("FANFLOW_METADATA_URL", postgres_url)
    return postgres_url


def test_hook_outputs_on_postgres_are_read_back_and_deleted_with_their_run(on_postgres: str):
    run = agent_flow()
    kept = agent_flow()
    (stored,) = Client().list_hook_invocations(pipeline_run_id=run.id, hook_type="custom").items
    assert stored.outputs["output"][0].load() == "Q"
    assert len(Client().list_hook_invocations(pipeline_run_id=run.id).items) == 2  # + on_start
    delete_runs(MetadataStore(on_postgres), [run.id.hex])
    assert Client().list_hook_invocations(pipeline_run_id=kept.id, hook_type="custom").total == 1
    with pytest.raises(KeyError):
        Client().get_pipeline_run(run.id)
