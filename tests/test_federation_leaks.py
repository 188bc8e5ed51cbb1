"""The leak catalogue's situation "mounted table with a row filter", on the local path
with every escape: a governed principal granted a mounted table's EU rows tries each
escape of the catalogue and gets no cell of another row, no producer file and no
file of the central lake.

One lake and one producer for every escape (module-scoped), so that the situation adds
little time to the suite."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pyiceberg.catalog.sql import SqlCatalog

from icehouse.errors import IcehouseError
from icehouse.govern.authz import Principal
from icehouse.lake import Lake
from tests.governed_fixtures import markers, region_of
from tests.leak_situations import ESCAPES, batch, cells_of, full_row

MOUNTED = "cdn_prod.s.requests"


class Mounted:
    """The central lake, the principal's view of it, and what the escapes name."""

    def __init__(self, lake: Lake, producer: SqlCatalog, folder: Path) -> None:
        table = producer.load_table("s.requests")
        self.lake = lake
        self.reader = lake.as_principal(Principal("mallory", admin=False))
        self.first = table.metadata.snapshots[0].snapshot_id
        self.data_file = next(iter(table.inspect.files().to_pylist()))["file_path"]
        self.warehouse = folder / "warehouse"
        self.allowed = [full_row(i) for i in range(1, 13) if region_of(i) == "eu"]
        self.cells = cells_of(self.allowed)

    def fill(self, template: str, scratch: Path) -> str:
        return template.format(
            t=MOUNTED,
            registered="__icehouse_cdn_prod_s__requests",
            other="cdn_prod.s.nothing",
            file=self.data_file.removeprefix("file://"),
            warehouse=self.warehouse,
            state=self.lake.home / "state.db",
            out=scratch / "out.csv",
            first=self.first,
        )


@pytest.fixture(scope="module")
def mounted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mounted]:
    root = tmp_path_factory.mktemp("mounted_leaks")
    folder = root / "producer"
    folder.mkdir()
    url = f"sqlite:///{folder / 'catalog.db'}"
    producer = SqlCatalog("prod", uri=url, warehouse=(folder / "warehouse").as_uri())
    producer.create_namespace("s")
    rows = batch(range(1, 13))
    producer.create_table("s.requests", schema=rows.schema).append(rows)
    Lake.init(root / "central")
    lake = Lake.open(root / "central")
    try:
        lake.catalogs.mount("cdn_prod", type="sql", uri=url)
        lake.principals.create("mallory")
        lake.sql(f"CREATE DATA FILTER mallory_eu ON {MOUNTED} WHERE region = 'eu'")
        lake.sql("GRANT SELECT ON DATA FILTER mallory_eu TO PRINCIPAL mallory")
        yield Mounted(lake, producer, folder)
    finally:
        lake.close()


def shown(reader: Lake, sql: str) -> tuple[list[dict[str, Any]] | None, str]:
    """The rows (None: refused) and everything the principal was told."""
    try:
        rows = reader.sql(sql).to_pylist()
    except IcehouseError as exc:
        return None, exc.message
    return rows, repr(rows)


@pytest.mark.parametrize("escape", list(ESCAPES))
def test_no_escape_shows_a_cell_of_a_mounted_table_the_filter_hides(
    mounted: Mounted, escape: str, tmp_path: Path
) -> None:
    template, refused = ESCAPES[escape]
    sql = mounted.fill(template, tmp_path)

    rows, told = shown(mounted.reader, sql)

    if rows is not None:
        assert not refused, f"[{escape}] ran: {told[:300]}"
    leaked = markers(told) - markers(sql) - mounted.cells
    assert not leaked, f"[{escape}] leaked {sorted(leaked)}: {told[:300]}"
    assert not (tmp_path / "out.csv").exists(), f"[{escape}] wrote a file"


def test_the_filtered_rows_of_the_mounted_table_stay_readable(mounted: Mounted) -> None:
    rows, told = shown(mounted.reader, f"SELECT * FROM {MOUNTED} ORDER BY id")

    assert rows == mounted.allowed, told
