"""Fixtures and helpers for tests that need a real lake home.

Every lake here is a real SQLite lake home in ``tmp_path`` (``Lake.init`` then
``Lake.open``), with real landing folders and real files. Test modules bind the fixtures
they use as module attributes (``lake = fixtures_lake.lake``), which pytest collects
like fixtures defined in the module.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table
from sqlalchemy import Engine

from icehouse.config import ColumnMapping, SourceConfig
from icehouse.lake import Lake
from icehouse.tables.append import fast_append
from icehouse.tables.catalog import load_table
from icehouse.tables.writer import TableWriter

EVENTS = "logs.events"
NO_READER_GRACE = {"icehouse.reader-grace": "0s"}
"""Table properties for tests that expire or clean up what they committed a moment ago:
no reader started on it, so nothing need wait out a reader grace
(``tests/test_reader_grace.py`` covers the grace itself)."""
EVENTS_SCHEMA = {
    "ts": "timestamptz!",
    "id": "long!",
    "country": "string",
    "bytes": "long",
}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """An initialised, empty lake home."""
    path = tmp_path / "lake"
    Lake.init(path)
    return path


@pytest.fixture
def lake(home: Path) -> Iterator[Lake]:
    opened = Lake.open(home)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    path = tmp_path / "landing"
    path.mkdir()
    return path


@pytest.fixture
def events(lake: Lake) -> Table:
    """``logs.events``: day-partitioned by ``ts``, sorted by ``id``, with no reader in
    flight to protect (``NO_READER_GRACE``)."""
    lake.tables.create(
        EVENTS,
        schema=EVENTS_SCHEMA,
        partition=["day(ts)"],
        sort="id",
        properties=NO_READER_GRACE,
    )
    return iceberg_table(lake, EVENTS)


def write_jsonl(path: Path, records: Iterable[dict[str, Any] | str], *, gz: bool = False) -> Path:
    """Write records (dicts as JSON, strings verbatim) one per line."""
    text = "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records)
    data = text.encode()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def event(i: int, day: int = 1, hour: int = 10, **extra: Any) -> dict[str, Any]:
    """A good ``logs.events`` record for June ``day`` 2024."""
    ts = f"2024-06-{day:02d}T{hour:02d}:00:00Z"
    return {"ts": ts, "id": i, "country": "de", "bytes": 100 * i} | extra


def add_source(
    lake: Lake,
    name: str,
    location: Path,
    *,
    table: str = EVENTS,
    format: str = "jsonl",
    columns: dict[str, ColumnMapping] | None = None,
    **settings: Any,
) -> SourceConfig:
    """Declare a source that takes files at once (``settle = 0s`` unless given)."""
    settings.setdefault("settle", "0s")
    return lake.sources.add(
        SourceConfig(
            name=name,
            location=str(location),
            table=table,
            format=format,  # type: ignore[arg-type]
            columns=columns or {},
            **settings,
        )
    )


def rows_of(lake: Lake, sql: str) -> list[dict[str, Any]]:
    return lake.sql(sql).to_pylist()


def ids(lake: Lake, table: str = EVENTS) -> list[int]:
    return [r["id"] for r in rows_of(lake, f"SELECT id FROM {table} ORDER BY id")]


def data_files(table: Table) -> list[dict[str, Any]]:
    """The table's current data files: path, partition record, spec id, row count, size."""
    files: pa.Table = table.inspect.files()
    return files.select(
        ["file_path", "partition", "spec_id", "record_count", "file_size_in_bytes"]
    ).to_pylist()


def append_batches(
    lake: Lake, *, table: str = EVENTS, days: tuple[int, ...] = (1, 2, 3), per_day: int = 6
) -> None:
    """``per_day`` small appends per June day, 20 rows each, ids unique (per day and
    batch) and interleaved across appends, so no input file is sorted against another."""
    for batch in range(per_day):
        for day in days:
            ids = [10_000 * k + 100 * day + batch for k in range(20)]
            ts = [dt.datetime(2024, 6, day, k % 24, tzinfo=dt.UTC) for k in range(20)]
            rows = pa.table(
                {
                    "ts": pa.array(ts, pa.timestamp("us", tz="UTC")),
                    "id": pa.array(ids, pa.int64()),
                    "country": [["de", "fr", "us"][(i + batch) % 3] for i in ids],
                    "bytes": pa.array([i * 10 for i in ids], pa.int64()),
                }
            )
            loaded = iceberg_table(lake, table)
            writer = TableWriter(loaded)
            writer.write(rows)
            fast_append(loaded, writer.close(), properties={})


# -- below the facade: tests that look at PyIceberg, the catalog or the state database ----


def iceberg_table(lake: Lake, name: str) -> Table:
    """The raw PyIceberg table, loaded by ``icehouse.tables.catalog.load_table`` through
    the lake's catalog: ``Lake`` itself hands out icehouse types only."""
    return load_table(catalog_of(lake), name)


def catalog_of(lake: Lake) -> SqlCatalog:
    """The lake's Iceberg catalog, for tests of the layers below the facade."""
    return lake._catalog


def engine_of(lake: Lake) -> Engine:
    """The lake's state database, for tests of the layers below the facade."""
    return lake._engine
