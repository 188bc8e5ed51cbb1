"""docs/mesh.md tells the story tests/test_mesh_story.py runs: each statement the test
runs is in the doc as written, every SQL statement of the doc parses (a governance
statement by icehouse, any other by DuckDB), and the README links the doc."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
import pytest

from icehouse.govern.statements import parse_statement
from tests.test_mesh_story import REVOKES, STEPS

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "mesh.md").read_text(encoding="utf-8")
SQL_ARGUMENT = re.compile(r'^icehouse sql (?:--server \S+|--home \S+) "(.*)"$', re.MULTILINE)
DOC_STATEMENTS = SQL_ARGUMENT.findall(DOC)


def test_each_statement_of_the_story_is_in_the_doc_as_the_test_runs_it() -> None:
    ran = [statement for _, statement, _ in STEPS] + [statement for _, statement in REVOKES]

    assert [s for s in ran if s not in DOC_STATEMENTS] == []


@pytest.mark.parametrize("statement", DOC_STATEMENTS)
def test_every_sql_statement_of_the_doc_parses(statement: str) -> None:
    if parse_statement(statement) is None:
        assert len(duckdb.extract_statements(statement)) == 1


def test_the_readme_links_the_doc() -> None:
    assert "(docs/mesh.md)" in (ROOT / "README.md").read_text(encoding="utf-8")
