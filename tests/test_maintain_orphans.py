"""Orphan removal deletes old unreferenced files under a table's location and nothing
that any retained snapshot or the metadata log references, nor anything young."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.fs as pafs
import pytest
from pyiceberg.table import Table

from icehouse.errors import UnsafeMaintenance
from icehouse.lake import Lake
from icehouse.maintain.orphans import remove_orphans
from icehouse.tables.append import fast_append
from icehouse.tables.reachability import normalise_path
from icehouse.tables.writer import TableWriter
from tests import fixtures_lake
from tests.fixtures_lake import EVENTS, add_source, event, ids, write_jsonl
from tests.test_s3_landing import configure, objects

if TYPE_CHECKING:
    from tests.conftest import S3Server

home, lake, landing, events = (
    fixtures_lake.home,
    fixtures_lake.lake,
    fixtures_lake.landing,
    fixtures_lake.events,
)
DAY = 24 * 3600


def table_root(table: Table) -> Path:
    return Path(normalise_path(table.location()))


def on_disk(table: Table) -> set[str]:
    return {str(p) for p in table_root(table).rglob("*") if p.is_file()}


def data_files(table: Table, snapshot_id: int | None = None) -> set[str]:
    return {
        normalise_path(t.file.file_path) for t in table.scan(snapshot_id=snapshot_id).plan_files()
    }


def plant(path: Path, size: int, *, age_seconds: float = 0) -> Path:
    """A file nothing references, ``age_seconds`` old."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x" * size)
    if age_seconds:
        then = time.time() - age_seconds
        os.utime(path, (then, then))
    return path


@pytest.fixture
def table(lake: Lake, landing: Path, events: Table) -> Table:
    """Two appends and a delete: the first data file is only reached by older
    snapshots; the metadata log holds earlier metadata files."""
    add_source(lake, "s", landing)
    write_jsonl(landing / "a.jsonl", [event(1), event(2)])
    lake.ingest()
    write_jsonl(landing / "b.jsonl", [event(3, day=2)])
    lake.ingest()
    assert lake.delete(EVENTS, "id = 1") == 1
    return fixtures_lake.iceberg_table(lake, EVENTS)


def test_an_old_orphan_is_deleted_and_its_bytes_reported(lake: Lake, table: Table) -> None:
    root = table_root(table)
    old_data = plant(
        root / "data" / "ts_day=2024-06-01" / "lost.parquet", 1234, age_seconds=4 * DAY
    )
    old_meta = plant(root / "metadata" / "lost-m0.avro", 66, age_seconds=4 * DAY)
    referenced = on_disk(table) - {str(old_data), str(old_meta)}

    result = remove_orphans(table)

    assert (result.files_found, result.bytes_found) == (2, 1300)
    assert (result.files_deleted, result.bytes_freed) == (2, 1300)
    assert set(result.paths) == {str(old_data), str(old_meta)}
    assert result.kept_too_young == 0
    assert result.files_referenced == len(referenced)
    assert on_disk(table) == referenced
    assert ids(lake) == [2, 3]


def test_a_young_orphan_is_kept(table: Table) -> None:
    young = plant(table_root(table) / "data" / "young.parquet", 10, age_seconds=2 * DAY)
    old = plant(table_root(table) / "data" / "old.parquet", 10, age_seconds=3 * DAY + 60)

    result = remove_orphans(table)

    assert (result.files_deleted, result.kept_too_young) == (1, 1)
    assert young.exists() and not old.exists()


def test_an_in_flight_write_survives_and_its_commit_then_succeeds(lake: Lake, table: Table) -> None:
    writer = TableWriter(table)
    rows = [event(10, day=3), event(11, day=3)]
    writer.write(
        pa.Table.from_pylist(
            [r | {"ts": datetime.fromisoformat(str(r["ts"]))} for r in rows],
            schema=writer.arrow_schema,
        )
    )
    written = writer.close()
    assert written
    in_flight = {normalise_path(f.file_path) for f in written}
    assert in_flight <= on_disk(table)

    result = remove_orphans(table)  # the default safety age: 3 days

    assert result.kept_too_young == len(in_flight) and result.files_deleted == 0
    assert in_flight <= on_disk(table)
    fast_append(fixtures_lake.iceberg_table(lake, EVENTS), written, properties={})
    assert ids(lake) == [2, 3, 10, 11]


