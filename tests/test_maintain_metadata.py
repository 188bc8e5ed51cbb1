"""Old table-metadata files are deleted: by ``clean_metadata`` for tables that kept them,
and after every icehouse commit when ``write.metadata.delete-after-commit.enabled``."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from pyiceberg.table import Table

from icehouse.lake import Lake
from icehouse.maintain.expire import expire_snapshots
from icehouse.maintain.metadata_cleanup import clean_metadata
from icehouse.tables.reachability import normalise_path
from tests import fixtures_lake
from tests.fixtures_lake import EVENTS, EVENTS_SCHEMA, add_source, event, ids, write_jsonl

home, lake, landing = fixtures_lake.home, fixtures_lake.lake, fixtures_lake.landing


def metadata_on_disk(table: Table) -> set[str]:
    folder = Path(normalise_path(table.metadata_location)).parent
    return {str(p) for p in folder.glob("*.metadata.json")}


def kept_by_table(table: Table) -> set[str]:
    """The current metadata file and every file of the metadata log."""
    logged = {normalise_path(e.metadata_file) for e in table.metadata.metadata_log}
    return logged | {normalise_path(table.metadata_location)}


def make_table(lake: Lake, landing: Path, *, delete_after_commit: bool, keep: int) -> Table:
    properties = {
        "write.metadata.delete-after-commit.enabled": str(delete_after_commit).lower(),
        "write.metadata.previous-versions-max": str(keep),
        **fixtures_lake.NO_READER_GRACE,
    }
    lake.tables.create(EVENTS, schema=EVENTS_SCHEMA, partition=["day(ts)"], properties=properties)
    add_source(lake, "s", landing)
    for i in range(1, 6):
        write_jsonl(landing / f"{i}.jsonl", [event(i)])
        lake.ingest()
    return fixtures_lake.iceberg_table(lake, EVENTS)


def test_clean_metadata_deletes_what_the_metadata_log_no_longer_keeps(
    lake: Lake, landing: Path
) -> None:
    table = make_table(lake, landing, delete_after_commit=False, keep=3)
    before = metadata_on_disk(table)
    assert len(before) == 6 and len(table.metadata.metadata_log) == 3

    result = clean_metadata(table)

    assert metadata_on_disk(table) == kept_by_table(table)
    assert set(result.paths) == before - kept_by_table(table)
    assert (result.files_deleted, result.files_kept) == (2, 4)
    assert result.bytes_deleted > 0
    assert ids(lake) == [1, 2, 3, 4, 5]
    assert clean_metadata(fixtures_lake.iceberg_table(lake, EVENTS)).files_deleted == 0


def test_only_older_versions_in_the_metadata_folder_are_deleted(lake: Lake, landing: Path) -> None:
    """A newer version may be a commit in flight; other folders and unknown names are
    not the table's metadata history."""
    table = make_table(lake, landing, delete_after_commit=False, keep=1)
    current = Path(normalise_path(table.metadata_location))
    folder = current.parent
    in_flight = folder / "00099-0b4f0c1e-in-flight.metadata.json"
    unknown = folder / "notes.metadata.json"
    elsewhere = folder.parent / "data" / "00000-copied.metadata.json"
    for path in (in_flight, unknown, elsewhere):
        shutil.copy(current, path)
    expected = metadata_on_disk(table) - kept_by_table(table) - {str(in_flight), str(unknown)}
    assert len(expected) == 4

    result = clean_metadata(table)

    assert set(result.paths) == expected
    assert in_flight.exists() and unknown.exists() and elsewhere.exists()
    assert ids(lake) == [1, 2, 3, 4, 5]


def test_a_dry_run_lists_the_same_files_and_deletes_none(lake: Lake, landing: Path) -> None:
    table = make_table(lake, landing, delete_after_commit=False, keep=2)
    before = metadata_on_disk(table)
    planned = clean_metadata(table, dry_run=True)
    assert metadata_on_disk(table) == before
    done = clean_metadata(table)
    assert planned.dry_run and planned.paths == done.paths and len(done.paths) == 3
    assert planned.to_dict()["files_deleted"] == done.to_dict()["files_deleted"] == 3


def test_expiry_honours_delete_after_commit(lake: Lake, landing: Path) -> None:
    table = make_table(lake, landing, delete_after_commit=True, keep=2)
    assert metadata_on_disk(table) == kept_by_table(table)
    dropping = normalise_path(table.metadata.metadata_log[0].metadata_file)

    expire_snapshots(table, older_than=timedelta(0))

    table = fixtures_lake.iceberg_table(lake, EVENTS)
    assert len(table.snapshots()) == 1
    assert dropping not in metadata_on_disk(table)
    assert metadata_on_disk(table) == kept_by_table(table)


@pytest.mark.parametrize("operation", ["alter", "delete", "rollback"])
def test_pyiceberg_transaction_commits_used_by_icehouse_honour_it_too(
    lake: Lake, landing: Path, operation: str
) -> None:
    table = make_table(lake, landing, delete_after_commit=True, keep=2)
    dropping = normalise_path(table.metadata.metadata_log[0].metadata_file)
    if operation == "alter":
        lake.tables.alter(EVENTS, properties={"comment": "altered"})
    elif operation == "delete":
        assert lake.delete(EVENTS, "id = 5") == 1
    else:
        lake.tables.rollback(EVENTS, table.snapshots()[-2].snapshot_id)
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    assert dropping not in metadata_on_disk(table)
    assert metadata_on_disk(table) == kept_by_table(table)
