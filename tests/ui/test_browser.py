"""The dashboard in real headless Chromium on loopback: runs list, a 1,000-branch map collapsed
into one node, its branch table, a branch's logs, live counts of a run in progress, and hostile
names, logs and previews that must stay text. Screenshots go to test-artifacts/."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_harness import (
    CHROMIUM,
    CHROMIUM_ARGS,
    build_showcase,
    serve_in_thread,
    settings_for,
)
from dashboard_showcase import HOSTILE, HOSTILE_LOG

pytestmark = pytest.mark.slow

SHOTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="module")
def browser_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_showcase(tmp_path_factory.mktemp("browser-home"), wide=1000)


@pytest.fixture(scope="module")
def base_url(browser_home: Path) -> Iterator[str]:
    with serve_in_thread(settings_for(browser_home)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing: apt-get install -y chromium"
        if os.environ.get("CI"):  # CI installs it (.ci/run): there a missing browser is a failure
            pytest.fail(message)
        pytest.skip(message)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    SHOTS.mkdir(exist_ok=True)
    # The page's Content-Security-Policy forbids inline and injected script; it is bypassed here
    # so that escaping alone has to keep hostile text inert (and so that Playwright's
    # `wait_for_function` may evaluate its expressions). The header itself is checked in
    # test_server.py.
    context = browser.new_context(viewport={"width": 1360, "height": 900}, bypass_csp=True)
    tab = context.new_page()
    tab.errors = []  # type: ignore[attr-defined]
    tab.dialogs = []  # type: ignore[attr-defined]
    tab.on("pageerror", lambda exc: tab.errors.append(str(exc)))

    def on_dialog(dialog: Any) -> None:
        tab.dialogs.append(dialog.message)
        dialog.dismiss()

    tab.on("dialog", on_dialog)
    yield tab
    context.close()


def _shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_runs_list_map_node_branch_table_and_branch_logs(page: Any, base_url: str) -> None:
    page.goto(base_url + "/")
    page.wait_for_selector("#runs tbody tr[data-run]")
    assert page.locator("#runs tbody tr[data-run]").count() == 3
    page.select_option("#filter-status", "failed")
    page.wait_for_function("document.querySelectorAll('#runs tbody tr[data-run]').length === 1")
    assert page.locator("#runs tbody tr[data-run] .badge").text_content() == "failed"
    page.select_option("#filter-status", "")
    page.wait_for_function("document.querySelectorAll('#runs tbody tr[data-run]').length === 3")
    page.select_option("#filter-pipeline", "wide")
    page.wait_for_function("document.querySelectorAll('#runs tbody tr[data-run]').length === 1")
    _shot(page, "runs-list")
    page.click("#runs tbody tr[data-run] a")

    node = page.locator('.dag .node[data-key="map:square"]')
    node.wait_for()
    assert page.locator(".dag .node").count() == 3  # one node for 1,000 branches
    assert node.locator(".total").text_content() == "\u00d71,000"
    assert node.locator(".counts").text_content() == "1,000 completed"
    _shot(page, "run-page")

    node.click()
    page.wait_for_selector("#branch-table tbody tr[data-index]")
    assert page.locator("#branch-table tbody tr[data-index]").count() == 50
    assert page.locator("#branch-total").text_content().startswith("1,000 branches")
    assert page.locator("#branch-page").text_content() == "page 1 of 20"
    page.click("#branch-next")
    page.wait_for_selector('#branch-table tbody tr[data-index="50"]')
    page.select_option("#branch-sort", "duration")
    page.check("#branch-desc")
    page.wait_for_function("document.querySelector('#branch-page').textContent === 'page 1 of 20'")
    _shot(page, "branch-table")
    page.check("#branch-failed")
    page.wait_for_selector("text=No branches match.")
    page.uncheck("#branch-failed")
    page.select_option("#branch-sort", "index")
    page.uncheck("#branch-desc")
    page.wait_for_selector('#branch-table tbody tr[data-index="7"]')
    page.click('#branch-table tbody tr[data-index="7"] a.branch-link')
    page.wait_for_function(
        "document.querySelector('#log') && document.querySelector('#log').textContent.length > 0"
    )
    assert "squaring 7" in page.locator("#log").text_content()
    assert page.locator("h1").text_content().startswith("map:square:7")
    _shot(page, "branch-logs")
    assert page.errors == []


def test_failed_branches_filter_and_error(page: Any, base_url: str) -> None:
    page.goto(base_url + "/#/runs?pipeline=failing_map")
    page.wait_for_selector("#runs tbody tr[data-run] a")
    page.click("#runs tbody tr[data-run] a")
    node = page.locator('.dag .node[data-key="map:scale"]')
    node.wait_for()
    assert node.locator(".counts").text_content() == "28 completed · 2 failed"
    assert "item 4 is bad" in page.locator(".first-errors").text_content()
    node.click()
    page.check("#branch-failed")
    page.wait_for_function(
        "document.querySelectorAll('#branch-table tbody tr[data-index]').length === 2"
    )
    errors = page.locator("#branch-table td.err").all_text_contents()
    assert errors == ["ValueError: item 4 is bad", "ValueError: item 11 is bad"]
    _shot(page, "failed-branches")
    assert page.errors == []


def test_hostile_names_logs_and_previews_stay_text(page: Any, base_url: str) -> None:
    page.goto(base_url + "/#/runs?pipeline=showcase")
    page.wait_for_selector("#runs tbody tr[data-run] a")
    page.click("#runs tbody tr[data-run] a")
    node = page.locator(f'.dag .node[data-key="{HOSTILE}"]')
    node.wait_for()
    assert node.locator(".title").text_content() == "<img src=x onerror=alert(1)>"
    node.click()
    page.wait_for_function(
        "document.querySelector('#log') && document.querySelector('#log').textContent.length > 0"
    )
    assert page.locator("h1").text_content().startswith(HOSTILE)
    assert HOSTILE_LOG in page.locator("#log").text_content()
    page.click("text=report v1")
    page.wait_for_selector("#preview-text")
    assert HOSTILE in page.locator("#preview-text").text_content()
    _shot(page, "hostile")
    page.wait_for_timeout(300)  # give an injected handler the moment it would need
    injected = page.evaluate(
        'document.querySelectorAll(\'img[src="x"], img[src="y"], main script\').length'
    )
    assert injected == 0
    assert page.evaluate("window.__pwned === undefined")
    assert page.dialogs == [] and page.errors == []


def test_previews_render_numpy_pandas_and_images(page: Any, base_url: str) -> None:
    page.goto(base_url + "/#/runs?pipeline=showcase")
    page.wait_for_selector("#runs tbody tr[data-run] a")
    page.click("#runs tbody tr[data-run] a")
    page.locator('.dag .node[data-key="make_array"]').click()
    page.click("text=output v1")
    page.wait_for_function(
        "(() => { const img = document.querySelector('img.thumb');"
        " return img && img.complete && img.naturalWidth > 0; })()"
    )
    assert page.evaluate("document.querySelector('img.thumb').naturalWidth") == 32
    assert "(32, 32, 3)" in page.locator("table.kv").nth(1).text_content()
    assert page.locator("table.kv").first.locator("a", has_text=HOSTILE).count() == 1
    _shot(page, "numpy-preview")
    page.go_back()
    page.go_back()
    page.locator('.dag .node[data-key="make_frame"]').click()
    page.click("text=output v1")
    page.wait_for_selector("text=3 rows \u00d7 2 columns")
    assert "<b>Pune</b>" in page.locator("table.grid.small").text_content()
    assert page.errors == []


def test_a_running_runs_counts_change_while_the_page_is_open(
    page: Any, base_url: str, browser_home: Path, tmp_path: Path
) -> None:
    gate = tmp_path / "open"
    script = Path(__file__).parent / "gated_run.py"
    env = {**os.environ, "FANFLOW_HOME": str(browser_home)}
    proc = subprocess.Popen(
        [sys.executable, str(script), "40", "10", str(gate)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        runs_tab = page.context.new_page()  # the runs list stays open beside the run page
        runs_tab.goto(base_url + "/#/runs?pipeline=gated")
        runs_tab.wait_for_selector("#runs tbody tr[data-run] .badge", timeout=60_000)
        page.goto(base_url + "/#/runs?pipeline=gated")
        page.wait_for_selector("#runs tbody tr[data-run] a", timeout=60_000)
        page.click("#runs tbody tr[data-run] a")
        counts = page.locator('.dag .node[data-key="map:job"] .counts')
        counts.wait_for(timeout=60_000)
        page.wait_for_function(
            "(() => { const c = document.querySelector('.dag .node[data-key=\"map:job\"] .counts');"
            " return c && c.textContent.includes('10 completed') &&"
            " c.textContent.includes('running'); })()",
            timeout=60_000,
        )
        before = counts.text_content()
        assert page.locator("#live").is_visible()
        # A third tab follows the log of a branch that is still running.
        run_id = page.url.rsplit("/", 1)[1].split("?")[0]
        with urllib.request.urlopen(
            f"{base_url}/api/runs/{run_id}/groups/job/branches?status=running"
        ) as response:
            waiting = json.loads(response.read())["rows"][0]
        log_tab = page.context.new_page()
        log_tab.goto(f"{base_url}/#/step/{waiting['id']}")
        log_tab.wait_for_selector("text=Waiting for output")
        assert runs_tab.locator("#runs tbody tr[data-run] .badge").text_content() == "running"
        _shot(page, "live-before")
        gate.touch()
        page.wait_for_function(
            "document.querySelector('.dag .node[data-key=\"map:job\"] .counts')"
            ".textContent === '40 completed'",
            timeout=60_000,
        )
        assert counts.text_content() != before
        line = f"job {waiting['map_index']} done"
        log_tab.wait_for_function(
            "(() => { const log = document.querySelector('#log');"
            " const badge = document.querySelector('h1 .badge');"
            f" return log && badge && log.textContent.includes('{line}')"
            " && badge.textContent === 'completed'; })()",
            timeout=30_000,
        )
        assert line in log_tab.locator("#log").text_content()
        _shot(log_tab, "live-log")
        page.wait_for_function("document.querySelector('#live').hidden", timeout=30_000)
        assert page.locator(".run-head .badge").text_content() == "completed"
        _shot(page, "live-after")
        # The runs list, never reloaded, shows the new status too.
        runs_tab.wait_for_function(
            "document.querySelector('#runs tbody tr[data-run] .badge').textContent === 'completed'",
            timeout=30_000,
        )
        _shot(runs_tab, "live-runs-list")
        assert page.errors == []
    finally:
        gate.touch()
        proc.wait(60)


def _get(url: str) -> Any:
    with urllib.request.urlopen(url) as response:
        return json.loads(response.read())


def _running_step(base_url: str, pipeline: str, name: str, proc: Any) -> str:
    """The id of step `name` of the newest run of `pipeline`, once it is recorded."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        runs = _get(f"{base_url}/api/runs?pipeline={pipeline}")["items"]
        if runs:
            nodes = _get(f"{base_url}/api/runs/{runs[0]['id']}?durations=0")["nodes"]
            found = [n["step_run_id"] for n in nodes if n["key"] == name and n["step_run_id"]]
            if found:
                return str(found[0])
        time.sleep(0.1)
    raise AssertionError(f"step {name} of {pipeline} was not recorded")


