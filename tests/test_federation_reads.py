"""How the central lake reads a mounted table in SQL: planned with the statement's
filters as a local table is, so a query opens only the producer's files that may hold
its rows."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog

from icehouse.lake import Lake
from tests import fixtures_lake
from tests.fixtures_federation import REQUESTS

home, lake = fixtures_lake.home, fixtures_lake.lake
rows_of = fixtures_lake.rows_of


def partitioned_producer(folder: Path) -> tuple[str, SqlCatalog]:
    """A SQL catalog whose ``cdn.requests`` is partitioned by country, one file per
    country; its URL and the catalog."""
    folder.mkdir(parents=True)
    url = f"sqlite:///{folder / 'catalog.db'}"
    producer = SqlCatalog("prod", uri=url, warehouse=(folder / "warehouse").as_uri())
    producer.create_namespace("cdn")
    table = producer.create_table("cdn.requests", schema=REQUESTS.schema)
    with table.update_spec() as spec:
        spec.add_identity("country")
    table.append(REQUESTS)
    return url, producer


def test_a_filtered_query_on_a_mounted_table_opens_only_the_files_it_needs(
    lake: Lake, tmp_path: Path
) -> None:
    url, producer = partitioned_producer(tmp_path / "producer")
    lake.catalogs.mount("cdn_prod", type="sql", uri=url)
    files = producer.load_table("cdn.requests").inspect.files().to_pylist()
    for file in files:  # every file but France's is gone: reading one would fail
        if file["partition"]["country"] != "fr":
            Path(file["file_path"].removeprefix("file://")).unlink()

    rows = rows_of(lake, "SELECT id, country FROM cdn_prod.cdn.requests WHERE country = 'fr'")

    assert rows == [{"id": 1, "country": "fr"}]
    assert len(files) == 3


def test_a_mounted_table_reads_the_same_rows_with_and_without_a_filter(
    lake: Lake, tmp_path: Path
) -> None:
    url, _ = partitioned_producer(tmp_path / "producer")
    lake.catalogs.mount("cdn_prod", type="sql", uri=url)

    every = lake.sql("SELECT id, country FROM cdn_prod.cdn.requests ORDER BY id")
    some = rows_of(lake, "SELECT id FROM cdn_prod.cdn.requests WHERE id >= 2 ORDER BY id")

    assert every == REQUESTS
    assert some == [{"id": 2}, {"id": 3}]
    assert isinstance(every, pa.Table)
