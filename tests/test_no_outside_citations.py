"""Docstrings and comments state facts themselves: they cite no file that is not in the
repository (notes kept elsewhere, such as ``FACTS.md`` or ``DESIGN.md``) and no issue
number, which a reader of the code cannot follow."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("src", "benchmarks")

MARKDOWN = re.compile(r"[\w./-]*\b[\w-]+\.md\b")
ISSUE = re.compile(r"\bissues?\s*#?\s*\d+|(?<![\w&/])#\d+\b|\bissue\s+\d+(\.\d+)*", re.IGNORECASE)


def python_files() -> list[Path]:
    return sorted(p for folder in CHECKED for p in (ROOT / folder).rglob("*.py"))


def exists_in_repository(name: str, source: Path) -> bool:
    """``docs/queries.md``, ``README.md`` ...: relative to the repository or the file."""
    return any((base / name).is_file() for base in (ROOT, ROOT / "docs", source.parent))


def citations(text: str, source: Path) -> list[str]:
    """Every cited outside file and issue number in ``text``, as ``line N: citation``."""
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        found += [
            f"line {number}: {m.group()}"
            for m in MARKDOWN.finditer(line)
            if not exists_in_repository(m.group(), source)
        ]
        found += [f"line {number}: {m.group()}" for m in ISSUE.finditer(line)]
    return found


@pytest.mark.parametrize("path", python_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_citation_of_a_file_outside_the_repository_or_of_an_issue(path):
    assert citations(path.read_text(encoding="utf-8"), path) == []


@pytest.mark.parametrize(
    "line",
    [
        "# Defaults (issue #2): zstd",
        '"""Benchmark (issue 4): the workload."""',
        "(issue 9.6)",
        "fixed in #13",
        "PyIceberg's expiry deletes nothing (FACTS.md).",
        "command (DESIGN.md).",
        "see shared/STYLE.md",
        "as DEVELOPERS.md says",
    ],
)
def test_the_check_finds_each_kind_of_citation(line):
    assert len(citations(line, ROOT / "src" / "icehouse" / "lake.py")) == 1


def test_the_check_lets_files_of_the_repository_be_named():
    assert citations("see docs/queries.md and README.md", ROOT / "tests" / "x.py") == []
