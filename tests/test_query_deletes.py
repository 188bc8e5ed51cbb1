"""Delete files written by other engines: position deletes are honoured, equality deletes
refused by name.

Spark and DuckDB's iceberg extension delete rows of a merge-on-read table by writing a
Parquet file of (``file_path``, ``pos``) pairs and committing it in a delete manifest.
The helpers here do the same: DuckDB writes the Parquet file (with Iceberg's reserved
field ids), PyIceberg's manifest writers and the catalog commit it.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.manifest import (
    DataFile,
    DataFileContent,
    FileFormat,
    ManifestContent,
    ManifestEntry,
    ManifestEntryStatus,
    ManifestWriterV2,
    write_manifest_list,
)
from pyiceberg.table import Table
from pyiceberg.table.refs import MAIN_BRANCH, SnapshotRefType
from pyiceberg.table.snapshots import (
    Operation,
    Snapshot,
    SnapshotSummaryCollector,
    Summary,
    update_snapshot_summaries,
)
from pyiceberg.table.update import AddSnapshotUpdate, AssertRefSnapshotId, SetSnapshotRefUpdate
from pyiceberg.typedef import Record

from icehouse.errors import EqualityDeletesUnsupported, QueryError
from icehouse.lake import Lake
from icehouse.query.sql import run_sql
from icehouse.tables.append import fast_append
from icehouse.tables.writer import TableWriter
from tests import fixtures_lake
from tests.fixtures_lake import EVENTS, EVENTS_SCHEMA

home = fixtures_lake.home
lake = fixtures_lake.lake

FILE_PATH_ID = 2147483546  # Iceberg's reserved field ids of position delete files
POS_ID = 2147483545


# -- helpers shared with test_query_planner and test_query_explain -------------------------


def rows(first_id: int, count: int, *, day: int, **columns: Any) -> pa.Table:
    """``logs.events`` rows with ids ``first_id``… on June ``day`` 2024 (10:00 + id s)."""
    ids = list(range(first_id, first_id + count))
    micros = pa.array([_micros(day) + i * 1_000_000 for i in ids], pa.int64())
    data = {
        "ts": micros.cast(pa.timestamp("us", "UTC")),
        "id": ids,
        "country": ["de"] * count,
        "bytes": [100 * i for i in ids],
    }
    return pa.table({**data, **columns})


def _micros(day: int) -> int:
    return (19_874 + day) * 86_400_000_000 + 10 * 3_600_000_000  # 2024-06-<day> 10:00 UTC


def append_rows(lake: Lake, name: str, batch: pa.Table) -> list[DataFile]:
    """One append of ``batch``, written by icehouse's writer (one file per partition)."""
    table = fixtures_lake.iceberg_table(lake, name)
    writer = TableWriter(table)
    writer.write(batch)
    files = writer.close()
    fast_append(table, files, properties={})
    return files


class _DeleteManifestWriter(ManifestWriterV2):
    """PyIceberg 0.12 writes data manifests only; a delete manifest differs in its content."""

    def content(self) -> ManifestContent:
        return ManifestContent.DELETES

    @property
    def _meta(self) -> dict[str, str]:
        return {**super()._meta, "content": "deletes"}


