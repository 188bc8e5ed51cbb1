"""Tables: create with every transform, describe, evolve, and the layout of written files."""

from __future__ import annotations

import base64
import random
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pyiceberg.types import LongType, StringType

from icehouse.errors import (
    InvalidInput,
    InvalidPartitionSpec,
    InvalidSchema,
    NoSuchTable,
    TableAlreadyExists,
)
from icehouse.lake import Lake
from tests import fixtures_lake
from tests.fixtures_lake import (
    EVENTS,
    EVENTS_SCHEMA,
    add_source,
    data_files,
    event,
    ids,
    write_jsonl,
)

home, lake, landing = fixtures_lake.home, fixtures_lake.lake, fixtures_lake.landing

ROWS = [
    {"ts": "2023-12-31T23:30:00Z", "id": 1, "country": "de", "bytes": 10},
    {"ts": "2024-06-01T10:15:00Z", "id": 2, "country": "us", "bytes": 20},
    {"ts": "2024-06-01T11:45:00Z", "id": 3, "country": "de", "bytes": 30},
    {"ts": "2024-06-01T11:50:00Z", "id": 17, "country": "fr", "bytes": 40},
]


def local(path: str) -> str:
    return path.removeprefix("file://")


def ingest_rows(lake: Lake, landing: Path, rows: list[dict], *, name: str = "a.jsonl") -> None:
    """Land ``rows`` as one JSON-lines file of source ``src`` (declared on first use)."""
    write_jsonl(landing / name, rows)
    if "src" not in lake.config.sources:
        add_source(lake, "src", landing)
    report = lake.ingest()
    assert report.rows == len(rows)


def partitions(lake: Lake, table: str = EVENTS) -> dict[object, int]:
    """{partition value (single-field specs): rows in it}, over the current data files."""
    counts: dict[object, int] = {}
    for f in data_files(fixtures_lake.iceberg_table(lake, table)):
        (value,) = f["partition"].values()
        counts[value] = counts.get(value, 0) + f["record_count"]
    return counts


# --- every transform writes the right partition values ----------------------------------


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("country", {"de": 2, "us": 1, "fr": 1}),
        ("identity(country)", {"de": 2, "us": 1, "fr": 1}),
        # Iceberg stores years/months/hours since 1970 and days as dates.
        ("year(ts)", {2023 - 1970: 1, 2024 - 1970: 3}),
        ("month(ts)", {(2023 - 1970) * 12 + 11: 1, (2024 - 1970) * 12 + 5: 3}),
        ("day(ts)", {date(2023, 12, 31): 1, date(2024, 6, 1): 3}),
        ("days(ts)", {date(2023, 12, 31): 1, date(2024, 6, 1): 3}),
        (
            "hour(ts)",
            {
                int(datetime(2023, 12, 31, 23, tzinfo=UTC).timestamp()) // 3600: 1,
                int(datetime(2024, 6, 1, 10, tzinfo=UTC).timestamp()) // 3600: 1,
                int(datetime(2024, 6, 1, 11, tzinfo=UTC).timestamp()) // 3600: 2,
            },
        ),
        ("truncate(1, country)", {"d": 2, "u": 1, "f": 1}),
        ("truncate(10, id)", {0: 3, 10: 1}),
    ],
)
def test_ingested_rows_land_in_the_partition_their_transform_gives(lake, landing, spec, expected):
    lake.tables.create(EVENTS, schema=EVENTS_SCHEMA, partition=[spec])
    ingest_rows(lake, landing, ROWS)
    assert partitions(lake) == expected
    assert ids(lake) == [1, 2, 3, 17]


@pytest.mark.parametrize(
    ("column", "iceberg_type"), [("id", LongType()), ("country", StringType())]
)
def test_bucket_partitions_match_icebergs_murmur3_bucket_of_each_row(
    lake, landing, column, iceberg_type
):
    from pyiceberg.transforms import BucketTransform

    lake.tables.create(EVENTS, schema=EVENTS_SCHEMA, partition=[f"bucket(4, {column})"])
    ingest_rows(lake, landing, ROWS)
    bucket = BucketTransform(4).transform(iceberg_type)
    files = data_files(fixtures_lake.iceberg_table(lake, EVENTS))
    assert sum(f["record_count"] for f in files) == 4
    assert len(files) >= 2
    for f in files:
        values = pq.read_table(local(f["file_path"])).column(column).to_pylist()
        assert {bucket(v) for v in values} == {f["partition"][f"{column}_bucket"]}


