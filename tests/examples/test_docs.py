"""The documentation site: every code block marked runnable runs, and the site builds strictly.

A block is marked runnable by an HTML comment `<!-- runnable -->` on the line before its
```python fence; each runs in a fresh interpreter with an empty fanflow home.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
RUNNABLE = re.compile(r"<!-- runnable -->\n```python\n(.*?)```", flags=re.S)


def runnable_blocks() -> list[tuple[str, str]]:
    blocks = []
    for page in sorted(DOCS.glob("*.md")):
        for index, code in enumerate(RUNNABLE.findall(page.read_text())):
            blocks.append((f"{page.stem}-{index}", code))
    return blocks


def test_the_docs_have_runnable_blocks():
    assert len(runnable_blocks()) >= 10


@pytest.mark.parametrize(("name", "code"), runnable_blocks(), ids=[n for n, _ in runnable_blocks()])
def test_runnable_block(name, code, tmp_path):
    script = tmp_path / f"{name}.py"
    script.write_text(code)
    env = {**os.environ, "FANFLOW_HOME": str(tmp_path / "home")}
    result = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert result.returncode == 0, f"{name} failed:\n{result.stderr[-4000:]}"


@pytest.mark.slow
def test_site_builds_strictly(tmp_path):
    mkdocs = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    if mkdocs is None:
        pytest.skip("the docs extra is not installed")
    result = subprocess.run(
        [mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert (tmp_path / "site" / "migrating-from-zenml" / "index.html").exists()
