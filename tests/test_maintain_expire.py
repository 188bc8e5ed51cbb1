"""Snapshot expiry deletes exactly the files that only expired snapshots reached."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from pyiceberg.io import InputFile
from pyiceberg.io.pyarrow import PyArrowFileIO
from pyiceberg.table import Table

from icehouse.errors import CommitRaced, InvalidInput
from icehouse.ingest.faults import SimulatedCrash
from icehouse.lake import Lake
from icehouse.maintain.expire import expire_snapshots
from icehouse.maintain.orphans import remove_orphans
from icehouse.tables.history import commit_expiry
from icehouse.tables.reachability import ManifestReader, normalise_path, reachable
from tests import fixtures_lake
from tests.fixtures_lake import EVENTS, add_source, event, ids, write_jsonl

home, lake, landing, events = (
    fixtures_lake.home,
    fixtures_lake.lake,
    fixtures_lake.landing,
    fixtures_lake.events,
)
NOW = timedelta(0)


def on_disk(table: Table) -> set[str]:
    root = Path(normalise_path(table.location()))
    return {str(p) for p in root.rglob("*") if p.is_file()}


def data_files(table: Table, snapshot_id: int | None = None) -> set[str]:
    tasks = table.scan(snapshot_id=snapshot_id).plan_files()
    return {normalise_path(t.file.file_path) for t in tasks}


def manifests(table: Table, snapshot_id: int) -> set[str]:
    snapshot = table.snapshot_by_id(snapshot_id)
    assert snapshot is not None
    return {normalise_path(m.manifest_path) for m in snapshot.manifests(table.io)}


def manifest_list(table: Table, snapshot_id: int) -> str:
    snapshot = table.snapshot_by_id(snapshot_id)
    assert snapshot is not None
    return normalise_path(snapshot.manifest_list)


def ingest(lake: Lake, landing: Path, name: str, *records: dict[str, object]) -> int:
    """Ingest one file; returns the snapshot it committed."""
    write_jsonl(landing / name, records)
    lake.ingest()
    snapshot = fixtures_lake.iceberg_table(lake, EVENTS).current_snapshot()
    assert snapshot is not None
    return snapshot.snapshot_id


@pytest.fixture
def history(lake: Lake, landing: Path, events: Table) -> list[int]:
    """Three snapshots: append [1, 2], append [3] (another day), delete 1 (rewrites the
    first file, which only the two older snapshots still reach)."""
    add_source(lake, "s", landing)
    first = ingest(lake, landing, "a.jsonl", event(1), event(2))
    second = ingest(lake, landing, "b.jsonl", event(3, day=2))
    assert lake.delete(EVENTS, "id = 1") == 1
    third = fixtures_lake.iceberg_table(lake, EVENTS).current_snapshot().snapshot_id  # type: ignore[union-attr]
    return [first, second, third]


def test_files_only_expired_snapshots_reached_are_deleted_and_the_rest_survive(
    lake: Lake, history: list[int]
) -> None:
    first, second, third = history
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    rewritten = data_files(table, first) - data_files(table, third)
    assert len(rewritten) == 1
    (rewritten_path,) = rewritten
    rewritten_bytes = Path(rewritten_path).stat().st_size
    gone = rewritten | {manifest_list(table, first), manifest_list(table, second)}
    gone |= (manifests(table, first) | manifests(table, second)) - manifests(table, third)
    before = on_disk(table)
    assert gone <= before

    result = expire_snapshots(table, older_than=NOW)

    assert result.expired_snapshot_ids == tuple(sorted([first, second]))
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    assert [s.snapshot_id for s in table.snapshots()] == [third]
    after = on_disk(table)
    assert not gone & after
    assert data_files(table) | manifests(table, third) | {manifest_list(table, third)} <= after
    assert result.deleted["data"].files == 1 and result.deleted["data"].bytes == rewritten_bytes
    assert result.deleted["manifest_list"].files == 2
    assert result.files_deleted == len(gone)
    assert ids(lake) == [2, 3]
    # Nothing that only the expired snapshots reached is left behind as an orphan.
    leftovers = remove_orphans(table, older_than=NOW, force=True, dry_run=True)
    assert leftovers.files_found == 0 and leftovers.kept_too_young == 0


class CountingIO(PyArrowFileIO):
    """A FileIO that counts how often each file is opened for reading."""

    def __init__(self, properties: dict[str, str]) -> None:
        super().__init__(properties)
        self.opened: Counter[str] = Counter()

    def new_input(self, location: str) -> InputFile:
        self.opened[location] += 1
        return super().new_input(location)


def test_reachability_reads_each_shared_manifest_once(lake: Lake, history: list[int]) -> None:
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    per_snapshot = [manifests(table, s) for s in history]
    assert per_snapshot[0] & per_snapshot[1]  # the second append kept the first manifest
    io = CountingIO(dict(table.io.properties))
    found = reachable(table.metadata, table.metadata_location, ManifestReader(io))
    opened = {normalise_path(p): n for p, n in io.opened.items()}
    assert {p: opened[p] for p in set().union(*per_snapshot)} == dict.fromkeys(
        set().union(*per_snapshot), 1
    )
    assert data_files(table, history[0]) | data_files(table) <= set(found.files)


def test_time_travel_to_a_retained_snapshot_still_reads_its_rows(
    lake: Lake, history: list[int]
) -> None:
    first, second, _ = history
    result = expire_snapshots(
        fixtures_lake.iceberg_table(lake, EVENTS), older_than=NOW, retain_last=2
    )
    assert result.expired_snapshot_ids == (first,)
    travelled = lake.sql(f"SELECT id FROM {EVENTS} FOR VERSION AS OF {second} ORDER BY id")
    assert travelled.column("id").to_pylist() == [1, 2, 3]
    assert ids(lake) == [2, 3]


def test_a_tagged_snapshot_is_kept_with_its_files(lake: Lake, history: list[int]) -> None:
    first, second, third = history
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    table.manage_snapshots().create_tag(first, "v1").commit()
    first_files = data_files(table, first)

    result = expire_snapshots(fixtures_lake.iceberg_table(lake, EVENTS), older_than=NOW)

    assert result.expired_snapshot_ids == (second,)
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    assert {s.snapshot_id for s in table.snapshots()} == {first, third}
    assert first_files <= on_disk(table)
    assert result.deleted["data"].files == 0
    tagged = lake.sql(f"SELECT id FROM {EVENTS} FOR VERSION AS OF 'v1' ORDER BY id")
    assert tagged.column("id").to_pylist() == [1, 2]


def test_retain_last_keeps_the_newest_snapshots_of_the_current_lineage(
    lake: Lake, history: list[int]
) -> None:
    first, second, third = history
    assert (
        expire_snapshots(
            fixtures_lake.iceberg_table(lake, EVENTS), older_than=NOW, retain_last=3
        ).files_deleted
        == 0
    )
    assert len(fixtures_lake.iceberg_table(lake, EVENTS).snapshots()) == 3
    result = expire_snapshots(
        fixtures_lake.iceberg_table(lake, EVENTS), older_than=NOW, retain_last=2
    )
    assert result.expired_snapshot_ids == (first,)
    assert [s.snapshot_id for s in fixtures_lake.iceberg_table(lake, EVENTS).snapshots()] == [
        second,
        third,
    ]
    with pytest.raises(InvalidInput, match="at least 1"):
        expire_snapshots(fixtures_lake.iceberg_table(lake, EVENTS), older_than=NOW, retain_last=0)


def test_defaults_come_from_the_table_history_expire_properties(
    lake: Lake, history: list[int]
) -> None:
    # Without properties: 5 days of history are kept, so nothing young expires.
    assert expire_snapshots(fixtures_lake.iceberg_table(lake, EVENTS)).expired_snapshot_ids == ()
    lake.tables.alter(
        EVENTS,
        properties={
            "history.expire.max-snapshot-age-ms": "0",
            "history.expire.min-snapshots-to-keep": "2",
        },
    )
    assert expire_snapshots(fixtures_lake.iceberg_table(lake, EVENTS)).expired_snapshot_ids == (
        history[0],
    )
    assert ids(lake) == [2, 3]


def test_a_dry_run_reports_the_expiry_and_changes_nothing(lake: Lake, history: list[int]) -> None:
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    before, location = on_disk(table), table.metadata_location

    planned = expire_snapshots(table, older_than=NOW, dry_run=True)

    table = fixtures_lake.iceberg_table(lake, EVENTS)
    assert planned.dry_run and planned.expired_snapshot_ids == tuple(sorted(history[:2]))
    assert (on_disk(table), table.metadata_location) == (before, location)
    assert len(table.snapshots()) == 3
    done = expire_snapshots(table, older_than=NOW)
    assert (done.expired_snapshot_ids, done.deleted) == (
        planned.expired_snapshot_ids,
        planned.deleted,
    )
    assert json.loads(json.dumps(planned.to_dict()))["files_deleted"] == done.files_deleted > 0


def test_a_stale_table_handle_neither_loses_a_newer_commit_nor_commits_blindly(
    lake: Lake, history: list[int], landing: Path
) -> None:
    stale = fixtures_lake.iceberg_table(lake, EVENTS)
    newest = ingest(lake, landing, "c.jsonl", event(4))

    # The guarded commit refuses: main moved since the handle was loaded.
    with pytest.raises(CommitRaced):
        commit_expiry(stale, [history[0]])
    assert len(fixtures_lake.iceberg_table(lake, EVENTS).snapshots()) == 4

    # expire_snapshots reloads, so the newer snapshot stays current with its files.
    result = expire_snapshots(stale, older_than=NOW)
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    assert set(result.expired_snapshot_ids) == set(history)
    assert [s.snapshot_id for s in table.snapshots()] == [newest]
    assert data_files(table) <= on_disk(table)
    assert ids(lake) == [2, 3, 4]


def test_ingestion_after_an_expiry_is_still_exactly_once(home: Path, landing: Path) -> None:
    """A crash between the catalog commit and the ledger update, then an expiry of every
    older snapshot: recovery still finds the batch committed and doubles nothing."""
    setup = Lake.open(home)
    setup.tables.create(
        EVENTS,
        schema=fixtures_lake.EVENTS_SCHEMA,
        partition=["day(ts)"],
        properties=fixtures_lake.NO_READER_GRACE,
    )
    add_source(setup, "s", landing)
    ingest(setup, landing, "a.jsonl", event(1), event(2))
    setup.close()

    def crash(point: str) -> None:
        if point == "batch.committed":
            raise SimulatedCrash(point)

    crashing = Lake.open(home, faults=crash)
    write_jsonl(landing / "b.jsonl", [event(3)])
    with pytest.raises(SimulatedCrash):
        crashing.ingest()
    crashing.close()

    lake = Lake.open(home)
    try:
        expired = expire_snapshots(fixtures_lake.iceberg_table(lake, EVENTS), older_than=NOW)
        assert len(expired.expired_snapshot_ids) == 1
        report = lake.ingest()
        assert (report.recovered_committed, report.rows) == (1, 0)
        write_jsonl(landing / "c.jsonl", [event(4)])
        assert lake.ingest().rows == 1
        assert lake.ingest().rows == 0
        assert ids(lake) == [1, 2, 3, 4]
    finally:
        lake.close()
