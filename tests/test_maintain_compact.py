"""Compaction rewrites files per partition, proves every rewrite, commits ``replace``
snapshots, and survives (or cleanly gives way to) concurrent commits."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.table import Table

from icehouse.errors import InvalidInput, InvalidSortOrder, MaintenanceBusy
from icehouse.lake import Lake
from icehouse.maintain import compact as compact_mod
from icehouse.maintain.leases import Leases
from icehouse.maintain.ordering import z_values
from icehouse.maintain.service import lease_key
from icehouse.tables import manifest_rewrite
from icehouse.tables.append import fast_append
from icehouse.tables.carry import SUMMARY_KEYS
from icehouse.tables.writer import TableWriter
from tests import fixtures_lake
from tests.conftest import S3Server
from tests.fixtures_lake import (
    EVENTS,
    EVENTS_SCHEMA,
    add_source,
    append_batches,
    data_files,
    event,
    write_jsonl,
)
from tests.test_s3_landing import configure

home = fixtures_lake.home
lake = fixtures_lake.lake
events = fixtures_lake.events
landing = fixtures_lake.landing


def all_rows(lake: Lake) -> list[dict[str, Any]]:
    return lake.sql(f"SELECT * FROM {EVENTS} ORDER BY id").to_pylist()


def files_on_disk(table: Table) -> set[str]:
    root = Path(table.location().removeprefix("file://")) / "data"
    return {str(p) for p in root.rglob("*.parquet")}


def test_binpack_merges_each_partition_into_one_file_and_keeps_every_row(
    lake: Lake, events: Table
) -> None:
    append_batches(lake)
    before = all_rows(lake)
    assert len(data_files(fixtures_lake.iceberg_table(lake, EVENTS))) == 18

    result = lake.maintenance.compact(EVENTS, "binpack", min_input_files=2)

    table = fixtures_lake.iceberg_table(lake, EVENTS)
    files = data_files(table)
    assert len(files) == 3
    assert sorted(f["record_count"] for f in files) == [120, 120, 120]
    assert all_rows(lake) == before
    assert table.current_snapshot().summary.operation.value == "replace"
    assert table.current_snapshot().summary["total-data-files"] == "3"
    assert [g.status for g in result.groups] == ["committed"] * 3
    assert result.to_dict()["files_before"] == 18 and result.to_dict()["files_after"] == 3


def test_sort_compaction_orders_each_output_file_by_the_table_sort_order(
    lake: Lake, events: Table
) -> None:
    append_batches(lake)
    lake.maintenance.compact(EVENTS, "sort", min_input_files=2)
    for f in data_files(fixtures_lake.iceberg_table(lake, EVENTS)):
        ids = pq.read_table(f["file_path"].removeprefix("file://")).column("id").to_pylist()
        assert ids == sorted(ids)


def test_sort_compaction_with_an_explicit_descending_order(lake: Lake, events: Table) -> None:
    append_batches(lake)
    lake.maintenance.compact(EVENTS, "sort", sort="bytes DESC", min_input_files=2)
    for f in data_files(fixtures_lake.iceberg_table(lake, EVENTS)):
        values = pq.read_table(f["file_path"].removeprefix("file://")).column("bytes").to_pylist()
        assert values == sorted(values, reverse=True)


def test_zorder_keys_interleave_the_bits_of_each_column_rank() -> None:
    grid = [(a, b) for a in range(4) for b in range(4)]
    rows = pa.table({"a": [g[0] for g in grid], "b": [str(g[1]) for g in grid]})
    order = sorted(range(len(grid)), key=lambda i: int(z_values(rows, ["a", "b"])[i]))
    # the Morton curve over a 4x4 grid visits 2x2 quadrants one after another
    assert [grid[i] for i in order[:8]] == [
        (0, 0), (0, 1), (1, 0), (1, 1), (0, 2), (0, 3), (1, 2), (1, 3),
    ]  # fmt: skip


def test_zorder_compaction_keeps_every_row(lake: Lake, events: Table) -> None:
    append_batches(lake)
    before = all_rows(lake)
    result = lake.maintenance.compact(EVENTS, "zorder", zorder="country, id", min_input_files=2)
    assert len(result.committed) == 3
    assert all_rows(lake) == before


def test_dry_run_plans_the_groups_and_changes_nothing(lake: Lake, events: Table) -> None:
    append_batches(lake)
    snapshot = fixtures_lake.iceberg_table(lake, EVENTS).current_snapshot().snapshot_id
    on_disk = files_on_disk(fixtures_lake.iceberg_table(lake, EVENTS))

    result = lake.maintenance.compact(EVENTS, "binpack", min_input_files=2, dry_run=True)

    assert [(g.files_before, g.status) for g in result.groups] == [(6, "planned")] * 3
    assert fixtures_lake.iceberg_table(lake, EVENTS).current_snapshot().snapshot_id == snapshot
    assert files_on_disk(fixtures_lake.iceberg_table(lake, EVENTS)) == on_disk


def test_partitions_with_too_few_small_files_are_left_alone(lake: Lake, events: Table) -> None:
    append_batches(lake, per_day=3)
    result = lake.maintenance.compact(EVENTS, "binpack")  # min_input_files defaults to 5
    assert result.groups == []
    assert len(data_files(fixtures_lake.iceberg_table(lake, EVENTS))) == 9


def test_where_limits_the_rewrite_to_matching_partitions(lake: Lake, events: Table) -> None:
    append_batches(lake)
    result = lake.maintenance.compact(
        EVENTS, "binpack", min_input_files=2, where="ts >= '2024-06-03'"
    )
    assert [g.partition for g in result.groups] == ["ts_day=2024-06-03"]
    assert len(data_files(fixtures_lake.iceberg_table(lake, EVENTS))) == 13


def test_where_that_cannot_be_translated_exactly_is_refused(lake: Lake, events: Table) -> None:
    append_batches(lake, per_day=1)
    with pytest.raises(InvalidInput, match="--where"):
        lake.maintenance.compact(EVENTS, "binpack", where="lower(country) = 'de'")


def test_sort_without_a_table_order_or_columns_says_how(lake: Lake) -> None:
    lake.tables.create("logs.plain", schema={"id": "long"})
    with pytest.raises(InvalidSortOrder, match="--sort"):
        lake.maintenance.compact("logs.plain", "sort")
    with pytest.raises(InvalidSortOrder, match="unknown column"):
        lake.maintenance.compact("logs.plain", "zorder", zorder="id, nope")


def test_files_of_an_older_partition_spec_move_into_the_current_spec_when_asked(
    lake: Lake, events: Table
) -> None:
    append_batches(lake, days=(1,), per_day=4)
    lake.tables.alter(EVENTS, partition=["hour(ts)"])
    append_batches(lake, days=(2,), per_day=4)
    before = all_rows(lake)
    current_spec = fixtures_lake.iceberg_table(lake, EVENTS).spec().spec_id

    kept = lake.maintenance.compact(EVENTS, "binpack", min_input_files=2)
    assert {g.spec_id for g in kept.committed} == {0, current_spec}  # each in its own spec
    assert {f["spec_id"] for f in data_files(fixtures_lake.iceberg_table(lake, EVENTS))} == {
        0,
        current_spec,
    }

    lake.maintenance.compact(EVENTS, "binpack", respec=True)
    assert {f["spec_id"] for f in data_files(fixtures_lake.iceberg_table(lake, EVENTS))} == {
        current_spec
    }
    assert all_rows(lake) == before


def test_a_rewrite_commits_the_ingestion_summary_keys_and_ingestion_stays_exactly_once(
    lake: Lake, events: Table, landing: Path
) -> None:
    add_source(lake, "events", landing)
    for n in range(6):
        write_jsonl(landing / f"f{n}.jsonl", [event(n * 10 + k, day=1 + n % 2) for k in range(10)])
        lake.ingest(["events"])
    summary_before = fixtures_lake.iceberg_table(lake, EVENTS).current_snapshot().summary

    lake.maintenance.compact(EVENTS, "binpack", min_input_files=2)

    summary_after = fixtures_lake.iceberg_table(lake, EVENTS).current_snapshot().summary
    assert summary_after.operation.value == "replace"
    for key in SUMMARY_KEYS:
        assert summary_after[key] == summary_before[key]
    write_jsonl(landing / "f6.jsonl", [event(60 + k, day=1) for k in range(10)])
    lake.ingest(["events"])
    ids = [r["id"] for r in all_rows(lake)]
    assert ids == list(range(70))


def _before_commit(monkeypatch: pytest.MonkeyPatch, action: Any) -> None:
    """Run ``action`` once, after the groups are rewritten and just before they commit:
    a real commit by someone else landing in between."""
    original = compact_mod._Committer.commit
    done: list[bool] = []

    def commit(self: Any, batch: list[Any]) -> Any:
        if not done:
            done.append(True)
            action()
        return original(self, batch)

    monkeypatch.setattr(compact_mod._Committer, "commit", commit)


def test_a_concurrent_append_does_not_fail_the_rewrite(
    lake: Lake, events: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    append_batches(lake)
    before = all_rows(lake)
    late = pa.table(
        {
            "ts": pa.array(
                [dt.datetime(2024, 6, 1, 5, tzinfo=dt.UTC)], pa.timestamp("us", tz="UTC")
            ),
            "id": pa.array([999_999], pa.int64()),
            "country": ["nl"],
            "bytes": pa.array([1], pa.int64()),
        }
    )

    def append_to_the_same_partition() -> None:
        writer = TableWriter(fixtures_lake.iceberg_table(lake, EVENTS))
        writer.write(late)
        fast_append(fixtures_lake.iceberg_table(lake, EVENTS), writer.close(), properties={})

    _before_commit(monkeypatch, append_to_the_same_partition)
    result = lake.maintenance.compact(EVENTS, "binpack", min_input_files=2)

    assert [g.status for g in result.groups] == ["committed"] * 3
    assert all_rows(lake) == before + late.to_pylist()
    assert (
        len(data_files(fixtures_lake.iceberg_table(lake, EVENTS))) == 4
    )  # three rewritten + the concurrent one


def test_a_concurrent_delete_of_an_input_file_aborts_only_that_group(
    lake: Lake, events: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    append_batches(lake)
    written: list[str] = []
    original_close = TableWriter.close

    def close(self: TableWriter) -> Any:
        files = original_close(self)
        written.extend(f.file_path.removeprefix("file://") for f in files)
        return files

    monkeypatch.setattr(TableWriter, "close", close)
    _before_commit(monkeypatch, lambda: lake.delete(EVENTS, "ts < '2024-06-02' AND id = 101"))

    result = lake.maintenance.compact(EVENTS, "binpack", min_input_files=2)

    statuses = {g.partition: g.status for g in result.groups}
    assert statuses == {
        "ts_day=2024-06-01": "conflict",
        "ts_day=2024-06-02": "committed",
        "ts_day=2024-06-03": "committed",
    }
    conflict = next(g for g in result.groups if g.status == "conflict")
    assert "removed by a concurrent commit" in (conflict.reason or "")
    ids = [r["id"] for r in all_rows(lake)]
    assert 101 not in ids and len(ids) == len(set(ids)) == 359
    live = {
        f["file_path"].removeprefix("file://")
        for f in data_files(fixtures_lake.iceberg_table(lake, EVENTS))
    }
    assert [p for p in written if not Path(p).exists()]  # the aborted group's output is gone
    assert all(Path(p).exists() for p in written if p in live)


def test_a_concurrent_rewrite_of_the_same_files_makes_the_later_one_give_way(
    lake: Lake, events: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    append_batches(lake)
    before = all_rows(lake)
    other: list[Any] = []
    _before_commit(
        monkeypatch,
        lambda: other.append(lake.maintenance.compact(EVENTS, "sort", min_input_files=2)),
    )
    result = lake.maintenance.compact(EVENTS, "binpack", min_input_files=2)
    assert [g.status for g in other[0].groups] == ["committed"] * 3
    assert [g.status for g in result.groups] == ["conflict"] * 3
    assert all_rows(lake) == before
    assert len(data_files(fixtures_lake.iceberg_table(lake, EVENTS))) == 3


def test_a_rewrite_whose_output_differs_from_its_input_is_not_committed(
    lake: Lake, events: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    append_batches(lake, days=(1,))
    snapshot = fixtures_lake.iceberg_table(lake, EVENTS).current_snapshot().snapshot_id
    on_disk = files_on_disk(fixtures_lake.iceberg_table(lake, EVENTS))
    original = TableWriter.write

    def lose_a_row(self: TableWriter, rows: pa.Table) -> None:  # a writer bug
        original(self, rows.slice(1))

    monkeypatch.setattr(TableWriter, "write", lose_a_row)
    result = lake.maintenance.compact(EVENTS, "binpack", min_input_files=2)

    assert result.groups[0].status == "failed"
    assert "rows 120 → 119" in (result.groups[0].reason or "")
    assert fixtures_lake.iceberg_table(lake, EVENTS).current_snapshot().snapshot_id == snapshot
    assert files_on_disk(fixtures_lake.iceberg_table(lake, EVENTS)) == on_disk


def test_a_group_with_an_unreadable_input_fails_alone_and_names_the_file(
    lake: Lake, events: Table
) -> None:
    append_batches(lake)
    day_two = [
        f["file_path"].removeprefix("file://")
        for f in data_files(fixtures_lake.iceberg_table(lake, EVENTS))
        if "2024-06-02" in f["file_path"]
    ]
    Path(day_two[0]).write_bytes(b"not parquet at all")

    result = lake.maintenance.compact(EVENTS, "binpack", min_input_files=2)

    by_status = {g.status: g for g in result.groups}
    assert sorted(g.status for g in result.groups) == ["committed", "committed", "failed"]
    assert "2024-06-02" in by_status["failed"].partition
    assert day_two[0] in (by_status["failed"].reason or "")
    remaining = [f["file_path"] for f in data_files(fixtures_lake.iceberg_table(lake, EVENTS))]
    assert len(remaining) == 2 + len(day_two)  # two days compacted, day two untouched


def test_runs_are_recorded_and_a_held_lease_refuses_a_second_maintainer(
    lake: Lake, events: Table
) -> None:
    append_batches(lake, per_day=2)
    lake.maintenance.compact(EVENTS, "binpack", min_input_files=2, dry_run=True)
    lake.maintenance.compact(EVENTS, "binpack", min_input_files=2)
    runs = lake.maintenance.history(EVENTS, dry_runs=True)
    assert [(r.action, r.dry_run, r.status) for r in runs] == [
        ("compact:binpack", False, "ok"),
        ("compact:binpack", True, "ok"),
    ]
    assert runs[0].summary["files_before"] == 6 and runs[0].summary["files_after"] == 3

    other = Leases(fixtures_lake.engine_of(lake), owner="elsewhere:1")
    assert other.try_acquire(lease_key(EVENTS))
    with pytest.raises(MaintenanceBusy, match="elsewhere:1"):
        lake.maintenance.compact(EVENTS, "binpack")


def test_partial_progress_commits_each_partition_as_it_finishes(lake: Lake, events: Table) -> None:
    append_batches(lake)
    before = all_rows(lake)
    snapshots_before = len(fixtures_lake.iceberg_table(lake, EVENTS).metadata.snapshots)

    result = lake.maintenance.compact(
        EVENTS, "binpack", min_input_files=2, partial_progress=True, max_concurrent_groups=1
    )

    assert len(result.snapshots) == 3
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    assert len(table.metadata.snapshots) == snapshots_before + 3
    assert table.current_snapshot().snapshot_id == result.snapshots[-1]
    assert all_rows(lake) == before


@pytest.mark.s3
def test_compaction_on_an_s3_warehouse(
    tmp_path: Path,
    s3_server: S3Server,
    make_s3_bucket,  # type: ignore[no-untyped-def]
) -> None:
    """Files on S3 are read through PyIceberg's reader and proved by reading them back."""
    bucket = make_s3_bucket("warehouse")
    home = tmp_path / "s3lake"
    Lake.init(home)
    configure(home, s3_server, warehouse=f"s3://{bucket}/lake")
    with Lake.open(home) as lake:
        lake.tables.create(EVENTS, schema=EVENTS_SCHEMA, partition=["day(ts)"], sort="id")
        append_batches(lake, per_day=3)
        before = all_rows(lake)

        result = lake.maintenance.compact(EVENTS, "sort", min_input_files=2)

        assert [g.status for g in result.groups] == ["committed"] * 3
        files = data_files(fixtures_lake.iceberg_table(lake, EVENTS))
        assert len(files) == 3 and all(f["file_path"].startswith("s3://") for f in files)
        assert all_rows(lake) == before