def test_two_partition_fields_combine(lake, landing):
    lake.tables.create(EVENTS, schema=EVENTS_SCHEMA, partition=["day(ts)", "truncate(1, country)"])
    ingest_rows(lake, landing, ROWS)
    found = {
        (f["partition"]["ts_day"], f["partition"]["country_trunc"]): f["record_count"]
        for f in data_files(fixtures_lake.iceberg_table(lake, EVENTS))
    }
    assert found == {
        (date(2023, 12, 31), "d"): 1,
        (date(2024, 6, 1), "u"): 1,
        (date(2024, 6, 1), "d"): 1,
        (date(2024, 6, 1), "f"): 1,
    }


def test_files_live_in_hive_style_partition_folders_by_default(lake, landing):
    lake.tables.create(EVENTS, schema=EVENTS_SCHEMA, partition=["day(ts)"])
    ingest_rows(lake, landing, ROWS)
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    folders = {
        f["file_path"].removeprefix(table.location() + "/").rsplit("/", 1)[0]
        for f in data_files(table)
    }
    assert folders == {"data/ts_day=2023-12-31", "data/ts_day=2024-06-01"}


def test_object_storage_layout_puts_files_under_a_hashed_prefix(lake, landing):
    lake.tables.create(
        EVENTS,
        schema=EVENTS_SCHEMA,
        partition=["day(ts)"],
        properties={"write.object-storage.enabled": "true"},
    )
    ingest_rows(lake, landing, ROWS)
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    relative = [f["file_path"].removeprefix(table.location() + "/") for f in data_files(table)]
    assert len(relative) == 2
    hashed = re.compile(
        r"^data/[01]{4}/[01]{4}/[01]{4}/[01]{8}/ts_day=2\d{3}-\d\d-\d\d/[^/]+\.parquet$"
    )
    assert all(hashed.match(p) for p in relative), relative
    assert len({p.split("/ts_day=")[0] for p in relative}) == 2  # one hash per file


# --- creating: defaults, errors ------------------------------------------------------------


def test_new_tables_get_icehouse_defaults(lake):
    lake.tables.create(EVENTS, schema=EVENTS_SCHEMA)
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    properties = table.metadata.properties
    assert properties["write.parquet.compression-codec"] == "zstd"
    assert properties["write.target-file-size-bytes"] == str(128 * 1024 * 1024)
    assert properties["write.metadata.delete-after-commit.enabled"] == "true"
    assert properties["write.metadata.previous-versions-max"] == "10"
    assert table.metadata.format_version == 2


def test_given_properties_win_over_defaults(lake):
    table = lake.tables.create(
        EVENTS,
        schema=EVENTS_SCHEMA,
        properties={"write.parquet.compression-codec": "snappy", "owner": "ops"},
    )
    assert table.properties["write.parquet.compression-codec"] == "snappy"
    assert table.properties["owner"] == "ops"


def test_data_files_are_zstd_parquet(lake, landing):
    lake.tables.create(EVENTS, schema=EVENTS_SCHEMA, partition=["day(ts)"])
    ingest_rows(lake, landing, ROWS)
    for f in data_files(fixtures_lake.iceberg_table(lake, EVENTS)):
        metadata = pq.ParquetFile(local(f["file_path"])).metadata
        codecs = {
            metadata.row_group(g).column(c).compression
            for g in range(metadata.num_row_groups)
            for c in range(metadata.num_columns)
        }
        assert codecs == {"ZSTD"}


def test_old_metadata_files_are_deleted_beyond_previous_versions_max(lake, landing):
    lake.tables.create(
        EVENTS,
        schema=EVENTS_SCHEMA,
        properties={"write.metadata.previous-versions-max": "3", **fixtures_lake.NO_READER_GRACE},
    )
    for n in range(6):
        ingest_rows(lake, landing, [event(n)], name=f"f{n}.jsonl")
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    metadata_dir = Path(local(table.location())) / "metadata"
    kept = sorted(metadata_dir.glob("*.metadata.json"))
    assert len(table.metadata.snapshots) == 6
    assert len(kept) == 4  # the current one and 3 previous versions
    assert len(table.metadata.metadata_log) == 3


