"""A home copied with ``cp -a`` carries the original's state database, whose catalog
points at the original's warehouse. Opening the copy says so and what to do; and no
maintenance command ever deletes a file outside the table's location and this home's
warehouse, so the original keeps every file and row."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from icehouse.cli.app import app
from icehouse.errors import CopiedHome, OutsideWarehouse
from icehouse.lake import Lake
from icehouse.maintain.expire import expire_snapshots
from icehouse.maintain.scope import DeleteScope, is_under
from tests import fixtures_lake
from tests.fixtures_lake import EVENTS, EVENTS_SCHEMA, NO_READER_GRACE, append_batches

home = fixtures_lake.home
WIDE = {"COLUMNS": "1000", "ICEHOUSE_HOME": ""}


def stored(folder: Path) -> dict[str, int]:
    return {str(p): p.stat().st_size for p in folder.rglob("*") if p.is_file()}


def count(home: Path) -> int:
    with Lake.open(home) as lake:
        return lake.sql(f"SELECT count(*) AS n FROM {EVENTS}").to_pylist()[0]["n"]


@pytest.fixture
def original(home: Path) -> Path:
    with Lake.open(home) as lake:
        lake.tables.create(
            EVENTS,
            schema=EVENTS_SCHEMA,
            partition=["day(ts)"],
            sort="id",
            properties=NO_READER_GRACE,
        )
        append_batches(lake)
    return home


@pytest.fixture
def copy(original: Path, tmp_path: Path) -> Path:
    target = tmp_path / "lake2"
    shutil.copytree(original, target, symlinks=True)
    return target


def test_opening_a_copied_home_says_what_happened_and_what_to_do(
    original: Path, copy: Path
) -> None:
    with pytest.raises(CopiedHome) as refused:
        Lake.open(copy)

    message = refused.value.message
    assert message.startswith(f"{copy} looks like a copy of the lake home {original}")
    assert f"its tables live under {(original / 'warehouse').as_uri()}" in message
    assert f"(--home {original})" in message
    assert f"`icehouse home adopt --home {copy}`" in message


def test_expire_and_orphans_from_a_copied_home_delete_nothing_of_the_original(
    original: Path, copy: Path
) -> None:
    rows, files = count(original), stored(original / "warehouse")
    runner = CliRunner()

    commands = (
        ["expire", EVENTS, "--older-than", "0s"],
        ["orphans", EVENTS, "--older-than", "0s", "--force"],
    )
    for args in commands:
        result = runner.invoke(app, ["maintain", *args, "--home", str(copy)], env=WIDE)
        assert result.exit_code == 1
        assert "looks like a copy of the lake home" in result.stderr

    assert stored(original / "warehouse") == files
    assert count(original) == rows


def test_an_adopted_copy_still_never_deletes_under_the_original_warehouse(
    original: Path, copy: Path
) -> None:
    rows, files = count(original), stored(original / "warehouse")
    adopted = CliRunner().invoke(app, ["home", "adopt", "--home", str(copy)], env=WIDE)
    assert adopted.exit_code == 0, adopted.stderr
    assert f"adopted the state database of {original}" in adopted.stdout

    with Lake.open(copy) as lake:
        with pytest.raises(OutsideWarehouse, match="outside this home's warehouse"):
            lake.maintenance.expire(EVENTS, older_than="0s")
        with pytest.raises(OutsideWarehouse):
            lake.maintenance.orphans(EVENTS, older_than="0s", force=True)
        with pytest.raises(OutsideWarehouse):
            lake.maintenance.clean_metadata(EVENTS)
        assert [r.status for r in lake.maintenance.history(EVENTS)] == ["failed"] * 3

    assert stored(original / "warehouse") == files
    assert count(original) == rows


def test_expiry_deletes_no_file_outside_its_scope(original: Path) -> None:
    with Lake.open(original) as lake:
        table = fixtures_lake.iceberg_table(lake, EVENTS)
        elsewhere = DeleteScope(table.location(), "/somewhere/else")
        files = stored(original / "warehouse")

        result = expire_snapshots(table, older_than=timedelta(0), scope=elsewhere)

        assert result.expired_snapshot_ids and result.files_deleted == 0
        assert result.kept_outside > 0
        kept = {p for p in files if not p.endswith(".metadata.json")}  # the commit's own
        assert kept <= set(stored(original / "warehouse"))
        assert lake.sql(f"SELECT count(*) AS n FROM {EVENTS}").to_pylist()[0]["n"] == 360


def test_a_moved_home_says_where_it_was(original: Path, copy: Path) -> None:
    shutil.rmtree(original)
    with pytest.raises(CopiedHome, match=f"move the home back to {original}"):
        Lake.open(copy)


def test_a_warehouse_set_before_any_table_exists_is_taken(home: Path) -> None:
    config = home / "icehouse.toml"
    config.write_text(config.read_text().replace('warehouse = "warehouse"', 'warehouse = "data"'))
    with Lake.open(home) as lake:
        assert lake.warehouse == (home / "data").as_uri()


@pytest.mark.parametrize(
    ("path", "root", "inside"),
    [
        ("/lake/warehouse/t/data/a.parquet", "/lake/warehouse", True),
        ("file:///lake/warehouse/t/a", "file:/lake/warehouse/", True),
        ("/lake/warehouse2/t/a", "/lake/warehouse", False),
        ("/lake/warehouse/../lake2/warehouse/a", "/lake/warehouse", False),
        ("s3://bucket/lake/t/a", "s3://bucket/lake", True),
        ("s3://bucket/lake2/t/a", "s3://bucket/lake", False),
    ],
)
def test_under_compares_whole_path_segments(path: str, root: str, inside: bool) -> None:
    assert is_under(path, root) is inside
