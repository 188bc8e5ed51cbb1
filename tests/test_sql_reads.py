"""Which statements read nothing but their registered tables (``tables/sql_reads.py``).

A governed statement that passes this check runs on a sandbox allowed the data files
behind a filtering view, so every way of reaching a file, the catalog or the settings
must be refused, and the workload's own statements accepted (else they lose the fast
path, which is not a leak but a slowdown)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import duckdb
import pytest

from icehouse.demo.queries import workload
from icehouse.tables.sql_reads import reads_only

TABLES = {"web.requests", "web.other"}
FILE = "/data/web/requests/data/region=eu/00000-0.parquet"


@pytest.fixture
def conn() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as opened:
        yield opened


ACCEPTED = [
    "SELECT * FROM web.requests",
    "SELECT count(*) FROM WEB.Requests WHERE region = 'eu'",
    'SELECT r.id FROM "web"."requests" r JOIN web.other o USING (id) ORDER BY 1 LIMIT 3',
    "WITH eu AS (SELECT id FROM web.requests WHERE region = 'eu') SELECT * FROM eu",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3) SELECT * FROM n",
    "SELECT id FROM web.requests WHERE id IN (SELECT id FROM web.other) UNION SELECT 1",
    "SELECT quantile_cont(cost, [0.5, 0.9]), list_transform([1], x -> x + 1) FROM web.requests",
    "SELECT * FROM (VALUES (1, 'a')) v(id, name)",
    "FROM web.requests SELECT DISTINCT ON (region) * ORDER BY region DESC",
    "SELECT CAST(id AS DECIMAL(10, 2)), row_number() OVER (ORDER BY id) FROM web.requests",
    *(query.sql.replace("demo.requests", "web.requests") for query in workload(date(2026, 1, 1))),
]


@pytest.mark.parametrize("sql", ACCEPTED)
def test_a_statement_over_its_tables_is_accepted(conn: duckdb.DuckDBPyConnection, sql: str) -> None:
    assert reads_only(conn, sql, TABLES)


REFUSED = {
    "a table function": f"SELECT * FROM web.requests, read_parquet('{FILE}')",
    "a file by name": f"SELECT * FROM '{FILE}'",
    "a file in a subquery": f"SELECT (SELECT count(*) FROM '{FILE}') FROM web.requests",
    "a glob": "SELECT * FROM glob('/data/**')",
    "a query function": "SELECT * FROM query('SELECT 1')",
    "another file format": "SELECT * FROM read_csv('/etc/passwd')",
    "the catalog": "SELECT * FROM duckdb_views()",
    "information_schema": "SELECT * FROM information_schema.tables",
    "a table not fed": "SELECT * FROM web.secrets",
    "the registered relation": "SELECT * FROM __icehouse_web_requests",
    "another catalog": "SELECT * FROM memory.web.requests",
    "time travel": "SELECT * FROM web.requests AT (VERSION => 1)",
    "the settings": "SELECT current_setting('allowed_paths') FROM web.requests",
    "a variable": "SELECT getvariable('x') FROM web.requests",
    "a view's definition": "SELECT pg_get_viewdef(1) FROM web.requests",
    "a schema-qualified function": "SELECT pg_catalog.current_setting('allowed_paths')",
    "a CTE name used out of its scope": (
        f'SELECT * FROM (WITH "{FILE}" AS (SELECT 1) SELECT * FROM "{FILE}"), "{FILE}"'
    ),
    "a CTE name with a dot": f'WITH "{FILE}" AS (SELECT 1) SELECT * FROM "{FILE}"',
    "SHOW": "SHOW TABLES",
    "DESCRIBE": "DESCRIBE web.requests",
    "PIVOT": "PIVOT web.requests ON region USING count(*)",
    "two statements": "SELECT 1; SELECT 2",
    "text that does not parse": "SELEC 1",
}


@pytest.mark.parametrize("sql", REFUSED.values(), ids=REFUSED.keys())
def test_a_statement_reaching_past_its_tables_is_refused(
    conn: duckdb.DuckDBPyConnection, sql: str
) -> None:
    assert not reads_only(conn, sql, TABLES)


def test_a_text_checked_again_is_checked_against_the_relations_of_that_time(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    """What a text reads is worked out once per text; which relations it may read is
    asked each time (another principal's statement has other tables registered)."""
    sql = "SELECT * FROM web.requests JOIN web.other USING (id)"
    assert reads_only(conn, sql, TABLES)
    assert not reads_only(conn, sql, {"web.requests"})
    assert reads_only(conn, sql, {"WEB.Other", "Web.Requests"})
    refused = f"SELECT * FROM web.requests, read_parquet('{FILE}')"
    assert not reads_only(conn, refused, TABLES)
    assert not reads_only(conn, refused, TABLES | {"main.read_parquet"})
