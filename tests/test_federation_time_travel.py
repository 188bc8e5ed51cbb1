"""Time travel on mounted tables: ``mount.namespace.table FOR VERSION AS OF`` (a snapshot
id, tag or branch) and ``FOR TIMESTAMP AS OF`` read the producer's older snapshot, for
the administrator and for a governed principal, whose grants (rows and columns, kept by
field id) apply to the snapshot's own schema, so that no older snapshot shows what they
hide now."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table

from icehouse.errors import QueryError
from icehouse.govern.authz import Principal
from icehouse.lake import Lake
from tests import fixtures_lake
from tests.fixtures_federation import sql_producer
from tests.test_cli import as_json, home, ok

__all__ = ["home"]
lake = fixtures_lake.lake
rows_of = fixtures_lake.rows_of


@dataclass
class Mounted:
    lake: Lake
    producer: Table
    """``cdn.requests`` as its producer holds it (three rows, then a fourth appended)."""
    first: int
    """The snapshot of the first three rows."""


def producer_table(folder: Path) -> Table:
    catalog = SqlCatalog(
        "prod", uri=f"sqlite:///{folder / 'catalog.db'}", warehouse=(folder / "warehouse").as_uri()
    )
    return catalog.load_table("cdn.requests")


def append_italy(table: Table) -> None:
    table.append(pa.table({"id": pa.array([4], pa.int64()), "country": pa.array(["it"])}))


@pytest.fixture
def mounted(lake: Lake, tmp_path: Path) -> Mounted:
    """``cdn_prod`` mounted, its table at a second snapshot; ``ana`` holds nothing yet."""
    lake.catalogs.mount("cdn_prod", type="sql", uri=sql_producer(tmp_path / "producer"))
    lake.principals.create("ana")
    table = producer_table(tmp_path / "producer")
    snapshot = table.current_snapshot()
    assert snapshot is not None
    append_italy(table)
    return Mounted(lake, table, snapshot.snapshot_id)


def ana(lake: Lake) -> Lake:
    return lake.as_principal(Principal("ana", admin=False))


def test_the_administrator_reads_a_mounted_tables_older_snapshot(mounted: Mounted) -> None:
    then = f"cdn_prod.cdn.requests FOR VERSION AS OF {mounted.first}"

    assert rows_of(mounted.lake, f"SELECT id FROM {then} ORDER BY id") == [
        {"id": 1},
        {"id": 2},
        {"id": 3},
    ]
    both = (
        f"SELECT (SELECT count(*) FROM {then}) AS then, "
        "(SELECT count(*) FROM cdn_prod.cdn.requests) AS now"
    )
    assert rows_of(mounted.lake, both) == [{"then": 3, "now": 4}]


def test_a_tag_of_a_mounted_table_is_read_in_the_cli(home: str, tmp_path: Path) -> None:
    url = sql_producer(tmp_path / "producer")
    ok("catalog", "mount", "cdn_prod", "--type", "sql", "--uri", url, "--home", home)
    table = producer_table(tmp_path / "producer")
    snapshot = table.current_snapshot()
    assert snapshot is not None
    table.manage_snapshots().create_tag(snapshot.snapshot_id, "before_italy").commit()
    append_italy(table)

    counted = as_json(
        "sql",
        "SELECT count(*) AS n FROM cdn_prod.cdn.requests FOR VERSION AS OF 'before_italy'",
        "--home",
        home,
    )

    assert counted == [{"n": 3}]


def test_a_governed_principal_reads_an_older_snapshot_through_its_filter(
    mounted: Mounted,
) -> None:
    mounted.lake.sql(
        "CREATE DATA FILTER eu ON cdn_prod.cdn.requests WHERE country IN ('fr', 'it') COLUMNS (id)"
    )
    mounted.lake.sql("GRANT SELECT ON DATA FILTER eu TO PRINCIPAL ana")

    then = f"cdn_prod.cdn.requests FOR VERSION AS OF {mounted.first}"
    assert rows_of(ana(mounted.lake), f"SELECT * FROM {then}") == [{"id": 1}]
    both = (
        f"SELECT (SELECT count(*) FROM {then}) AS then, "
        "(SELECT count(*) FROM cdn_prod.cdn.requests) AS now"
    )
    assert rows_of(ana(mounted.lake), both) == [{"then": 1, "now": 2}]


def test_a_filter_keeps_to_its_column_in_a_snapshot_from_before_a_rename(
    mounted: Mounted,
) -> None:
    mounted.lake.sql(
        "CREATE DATA FILTER fr ON cdn_prod.cdn.requests WHERE country = 'fr' COLUMNS (id, country)"
    )
    mounted.lake.sql("GRANT SELECT ON DATA FILTER fr TO PRINCIPAL ana")
    with mounted.producer.update_schema() as update:
        update.rename_column("country", "nation")

    then = f"SELECT * FROM cdn_prod.cdn.requests FOR VERSION AS OF {mounted.first}"
    assert rows_of(ana(mounted.lake), then) == [{"id": 1, "country": "fr"}]
    now = "SELECT * FROM cdn_prod.cdn.requests"
    assert rows_of(ana(mounted.lake), now) == [{"id": 1, "nation": "fr"}]


def test_time_travel_on_a_mounted_table_a_principal_may_not_read_names_nothing(
    mounted: Mounted,
) -> None:
    with pytest.raises(QueryError) as refused:
        ana(mounted.lake).sql(
            f"SELECT * FROM cdn_prod.cdn.requests FOR VERSION AS OF {mounted.first}"
        )

    assert refused.value.message == "table cdn_prod.cdn.requests not found or not permitted"


def test_a_snapshot_a_mounted_table_never_had_is_named(mounted: Mounted) -> None:
    with pytest.raises(QueryError) as refused:
        mounted.lake.sql("SELECT * FROM cdn_prod.cdn.requests FOR VERSION AS OF 42")

    assert refused.value.message.startswith("cdn_prod.cdn.requests has no snapshot 42")


def test_a_mounted_tables_snapshot_at_a_timestamp_is_read(mounted: Mounted) -> None:
    first = mounted.producer.snapshot_by_id(mounted.first)
    assert first is not None
    mounted.lake.sql("GRANT SELECT ON TABLE cdn_prod.cdn.requests TO PRINCIPAL ana")
    at = f"epoch_ms({first.timestamp_ms})"
    stamp = rows_of(mounted.lake, f"SELECT CAST({at} AS VARCHAR) AS t")[0]["t"]

    sql = f"SELECT count(*) AS n FROM cdn_prod.cdn.requests FOR TIMESTAMP AS OF '{stamp}'"

    assert rows_of(mounted.lake, sql) == [{"n": 3}]
    assert rows_of(ana(mounted.lake), sql) == [{"n": 3}]
