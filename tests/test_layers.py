"""The code reads in one direction: agent → pipelines → runtime → processors.

Walks every import (top-level and inside functions) of the product's packages and fails on an
arrow that points up the stack, or from the product into the test harness.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LAYERS = ("agent", "pipelines", "runtime", "processors")  # top to bottom
HARNESS = ("testing", "tests", "bench")


def project_imports(path: Path) -> list[tuple[int, str]]:
    """``(line, top-level package)`` of each import of a project package in ``path``."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in LAYERS or top in HARNESS:
                found.append((node.lineno, top))
    return found


def layer_violations(root: Path = ROOT) -> list[str]:
    bad = []
    for rank, layer in enumerate(LAYERS):
        for path in sorted((root / layer).rglob("*.py")):
            for line, target in project_imports(path):
                where = f"{path.relative_to(root)}:{line}"
                if target in HARNESS:
                    bad.append(f"{where}: {layer} imports the test harness ({target})")
                elif LAYERS.index(target) < rank:
                    bad.append(f"{where}: {layer} imports {target}, a layer above it")
    return bad


def test_imports_point_down_the_layers():
    assert layer_violations() == []


def test_the_check_catches_an_upward_import(tmp_path):
    for layer in LAYERS:
        (tmp_path / layer).mkdir()
    (tmp_path / "runtime" / "bad.py").write_text("def f():\n    from agent.app import run\n")
    (tmp_path / "processors" / "probe.py").write_text("import testing.probe\nimport processors.phrase\n")
    assert layer_violations(tmp_path) == [
        "runtime/bad.py:2: runtime imports agent, a layer above it",
        "processors/probe.py:1: processors imports the test harness (testing)",
    ]


@pytest.mark.parametrize("layer", LAYERS)
def test_every_layer_is_a_package(layer):
    assert (ROOT / layer / "__init__.py").exists()
