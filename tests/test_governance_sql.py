"""Governance statements run through ``lake.sql`` and ``icehouse sql`` (one query, the
piped shell) against a real lake: what each answers, what the lake then holds, and the
errors a user sees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from icehouse.errors import GovernanceSyntaxError, QueryError
from icehouse.lake import Lake
from tests import fixtures_lake
from tests.test_cli import one_line, run

home = fixtures_lake.home
lake = fixtures_lake.lake
events = fixtures_lake.events


def rows(lake: Lake, sql: str) -> list[dict[str, object]]:
    return lake.sql(sql).to_pylist()


# --- errors --------------------------------------------------------------------------------


def test_a_statement_that_does_not_parse_is_refused_before_anything_runs(lake: Lake) -> None:
    with pytest.raises(GovernanceSyntaxError) as raised:
        lake.sql("GRANT SELECT ON TABLE logs.events FORM ROLE analysts")
    assert raised.value.message == "expected TO at line 1, column 35, found 'FORM'"


def test_explaining_a_governance_statement_is_refused(lake: Lake) -> None:
    with pytest.raises(QueryError, match="EXPLAIN shows what a query reads, and SHOW reads"):
        lake.explain("SHOW GRANTS")
    with pytest.raises(QueryError, match="and GRANT reads no table: run the statement without"):
        lake.sql("EXPLAIN GRANT SELECT ON TABLE logs.events TO ROLE analysts")


def test_queries_and_duckdb_statements_still_go_to_duckdb(lake: Lake, events: object) -> None:
    assert rows(lake, "SELECT count(*) AS n FROM logs.events") == [{"n": 0}]
    assert lake.sql("SHOW TABLES").column_names == ["name"]  # DuckDB's, not SHOW TAGS
    assert rows(lake, "SELECT 'GRANT ROLE a TO ROLE b' AS text") == [
        {"text": "GRANT ROLE a TO ROLE b"}
    ]


def test_the_cli_prints_a_syntax_error_like_other_sql_errors(home: Path) -> None:
    result = run("sql", "CREATE DATA FILTER f ON logs.events WHERE (id > 1", "--home", str(home))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert (
        one_line(result.stderr)
        == "Error: expected ')' at line 1, column 50, found the end of the statement"
    )


def test_the_cli_refuses_explain_of_a_governance_statement(home: Path) -> None:
    result = run("sql", "CREATE ROLE analysts", "--explain", "--home", str(home))
    assert result.exit_code == 1
    assert one_line(result.stderr) == (
        "Error: EXPLAIN shows what a query reads, and CREATE reads no table: run the "
        "statement without EXPLAIN"
    )
