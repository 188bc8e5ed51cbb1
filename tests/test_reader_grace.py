"""Readers in flight: a reader that pinned a table's metadata keeps reading it through
hundreds of commits, history trimming and every maintenance action, for the table's
``icehouse.reader-grace``; after it, the files are deleted as usual."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.table import StaticTable

from icehouse.lake import Lake
from icehouse.state.clock import ShiftedClock
from icehouse.tables.append import fast_append
from icehouse.tables.grace import reader_grace_ms
from icehouse.tables.history import trim_history
from icehouse.tables.reachability import normalise_path
from icehouse.tables.writer import TableWriter
from tests import fixtures_lake

TABLE = "logs.pinned"
COMMITS = 120


def commit_row(lake: Lake, clock: ShiftedClock, row_id: int) -> None:
    """One small append, then the ingester's history trimming. Every third append is
    another engine's (PyIceberg's own commit, which deletes old metadata itself)."""
    table = fixtures_lake.iceberg_table(lake, TABLE)
    rows = pa.table({"id": pa.array([row_id], pa.int64())}, schema=table.schema().as_arrow())
    if row_id % 3 == 0:
        table.append(rows)
    else:
        writer = TableWriter(table)
        writer.write(rows)
        fast_append(table, writer.close(), properties={})
    trim_history(fixtures_lake.iceberg_table(lake, TABLE), now_ms=int(clock() * 1000))


def maintain(lake: Lake) -> None:
    lake.maintenance.expire(TABLE, older_than=timedelta(0), retain_last=1)
    lake.maintenance.clean_metadata(TABLE)
    lake.maintenance.orphans(TABLE, older_than=timedelta(0), force=True)


def read_pinned(location: str) -> list[int]:
    return sorted(StaticTable.from_metadata(location).scan().to_arrow()["id"].to_pylist())


@pytest.fixture
def clock() -> ShiftedClock:
    return ShiftedClock()


@pytest.fixture
def pinned_lake(home: Path, clock: ShiftedClock):  # type: ignore[no-untyped-def]
    lake = Lake.open(home, clock=clock)
    lake.tables.create(
        TABLE,
        schema={"id": "long!"},
        properties={
            "write.metadata.previous-versions-max": "3",
            "icehouse.ingest.max-snapshots": "3",
            "icehouse.reader-grace": "15m",
        },
    )
    try:
        yield lake
    finally:
        lake.close()


home = fixtures_lake.home


def test_a_pinned_version_reads_through_commits_and_maintenance_within_the_grace(
    pinned_lake: Lake, clock: ShiftedClock
) -> None:
    lake = pinned_lake
    commit_row(lake, clock, 1)
    pinned = fixtures_lake.iceberg_table(lake, TABLE).metadata_location
    for row_id in range(2, COMMITS + 1):
        commit_row(lake, clock, row_id)
    clock.advance(14 * 60)
    maintain(lake)

    assert read_pinned(pinned) == [1]
    assert len(lake.sql(f"SELECT id FROM {TABLE}").to_pylist()) == COMMITS

    clock.advance(2 * 60)  # the pinned version was last current 16 minutes ago
    commit_row(lake, clock, COMMITS + 1)
    maintain(lake)

    assert not Path(normalise_path(pinned)).exists()
    with pytest.raises(FileNotFoundError):
        read_pinned(pinned)
    assert len(lake.sql(f"SELECT id FROM {TABLE}").to_pylist()) == COMMITS + 1


@pytest.mark.parametrize(
    ("value", "ms"),
    [("30s", 30_000), ("15m", 900_000), ("2h", 7_200_000), ("90", 90_000), ("0s", 0)],
)
def test_the_reader_grace_reads_as_people_write_durations(value: str, ms: int) -> None:
    assert reader_grace_ms({"icehouse.reader-grace": value}) == ms


def test_an_unreadable_reader_grace_counts_as_the_default() -> None:
    """Another engine may set anything; failing every commit would be worse."""
    assert reader_grace_ms({"icehouse.reader-grace": "soon"}) == 15 * 60 * 1000
    assert reader_grace_ms({}) == 15 * 60 * 1000
