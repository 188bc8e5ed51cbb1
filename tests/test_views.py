"""``lake.views`` and views in the lake's SQL: a view created in the lake is queried
like a table, over the lake's current rows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pyiceberg.table import Table
from sqlalchemy import text

from icehouse.errors import (
    CommitRaced,
    NamespaceNotEmpty,
    NoSuchView,
    QueryError,
    TableAlreadyExists,
)
from icehouse.lake import Lake
from icehouse.lake.views import NewView
from tests import fixtures_lake
from tests.fixtures_lake import append_batches, engine_of, rows_of

home = fixtures_lake.home
lake = fixtures_lake.lake
events = fixtures_lake.events

SCHEMA = {
    "type": "struct",
    "schema-id": 0,
    "fields": [{"id": 1, "name": "country", "type": "string", "required": False}],
}


def new_view(sql: str, dialect: str = "duckdb") -> NewView:
    return NewView(schema=SCHEMA, version=version(sql, dialect))


def version(sql: str, dialect: str = "duckdb") -> dict[str, Any]:
    return {
        "version-id": 1,
        "schema-id": 0,
        "timestamp-ms": 1_700_000_000_000,
        "summary": {},
        "representations": [{"type": "sql", "sql": sql, "dialect": dialect}],
        "default-namespace": ["logs"],
    }


def test_a_view_is_queried_like_a_table_over_the_current_rows(lake: Lake, events: Table) -> None:
    lake.views.create(
        ("logs",), "french", new_view("SELECT id, bytes FROM logs.events WHERE country = 'fr'")
    )
    append_batches(lake, days=(1,), per_day=1)
    expected = rows_of(lake, "SELECT count(*) AS n FROM logs.events WHERE country = 'fr'")
    assert rows_of(lake, "SELECT count(*) AS n FROM logs.french") == expected
    assert expected[0]["n"] > 0


def test_a_filter_on_a_table_does_not_prune_a_view_over_it(lake: Lake, events: Table) -> None:
    append_batches(lake, days=(1, 2), per_day=1)
    lake.views.create(("logs",), "everything", new_view("SELECT * FROM logs.events"))
    both = (
        "SELECT (SELECT count(*) FROM logs.everything) AS in_view, count(*) AS in_table "
        "FROM logs.events WHERE ts < TIMESTAMPTZ '2024-06-02 00:00:00+00'"
    )
    assert rows_of(lake, both) == [{"in_view": 40, "in_table": 20}]


def test_a_view_of_a_view_and_a_spark_view_are_expanded(lake: Lake, events: Table) -> None:
    append_batches(lake, days=(1,), per_day=1)
    lake.views.create(("logs",), "big", new_view("SELECT * FROM logs.events WHERE bytes > 0"))
    lake.views.create(
        ("logs",), "big_fr", new_view("SELECT id FROM logs.big WHERE country = 'fr'", "spark")
    )
    expected = rows_of(lake, "SELECT count(*) AS n FROM logs.events WHERE country = 'fr'")
    assert rows_of(lake, "SELECT count(*) AS n FROM logs.big_fr") == expected


def test_a_view_with_sql_only_for_another_engine_is_a_query_error_naming_it(
    lake: Lake, events: Table
) -> None:
    lake.views.create(("logs",), "trino_only", new_view("SELECT 1", "trino"))
    with pytest.raises(QueryError, match=r"'logs\.trino_only' has SQL only in trino"):
        lake.sql("SELECT * FROM logs.trino_only")


def test_a_replaced_view_answers_with_its_new_sql(lake: Lake, events: Table) -> None:
    made = lake.views.create(("logs",), "answer", new_view("SELECT 1 AS n"))
    lake.views.replace(
        ("logs",),
        "answer",
        requirements=[{"type": "assert-view-uuid", "uuid": made.metadata["view-uuid"]}],
        updates=[
            {
                "action": "add-view-version",
                "view-version": version("SELECT 42 AS n") | {"schema-id": 0},
            },
            {"action": "set-current-view-version", "view-version-id": -1},
        ],
    )
    assert rows_of(lake, "SELECT n FROM logs.answer") == [{"n": 42}]
    with pytest.raises(CommitRaced, match="expected view uuid"):
        lake.views.replace(
            ("logs",),
            "answer",
            requirements=[{"type": "assert-view-uuid", "uuid": "x"}],
            updates=[],
        )


def test_a_table_cannot_take_a_views_name(lake: Lake, events: Table) -> None:
    lake.views.create(("logs",), "answer", new_view("SELECT 1 AS n"))
    with pytest.raises(TableAlreadyExists):
        lake.tables.create("logs.answer", schema={"n": "long"})
    assert lake.views.list(("logs",)) == ["answer"]


def test_a_namespace_holding_only_a_view_is_not_dropped(lake: Lake) -> None:
    lake.namespaces.create(("web",))
    lake.views.create(("web",), "answer", new_view("SELECT 1 AS n"))
    with pytest.raises(NamespaceNotEmpty, match="view"):
        lake.namespaces.drop(("web",))
    lake.views.drop(("web",), "answer")
    with pytest.raises(NoSuchView):
        lake.views.load(("web",), "answer")
    lake.namespaces.drop(("web",))
    assert not lake.namespaces.exists(("web",))


def test_a_home_whose_catalog_predates_views_gets_them_on_open(home: Path) -> None:
    """A state database made by a PyIceberg without views has no ``iceberg_type``
    column; opening the lake adds it, and the tables already there stay tables."""
    with Lake.open(home) as before:
        before.tables.create("logs.events", schema={"id": "long"})
        with engine_of(before).begin() as conn:
            conn.execute(text("ALTER TABLE iceberg_tables DROP COLUMN iceberg_type"))
    with Lake.open(home) as after:
        after.views.create(("logs",), "ids", new_view("SELECT id FROM logs.events"))
        assert after.tables.list() == ["logs.events"]
        assert after.views.list(("logs",)) == ["ids"]
        assert rows_of(after, "SELECT count(*) AS n FROM logs.ids") == [{"n": 0}]
