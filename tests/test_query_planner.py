"""icehouse's planner plans exactly what PyIceberg's ``plan_files()`` plans (the same data
files with the same delete files), across partition and schema evolution and delete
files, and reuses decoded manifests."""

from __future__ import annotations

from pathlib import Path

import pytest
from pyiceberg.expressions import (
    AlwaysTrue,
    And,
    BooleanExpression,
    EqualTo,
    GreaterThanOrEqual,
    In,
    IsNull,
    LessThan,
    NotNull,
)
from pyiceberg.table import FileScanTask, Table
from pyiceberg.typedef import Record

from icehouse.lake import Lake
from icehouse.query.sql import run_sql
from icehouse.tables.manifest_cache import ManifestCache
from icehouse.tables.scan import plan_scan
from tests import fixtures_lake
from tests.fixtures_lake import EVENTS, EVENTS_SCHEMA
from tests.test_query_deletes import (
    append_rows,
    commit_delete_files,
    position_delete_file,
    rows,
)

home = fixtures_lake.home
lake = fixtures_lake.lake

HOUR = 3_600_000_000
JUNE_2 = 1_717_286_400_000_000  # 2024-06-02 00:00 UTC in microseconds


def planned(
    tasks: tuple[FileScanTask, ...] | list[FileScanTask],
) -> set[tuple[str, frozenset[str]]]:
    return {(t.file.file_path, frozenset(d.file_path for d in t.delete_files)) for t in tasks}


def pyiceberg_plan(table: Table, row_filter: BooleanExpression) -> set[tuple[str, frozenset[str]]]:
    return planned(list(table.scan(row_filter=row_filter).plan_files()))


def assert_same_plans(table: Table, filters: list[BooleanExpression]) -> None:
    for row_filter in filters:
        ours = plan_scan(table, row_filter, cache=ManifestCache())
        assert planned(ours.tasks) == pyiceberg_plan(table, row_filter), row_filter
        assert ours.files_after_metrics_pruning <= ours.files_after_partition_pruning


@pytest.fixture
def evolved(lake: Lake) -> Table:
    """``logs.events`` through three partition specs, a renamed column and position
    deletes: day(ts) for June 1-2; hour(ts) + bucket(4, id) for June 2-3; unpartitioned
    for June 4; ``country`` renamed ``region`` before June 3's rows."""
    lake.tables.create(EVENTS, schema=EVENTS_SCHEMA, partition=["day(ts)"], sort="id")
    first = append_rows(lake, EVENTS, rows(100, 50, day=1))
    append_rows(lake, EVENTS, rows(200, 50, day=2, country=[None] * 50))
    lake.tables.alter(EVENTS, partition=["hour(ts)", "bucket(4, id)"])
    second = append_rows(lake, EVENTS, rows(300, 40, day=2))
    fixtures_lake.iceberg_table(lake, EVENTS).update_schema().rename_column(
        "country", "region"
    ).commit()
    renamed = rows(400, 40, day=3).rename_columns(["ts", "id", "region", "bytes"])
    append_rows(lake, EVENTS, renamed)
    spec = fixtures_lake.iceberg_table(lake, EVENTS).update_spec()
    spec.remove_field("ts_hour").remove_field("id_bucket").commit()
    append_rows(lake, EVENTS, rows(500, 30, day=4).rename_columns(["ts", "id", "region", "bytes"]))
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    commit_delete_files(
        table,
        [
            position_delete_file(table, first[0], [0, 1]),
            position_delete_file(table, second[0], [0]),
        ],
    )
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    commit_delete_files(table, [position_delete_file(table, second[1], [0], path_bounds=False)])
    return fixtures_lake.iceberg_table(lake, EVENTS)


FILTERS: list[BooleanExpression] = [
    AlwaysTrue(),
    And(GreaterThanOrEqual("ts", JUNE_2), LessThan("ts", JUNE_2 + 24 * HOUR)),
    And(GreaterThanOrEqual("ts", JUNE_2 + 10 * HOUR), LessThan("ts", JUNE_2 + 11 * HOUR)),
    EqualTo("id", 310),
    And(GreaterThanOrEqual("id", 320), LessThan("id", 420)),
    In("id", [105, 333, 512]),
    EqualTo("region", "de"),
    IsNull("region"),
    NotNull("region"),
    LessThan("ts", 0),
]


