"""DuckDB, through its iceberg extension, against a real icehouse server: it creates,
writes, updates and deletes over the REST catalog, and the lake reads what it wrote."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pyiceberg.table import Table

from icehouse.lake import Lake
from tests import fixtures_engines, fixtures_lake, fixtures_server
from tests.fixtures_engines import DuckDBEngine
from tests.fixtures_server import Served, serving

home = fixtures_lake.home
lake = fixtures_lake.lake
served = fixtures_server.served
events = fixtures_lake.events
duckdb_engine = fixtures_engines.duckdb_engine


def attach(served: Served) -> str:
    """The ATTACH of docs/engines.md: anonymous, files read and written directly."""
    return (
        f"ATTACH 'lake' AS ice (TYPE iceberg, ENDPOINT '{served.uri}', "
        "AUTHORIZATION_TYPE 'none', ACCESS_DELEGATION_MODE 'none')"
    )


def test_duckdb_creates_inserts_updates_deletes_and_selects_through_the_server(
    served: Served, duckdb_engine: DuckDBEngine
) -> None:
    results = duckdb_engine.run(
        attach(served),
        "CREATE SCHEMA ice.web",
        "CREATE TABLE ice.web.hits (id BIGINT, country VARCHAR)",
        "INSERT INTO ice.web.hits VALUES (1, 'nl'), (2, 'fr'), (3, 'de')",
        "UPDATE ice.web.hits SET country = 'be' WHERE id = 2",
        "DELETE FROM ice.web.hits WHERE id = 3",
        "SELECT id, country FROM ice.web.hits ORDER BY id",
    )

    assert results[3:] == [[[3]], [[1]], [[1]], [[1, "nl"], [2, "be"]]]
    assert served.lake.sql("SELECT id, country FROM web.hits ORDER BY id").to_pylist() == [
        {"id": 1, "country": "nl"},
        {"id": 2, "country": "be"},
    ]


def test_duckdb_reads_and_appends_to_a_table_the_lake_wrote(
    served: Served, events: Table, duckdb_engine: DuckDBEngine
) -> None:
    fixtures_lake.append_batches(served.lake, days=(1, 2), per_day=1)

    results = duckdb_engine.run(
        attach(served),
        "SELECT count(*), count(DISTINCT CAST(ts AS DATE)) FROM ice.logs.events",
        # DuckDB 1.5 neither sorts nor sizes files when it writes to a partitioned table:
        # it asks to be told that icehouse's maintenance will do both later.
        "SET unsafe_iceberg_ignore_sort_order = true",
        "SET ignore_target_file_size_for_partitioned_tables = true",
        "INSERT INTO ice.logs.events VALUES (TIMESTAMPTZ '2024-06-03 10:00:00+00', 7, 'nl', 70)",
    )

    assert results[1] == [[40, 2]]
    assert fixtures_lake.rows_of(
        served.lake,
        "SELECT count(*) AS n, max(id) FILTER (WHERE country = 'nl') AS nl FROM logs.events",
    ) == [{"n": 41, "nl": 7}]


def test_duckdb_creates_a_table_as_select_on_a_local_warehouse(
    served: Served, duckdb_engine: DuckDBEngine
) -> None:
    """DuckDB stages the creation and writes the table's first manifests before the
    commit that creates it: the staged table's folder must already be there."""
    results = duckdb_engine.run(
        attach(served),
        "CREATE SCHEMA ice.web",
        "CREATE TABLE ice.web.top AS SELECT range AS id FROM range(3)",
        "SELECT sum(id) FROM ice.web.top",
    )

    assert results[-1] == [[3]]
    assert served.lake.sql("SELECT count(*) AS n FROM web.top").to_pylist() == [{"n": 3}]


@pytest.fixture
def secured(home: Path) -> Iterator[Served]:
    """The lake served with bearer tokens required (no anonymous requests)."""
    with Lake.open(home) as opened, serving(opened, allow_anonymous=False) as running:
        yield running


def test_duckdb_signs_in_with_a_principals_secret_and_writes_as_it(
    secured: Served, duckdb_engine: DuckDBEngine
) -> None:
    etl = secured.lake.principals.create("etl", admin=True)

    results = duckdb_engine.run(
        f"CREATE SECRET icehouse (TYPE iceberg, CLIENT_ID '{etl.client_id}', "
        f"CLIENT_SECRET '{etl.client_secret}', "
        f"OAUTH2_SERVER_URI '{secured.uri}/v1/oauth/tokens')",
        f"ATTACH 'lake' AS ice (TYPE iceberg, ENDPOINT '{secured.uri}', "
        "SECRET icehouse, ACCESS_DELEGATION_MODE 'none')",
        "CREATE SCHEMA ice.web",
        "CREATE TABLE ice.web.hits (id BIGINT, country VARCHAR)",
        "INSERT INTO ice.web.hits VALUES (1, 'nl')",
        "SELECT id, country FROM ice.web.hits",
    )

    assert results[-1] == [[1, "nl"]]
    assert secured.lake.sql("SELECT count(*) AS n FROM web.hits").to_pylist() == [{"n": 1}]


def test_duckdb_without_a_secret_is_refused_by_a_server_that_requires_tokens(
    secured: Served, duckdb_engine: DuckDBEngine
) -> None:
    with pytest.raises(fixtures_engines.EngineFailed, match=r"401|nauthori"):
        duckdb_engine.run(attach(secured), "SHOW ALL TABLES")
