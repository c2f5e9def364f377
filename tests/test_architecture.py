"""The project's packages form layers, and imports only run down them.

Read from the source with ``ast`` (nothing is imported), so a forbidden import fails
here even in a module no other test loads. The layers, bottom to top, as the README's
architecture section draws them:

* ``psbase``: errors, the atomic writer, HDF5 helpers, output guards; imports nothing
  of ours;
* ``photostereo``: captures to maps;
* ``synthetic_faces``: synthetic people photographed by a rig (renders captures in
  photostereo's conventions);
* ``gallery``: embeddings to decisions (metrics, search, the template store);
* ``recognition``: maps to embeddings, trained with gallery's metrics, and what a
  trained run does to maps and galleries;
* ``ablation``: photometric stereo and recognition measured across a grid of lighting
  conditions, on rendered or real captures;
* ``psface``: the command line, on top of everything.
"""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: What each package may import, besides itself and outside libraries.
ALLOWED = {
    "psbase": set(),
    "photostereo": {"psbase"},
    "synthetic_faces": {"psbase", "photostereo"},
    "gallery": {"psbase"},
    "recognition": {"psbase", "photostereo", "gallery"},
    "ablation": {"psbase", "photostereo", "synthetic_faces", "gallery", "recognition"},
    "psface": {"psbase", "photostereo", "synthetic_faces", "gallery", "recognition", "ablation"},
}


def imported_packages(package: str) -> dict[str, set[str]]:
    """{our other package: modules of ``package`` importing it}, from the source."""
    found: dict[str, set[str]] = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top in ALLOWED and top != package:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_package_of_the_project_has_a_layer():
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py")} - {"tests"}
    assert packages == set(ALLOWED)


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_run_only_down_the_layers(package):
    wrong = {
        target: sorted(modules)
        for target, modules in imported_packages(package).items()
        if target not in ALLOWED[package]
    }
    assert not wrong, f"{package} imports packages above it or beside it: {wrong}"


def test_the_import_graph_is_acyclic():
    graph = {package: set(imported_packages(package)) for package in ALLOWED}
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as error:  # pragma: no cover - the message is the point
        pytest.fail(f"import cycle between packages: {error.args[1]}")
    assert order[0] == "psbase" and order[-1] == "psface"


def test_the_checker_reads_the_imports():
    """The test above would pass on an empty tree; make sure it reads imports."""
    assert "psbase" in imported_packages("photostereo")
    assert "psbase" not in imported_packages("psbase")
    assert {"recognition", "gallery"} <= set(imported_packages("psface"))
