"""Every benchmark script still imports what it measures.

Benchmarks reach below the ``Lake`` facade, so a refactor can break one without any test
noticing until someone quotes its figures; ``--help`` imports the whole script and its
icehouse modules without running anything heavy.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
MODULES = {"common.py", "scale_discovery.py", "scale_writers.py"}
"""Modules the scripts import, not scripts themselves."""
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py") if p.name not in MODULES)


def test_there_are_benchmarks_to_check() -> None:
    assert {p.name for p in SCRIPTS} >= {"ingest.py", "planning.py", "queries.py", "maintain.py"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_a_benchmark_script_imports_and_explains_itself(script: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_nothing_is_defined_after_the_main_guard(script: Path) -> None:
    """A function defined below ``if __name__ == "__main__": main()`` does not exist yet
    when ``main()`` runs: the script fails only when that code path is reached."""
    body = ast.parse(script.read_text(encoding="utf-8")).body
    guards = [i for i, node in enumerate(body) if _is_main_guard(node)]
    assert guards == [len(body) - 1], f"{script.name}: the main guard is not the last statement"


def _is_main_guard(node: ast.stmt) -> bool:
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
    )
