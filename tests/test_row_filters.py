"""A data filter's predicate is kept by field id: renames and older schemas keep it, and
its SQL rendering selects exactly the rows DuckDB's own WHERE selects."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest
from pyiceberg.expressions import StartsWith
from pyiceberg.expressions.visitors import expression_evaluator
from pyiceberg.schema import Schema
from pyiceberg.typedef import Record
from pyiceberg.types import DecimalType, LongType, NestedField, StringType

from icehouse.errors import FilterNotTranslatable
from icehouse.tables.row_filters import (
    encode_row_filter,
    expression_sql,
    row_filter_expression,
    row_filter_fields,
    row_filter_sql,
)

SCHEMA = Schema(
    NestedField(1, "status", LongType()),
    NestedField(2, "region", StringType()),
    NestedField(3, "cost", DecimalType(10, 2)),
)
RENAMED = Schema(
    NestedField(1, "http_status", LongType()),
    NestedField(2, "area", StringType()),
    NestedField(3, "cost", DecimalType(10, 2)),
)
ROWS = [
    (200, "eu", "1.50"),
    (500, "eu", "9.99"),
    (404, "us", None),
    (None, None, "3.00"),
    (503, "ap", "0.10"),
]
PREDICATES = [
    "status >= 500",
    "region = 'eu' OR region IS NULL",
    "region <> 'eu'",
    "NOT (status = 200)",
    "status IN (200, 404) AND cost < 2",
    "region NOT IN ('us', 'ap')",
    "cost IS NOT NULL AND NOT (region = 'us' OR status > 500)",
]


def _duckdb_rows(where: str, columns: tuple[str, str, str]) -> list[tuple[object, ...]]:
    conn = duckdb.connect()
    status, region, cost = (f'"{c}"' for c in columns)
    conn.execute(f"CREATE TABLE t ({status} BIGINT, {region} VARCHAR, {cost} DECIMAL(10, 2))")
    conn.executemany("INSERT INTO t VALUES (?, ?, ?)", ROWS)
    return sorted(conn.execute(f"SELECT * FROM t WHERE {where}").fetchall(), key=repr)


@pytest.mark.parametrize("where", PREDICATES)
def test_rendered_sql_selects_what_the_where_selects(where: str) -> None:
    encoded = json.loads(json.dumps(encode_row_filter(where, "ns.t", SCHEMA)))  # as stored
    expected = _duckdb_rows(where, ("status", "region", "cost"))
    assert _duckdb_rows(row_filter_sql(encoded, SCHEMA), ("status", "region", "cost")) == expected
    renamed = _duckdb_rows(row_filter_sql(encoded, RENAMED), ("http_status", "area", "cost"))
    assert renamed == expected


@pytest.mark.parametrize("where", PREDICATES)
def test_the_where_form_keeps_the_same_rows(where: str) -> None:
    encoded = encode_row_filter(where, "ns.t", SCHEMA)
    kept = _duckdb_rows(row_filter_sql(encoded, SCHEMA, where=True), ("status", "region", "cost"))
    assert kept == _duckdb_rows(where, ("status", "region", "cost"))


def test_the_where_form_leaves_comparisons_plain_for_duckdb_to_push_into_its_scans(
    tmp_path: Path,
) -> None:
    """A plain comparison is a table filter DuckDB prunes row groups with; a ``coalesce``
    is evaluated on every decoded row (5x the CPU on a selective filter, measured)."""
    path = tmp_path / "t.parquet"
    duckdb.execute(
        f"COPY (SELECT range AS status, 'eu' AS region, 1.5::DECIMAL(10, 2) AS cost "
        f"FROM range(1000)) TO '{path}' (ROW_GROUP_SIZE 100)"
    )
    encoded = encode_row_filter("status >= 950 AND region = 'eu'", "ns.t", SCHEMA)
    where = row_filter_sql(encoded, SCHEMA, where=True)
    plan = duckdb.execute(f"EXPLAIN SELECT * FROM read_parquet('{path}') WHERE {where}").fetchall()
    assert "COALESCE" not in plan[0][1].upper()
    assert "status>=950" in plan[0][1].replace(" ", "")
    assert "coalesce" in row_filter_sql(encoded, SCHEMA)  # the masked copy's form, never NULL


@pytest.mark.parametrize("where", PREDICATES)
def test_iceberg_expression_agrees_with_sql(where: str) -> None:
    encoded = encode_row_filter(where, "ns.t", SCHEMA)
    evaluate = expression_evaluator(RENAMED, row_filter_expression(encoded, RENAMED), True)
    expected = _duckdb_rows(where, ("status", "region", "cost"))
    kept = [
        row
        for row in ROWS
        if evaluate(Record(row[0], row[1], None if row[2] is None else Decimal(row[2])))
    ]
    as_duckdb = [(s, r, None if c is None else Decimal(c)) for s, r, c in kept]
    assert sorted(as_duckdb, key=repr) == expected


def test_a_column_the_schema_lacks_reads_as_null() -> None:
    encoded = encode_row_filter("region = 'eu'", "ns.t", SCHEMA)
    older = Schema(NestedField(1, "status", LongType()))
    assert row_filter_sql(encoded, older) == "false"
    assert row_filter_sql(encode_row_filter("region IS NULL", "ns.t", SCHEMA), older) == "true"
    assert row_filter_fields(encode_row_filter("status > 1 AND region = 'x'", "ns.t", SCHEMA)) == {
        1,
        2,
    }


def test_a_predicate_without_exact_translation_is_refused_with_its_term() -> None:
    with pytest.raises(FilterNotTranslatable) as caught:
        encode_row_filter("status + 1 > 2", "ns.t", SCHEMA)
    assert "status + 1" in str(caught.value)


@pytest.mark.parametrize("where", PREDICATES)
def test_an_expression_renders_as_the_sql_of_its_stored_form(where: str) -> None:
    expression = row_filter_expression(encode_row_filter(where, "ns.t", SCHEMA), SCHEMA)
    rendered = expression_sql(expression, SCHEMA)
    assert _duckdb_rows(rendered, ("status", "region", "cost")) == _duckdb_rows(
        where, ("status", "region", "cost")
    )


def test_an_expression_with_no_stored_form_is_refused() -> None:
    with pytest.raises(FilterNotTranslatable, match="StartsWith"):
        expression_sql(StartsWith("region", "e"), SCHEMA)
