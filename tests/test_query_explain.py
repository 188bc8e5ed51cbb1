"""``explain`` counts what each pruning step left, exactly, on a table built to known shape.

``logs.events`` holds June 1-3, two files a day of 300 rows sorted by id, three row
groups of 100 rows each (``write.parquet.row-group-limit = 100``); day ``d``'s first file
has ids 1000·d … 1000·d + 299, its second the next 300. ``country`` is 'de' but for the
first row group of June 1's first file and all of June 3's second file, where it is null.
"""

from __future__ import annotations

import pyarrow.parquet as pq
import pytest
from pyiceberg.manifest import DataFile

from icehouse.lake import Lake
from icehouse.query.sql import TablePlan, run_sql
from tests import fixtures_lake
from tests.fixtures_lake import EVENTS, EVENTS_SCHEMA
from tests.test_query_deletes import append_rows, rows

home = fixtures_lake.home
lake = fixtures_lake.lake

ALL_COLUMNS = ("ts", "id", "country", "bytes")


@pytest.fixture
def files(lake: Lake) -> dict[tuple[int, int], DataFile]:
    """(day, 0 or 1) → that day's first or second data file."""
    lake.tables.create(
        EVENTS,
        schema=EVENTS_SCHEMA,
        partition=["day(ts)"],
        sort="id",
        properties={"write.parquet.row-group-limit": "100"},
    )
    written = {}
    for day in (1, 2, 3):
        for half in (0, 1):
            first = 1000 * day + 300 * half
            country = ["de"] * 300
            if (day, half) == (1, 0):
                country = [None] * 100 + ["de"] * 200
            if (day, half) == (3, 1):
                country = [None] * 300
            (written[day, half],) = append_rows(
                lake, EVENTS, rows(first, 300, day=day, country=country)
            )
    return written


def explain(lake: Lake, sql: str) -> TablePlan:
    result = run_sql(fixtures_lake.catalog_of(lake), sql, explain=True)
    assert result.table == run_sql(fixtures_lake.catalog_of(lake), sql, prune=False).table
    (plan,) = result.plans
    return plan


def chunk_bytes(data_file: DataFile, row_groups: list[int], columns: tuple[str, ...]) -> int:
    """Compressed bytes of ``columns`` in ``row_groups`` of a file, from its footer."""
    metadata = pq.read_metadata(data_file.file_path.removeprefix("file://"))
    return sum(
        metadata.row_group(g).column(c).total_compressed_size
        for g in row_groups
        for c in range(metadata.num_columns)
        if metadata.row_group(g).column(c).path_in_schema in columns
    )


def counts(plan: TablePlan) -> tuple[int, ...]:
    return (
        plan.files_in_snapshot,
        plan.files_after_partition_pruning,
        plan.files_after_metrics_pruning,
        plan.files_planned,
        plan.row_groups_read or 0,
        plan.row_groups_skipped or 0,
    )


def test_the_table_has_the_shape_the_tests_assume(files: dict[tuple[int, int], DataFile]) -> None:
    for data_file in files.values():
        metadata = pq.read_metadata(data_file.file_path.removeprefix("file://"))
        assert [metadata.row_group(g).num_rows for g in range(3)] == [100, 100, 100]
        assert metadata.num_row_groups == 3


def test_a_one_day_filter_leaves_that_days_two_files(
    lake: Lake, files: dict[tuple[int, int], DataFile]
) -> None:
    sql = "SELECT count(*) AS n FROM logs.events WHERE ts >= '2024-06-02' AND ts < '2024-06-03'"
    plan = explain(lake, sql)
    assert counts(plan) == (6, 2, 2, 2, 6, 0)
    day_two = [files[2, 0], files[2, 1]]
    assert plan.bytes_planned == sum(f.file_size_in_bytes for f in day_two)
    assert plan.bytes_read == sum(chunk_bytes(f, [0, 1, 2], ("ts",)) for f in day_two)


def test_an_id_range_in_one_day_leaves_one_file_and_skips_a_row_group(
    lake: Lake, files: dict[tuple[int, int], DataFile]
) -> None:
    sql = (
        "SELECT id, bytes FROM logs.events WHERE ts >= '2024-06-02' AND ts < '2024-06-03' "
        "AND id >= 2350 AND id < 2420"
    )
    plan = explain(lake, sql)
    assert counts(plan) == (6, 2, 1, 1, 2, 1)
    assert plan.bytes_planned == files[2, 1].file_size_in_bytes
    assert plan.bytes_read == chunk_bytes(files[2, 1], [0, 1], ("ts", "id", "bytes"))