def test_with_no_safety_age_every_referenced_file_survives(lake: Lake, table: Table) -> None:
    first = table.snapshots()[0]
    old_only = data_files(table, first.snapshot_id) - data_files(table)
    logged = {normalise_path(e.metadata_file) for e in table.metadata.metadata_log}
    assert old_only and len(logged) >= 3
    orphan = plant(table_root(table) / "data" / "orphan.parquet", 5)
    before = on_disk(table)
    assert old_only | logged <= before

    result = remove_orphans(table, older_than=timedelta(0), force=True)

    assert result.paths == (str(orphan),)
    assert on_disk(table) == before - {str(orphan)}
    assert ids(lake) == [2, 3]
    travelled = lake.sql(f"SELECT id FROM {EVENTS} FOR VERSION AS OF {first.snapshot_id}")
    assert sorted(travelled.column("id").to_pylist()) == [1, 2]


def test_a_safety_age_below_one_hour_is_refused_without_force(table: Table) -> None:
    orphan = plant(table_root(table) / "data" / "old.parquet", 10, age_seconds=4 * DAY)
    with pytest.raises(UnsafeMaintenance) as refused:
        remove_orphans(table, older_than=timedelta(minutes=30))
    message = str(refused.value)
    assert message.startswith("logs.events: an orphan safety age of 30m is below 1h")
    assert "not committed yet" in message and "--force" in message
    assert orphan.exists()
    assert remove_orphans(table, older_than=timedelta(minutes=30), force=True).files_deleted == 1


def test_a_dry_run_deletes_nothing_and_reports_the_same_files(table: Table) -> None:
    planted = {
        str(plant(table_root(table) / "data" / f"o{i}.parquet", 10 + i, age_seconds=4 * DAY))
        for i in range(3)
    }
    before = on_disk(table)

    planned = remove_orphans(table, dry_run=True)

    assert on_disk(table) == before
    assert (planned.files_found, planned.bytes_found, planned.files_deleted) == (3, 33, 0)
    done = remove_orphans(table)
    assert set(planned.paths) == set(done.paths) == planted
    assert (done.files_deleted, done.bytes_freed) == (3, 33)


def test_the_report_lists_at_most_a_hundred_paths(table: Table) -> None:
    for i in range(105):
        plant(table_root(table) / "stray" / f"{i}.tmp", 1, age_seconds=4 * DAY)
    report = remove_orphans(table, dry_run=True).to_dict()
    assert (report["files_found"], len(report["paths"]), report["paths_truncated"]) == (
        105,
        100,
        True,
    )
    assert report["older_than"] == "3d"
    assert json.loads(json.dumps(report)) == report


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        ("file:///w/t/data/a.parquet", "/w/t/data/a.parquet", True),
        ("file:/w/t/data/a.parquet", "/w/t/data/a.parquet", True),
        ("file://localhost/w/t/a.parquet", "file:///w/t/a.parquet", True),
        ("/w/t//data/./a.parquet", "/w/t/data/a.parquet", True),
        ("s3://bucket/w/t/a.parquet", "s3://bucket/w/t/a.parquet", True),
        ("s3://bucket/w/t/a.parquet", "/bucket/w/t/a.parquet", False),
        ("s3://bucket/w/t/a.parquet", "s3a://bucket/w/t/a.parquet", False),
    ],
)
def test_paths_are_compared_normalised(a: str, b: str, same: bool) -> None:
    assert (normalise_path(a) == normalise_path(b)) is same


@pytest.mark.s3
def test_orphans_on_an_s3_warehouse(
    tmp_path: Path,
    landing: Path,
    s3_server: S3Server,
    s3_filesystem: pafs.S3FileSystem,
    make_s3_bucket,  # type: ignore[no-untyped-def]
) -> None:
    bucket = make_s3_bucket("warehouse")
    home = tmp_path / "s3lake"
    Lake.init(home)
    configure(home, s3_server, warehouse=f"s3://{bucket}/lake")
    lake = Lake.open(home)
    try:
        lake.tables.create(EVENTS, schema=fixtures_lake.EVENTS_SCHEMA, partition=["day(ts)"])
        add_source(lake, "s", landing)
        write_jsonl(landing / "a.jsonl", [event(1), event(2)])
        lake.ingest()
        assert lake.delete(EVENTS, "id = 1") == 1
        table = fixtures_lake.iceberg_table(lake, EVENTS)
        base = table.location().removeprefix("s3://")
        with s3_filesystem.open_output_stream(f"{base}/data/stray.parquet") as out:
            out.write(b"y" * 321)
        stored = objects(s3_filesystem, base)

        young = remove_orphans(table)
        assert (young.files_found, young.kept_too_young) == (0, 1)

        later = datetime.now(UTC) + timedelta(days=4)  # S3 has no utime: move the clock
        result = remove_orphans(table, now=later)

        assert result.paths == (f"s3://{base}/data/stray.parquet",)
        assert (result.files_deleted, result.bytes_freed) == (1, 321)
        assert objects(s3_filesystem, base) == stored - {"data/stray.parquet"}
        assert ids(lake) == [2]
    finally:
        lake.close()