def test_a_running_steps_log_grows_on_its_page_before_it_ends(
    page: Any, base_url: str, browser_home: Path, tmp_path: Path
) -> None:
    from talking_run import HOSTILE_LINE

    env = {**os.environ, "FANFLOW_HOME": str(browser_home)}
    script = Path(__file__).parent / "talking_run.py"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    has_line = (
        "(n) => { const log = document.querySelector('#log');"
        " return !!log && log.textContent.includes('line ' + n + ':'); }"
    )
    badge = "(document.querySelector('h1 .badge') || {}).textContent"
    try:
        step_id = _running_step(base_url, "talking", "talk", proc)
        page.goto(f"{base_url}/#/step/{step_id}")
        page.wait_for_function(has_line, arg=0, timeout=60_000)
        for i in (1, 2):
            # The step waits for go{i-1} before printing line i, so it is still running now.
            assert page.evaluate(badge) == "running"
            assert page.locator("#live").is_visible()
            assert f"line {i}:" not in page.locator("#log").text_content()
            (tmp_path / f"go{i - 1}").touch()
            page.wait_for_function(has_line, arg=i, timeout=60_000)
        assert page.evaluate(badge) == "running"
        assert "following" in page.locator("#log-state").text_content()
        _shot(page, "live-tail")
        (tmp_path / "go2").touch()
        page.wait_for_function(f"{badge} === 'completed'", timeout=60_000)
        page.wait_for_function(has_line, arg=2, timeout=30_000)
        log = page.locator("#log").text_content()
        for i in range(3):  # the stored log replaced the live one: every line once
            assert log.count(f"line {i}: {HOSTILE_LINE}") == 1
        assert page.evaluate("document.querySelectorAll('#log *, img[src=\"z\"]').length") == 0
        assert page.dialogs == [] and page.errors == []
    finally:
        for i in range(3):
            (tmp_path / f"go{i}").touch()
        proc.wait(60)


