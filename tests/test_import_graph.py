"""The import graph of `fanflow` has no cycles, counting every kind of import.

grimp (installed with import-linter) reads every import statement, function-level ones
included; on top of that, any string literal naming a fanflow module (``import_module("...")``,
lazy-export tables) counts as an import, because it is one at run time. The graph is built in
a fresh interpreter, and every module is then imported in fresh interpreters in two orders.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import fanflow

SCRIPT = textwrap.dedent(
    """
    import ast, graphlib, importlib, json, sys
    from pathlib import Path

    import grimp

    package = sys.argv[1]
    importlib.import_module(package)
    graph = grimp.build_graph(package, exclude_type_checking_imports=True)
    modules = set(graph.modules)
    edges = {m: set(graph.find_modules_directly_imported_by(m)) for m in modules}
    for module in modules:
        path = Path(sys.modules[package].__file__).parent.parent.joinpath(
            *module.split(".")
        )
        file = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
        for node in ast.walk(ast.parse(file.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                name = node.value.partition(":")[0]
                # The bare package name is a logger name, never imported by string.
                if name in modules and name not in (module, package):
                    edges[module].add(name)
    cycles = []
    remaining = {m: set(targets) for m, targets in edges.items()}
    while True:
        try:
            tuple(graphlib.TopologicalSorter(remaining).static_order())
            break
        except graphlib.CycleError as exc:
            # Each node of the reported cycle is imported by the next one; list importers first.
            cycle = exc.args[1][::-1]
            cycles.append(cycle)
            remaining[cycle[0]].discard(cycle[1])
    print(json.dumps({"modules": sorted(modules), "cycles": cycles}))
    """
)


def _graph_of(package: str, root: str) -> dict[str, list]:
    """Modules and import cycles of `package` (found under `root`), from a fresh interpreter."""
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT, package],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": root, "PATH": "/usr/bin:/bin"},
    )
    return json.loads(out.stdout)


@functools.cache
def _graph() -> dict[str, list]:
    return _graph_of("fanflow", str(Path(fanflow.__file__).parent.parent))


def test_no_import_cycles_string_imports_included() -> None:
    found = _graph()
    assert len(found["modules"]) > 40
    assert found["cycles"] == [], "import cycles: " + "; ".join(
        " -> ".join(cycle) for cycle in found["cycles"]
    )


@pytest.mark.parametrize("order", ["sorted", "reversed"])
def test_every_module_imports_in_a_fresh_interpreter(order: str) -> None:
    """Every module imports, in either order (with no cycle, none depends on who came first)."""
    modules = sorted(_graph()["modules"], reverse=order == "reversed")
    code = "import importlib, sys\nfor name in sys.argv[1:]:\n    importlib.import_module(name)\n"
    done = subprocess.run([sys.executable, "-c", code, *modules], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_check_sees_string_and_function_level_imports(tmp_path: Path) -> None:
    """The checker itself: a cycle closed only by a string import inside a function is found."""
    package = tmp_path / "cyclic_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from cyclic_pkg import b\n")
    (package / "b.py").write_text(
        "def later():\n    import importlib\n\n    return importlib.import_module('cyclic_pkg.a')\n"
    )
    (package / "c.py").write_text("def later():\n    from cyclic_pkg import d\n")
    (package / "d.py").write_text("import cyclic_pkg.c\n")
    found = _graph_of("cyclic_pkg", str(tmp_path))
    cycles = sorted(sorted(cycle[:-1]) for cycle in found["cycles"])
    assert cycles == [["cyclic_pkg.a", "cyclic_pkg.b"], ["cyclic_pkg.c", "cyclic_pkg.d"]]