def test_creating_a_table_twice_is_a_conflict(lake):
    lake.tables.create(EVENTS, schema=EVENTS_SCHEMA)
    with pytest.raises(TableAlreadyExists, match=r"table 'logs\.events' already exists"):
        lake.tables.create(EVENTS, schema=EVENTS_SCHEMA)


def test_partitioning_by_an_unknown_column_names_the_columns(lake):
    with pytest.raises(InvalidPartitionSpec) as caught:
        lake.tables.create(EVENTS, schema=EVENTS_SCHEMA, partition=["day(when)"])
    assert caught.value.message == (
        "no column 'when' in the schema (columns: ts, id, country, bytes)"
    )


def test_a_time_transform_on_a_number_is_refused(lake):
    with pytest.raises(InvalidPartitionSpec, match=r"cannot partition by day\(id\): id is long"):
        lake.tables.create(EVENTS, schema=EVENTS_SCHEMA, partition=["day(id)"])


def test_sorting_by_an_unknown_column_is_refused(lake):
    with pytest.raises(InvalidInput, match="no column 'nope' in the schema"):
        lake.tables.create(EVENTS, schema=EVENTS_SCHEMA, sort="nope")


def test_a_table_name_needs_a_namespace(lake):
    with pytest.raises(InvalidInput, match=r"namespace\.table .*got 'events'"):
        lake.tables.create("events", schema=EVENTS_SCHEMA)


def test_a_missing_table_says_how_to_create_it(lake):
    lake.tables.create(EVENTS, schema=EVENTS_SCHEMA)
    with pytest.raises(NoSuchTable) as caught:
        fixtures_lake.iceberg_table(lake, "logs.nope")
    assert caught.value.message == (
        "no table 'logs.nope'; tables in 'logs': logs.events. "
        "Create it with `icehouse table create logs.nope ...`"
    )


# --- describe ------------------------------------------------------------------------------


def test_describe_table_reports_schema_specs_sort_and_totals(lake, landing):
    lake.tables.create(
        EVENTS,
        schema=EVENTS_SCHEMA,
        partition=["day(ts)", "bucket(8, id)"],
        sort="country, ts DESC NULLS LAST",
    )
    ingest_rows(lake, landing, ROWS)
    info = lake.tables.get(EVENTS)
    assert info.name == EVENTS
    assert info.schema == [
        {"id": 1, "name": "ts", "type": "timestamptz", "required": True},
        {"id": 2, "name": "id", "type": "long", "required": True},
        {"id": 3, "name": "country", "type": "string", "required": False},
        {"id": 4, "name": "bytes", "type": "long", "required": False},
    ]
    assert info.partition_specs == [{"spec_id": 0, "fields": ["day(ts)", "bucket[8](id)"]}]
    assert info.current_spec_id == 0
    assert info.sort_order == ["country ASC NULLS FIRST", "ts DESC NULLS LAST"]
    assert info.rows == 4
    assert info.snapshots == 1
    assert info.data_files == len(data_files(fixtures_lake.iceberg_table(lake, EVENTS)))
    assert info.total_bytes == sum(
        f["file_size_in_bytes"] for f in data_files(fixtures_lake.iceberg_table(lake, EVENTS))
    )
    assert info.properties["write.parquet.compression-codec"] == "zstd"


def test_describe_an_empty_table_has_no_snapshot_and_zero_totals(lake):
    lake.tables.create(EVENTS, schema=EVENTS_SCHEMA)
    info = lake.tables.get(EVENTS)
    assert (info.snapshots, info.current_snapshot_id, info.rows, info.data_files) == (0, None, 0, 0)
    assert info.partition_specs == [{"spec_id": 0, "fields": []}]
    assert info.sort_order == []


# --- evolution -----------------------------------------------------------------------------