def commit_delete_files(table: Table, delete_files: list[DataFile]) -> None:
    """Commit ``delete_files`` as a ``delete`` snapshot (one delete manifest per spec)."""
    metadata = table.metadata
    snapshot_id = metadata.new_snapshot_id()
    parent = table.current_snapshot()
    assert parent is not None
    sequence_number = metadata.next_sequence_number()
    locations = table.location_provider()
    tag = uuid.uuid4()
    manifests = []
    for spec_id in sorted({f.spec_id for f in delete_files}):
        manifest_path = locations.new_metadata_location(f"{tag}-deletes-{spec_id}.avro")
        with _DeleteManifestWriter(
            metadata.specs()[spec_id],
            table.schema(),
            table.io.new_output(manifest_path),
            snapshot_id,
            "deflate",
        ) as writer:
            for delete_file in delete_files:
                if delete_file.spec_id == spec_id:
                    writer.add(
                        ManifestEntry.from_args(
                            status=ManifestEntryStatus.ADDED,
                            snapshot_id=snapshot_id,
                            data_file=delete_file,
                        )
                    )
        manifests.append(writer.to_manifest_file())
    list_path = locations.new_metadata_location(f"snap-{snapshot_id}-0-{tag}.avro")
    with write_manifest_list(
        format_version=2,
        output_file=table.io.new_output(list_path),
        snapshot_id=snapshot_id,
        parent_snapshot_id=parent.snapshot_id,
        sequence_number=sequence_number,
        avro_compression="deflate",
    ) as list_writer:
        list_writer.add_manifests([*manifests, *parent.manifests(table.io)])
    collector = SnapshotSummaryCollector()
    for delete_file in delete_files:
        spec = metadata.specs()[delete_file.spec_id]
        collector.add_file(delete_file, schema=table.schema(), partition_spec=spec)
    summary = update_snapshot_summaries(
        Summary(operation=Operation.DELETE, **collector.build()), previous_summary=parent.summary
    )
    snapshot = Snapshot(
        snapshot_id=snapshot_id,
        parent_snapshot_id=parent.snapshot_id,
        manifest_list=list_path,
        sequence_number=sequence_number,
        summary=summary,
        schema_id=metadata.current_schema_id,
    )
    table.catalog.commit_table(
        table,
        (AssertRefSnapshotId(snapshot_id=parent.snapshot_id, ref=MAIN_BRANCH),),
        (
            AddSnapshotUpdate(snapshot=snapshot),
            SetSnapshotRefUpdate(
                snapshot_id=snapshot_id,
                parent_snapshot_id=parent.snapshot_id,
                ref_name=MAIN_BRANCH,
                type=SnapshotRefType.BRANCH,
            ),
        ),
    )


def position_delete_file(
    table: Table, data_file: DataFile, positions: list[int], *, path_bounds: bool = True
) -> DataFile:
    """A position delete file for ``positions`` of ``data_file``, written by DuckDB as
    Spark and DuckDB write them; with ``path_bounds`` its metrics name the data file (as
    Spark's do), else it applies by partition."""
    path = f"{table.location()}/data/deletes-{uuid.uuid4()}.parquet"
    local = path.removeprefix("file://")
    Path(local).parent.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect()
    try:
        conn.register("deleted", pa.table({"pos": positions}))
        conn.execute(
            f"COPY (SELECT ?::VARCHAR AS file_path, pos::BIGINT AS pos FROM deleted ORDER BY pos) "
            f"TO '{local}' (FORMAT parquet, "
            f"FIELD_IDS {{file_path: {FILE_PATH_ID}, pos: {POS_ID}}})",
            [data_file.file_path],
        )
    finally:
        conn.close()
    bounds = (
        {
            "lower_bounds": {FILE_PATH_ID: data_file.file_path.encode()},
            "upper_bounds": {FILE_PATH_ID: data_file.file_path.encode()},
        }
        if path_bounds
        else {}
    )
    return _delete_file(DataFileContent.POSITION_DELETES, path, data_file, len(positions), bounds)


def equality_delete_file(table: Table, data_file: DataFile, ids: list[int]) -> DataFile:
    """An equality delete file on ``id`` in ``data_file``'s partition."""
    path = f"{table.location()}/data/eq-deletes-{uuid.uuid4()}.parquet"
    id_field = table.schema().find_field("id")
    schema = pa.schema(
        [
            pa.field(
                "id",
                pa.int64(),
                nullable=False,
                metadata={"PARQUET:field_id": str(id_field.field_id)},
            )
        ]
    )
    pq.write_table(pa.table({"id": ids}, schema=schema), path.removeprefix("file://"))
    return _delete_file(
        DataFileContent.EQUALITY_DELETES,
        path,
        data_file,
        len(ids),
        {"equality_ids": [id_field.field_id]},
    )


def _delete_file(
    content: DataFileContent, path: str, data_file: DataFile, count: int, fields: dict[str, Any]
) -> DataFile:
    delete = DataFile.from_args(
        content=content,
        file_path=path,
        file_format=FileFormat.PARQUET,
        partition=Record(*data_file.partition),
        record_count=count,
        file_size_in_bytes=Path(path.removeprefix("file://")).stat().st_size,
        **fields,
    )
    delete.spec_id = data_file.spec_id
    return delete


# -- tests ---------------------------------------------------------------------------------


@pytest.fixture
def three_days(lake: Lake) -> dict[int, list[DataFile]]:
    """``logs.events`` with 100 rows on each of June 1-3 (ids 100·day … 100·day + 99)."""
    lake.tables.create(EVENTS, schema=EVENTS_SCHEMA, partition=["day(ts)"], sort="id")
    return {day: append_rows(lake, EVENTS, rows(100 * day, 100, day=day)) for day in (1, 2, 3)}