def test_plans_equal_pyicebergs_across_partition_and_schema_evolution_and_deletes(
    evolved: Table,
) -> None:
    assert len(evolved.metadata.specs()) == 3 and len(evolved.metadata.schemas) == 2
    assert any(t.delete_files for t in evolved.scan().plan_files())
    assert_same_plans(evolved, FILTERS)


def test_plans_equal_pyicebergs_for_an_older_snapshot(evolved: Table) -> None:
    snapshots = evolved.metadata.snapshots
    for snapshot in snapshots:
        for row_filter in FILTERS[:5]:
            ours = plan_scan(evolved, row_filter, snapshot_id=snapshot.snapshot_id)
            theirs = evolved.scan(row_filter=row_filter, snapshot_id=snapshot.snapshot_id)
            assert planned(ours.tasks) == planned(list(theirs.plan_files()))


def test_partition_pruning_works_in_each_spec_and_metrics_pruning_after_it(
    evolved: Table,
) -> None:
    plan = plan_scan(evolved, FILTERS[1])  # June 2: rows in the first two specs only
    assert {t.file.spec_id for t in plan.tasks} == {0, 1}
    assert plan.files_in_snapshot == len(list(evolved.scan().plan_files()))
    june_2_files = {
        t.file.file_path
        for t in evolved.scan().plan_files()
        if t.file.spec_id < 2 and _june_2(t.file.partition, t.file.spec_id)
    }
    assert {t.file.file_path for t in plan.tasks} == june_2_files
    # the unpartitioned June 4 file passes partition pruning; its ts bounds prune it
    assert plan.files_after_partition_pruning == len(plan.tasks) + 1


def _june_2(partition: Record, spec_id: int) -> bool:
    day = 19_876  # 2024-06-02 in days since 1970
    if spec_id == 0:
        return bool(partition[0] == day)
    return bool(day * 24 <= partition[0] < (day + 1) * 24)  # hours since 1970


@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id, region FROM logs.events ORDER BY id",
        "SELECT id FROM logs.events WHERE ts >= '2024-06-02' AND ts < '2024-06-03' ORDER BY id",
        "SELECT id FROM logs.events WHERE region = 'de' ORDER BY id",
        "SELECT count(*) AS n FROM logs.events WHERE region IS NULL",
        "SELECT id FROM logs.events WHERE id IN (100, 101, 102, 300, 301) ORDER BY id",
    ],
)
def test_pruned_and_unpruned_answers_match_on_the_evolved_table(
    lake: Lake, evolved: Table, sql: str
) -> None:
    pruned = run_sql(fixtures_lake.catalog_of(lake), sql).table
    assert pruned == run_sql(fixtures_lake.catalog_of(lake), sql, prune=False).table
    assert pruned.num_rows > 0


def test_the_evolved_table_reads_every_row_but_the_deleted_ones(lake: Lake, evolved: Table) -> None:
    answer = run_sql(
        fixtures_lake.catalog_of(lake), "SELECT id, region FROM logs.events ORDER BY id"
    ).table
    ids = answer.column("id").to_pylist()
    assert len(ids) == 50 + 50 + 40 + 40 + 30 - 4
    assert {100, 101} & set(ids) == set()
    assert (
        answer.filter(answer.column("id").to_numpy() >= 400).column("region").to_pylist()
        == ["de"] * 70
    )


def test_decoded_manifests_are_reused_from_the_cache(lake: Lake, evolved: Table) -> None:
    cache = ManifestCache()
    first = plan_scan(evolved, FILTERS[1], cache=cache)
    snapshot = evolved.current_snapshot()
    assert snapshot is not None
    for manifest in snapshot.manifests(evolved.io):  # gone from disk: only the cache has them
        Path(manifest.manifest_path.removeprefix("file://")).unlink()
    Path(snapshot.manifest_list.removeprefix("file://")).unlink()

    again = plan_scan(evolved, FILTERS[1], cache=cache)
    assert planned(again.tasks) == planned(first.tasks)
    with pytest.raises(FileNotFoundError):
        plan_scan(evolved, FILTERS[1], cache=ManifestCache())


def test_a_cache_holds_at_most_its_bound_of_entries(evolved: Table) -> None:
    cache = ManifestCache(max_entries=3)
    plan = plan_scan(evolved, AlwaysTrue(), cache=cache)
    assert planned(plan.tasks) == pyiceberg_plan(evolved, AlwaysTrue())
    assert cache.entries_held <= 3
