"""``lake.tables.drop``, ``lake.tables.rename`` and ``lake.sources.remove`` from Python:
what they return and raise, a purge that spares a table stored inside the dropped one's
folder, and the whole round on a PostgreSQL state database."""

from __future__ import annotations

from pathlib import Path

import pytest

from icehouse.config import remove_source
from icehouse.errors import NoSuchSource, OutsideWarehouse, TableInUse
from icehouse.lake import Lake
from icehouse.tables.arrow_types import schema_from_arrow
from tests import fixtures_lake
from tests.fixtures_lake import (
    EVENTS,
    add_source,
    append_batches,
    catalog_of,
    event,
    iceberg_table,
    ids,
    write_jsonl,
)

home, lake, landing, events = (
    fixtures_lake.home,
    fixtures_lake.lake,
    fixtures_lake.landing,
    fixtures_lake.events,
)


def local(location: str) -> Path:
    return Path(location.removeprefix("file://"))


def test_drop_rename_and_remove_return_what_they_did(lake: Lake, events, landing: Path) -> None:
    add_source(lake, "web", landing)
    write_jsonl(landing / "a.jsonl", [event(i) for i in range(1, 4)])
    lake.ingest()

    with pytest.raises(TableInUse) as refused:
        lake.tables.drop(EVENTS)
    assert refused.value.sources == ["web"] and refused.value.open_batches == []

    removed = lake.sources.remove("web")
    assert (removed.source, removed.table, removed.ledger_files_kept) == ("web", EVENTS, 1)
    assert lake.sources.list() == []
    with pytest.raises(NoSuchSource):
        lake.sources.remove("web")

    renamed = lake.tables.rename(EVENTS, "logs.requests")
    assert (renamed.old, renamed.new) == (EVENTS, "logs.requests")
    assert ids(lake, "logs.requests") == [1, 2, 3]
    assert lake.tables.list() == ["logs.requests"]

    dropped = lake.tables.drop("logs.requests", purge=True)
    assert dropped.location == renamed.location
    assert dropped.purged is not None and dropped.purged.files_deleted >= 4
    assert not local(dropped.location).exists()
    assert lake.tables.list() == []


def test_a_purge_spares_a_table_stored_inside_the_dropped_tables_folder(lake: Lake, events) -> None:
    append_batches(lake, days=(1,), per_day=1)
    outer = iceberg_table(lake, EVENTS)
    inner_location = f"{outer.location()}/nested"
    catalog_of(lake).create_table(
        "logs.inner", schema_from_arrow(outer.schema().as_arrow()), location=inner_location
    )
    append_batches(lake, table="logs.inner", days=(2,), per_day=1)
    inner_files = sorted(local(inner_location).rglob("*.parquet"))

    dropped = lake.tables.drop(EVENTS, purge=True)

    assert dropped.purged is not None and dropped.purged.kept_for_other_tables > 0
    assert sorted(local(inner_location).rglob("*.parquet")) == inner_files
    assert len(ids(lake, "logs.inner")) == 20
    assert not list(local(outer.location()).glob("data/*"))


def test_a_purge_of_a_table_outside_the_warehouse_drops_nothing(lake: Lake, tmp_path: Path) -> None:
    lake.tables.create(EVENTS, schema=fixtures_lake.EVENTS_SCHEMA)
    outside = (tmp_path / "elsewhere").as_uri()
    catalog_of(lake).create_table(
        "logs.outside", iceberg_table(lake, EVENTS).schema(), location=outside
    )

    with pytest.raises(OutsideWarehouse):
        lake.tables.drop("logs.outside", purge=True)

    assert "logs.outside" in lake.tables.list()


def test_a_table_recreated_after_a_drop_without_purge_gets_a_folder_of_its_own(
    lake: Lake, events
) -> None:
    """The dropped table's files stay where they were, and the new table owns none of
    them; a table whose usual folder holds nothing still goes there."""
    append_batches(lake, days=(1,), per_day=1)
    old = lake.tables.drop(EVENTS)
    old_files = sorted(local(old.location).rglob("*"))

    lake.tables.create(EVENTS, schema=fixtures_lake.EVENTS_SCHEMA)
    again = iceberg_table(lake, EVENTS).location()

    assert again.startswith(f"{old.location}-") and len(again) == len(old.location) + 9
    assert ids(lake) == []
    assert sorted(local(old.location).rglob("*")) == old_files
    lake.tables.create("logs.fresh", schema=fixtures_lake.EVENTS_SCHEMA)
    assert iceberg_table(lake, "logs.fresh").location().endswith("/logs/fresh")


@pytest.mark.postgres
def test_drop_rename_and_remove_with_the_state_in_postgres(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ICEHOUSE_STATE_URL", postgres_url)
    root = tmp_path / "lake"
    Lake.init(root)
    landing = tmp_path / "landing"
    landing.mkdir()
    with Lake.open(root) as pg:
        assert pg.config.state_url == postgres_url
        pg.tables.create(EVENTS, schema=fixtures_lake.EVENTS_SCHEMA)
        add_source(pg, "web", landing)
        write_jsonl(landing / "a.jsonl", [event(i) for i in range(1, 6)])
        pg.ingest()
        pg.maintenance.compact(EVENTS)
        pg.sources.remove("web")

        renamed = pg.tables.rename(EVENTS, "logs.requests")
        assert renamed.state_rows_moved >= 2  # a batch and a content claim at least
        assert ids(pg, "logs.requests") == [1, 2, 3, 4, 5]
        assert [r.table for r in pg.maintenance.history()] == ["logs.requests"]

        add_source(pg, "web", landing, table="logs.requests")
        pg.ingest()
        assert ids(pg, "logs.requests") == [1, 2, 3, 4, 5]  # the ledger remembered
        pg.sources.remove("web")

        dropped = pg.tables.drop("logs.requests", purge=True)
        assert not local(dropped.location).exists()
        assert pg.maintenance.history() == []


def test_remove_source_takes_out_an_inline_source_and_leaves_the_rest(tmp_path: Path) -> None:
    config = tmp_path / "icehouse.toml"
    config.write_text(
        "# sources, one per line\n"
        "[sources]\n"
        'web = { location = "a", table = "logs.events", format = "jsonl" }  # the CDN\n'
        'app = { location = "b", table = "logs.app", format = "csv" }  # keep\n'
    )

    remove_source(tmp_path, "web")

    assert config.read_text() == (
        "# sources, one per line\n"
        "[sources]\n"
        'app = { location = "b", table = "logs.app", format = "csv" }  # keep\n'
    )
