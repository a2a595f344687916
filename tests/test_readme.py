"""The README's Python examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_starts_with_install_and_test_commands():
    first_block = re.search(r"```bash\n(.*?)```", README.read_text(), flags=re.S).group(1)
    lines = [line for line in first_block.splitlines() if line.strip()]
    assert "examples/fan_out_fan_in.py" in lines[0] and "pip install" in lines[0]
    assert "pytest" in lines[1]


def test_readme_python_examples_run(fanflow_home, tmp_path):
    import os

    blocks = python_blocks()
    assert blocks, "README has Python examples"
    env = {**os.environ, "FANFLOW_HOME": str(fanflow_home)}
    for index, code in enumerate(blocks):
        script = tmp_path / f"readme_example_{index}.py"
        script.write_text(code)
        result = subprocess.run(
            [sys.executable, str(script)],
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=120,
        )
        assert result.returncode == 0, f"README example {index} failed:\n{result.stderr}"