ALL = "SELECT id FROM logs.events ORDER BY id"
DAY_TWO = "SELECT id FROM logs.events WHERE ts >= '2024-06-02' AND ts < '2024-06-03' ORDER BY id"
ID_RANGE = "SELECT id FROM logs.events WHERE id >= 205 AND id < 215 ORDER BY id"


def ids_of(lake: Lake, sql: str, *, prune: bool = True) -> list[int]:
    return run_sql(fixtures_lake.catalog_of(lake), sql, prune=prune).table.column("id").to_pylist()


def test_position_deletes_written_by_another_engine_remove_their_rows(
    lake: Lake, three_days: dict[int, list[DataFile]]
) -> None:
    (day_two,) = three_days[2]
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    commit_delete_files(table, [position_delete_file(table, day_two, [0, 5, 10, 99])])

    expected = [i for i in range(100, 400) if i not in (200, 205, 210, 299)]
    assert ids_of(lake, ALL) == expected
    for sql in (ALL, DAY_TWO, ID_RANGE):
        assert ids_of(lake, sql) == ids_of(lake, sql, prune=False)
    assert ids_of(lake, DAY_TWO) == [i for i in range(200, 300) if i not in (200, 205, 210, 299)]
    assert ids_of(lake, ID_RANGE) == [i for i in range(206, 215) if i != 210]


def test_a_position_delete_file_without_path_bounds_applies_by_partition(
    lake: Lake, three_days: dict[int, list[DataFile]]
) -> None:
    (day_three,) = three_days[3]
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    commit_delete_files(table, [position_delete_file(table, day_three, [1, 2], path_bounds=False)])

    assert ids_of(lake, ALL) == [i for i in range(100, 400) if i not in (301, 302)]
    assert ids_of(lake, DAY_TWO) == list(range(200, 300))


def test_rows_appended_after_a_position_delete_are_not_deleted(
    lake: Lake, three_days: dict[int, list[DataFile]]
) -> None:
    (day_one,) = three_days[1]
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    commit_delete_files(table, [position_delete_file(table, day_one, [0, 1], path_bounds=False)])
    append_rows(lake, EVENTS, rows(1000, 3, day=1))  # a new file of the same partition

    assert ids_of(lake, "SELECT id FROM logs.events WHERE id < 103 OR id >= 1000 ORDER BY id") == [
        102,
        1000,
        1001,
        1002,
    ]


def test_equality_deletes_are_refused_naming_the_delete_file(
    lake: Lake, three_days: dict[int, list[DataFile]]
) -> None:
    (day_two,) = three_days[2]
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    delete = equality_delete_file(table, day_two, [201, 202])
    commit_delete_files(table, [delete])

    with pytest.raises(EqualityDeletesUnsupported) as raised:
        run_sql(fixtures_lake.catalog_of(lake), DAY_TWO)
    assert isinstance(raised.value, QueryError)
    assert raised.value.delete_file == delete.file_path
    assert raised.value.data_file == day_two.file_path
    assert delete.file_path in str(raised.value)
    assert "equality deletes are not supported yet" in str(raised.value)
    assert raised.value.sql == DAY_TWO


def test_equality_deletes_of_a_pruned_partition_do_not_stop_a_query(
    lake: Lake, three_days: dict[int, list[DataFile]]
) -> None:
    (day_two,) = three_days[2]
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    commit_delete_files(table, [equality_delete_file(table, day_two, [201])])

    sql = "SELECT count(*) AS n FROM logs.events WHERE ts >= '2024-06-03'"
    assert run_sql(fixtures_lake.catalog_of(lake), sql).table.to_pylist() == [{"n": 100}]
    with pytest.raises(EqualityDeletesUnsupported):
        run_sql(fixtures_lake.catalog_of(lake), sql, prune=False)


def test_equality_deletes_older_than_a_data_file_do_not_apply_to_it(
    lake: Lake, three_days: dict[int, list[DataFile]]
) -> None:
    (day_one,) = three_days[1]
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    commit_delete_files(table, [equality_delete_file(table, day_one, [100])])
    append_rows(lake, EVENTS, rows(1000, 2, day=1))  # same partition, committed later

    assert ids_of(lake, "SELECT id FROM logs.events WHERE id >= 1000 ORDER BY id") == [1000, 1001]
    with pytest.raises(EqualityDeletesUnsupported) as raised:
        run_sql(fixtures_lake.catalog_of(lake), "SELECT id FROM logs.events WHERE id < 1000")
    assert raised.value.data_file == day_one.file_path
