"""Filters pushed into Iceberg planning skip files, and never change a query's answer."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from typer.testing import CliRunner

from icehouse.cli.app import app
from icehouse.demo.generator import GeneratorConfig, generate
from icehouse.demo.workload import SCHEMA, TABLE, demo_sources
from icehouse.lake import Lake
from icehouse.tables.append import fast_append
from icehouse.tables.writer import TableWriter
from tests import fixtures_lake


@pytest.fixture(scope="module")
def demo_lake(tmp_path_factory: pytest.TempPathFactory) -> Lake:
    home = tmp_path_factory.mktemp("lake")
    Lake.init(home)
    lake = Lake.open(home)
    generate(home / "landing", GeneratorConfig(rows=6000, days=6, malformed_lines=0))
    lake.tables.create(TABLE, schema=SCHEMA, partition=["day(requested_at)"], sort="customer_id")
    for source in demo_sources(home / "landing"):
        lake.sources.add(source)
    lake.ingest()
    return lake


COUNT = "SELECT count(*) AS n FROM demo.requests"
QUERIES = [
    f"{COUNT} WHERE requested_at >= '2024-06-03' AND requested_at < '2024-06-04'",
    f"{COUNT} r WHERE r.customer_id = 1 AND r.requested_at < TIMESTAMPTZ '2024-06-02 12:00:00+00'",
    f"{COUNT} WHERE '2024-06-05' <= requested_at",
    f"{COUNT} WHERE country IN ('US', 'DE') AND status = 404",
    f"{COUNT} WHERE requested_at < '2024-06-02' OR customer_id = 7",
    f"{COUNT} WHERE lower(country) = 'us' AND bytes_sent IS NOT NULL",
    f"{COUNT} a JOIN demo.requests b USING (path) WHERE a.customer_id = 3",
]


@pytest.mark.parametrize("sql", QUERIES)
def test_pruned_and_unpruned_answers_are_identical(demo_lake: Lake, sql: str) -> None:
    assert demo_lake.sql(sql) == demo_lake.sql(sql, prune=False)


def test_a_one_day_filter_plans_only_that_days_files(demo_lake: Lake) -> None:
    result = demo_lake.explain(QUERIES[0])
    (plan,) = result.plans
    assert plan.files_planned == 1 < plan.files_in_snapshot
    unpruned = demo_lake.explain(QUERIES[0], prune=False).plans[0]
    assert unpruned.files_planned == plan.files_in_snapshot
    assert plan.bytes_planned < unpruned.bytes_planned
    assert "requested_at" in plan.pushed_filter


def test_an_or_is_pushed_whole_when_both_sides_translate(demo_lake: Lake) -> None:
    (plan,) = demo_lake.explain(QUERIES[4]).plans
    assert plan.pushed_filter == "requested_at < 2024-06-02T00:00:00+00:00 OR customer_id = 7"


def test_an_or_with_a_side_that_cannot_be_translated_is_not_pushed(demo_lake: Lake) -> None:
    sql = f"{COUNT} WHERE requested_at < '2024-06-02' OR lower(country) = 'us'"
    (plan,) = demo_lake.explain(sql).plans
    assert plan.pushed_filter == "none"
    assert plan.files_planned == plan.files_in_snapshot
    assert demo_lake.sql(sql) == demo_lake.sql(sql, prune=False)


def test_a_negated_filter_keeps_sql_null_semantics(demo_lake: Lake) -> None:
    """``NOT (x = v)`` is not TRUE where x is null; Iceberg's ``NotEqualTo`` would be."""
    sql = f"{COUNT} WHERE NOT (bytes_sent = 0 OR country IN ('US', 'DE'))"
    (plan,) = demo_lake.explain(sql).plans
    assert "country NOT IN" in plan.pushed_filter and "IS NOT NULL" in plan.pushed_filter
    assert demo_lake.sql(sql) == demo_lake.sql(sql, prune=False)


def test_pruning_holds_across_partition_evolution(tmp_path: Path) -> None:
    Lake.init(tmp_path)
    lake = Lake.open(tmp_path)
    generate(tmp_path / "landing", GeneratorConfig(rows=3000, days=4, malformed_lines=0))
    lake.tables.create(TABLE, schema=SCHEMA, partition=["day(requested_at)"])
    sources = demo_sources(tmp_path / "landing")
    lake.sources.add(sources[0])
    lake.ingest()
    for sql in QUERIES[:4]:  # plans for the first spec, kept for queries run again
        assert lake.sql(sql) == lake.sql(sql, prune=False)
    lake.tables.alter(TABLE, partition=["hour(requested_at)", "bucket(4, customer_id)"])
    for source in sources[1:]:
        lake.sources.add(source)
    lake.ingest()
    for sql in QUERIES[:4]:
        assert lake.sql(sql) == lake.sql(sql, prune=False)


