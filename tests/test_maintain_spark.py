"""``icehouse maintain compact --engine spark``: icehouse plans and holds the lease, Spark
3.5's ``rewrite_data_files`` rewrites through the lake's REST catalog.

One served lake (tokens required) and one SparkSession for the module; the compaction
runs on a second ``Lake`` opened on the same home whose ``[maintain]`` names the
server, as a maintainer's host would. A home with no ``[maintain]`` at all (``local``)
is compacted by the CLI alone, which serves the catalog to Spark for the run. Each test
fills a table of its own with small files by ingesting one file at a time, then checks
the rows, the file count, the ingestion keys on Spark's snapshot and what a later ingest
takes.

Needs ``pip install -e '.[spark]'`` and a Java 17, like ``tests/test_engine_spark.py``;
skipped without them (failed under ``CI=true``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from icehouse.cli.app import app
from icehouse.lake import Lake
from tests.fixtures_lake import add_source, write_jsonl
from tests.fixtures_server import Served, serving
from tests.fixtures_spark import require_spark, spark_session

pytestmark = pytest.mark.spark

SCHEMA = {"id": "long", "ts": "timestamptz", "country": "string", "bytes": "long"}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    home = tmp_path_factory.mktemp("spark-maintain") / "lake"
    Lake.init(home)
    with Lake.open(home) as lake, serving(lake, allow_anonymous=False) as running:
        yield running


@pytest.fixture(scope="module")
def maintainer(served: Served, spark: Any) -> Iterator[Lake]:
    """The served home opened again with ``[maintain]`` pointing Spark at the server."""
    admin = served.lake.principals.create("maintainer", admin=True)
    home = served.lake.config.home
    config = home / "icehouse.toml"
    config.write_text(
        config.read_text()
        + f'\n[maintain]\nspark-catalog-uri = "{served.uri}"\n'
        + f'spark-credential = "{admin.client_id}:{admin.client_secret}"\n'
    )
    with Lake.open(home) as lake:
        yield lake


@pytest.fixture(scope="module")
def spark(served: Served, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    require_spark()
    reader = served.lake.principals.create("spark", admin=True)
    with spark_session(
        served.uri,
        f"{reader.client_id}:{reader.client_secret}",
        tmp_path_factory.mktemp("spark-warehouse"),
    ) as session:
        yield session


def record(i: int) -> dict[str, Any]:
    """Row ``i``: on June 1 or 2 by its parity."""
    return {"id": i, "ts": f"2024-06-0{1 + i % 2}T10:{i % 60:02d}:00Z", "country": "nl", "bytes": i}


def small_files(lake: Lake, table: str, landing: Path, batches: int) -> None:
    """``table`` (day-partitioned) filled by ``batches`` ingests of 4 rows each: two
    files per ingest, one per day."""
    lake.tables.create(table, schema=SCHEMA, partition=["day(ts)"])
    add_source(lake, table.replace(".", "_"), landing, table=table)
    for batch in range(batches):
        write_jsonl(landing / f"{batch}.jsonl", [record(4 * batch + k) for k in range(4)])
        assert lake.ingest([table.replace(".", "_")]).rows == 4


@pytest.fixture(scope="module")
def local(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lake]:
    """A home nobody serves and whose icehouse.toml says nothing of Spark."""
    home = tmp_path_factory.mktemp("spark-local") / "lake"
    Lake.init(home)
    with Lake.open(home) as lake:
        yield lake


def cli(lake: Lake, *args: str) -> Any:
    return CliRunner().invoke(
        app,
        [*args, "--home", str(lake.config.home)],
        env={"COLUMNS": "1000", "ICEHOUSE_HOME": ""},
    )


def rows(lake: Lake, table: str) -> list[tuple[Any, ...]]:
    return [tuple(r.values()) for r in lake.sql(f"SELECT * FROM {table} ORDER BY id").to_pylist()]


def test_cli_compaction_on_spark_merges_files_and_keeps_rows_and_ingestion_keys(
    maintainer: Lake, tmp_path: Path
) -> None:
    table = "web.cli"
    small_files(maintainer, table, tmp_path / "landing", batches=3)
    before = rows(maintainer, table)
    keys = maintainer.tables.history(table)[-1].summary
    assert maintainer.tables.get(table).data_files == 6

    home = str(maintainer.config.home)
    command = ["maintain", "compact", table, "--engine", "spark", "--min-input-files", "2"]
    result = CliRunner().invoke(
        app, [*command, "--home", home], env={"COLUMNS": "1000", "ICEHOUSE_HOME": ""}
    )

    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "rewrote 1 partition group(s) with binpack on Spark: 6 → 2 files" in result.stdout
    assert maintainer.tables.get(table).data_files == 2
    assert rows(maintainer, table) == before
    spark_snapshot = maintainer.tables.history(table)[-1]
    assert spark_snapshot.operation == "replace"
    for key in ("icehouse.batch-id", "icehouse.watermarks"):
        assert spark_snapshot.summary[key] == keys[key]
    run = maintainer.maintenance.history(table)[0]
    assert (run.action, run.status) == ("compact:binpack", "ok")
    assert (run.summary["engine"], run.summary["files_before"], run.summary["files_after"]) == (
        "spark",
        6,
        2,
    )
    source = table.replace(".", "_")
    assert maintainer.ingest([source]).rows == 0  # nothing ingested twice
    write_jsonl(tmp_path / "landing" / "later.jsonl", [record(100)])
    assert maintainer.ingest([source]).rows == 1
    assert len(rows(maintainer, table)) == len(before) + 1


def test_an_ingest_during_a_spark_rewrite_loses_and_repeats_nothing(
    maintainer: Lake, tmp_path: Path
) -> None:
    table = "web.busy"
    landing = tmp_path / "landing"
    small_files(maintainer, table, landing, batches=3)
    for batch in range(3, 6):
        write_jsonl(landing / f"{batch}.jsonl", [record(4 * batch + k) for k in range(4)])
    ingested: list[int] = []
    ingest = threading.Thread(
        target=lambda: ingested.extend(
            maintainer.ingest([table.replace(".", "_")]).rows for _ in range(2)
        )
    )

    ingest.start()
    result = maintainer.maintenance.compact(table, engine="spark", min_input_files=2)
    ingest.join()

    assert result.committed and result.engine == "spark"
    assert sum(ingested) == 12
    assert [r[0] for r in rows(maintainer, table)] == list(range(24))
    assert maintainer.ingest([table.replace(".", "_")]).rows == 0


def test_the_autopilot_compacts_on_spark_when_the_table_says_so(
    maintainer: Lake, tmp_path: Path
) -> None:
    table = "web.auto"
    small_files(maintainer, table, tmp_path / "landing", batches=5)
    maintainer.tables.alter(
        table,
        properties={
            "icehouse.maintenance.engine": "spark",
            "icehouse.maintenance.quiet-period": "0s",
        },
    )
    before = rows(maintainer, table)

    report = maintainer.maintenance.run([table])

    (compaction,) = [d for d in report.done if d["action"] == "compact"]
    assert (compaction["engine"], compaction["files_before"], compaction["files_after"]) == (
        "spark",
        10,
        2,
    )
    assert maintainer.tables.get(table).data_files == 2
    assert rows(maintainer, table) == before


def test_cli_compaction_on_spark_with_no_server_serves_the_catalog_for_the_run(
    local: Lake, tmp_path: Path
) -> None:
    table = "web.local"
    small_files(local, table, tmp_path / "landing", batches=3)
    before = rows(local, table)
    keys = local.tables.history(table)[-1].summary

    result = cli(local, "maintain", "compact", table, "--engine", "spark", "--min-input-files", "2")

    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert "rewrote 1 partition group(s) with binpack on Spark: 6 → 2 files" in result.stdout
    assert local.tables.get(table).data_files == 2
    assert rows(local, table) == before
    assert local.sql(f"SELECT sum(bytes), count(*) FROM {table}").to_pylist() == [
        {"sum(bytes)": sum(r[3] for r in before), "count_star()": len(before)}
    ]
    spark_snapshot = local.tables.history(table)[-1]
    assert spark_snapshot.operation == "replace"
    for key in ("icehouse.batch-id", "icehouse.watermarks"):
        assert spark_snapshot.summary[key] == keys[key]
    run = local.maintenance.history(table)[0]
    assert (run.action, run.status, run.summary["engine"]) == ("compact:binpack", "ok", "spark")
    assert local.principals.list() == []  # the run's principal went with its server
    assert local.ingest([table.replace(".", "_")]).rows == 0


def test_cli_autopilot_with_no_server_compacts_on_spark_when_the_table_says_so(
    local: Lake, tmp_path: Path
) -> None:
    table = "web.local_auto"
    small_files(local, table, tmp_path / "landing", batches=5)
    local.tables.alter(
        table,
        properties={
            "icehouse.maintenance.engine": "spark",
            "icehouse.maintenance.quiet-period": "0s",
        },
    )
    before = rows(local, table)

    result = cli(local, "maintain", "run", table)

    assert result.exit_code == 0, (result.stdout, result.stderr)
    assert f"{table}: did compact" in result.stdout
    assert f"{table} compact: 1 group(s): files 10 → 2," in result.stdout
    assert "on Spark" in result.stdout
    assert local.tables.get(table).data_files == 2
    assert rows(local, table) == before
    (run,) = [r for r in local.maintenance.history(table) if r.action.startswith("compact")]
    assert (run.status, run.summary["engine"]) == ("ok", "spark")
    assert local.principals.list() == []