def test_partition_evolution_keeps_old_files_on_the_old_spec(lake, landing):
    lake.tables.create(EVENTS, schema=EVENTS_SCHEMA, partition=["day(ts)"])
    ingest_rows(lake, landing, [event(1, day=1), event(2, day=2)], name="old.jsonl")
    lake.tables.alter(EVENTS, partition=["day(ts)", "bucket(4, id)"])
    ingest_rows(lake, landing, [event(3, day=1), event(4, day=3)], name="new.jsonl")

    table = fixtures_lake.iceberg_table(lake, EVENTS)
    by_spec: dict[int, list[dict]] = {}
    for f in data_files(table):
        by_spec.setdefault(f["spec_id"], []).append(f)
    assert sorted(sum(f["record_count"] for f in fs) for fs in by_spec.values()) == [2, 2]
    old_ids = {
        i for f in by_spec[0] for i in pq.read_table(local(f["file_path"])).column("id").to_pylist()
    }
    assert old_ids == {1, 2}
    assert all(set(f["partition"]) == {"ts_day", "id_bucket"} for f in by_spec[1])
    assert ids(lake) == [1, 2, 3, 4]
    info = lake.tables.get(EVENTS)
    assert info.current_spec_id == 1
    assert [s["fields"] for s in info.partition_specs] == [
        ["day(ts)"],
        ["day(ts)", "bucket[4](id)"],
    ]


def test_replacing_a_partition_field_drops_it_from_the_new_spec(lake, landing):
    lake.tables.create(EVENTS, schema=EVENTS_SCHEMA, partition=["day(ts)"])
    ingest_rows(lake, landing, [event(1, day=1, hour=3)], name="old.jsonl")
    lake.tables.alter(EVENTS, partition=["hour(ts)"])
    ingest_rows(lake, landing, [event(2, day=1, hour=4)], name="new.jsonl")
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    assert [f.name for f in table.spec().fields] == ["ts_hour"]
    new = [f for f in data_files(table) if f["spec_id"] == table.spec().spec_id]
    assert [f["partition"]["ts_hour"] for f in new] == [
        int(datetime(2024, 6, 1, 4, tzinfo=UTC).timestamp()) // 3600
    ]
    assert rows_by_id(lake) == {1: date(2024, 6, 1), 2: date(2024, 6, 1)}


def rows_by_id(lake: Lake) -> dict[int, date]:
    return {
        r["id"]: r["ts"].date()
        for r in lake.sql(f"SELECT id, ts FROM {EVENTS} ORDER BY id").to_pylist()
    }


def test_an_added_column_is_null_for_old_rows_and_filled_for_new_ones(lake, landing):
    lake.tables.create(EVENTS, schema=EVENTS_SCHEMA, partition=["day(ts)"])
    ingest_rows(lake, landing, [event(1)], name="old.jsonl")
    lake.tables.alter(EVENTS, add_columns=[("referrer", "string")])
    assert (
        fixtures_lake.iceberg_table(lake, EVENTS).schema().find_field("referrer").field_type
        == StringType()
    )
    ingest_rows(lake, landing, [event(2, referrer="https://example.org/")], name="new.jsonl")
    rows = lake.sql(f"SELECT id, referrer FROM {EVENTS} ORDER BY id").to_pylist()
    assert rows == [{"id": 1, "referrer": None}, {"id": 2, "referrer": "https://example.org/"}]


def test_an_added_column_reads_as_null_before_any_file_has_it(lake, landing):
    lake.tables.create(EVENTS, schema=EVENTS_SCHEMA)
    ingest_rows(lake, landing, [event(1), event(2)])
    lake.tables.alter(EVENTS, add_columns=[("referrer", "string")])
    assert lake.sql(f"SELECT id, referrer FROM {EVENTS} ORDER BY id").to_pylist() == [
        {"id": 1, "referrer": None},
        {"id": 2, "referrer": None},
    ]


def test_sql_over_an_empty_table_has_the_columns_and_no_rows(lake):
    lake.tables.create(EVENTS, schema=EVENTS_SCHEMA)
    result = lake.sql(f"SELECT * FROM {EVENTS}")
    assert (result.column_names, result.num_rows) == (["ts", "id", "country", "bytes"], 0)


def test_sql_on_an_unknown_table_is_a_query_error_listing_the_tables(lake):
    from icehouse.errors import QueryError

    lake.tables.create(EVENTS, schema=EVENTS_SCHEMA)
    with pytest.raises(QueryError) as caught:
        lake.sql("SELECT * FROM logs.nope")
    assert caught.value.message.startswith("no table logs.nope")
    assert "logs.events" in caught.value.message
    assert caught.value.sql == "SELECT * FROM logs.nope"