def test_select_star_reads_every_column_of_the_row_groups_read(
    lake: Lake, files: dict[tuple[int, int], DataFile]
) -> None:
    plan = explain(lake, "SELECT * FROM logs.events WHERE id >= 3450 AND id < 3460")
    assert counts(plan) == (6, 6, 1, 1, 1, 2)
    assert plan.bytes_read == chunk_bytes(files[3, 1], [1], ALL_COLUMNS)


def test_null_counts_prune_files_and_row_groups(
    lake: Lake, files: dict[tuple[int, int], DataFile]
) -> None:
    plan = explain(lake, "SELECT count(*) AS n FROM logs.events WHERE country IS NULL")
    assert counts(plan) == (6, 6, 2, 2, 4, 2)  # June 1's first group; all of June 3's second
    plan = explain(lake, "SELECT count(*) AS n FROM logs.events WHERE country = 'de'")
    assert counts(plan) == (6, 6, 5, 5, 14, 1)  # the all-null file, the all-null group


def test_a_query_without_filter_reads_every_row_group_and_no_column_for_a_count(
    lake: Lake, files: dict[tuple[int, int], DataFile]
) -> None:
    plan = explain(lake, "SELECT count(*) AS n FROM logs.events")
    assert counts(plan) == (6, 6, 6, 6, 18, 0)
    assert plan.bytes_read == 0
    assert plan.pushed_filter == "none"


def test_a_join_counts_the_columns_either_side_references(
    lake: Lake, files: dict[tuple[int, int], DataFile]
) -> None:
    sql = (
        "SELECT a.id FROM logs.events a JOIN logs.events b ON a.id = b.id + 1 "
        "WHERE a.country = 'de'"
    )
    (plan,) = run_sql(
        fixtures_lake.catalog_of(lake), sql, explain=True
    ).plans  # one table, one plan
    assert counts(plan) == (6, 6, 6, 6, 18, 0)  # not a single-table query: nothing pushed
    assert plan.bytes_read == sum(
        chunk_bytes(f, [0, 1, 2], ("id", "country")) for f in files.values()
    )


def test_without_explain_no_footer_is_read(
    lake: Lake, files: dict[tuple[int, int], DataFile]
) -> None:
    (plan,) = run_sql(
        fixtures_lake.catalog_of(lake), "SELECT count(*) AS n FROM logs.events WHERE id < 1100"
    ).plans
    assert (plan.files_planned, plan.files_after_partition_pruning) == (1, 6)
    assert plan.row_groups_read is None and plan.row_groups_skipped is None
    assert plan.bytes_read is None and plan.footer_seconds is None


def test_time_travel_explains_the_older_snapshot_read_whole_by_pyiceberg(
    lake: Lake, files: dict[tuple[int, int], DataFile]
) -> None:
    first = fixtures_lake.iceberg_table(lake, EVENTS).metadata.snapshots[0].snapshot_id
    sql = f"SELECT count(*) AS n FROM logs.events FOR VERSION AS OF {first}"
    result = run_sql(fixtures_lake.catalog_of(lake), sql, explain=True)
    assert result.table.to_pylist() == [{"n": 300}]
    (plan,) = result.plans
    assert plan.table == f"logs.events@{first}"
    assert counts(plan) == (1, 1, 1, 1, 3, 0)
    assert plan.bytes_read == chunk_bytes(files[1, 0], [0, 1, 2], ALL_COLUMNS)


def test_files_read_through_pyiceberg_count_every_column(
    lake: Lake, files: dict[tuple[int, int], DataFile]
) -> None:
    fixtures_lake.iceberg_table(lake, EVENTS).update_schema().rename_column(
        "bytes", "size"
    ).commit()
    plan = explain(lake, "SELECT count(*) AS n FROM logs.events WHERE id >= 3450 AND id < 3460")
    assert counts(plan) == (6, 6, 1, 1, 1, 2)
    assert plan.bytes_read == chunk_bytes(files[3, 1], [1], ALL_COLUMNS)
