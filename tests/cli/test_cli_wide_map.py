"""`fanflow runs show` and `fanflow logs` on a dynamic run with a 1,000-branch map."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wide_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    import cli_flows
    from fanflow.exceptions import RunFailedError
    from fanflow.metadata.engine import dispose_all

    home = tmp_path_factory.mktemp("wide-store")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("FANFLOW_HOME", str(home))
        patch.delenv(cli_flows.FIX_ENV, raising=False)
        flow = cli_flows.mapped_flow.with_options(execution_mode="continue_on_failure")
        with pytest.raises(RunFailedError) as failed:
            flow(n=1000, reduce=False)
    dispose_all()
    yield home, failed.value.run_name


@pytest.fixture
def wide(wide_store, fanflow_home, monkeypatch) -> str:  # type: ignore[no-untyped-def]
    home, name = wide_store
    monkeypatch.setenv("FANFLOW_HOME", str(home))
    return name


def test_map_group_is_one_row_with_counts_and_durations(fanflow, wide):
    text = fanflow("runs", "show", wide).stdout
    lines = text.splitlines()
    assert len(lines) == 4  # the run, a header, load, the group: never a line per branch
    row = next(line for line in lines if line.startswith("map:process"))
    assert row.startswith("map:process \u00d71000")
    assert "998 completed, 2 failed, p50 " in row and ", max " in row
    # the first failure to be recorded; which of the two failing branches ends first varies
    assert any(f"[map:process:{i}] ValueError: shard {i} is bad" in row for i in (11, 22))
    shown = fanflow.json("runs", "show", wide)
    group = next(s for s in shown["steps"] if s["key"] == "map:process")
    assert group["counts"] == {"completed": 998, "failed": 2}
    assert group["total"] == 1000 and group["status"] == "failed"
    assert 0 <= group["p50_duration"] <= group["max_duration"]
    assert [s["key"] for s in shown["steps"]] == ["load", "map:process"]


def test_expand_pages_through_branches(fanflow, wide):
    page = fanflow.json(
        "runs", "show", wide, "--expand", "process", "--page", "3", "--page-size", "100"
    )
    assert page["total"] == 1000
    assert [row["map_index"] for row in page["rows"]] == list(range(200, 300))
    failed = fanflow.json("runs", "show", wide, "--expand", "map:process", "--status", "failed")
    assert [(r["map_index"], r["error"]) for r in failed["rows"]] == [
        (11, "ValueError: shard 11 is bad"),
        (22, "ValueError: shard 22 is bad"),
    ]
    text = fanflow("runs", "show", wide, "-e", "process", "--page-size", "5")
    assert text.stdout.splitlines()[0].startswith("map:process \u00d71000 \u2014 998 completed")
    assert len(text.stdout.splitlines()) == 2 + 5
    assert "page 1 of 200" in text.stderr
    unknown = fanflow("runs", "show", wide, "--expand", "proces", ok=False)
    assert "has no map group 'proces'. Did you mean: map:process?" in unknown.stderr


def test_logs_address_a_branch_by_index(fanflow, wide):
    assert fanflow("logs", wide, "process:7").stdout == "branch 7 processing\n"
    assert fanflow("logs", wide, "map:process:999").stdout == "branch 999 processing\n"
    missing = fanflow("logs", wide, "process:1000", ok=False)
    assert missing.exit_code == 1
    assert "The map group 'process'" in missing.stderr and "no branch 1000" in missing.stderr