def test_manifests_left_with_only_deleted_entries_are_not_carried_forward(
    lake: Lake, events: Table
) -> None:
    append_batches(lake)
    lake.maintenance.compact(EVENTS, "binpack", min_input_files=2)
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    after_compaction = table.current_snapshot().manifests(table.io)
    deleted_only = [
        m for m in after_compaction if not (m.has_added_files() or m.has_existing_files())
    ]
    assert deleted_only  # the rewrite marks its inputs deleted in its own snapshot

    append_batches(lake, days=(4,), per_day=1)

    table = fixtures_lake.iceberg_table(lake, EVENTS)
    carried = {m.manifest_path for m in table.current_snapshot().manifests(table.io)}
    assert not carried & {m.manifest_path for m in deleted_only}
    assert len(carried) == len(after_compaction) - len(deleted_only) + 1


def test_manifest_rewrite_clusters_entries_by_partition(
    lake: Lake, events: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    append_batches(lake)  # 18 appends: 18 manifests, each batch's files in its own
    monkeypatch.setattr(manifest_rewrite, "MIN_ENTRIES_PER_MANIFEST", 5)
    before = all_rows(lake)

    result = lake.maintenance.manifests(EVENTS)

    table = fixtures_lake.iceberg_table(lake, EVENTS)
    manifests = table.current_snapshot().manifests(table.io)
    assert (result.manifests_before, result.manifests_after, len(manifests)) == (18, 3, 3)
    for manifest in manifests:  # one day each: lower and upper partition bound agree
        bounds = manifest.partitions[0]
        assert bounds.lower_bound == bounds.upper_bound
        assert manifest.existing_files_count == 6
    assert table.current_snapshot().summary.operation.value == "replace"
    assert all_rows(lake) == before