def test_an_answer_overtaken_by_a_newer_request_is_not_drawn(page: Any, base_url: str) -> None:
    """Descending order is asked for, then ascending; the descending answer is held back by the
    test until the ascending one is drawn, as a busy server may answer out of order. The table
    must stay ascending."""
    held: list[Any] = []

    def hold_descending(route: Any) -> None:
        if "sort=index" in route.request.url and "desc=1" in route.request.url:
            held.append(route)
        else:
            route.continue_()

    page.route("**/branches?*", hold_descending)
    page.goto(base_url + "/")
    page.wait_for_selector("#runs tbody tr[data-run]")
    page.select_option("#filter-pipeline", "wide")
    page.wait_for_function("document.querySelectorAll('#runs tbody tr[data-run]').length === 1")
    page.click("#runs tbody tr[data-run] a")
    node = page.locator('.dag .node[data-key="map:square"]')
    node.wait_for()
    node.click()
    page.wait_for_selector('#branch-table tbody tr[data-index="0"]')
    page.check("#branch-desc")  # asks for sort=index&desc=1: held
    for _ in range(100):  # route handlers run while the page is waited on
        if held:
            break
        page.wait_for_timeout(50)
    assert len(held) == 1
    with page.expect_response(lambda response: "desc=0" in response.url):
        page.uncheck("#branch-desc")  # asks for desc=0: answered and drawn
    page.wait_for_timeout(300)
    rows = page.locator("#branch-table tbody tr[data-index]")
    assert rows.first.get_attribute("data-index") == "0"
    held[0].continue_()  # the stale, descending answer arrives last
    page.wait_for_timeout(1000)
    assert rows.first.get_attribute("data-index") == "0"
    assert page.locator('#branch-table tbody tr[data-index="999"]').count() == 0
    assert page.errors == []  # type: ignore[attr-defined]