def test_sql_explain_prints_files_and_bytes_per_table(demo_lake: Lake) -> None:
    result = CliRunner().invoke(
        app, ["sql", "--explain", "--format", "json", "--home", str(demo_lake.home), QUERIES[0]]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    (plan,) = data["plans"]
    assert plan["table"] == "demo.requests" and plan["files_planned"] == 1
    assert data["rows"] == demo_lake.sql(QUERIES[0]).to_pylist()


def test_a_connection_retired_after_a_heavy_query_is_replaced_for_the_next_one(
    demo_lake: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    from icehouse.query import sql as sql_module

    expected = demo_lake.sql(QUERIES[0])
    monkeypatch.setattr(sql_module, "HEAVY_QUERY_SECONDS", -1.0)  # every query is heavy
    first = demo_lake._queries.connection()
    assert demo_lake.sql(QUERIES[0]) == expected  # retires ``first``
    assert demo_lake.sql(QUERIES[0]) == expected  # on its successor
    successor = demo_lake._queries.connection()
    assert successor is not first
    with pytest.raises(duckdb.ConnectionException):
        first.execute("SELECT 1")  # closed by the helper thread


@pytest.fixture
def two_files(tmp_path: Path) -> Lake:
    """``a.e``: two files, one row each (ids 1 and 2 at 05:00 and 12:00 UTC), so that a
    wrongly pushed constant prunes a file whose row matches."""
    Lake.init(tmp_path)
    lake = Lake.open(tmp_path)
    lake.tables.create("a.e", schema={"ts": "timestamptz!", "id": "long!", "x": "double"})
    for hour, ident, x in ((5, 1, 1.5), (12, 2, 15.0)):
        table = fixtures_lake.iceberg_table(lake, "a.e")
        writer = TableWriter(table)
        writer.write(
            pa.table(
                {
                    "ts": pa.array(
                        [dt.datetime(2024, 6, 1, hour, tzinfo=dt.UTC)], pa.timestamp("us", tz="UTC")
                    ),
                    "id": pa.array([ident], pa.int64()),
                    "x": pa.array([x], pa.float64()),
                }
            )
        )
        fast_append(table, writer.close(), properties={})
    return lake


@pytest.mark.parametrize(
    "where",
    [
        "x = 1.5",  # a decimal literal, which DuckDB serialises unscaled (15)
        "x < 2.12345678901234567890",  # wider than 18 digits
        "id < 12345678901234567890123",  # a HUGEINT
        "ts >= CAST('2024-06-01 10:00' AS DATE)",  # midnight, not 10:00
        "ts < TIMESTAMPTZ '2024-06-01 10:00:00+00'",
        "x IN (1.5, 3)",
    ],
)
def test_constants_are_pushed_as_the_query_reads_them(two_files: Lake, where: str) -> None:
    sql = f"SELECT id FROM a.e WHERE {where} ORDER BY id"
    assert two_files.sql(sql) == two_files.sql(sql, prune=False)


def test_a_changed_time_zone_changes_how_pushed_timestamps_are_read(two_files: Lake) -> None:
    sql = "SELECT count(*) AS n FROM a.e WHERE ts >= '2024-06-01 10:00'"
    assert two_files.sql(sql).to_pylist() == [{"n": 1}]  # UTC: 12:00 only
    two_files.sql("SET TimeZone = 'Asia/Tokyo'")  # as in the shell
    try:
        # 10:00 in Tokyo is 01:00 UTC: both rows, though 10:00 UTC was cast (and kept) first
        assert two_files.sql(sql).to_pylist() == [{"n": 2}]
    finally:
        two_files.sql("SET TimeZone = 'UTC'")


def test_a_namespace_named_main_can_be_queried_again_and_again(tmp_path: Path) -> None:
    Lake.init(tmp_path)
    lake = Lake.open(tmp_path)
    lake.tables.create("main.t", schema={"id": "long!"})
    table = fixtures_lake.iceberg_table(lake, "main.t")
    writer = TableWriter(table)
    writer.write(pa.table({"id": pa.array([1, 2], pa.int64())}))
    fast_append(table, writer.close(), properties={})
    lake.tables.create("logs.x", schema={"id": "long!"})
    for _ in range(2):
        assert lake.sql("SELECT count(*) AS n FROM main.t").to_pylist() == [{"n": 2}]
    assert lake.sql("SELECT count(*) AS n FROM logs.x").to_pylist() == [{"n": 0}]
