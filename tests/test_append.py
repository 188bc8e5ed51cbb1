"""icehouse's own fast append: standard Iceberg snapshots, merged manifests, clean
failure when another commit got there first."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pytest

from icehouse.errors import CommitRaced
from icehouse.lake import Lake
from icehouse.tables.append import fast_append
from icehouse.tables.writer import TableWriter
from tests import fixtures_lake


def data_files_for(table, first: int, count: int):  # type: ignore[no-untyped-def]
    writer = TableWriter(table, name_prefix=f"t{first}")
    days = [dt.datetime(2024, 6, 1 + i % 3, tzinfo=dt.UTC) for i in range(first, first + count)]
    writer.write(
        pa.table(
            {
                "id": pa.array(range(first, first + count), pa.int64()),
                "ts": pa.array(days, pa.timestamp("us", tz="UTC")),
            }
        )
    )
    return writer.close()


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    Lake.init(tmp_path)
    lake = Lake.open(tmp_path)
    lake.tables.create(
        "a.t",
        schema={"id": "long", "ts": "timestamptz"},
        partition=["day(ts)"],
        properties={"commit.manifest.min-count-to-merge": "10", **fixtures_lake.NO_READER_GRACE},
    )
    return lake


def test_many_appends_keep_every_row_once_and_manifests_merged(lake: Lake) -> None:
    for commit in range(30):
        table = fixtures_lake.iceberg_table(lake, "a.t")
        fast_append(table, data_files_for(table, commit * 5, 5), properties={"n": str(commit)})

    table = fixtures_lake.iceberg_table(lake, "a.t")
    snapshot = table.current_snapshot()
    assert snapshot is not None and snapshot.summary is not None
    assert snapshot.summary["total-records"] == "150"
    assert snapshot.summary["n"] == "29"
    assert len(snapshot.manifests(table.io)) < 10
    paths = [task.file.file_path for task in table.scan().plan_files()]
    assert len(paths) == len(set(paths))
    ids = sorted(table.scan().to_arrow().column("id").to_pylist())
    assert ids == list(range(150))
    assert len(table.metadata.snapshots) == 30


def test_an_append_on_a_stale_table_fails_and_leaves_no_files(lake: Lake, tmp_path: Path) -> None:
    stale = fixtures_lake.iceberg_table(lake, "a.t")
    fresh = fixtures_lake.iceberg_table(lake, "a.t")
    fast_append(fresh, data_files_for(fresh, 0, 3), properties={})
    metadata_dir = tmp_path / "warehouse" / "a" / "t" / "metadata"
    before = set(metadata_dir.iterdir())

    with pytest.raises(CommitRaced):
        fast_append(stale, data_files_for(stale, 3, 3), properties={})

    assert set(metadata_dir.iterdir()) == before
    assert fixtures_lake.iceberg_table(lake, "a.t").scan().to_arrow().num_rows == 3


def test_old_metadata_files_are_deleted_after_commit(lake: Lake, tmp_path: Path) -> None:
    for commit in range(15):
        table = fixtures_lake.iceberg_table(lake, "a.t")
        fast_append(table, data_files_for(table, commit, 1), properties={})
    metadata_dir = tmp_path / "warehouse" / "a" / "t" / "metadata"
    assert len(list(metadata_dir.glob("*.metadata.json"))) == 11  # current + 10 previous
