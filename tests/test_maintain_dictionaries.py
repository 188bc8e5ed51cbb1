"""Compaction carries few-valued string columns as Arrow dictionaries from the files it
reads to the files it writes: same rows, same statistics, still dictionary-encoded
Parquet, and plain strings to every reader."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.table import Table

from icehouse.lake import Lake
from icehouse.maintain.compact_plan import CompactOptions, plan_groups
from icehouse.maintain.group_io import read_group
from icehouse.tables.append import fast_append
from icehouse.tables.dictionaries import few_valued_strings
from icehouse.tables.replace import ManifestIndex
from icehouse.tables.scan import current_tasks
from icehouse.tables.writer import TableWriter
from tests import fixtures_lake
from tests.fixtures_lake import EVENTS, data_files

home = fixtures_lake.home
lake = fixtures_lake.lake
events = fixtures_lake.events

ROWS = 400
COUNTRIES = (("de", "fr"), ("us", "jp", "br"), ("fr", "in"))
"""Each batch's own few countries: the files read carry different dictionaries."""


def append_batches(lake: Lake, batches: int = 6) -> None:
    for batch in range(batches):
        countries = COUNTRIES[batch % len(COUNTRIES)]
        ids = [ROWS * batch + k for k in range(ROWS)][::-1]  # each file against the sort
        rows = pa.table(
            {
                "ts": pa.array(
                    [dt.datetime(2024, 6, 1, k % 24, tzinfo=dt.UTC) for k in range(ROWS)],
                    pa.timestamp("us", tz="UTC"),
                ),
                "id": pa.array(ids, pa.int64()),
                "country": [countries[i % len(countries)] for i in ids],
                "bytes": pa.array([i * 3 for i in ids], pa.int64()),
            }
        )
        table = fixtures_lake.iceberg_table(lake, EVENTS)
        writer = TableWriter(table)
        writer.write(rows)
        fast_append(table, writer.close(), properties={})


def rows_of(lake: Lake) -> list[dict[str, object]]:
    return lake.sql(f"SELECT * FROM {EVENTS} ORDER BY id").to_pylist()


def test_few_valued_strings_are_told_apart_from_many_valued_ones(tmp_path: Path) -> None:
    path = tmp_path / "sample.parquet"
    pq.write_table(
        pa.table(
            {
                "country": [["de", "fr", "us"][i % 3] for i in range(1000)],
                "path": [f"/p/{i}" for i in range(1000)],
                "n": list(range(1000)),
            }
        ),
        path,
    )
    schema = pa.schema([("country", pa.large_string()), ("path", pa.string()), ("n", pa.int64())])
    assert few_valued_strings(str(path), schema) == ["country"]


def test_a_group_is_read_with_its_few_valued_strings_as_dictionaries(
    lake: Lake, events: Table
) -> None:
    append_batches(lake)
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    options = CompactOptions(strategy="binpack", min_input_files=2)
    (group,) = plan_groups(table, options, current_tasks(table, ManifestIndex(table.io)))
    rows = read_group(table, group, contiguous=False)
    assert pa.types.is_dictionary(rows.schema.field("country").type)
    assert sorted(set(rows.column("country").to_pylist())) == ["br", "de", "fr", "in", "jp", "us"]


@pytest.mark.parametrize(
    ("strategy", "options"),
    [
        ("binpack", {}),
        ("sort", {}),
        ("sort", {"sort": "country, id"}),
        ("zorder", {"zorder": "country, id"}),
    ],
)
def test_compaction_through_dictionaries_keeps_rows_statistics_and_encoding(
    lake: Lake, events: Table, tmp_path: Path, strategy: str, options: dict[str, str]
) -> None:
    append_batches(lake)
    before = rows_of(lake)

    result = lake.maintenance.compact(EVENTS, strategy, min_input_files=2, **options)  # type: ignore[arg-type]

    assert [g.status for g in result.groups] == ["committed"]
    assert rows_of(lake) == before
    (output,) = data_files(fixtures_lake.iceberg_table(lake, EVENTS))
    path = output["file_path"].removeprefix("file://")
    stored = pq.read_table(path)
    assert stored.schema.field("country").type == pa.string()  # readers get plain strings
    countries = stored.column("country").to_pylist()
    chunk = pq.read_metadata(path).row_group(0).column(2)
    assert (chunk.statistics.min, chunk.statistics.max) == (min(countries), max(countries))
    if options.get("sort", "").startswith("country"):
        assert countries == sorted(countries)
    # Dictionary-encoded, not fallen back to plain strings: no bigger than pyarrow's
    # own dictionary-encoded write of the same column in the same order.
    plain = tmp_path / "plain.parquet"
    pq.write_table(stored.select(["country"]), plain, compression="zstd")
    plain_size = pq.read_metadata(plain).row_group(0).column(0).total_compressed_size
    assert chunk.total_compressed_size <= plain_size + 64


def test_the_writer_takes_dictionary_and_plain_rows_of_one_partition_together(
    lake: Lake, events: Table
) -> None:
    rows = pa.table(
        {
            "ts": pa.array(
                [dt.datetime(2024, 6, 1, tzinfo=dt.UTC)] * 4, pa.timestamp("us", tz="UTC")
            ),
            "id": pa.array([4, 3, 2, 1], pa.int64()),
            "country": ["de", "fr", "de", None],
            "bytes": pa.array([1, 2, 3, 4], pa.int64()),
        }
    )
    as_dictionary = rows.set_column(2, "country", rows.column("country").dictionary_encode())
    writer = TableWriter(events)
    writer.write(as_dictionary)
    writer.write(rows)
    (written,) = writer.close()
    stored = pq.read_table(written.file_path.removeprefix("file://"))
    assert stored.column("id").to_pylist() == [1, 1, 2, 2, 3, 3, 4, 4]  # the table's order
    assert stored.column("country").to_pylist() == [None, None, "de", "de", "fr", "fr", "de", "de"]


def test_a_table_partitioned_by_a_few_valued_string_compacts(lake: Lake) -> None:
    """The partition column is read from the files, not from their folder names."""
    lake.tables.create(EVENTS, schema=fixtures_lake.EVENTS_SCHEMA, partition=["country"])
    append_batches(lake)
    before = rows_of(lake)

    result = lake.maintenance.compact(EVENTS, "sort", sort="id", min_input_files=2)

    assert {g.status for g in result.groups} == {"committed"}
    assert rows_of(lake) == before
    files = data_files(fixtures_lake.iceberg_table(lake, EVENTS))
    assert len(files) == len({c for batch in COUNTRIES for c in batch})