def test_an_int_column_widens_to_long_and_keeps_its_values(lake, landing):
    lake.tables.create(EVENTS, schema=EVENTS_SCHEMA | {"status": "int"})
    ingest_rows(lake, landing, [event(1, status=200)], name="old.jsonl")
    lake.tables.alter(EVENTS, widen=[("status", "long")])
    assert (
        fixtures_lake.iceberg_table(lake, EVENTS).schema().find_field("status").field_type
        == LongType()
    )
    ingest_rows(lake, landing, [event(2, status=5_000_000_000)], name="new.jsonl")
    rows = lake.sql(f"SELECT id, status FROM {EVENTS} ORDER BY id").to_pylist()
    assert rows == [{"id": 1, "status": 200}, {"id": 2, "status": 5_000_000_000}]


def test_narrowing_a_column_is_refused_and_changes_nothing(lake):
    lake.tables.create(EVENTS, schema=EVENTS_SCHEMA)
    with pytest.raises(InvalidSchema) as caught:
        lake.tables.alter(EVENTS, widen=[("bytes", "int")])
    assert caught.value.message == (
        "cannot change bytes from long to int: Iceberg allows only int→long, "
        "float→double and wider decimal precision"
    )
    assert (
        fixtures_lake.iceberg_table(lake, EVENTS).schema().find_field("bytes").field_type
        == LongType()
    )


def test_changing_a_column_to_an_unrelated_type_is_refused(lake):
    lake.tables.create(EVENTS, schema=EVENTS_SCHEMA)
    with pytest.raises(InvalidSchema, match="cannot change country from string to long"):
        lake.tables.alter(EVENTS, widen=[("country", "long")])


WIDENING_SCHEMA = EVENTS_SCHEMA | {"n": "int", "f": "float", "d": "decimal(10, 2)"}


@pytest.mark.parametrize(
    ("column", "wider", "expected"),
    [
        ("n", "long", "long"),
        ("f", "double", "double"),
        ("d", "decimal(12, 2)", "decimal(12, 2)"),
    ],
)
def test_every_iceberg_type_widening_is_allowed(lake, column, wider, expected):
    lake.tables.create(EVENTS, schema=WIDENING_SCHEMA)
    lake.tables.alter(EVENTS, widen=[(column, wider)])
    (found,) = [c for c in lake.tables.get(EVENTS).schema if c["name"] == column]
    assert found["type"] == expected


@pytest.mark.parametrize(
    ("column", "other"),
    [
        ("bytes", "int"),
        ("f", "int"),
        ("n", "double"),
        ("d", "decimal(9, 2)"),
        ("d", "decimal(12, 3)"),
        ("country", "long"),
    ],
)
def test_type_changes_iceberg_does_not_allow_are_refused(lake, column, other):
    lake.tables.create(EVENTS, schema=WIDENING_SCHEMA)
    with pytest.raises(InvalidSchema, match=f"cannot change {column} from "):
        lake.tables.alter(EVENTS, widen=[(column, other)])


def test_adding_a_column_that_exists_is_refused_as_invalid_schema(lake):
    lake.tables.create(EVENTS, schema=EVENTS_SCHEMA)
    with pytest.raises(InvalidSchema, match="country"):
        lake.tables.alter(EVENTS, add_columns=[("country", "string")])


def test_evolving_to_a_partition_on_an_unknown_column_is_refused(lake):
    lake.tables.create(EVENTS, schema=EVENTS_SCHEMA, partition=["day(ts)"])
    with pytest.raises(InvalidPartitionSpec, match="nope"):
        lake.tables.alter(EVENTS, partition=["day(nope)"])
    assert lake.tables.get(EVENTS).current_spec_id == 0


def test_widening_an_unknown_column_names_the_columns(lake):
    lake.tables.create(EVENTS, schema=EVENTS_SCHEMA)
    with pytest.raises(InvalidSchema, match=r"no column 'nope' in the schema \(columns: ts, id"):
        lake.tables.alter(EVENTS, widen=[("nope", "long")])


# --- layout of written files ---------------------------------------------------------------


