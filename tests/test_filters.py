"""The one WHERE translator (``tables/filters.py``): every supported form selects exactly
the rows DuckDB's SQL selects, nulls included, and an untranslatable term is named."""

from __future__ import annotations

import duckdb
import pytest
from pyiceberg.expressions.visitors import expression_evaluator
from pyiceberg.schema import Schema
from pyiceberg.typedef import Record
from pyiceberg.types import LongType, NestedField, StringType

from icehouse.errors import FilterNotTranslatable
from icehouse.tables.filters import pushdown_filter, referenced_columns, where_expression

SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=True),
    NestedField(2, "country", StringType(), required=False),
    NestedField(3, "bytes", LongType(), required=False),
)
ROWS = [
    (1, "DE", 10),
    (2, "US", None),
    (3, None, 30),
    (4, "FR", 0),
    (5, None, None),
    (6, "DE", 60),
]

EXACT = [
    "id = 1",
    "3 < id",
    "id <> 2",
    "country = 'DE'",
    "country <> 'DE'",
    "NOT (country = 'DE')",
    "country IN ('DE', 'FR')",
    "country NOT IN ('DE', 'FR')",
    "NOT (country IN ('DE'))",
    "country IS NULL",
    "NOT (country IS NULL)",
    "bytes IS NOT NULL AND bytes >= 10",
    "id = 1 OR country = 'US'",
    "NOT (id > 3 AND country = 'DE')",
    "NOT (bytes > 5 OR country = 'DE')",
    "NOT (NOT (bytes < 20))",
    "(id < 3 OR bytes = 0) AND NOT country IS NULL",
    "NOT (10 >= bytes)",
]


def _sql_ids(where: str) -> list[int]:
    conn = duckdb.connect()
    conn.execute("CREATE SCHEMA a; CREATE TABLE a.e (id BIGINT, country VARCHAR, bytes BIGINT)")
    conn.executemany("INSERT INTO a.e VALUES (?, ?, ?)", ROWS)
    return [
        row[0] for row in conn.execute(f"SELECT id FROM a.e WHERE {where} ORDER BY id").fetchall()
    ]


@pytest.mark.parametrize("where", EXACT)
def test_the_translation_selects_exactly_the_rows_sql_selects(where: str) -> None:
    matches = expression_evaluator(SCHEMA, where_expression(where, "a.e", SCHEMA), True)
    assert [r[0] for r in ROWS if matches(Record(*r))] == _sql_ids(where)


@pytest.mark.parametrize(
    ("where", "term"),
    [
        ("lower(country) = 'de'", "lower(country) = 'de'"),
        ("id = 1 OR id % 2 = 0", "(id % 2) = 0"),
        ("NOT (id = 1 AND bytes BETWEEN 1 AND 5)", "bytes BETWEEN 1 AND 5"),
        ("missing = 1", "missing = 1"),
    ],
)
def test_an_untranslatable_term_is_named(where: str, term: str) -> None:
    with pytest.raises(FilterNotTranslatable) as raised:
        where_expression(where, "a.e", SCHEMA)
    assert raised.value.term == term
    assert f"`{term}`" in raised.value.message


def test_pushdown_keeps_the_and_terms_that_translate_and_drops_the_others() -> None:
    sql = "SELECT * FROM a.e WHERE id = 1 AND lower(country) = 'x' AND (id < 3 OR bytes = 0)"
    assert pushdown_filter(sql, "a.e", SCHEMA) == where_expression(
        "id = 1 AND (id < 3 OR bytes = 0)", "a.e", SCHEMA
    )


def test_pushdown_of_another_table_or_a_join_is_nothing() -> None:
    assert str(pushdown_filter("SELECT * FROM a.f WHERE id = 1", "a.e", SCHEMA)) == "AlwaysTrue()"
    join = "SELECT * FROM a.e x JOIN a.e y USING (id) WHERE x.id = 1"
    assert str(pushdown_filter(join, "a.e", SCHEMA)) == "AlwaysTrue()"


def test_the_columns_a_text_reads_are_the_same_however_often_it_is_asked() -> None:
    """Worked out once per text and shared: a caller that changes the set it was given
    changes nothing for the next."""
    sql = "SELECT region, count(*) FROM web.requests r WHERE R.status = 500 GROUP BY 1"
    with duckdb.connect() as conn:
        first = referenced_columns(sql, conn)
        assert first == {"region", "r", "status"}
        assert first is not None
        first.add("note")
        assert referenced_columns(sql, conn) == {"region", "r", "status"}
        assert referenced_columns("SELECT * FROM web.requests", conn) is None