def test_rows_are_sorted_by_the_sort_order_within_each_file(lake, landing):
    lake.tables.create(
        EVENTS,
        schema=EVENTS_SCHEMA,
        partition=["day(ts)"],
        sort="country, id DESC NULLS LAST",
    )
    rnd = random.Random(3)
    countries = ["de", "us", "fr", None]
    rows = [
        event(i, day=1 + i % 2, hour=rnd.randrange(24), country=rnd.choice(countries))
        for i in rnd.sample(range(1, 1000), 300)
    ]
    ingest_rows(lake, landing, rows)
    files = data_files(fixtures_lake.iceberg_table(lake, EVENTS))
    assert len(files) == 2
    for f in files:
        written = pq.read_table(local(f["file_path"])).select(["country", "id"]).to_pylist()
        keys = [(r["country"] is not None, r["country"] or "", -r["id"]) for r in written]
        assert keys == sorted(keys)  # nulls first, then country ascending, id descending
        assert written[0]["country"] is None


def test_a_new_sort_order_applies_to_files_written_after_it(lake, landing):
    lake.tables.create(EVENTS, schema=EVENTS_SCHEMA, sort="id")
    ingest_rows(lake, landing, [event(i) for i in (2, 3, 1)], name="old.jsonl")
    lake.tables.alter(EVENTS, sort="id DESC")
    ingest_rows(lake, landing, [event(i) for i in (20, 30, 10)], name="new.jsonl")
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    assert lake.tables.get(EVENTS).sort_order == ["id DESC NULLS LAST"]
    written = {
        tuple(pq.read_table(local(task.file.file_path)).column("id").to_pylist()):
        task.file.sort_order_id
        for task in table.scan().plan_files()
    }  # fmt: skip
    assert written == {(1, 2, 3): 1, (30, 20, 10): table.sort_order().order_id}
    assert table.sort_order().order_id != 1


def test_data_files_are_cut_at_the_target_size_measured_on_disk(lake, landing):
    target, row_group_rows = 200_000, 200
    lake.tables.create(
        "t.blobs",
        schema={"id": "long!", "payload": "string"},
        properties={
            "write.target-file-size-bytes": str(target),
            "write.parquet.row-group-limit": str(row_group_rows),
        },
    )
    rnd = random.Random(1)
    rows = [
        {"id": i, "payload": base64.b64encode(rnd.randbytes(150)).decode()} for i in range(8000)
    ]
    write_jsonl(landing / "blobs.jsonl", rows)
    add_source(lake, "blobs", landing, table="t.blobs")
    assert lake.ingest().rows == 8000
    files = sorted(
        data_files(fixtures_lake.iceberg_table(lake, "t.blobs")), key=lambda f: f["file_path"]
    )
    sizes = [Path(local(f["file_path"])).stat().st_size for f in files]
    assert sizes == [f["file_size_in_bytes"] for f in files]  # recorded size is the real one
    assert len(sizes) >= 5
    # Every file but the last reaches the target and overshoots by less than a row group.
    row_group_bytes = max(
        row_group_size_on_disk(pq.ParquetFile(local(f["file_path"])).metadata) for f in files
    )
    for size in sizes[:-1]:
        assert target <= size < target + 2 * row_group_bytes
    assert sizes[-1] < target + 2 * row_group_bytes
    assert sum(f["record_count"] for f in files) == 8000


def row_group_size_on_disk(metadata: pq.FileMetaData) -> int:
    group = metadata.row_group(0)
    return sum(group.column(c).total_compressed_size for c in range(group.num_columns))


def test_a_table_loaded_again_sees_a_commit_made_through_another_catalog(lake, landing, home):
    lake.tables.create(EVENTS, schema=EVENTS_SCHEMA, partition=["day(ts)"])
    ingest_rows(lake, landing, ROWS[:2])
    first = fixtures_lake.iceberg_table(lake, EVENTS)
    with Lake.open(home) as other:  # another catalog: another process, say
        ingest_rows(other, landing, ROWS[2:], name="b.jsonl")
    again = fixtures_lake.iceberg_table(lake, EVENTS)
    assert again.metadata_location != first.metadata_location
    assert again.current_snapshot().snapshot_id != first.current_snapshot().snapshot_id
    assert lake.sql(f"SELECT count(*) AS n FROM {EVENTS}").to_pylist() == [{"n": 4}]
    assert (
        fixtures_lake.iceberg_table(lake, EVENTS).metadata is again.metadata
    )  # parsed once, then kept
