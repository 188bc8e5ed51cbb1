"""The leak catalogue: in each situation a governed principal tries every escape, and
gets no cell its grants do not show, while what they do show stays readable.

Every cell of ``web.requests`` holds a value naming its row and column (``note-7``), so
a leak is any such value in a result or an error that the situation does not allow.
Situations: no grant, a column excluded, a row filter, two filters on one table (per
cell), a grant revoked, the table renamed, columns renamed, time travel, and a view over
the filtered table. Escapes: reading the table and the object registered for it, data
files (``read_parquet``, ``FROM 'file'``, ``glob``, ``read_text``), ``read_csv`` of
``/etc/passwd``, ATTACH of the state database, COPY TO, INSTALL/LOAD, SET/RESET/PRAGMA,
several statements, a Python variable, DuckDB's catalog (``information_schema``,
``SHOW ALL TABLES``, ``duckdb_views()``, ``duckdb_columns()``, ``DESCRIBE``), time travel
and DELETE.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from icehouse.errors import QueryError
from icehouse.govern.access import CellSet
from icehouse.lake import Lake
from tests import fixtures_lake
from tests.governed_fixtures import (
    IDS,
    TABLE,
    Policy,
    batch,
    governed,
    ids_of,
    make_table,
    markers,
    region_of,
    row_filter,
    status_of,
    uuid,
)
from tests.test_query_deletes import append_rows

home = fixtures_lake.home
lake = fixtures_lake.lake

secret_rows = batch(IDS)
"""A Python variable holding every cell: the sandbox must not scan it by name."""

COLUMNS = ("id", "region", "status", "note", "cost")


@dataclass
class Situation:
    policy: Policy
    table: str
    """The name the principal queries."""
    allowed: list[dict[str, Any]] | None
    """``SELECT * FROM table ORDER BY id`` as the principal must see it; None: the
    table is not found or not permitted."""
    cells: set[str]
    """The cell values (``note-7``) the principal may see anywhere."""
    hidden_columns: tuple[str, ...] = ()
    """Column names (current) that no result may show."""
    others: tuple[str, ...] = ()
    """Other names of the same data the principal may not read (the table behind a
    view, a table's old name)."""


def full_row(i: int, columns: tuple[str, ...] = COLUMNS, **shown: bool) -> dict[str, Any]:
    values = {
        "id": i,
        "region": region_of(i),
        "status": status_of(i),
        "note": f"note-{i}",
        "cost": f"cost-{i}",
    }
    return {c: values[c] if shown.get(c, True) else None for c in columns}


def cells_of(rows: list[dict[str, Any]]) -> set[str]:
    return markers(str(rows))


def everything(lake: Lake) -> CellSet:
    return CellSet(None, None, f"table {TABLE}")


def eu_rows(lake: Lake) -> CellSet:
    return CellSet(row_filter(lake, "region = 'eu'"), None, "data filter eu")


def no_grant(lake: Lake) -> Situation:
    return Situation(Policy(lake), TABLE, None, set())


def column_excluded(lake: Lake) -> Situation:
    policy = Policy(lake)
    shown = ids_of(lake, "id", "region", "status", "note")
    policy.tables[uuid(lake)] = (CellSet(None, shown, "data filter no_cost"),)
    allowed = [full_row(i, COLUMNS[:4]) for i in IDS]
    return Situation(policy, TABLE, allowed, cells_of(allowed), hidden_columns=("cost",))


def filtered_rows(lake: Lake) -> Situation:
    policy = Policy(lake)
    policy.tables[uuid(lake)] = (eu_rows(lake),)
    allowed = [full_row(i) for i in IDS if region_of(i) == "eu"]
    return Situation(policy, TABLE, allowed, cells_of(allowed))


def two_filters(lake: Lake) -> Situation:
    """Filter A shows the EU rows' notes, filter B the 500s' costs: an EU row that is not
    a 500 shows no cost, and a 500 outside the EU no note (nor region)."""
    policy = Policy(lake)
    policy.tables[uuid(lake)] = (
        CellSet(
            row_filter(lake, "region = 'eu'"), ids_of(lake, "id", "region", "note"), "filter A"
        ),
        CellSet(row_filter(lake, "status = 500"), ids_of(lake, "id", "cost"), "filter B"),
    )
    columns = ("id", "region", "note", "cost")
    allowed = [
        full_row(
            i,
            columns,
            region=region_of(i) == "eu",
            note=region_of(i) == "eu",
            cost=status_of(i) == 500,
        )
        for i in IDS
        if region_of(i) == "eu" or status_of(i) == 500
    ]
    assert {"id": 3, "region": "eu", "note": "note-3", "cost": None} in allowed
    return Situation(policy, TABLE, allowed, cells_of(allowed), hidden_columns=("status",))


def grant_revoked(lake: Lake) -> Situation:
    policy = Policy(lake)
    policy.tables[uuid(lake)] = (everything(lake),)
    assert governed(lake, policy, f"SELECT count(*) AS n FROM {TABLE}").table.to_pylist() == [
        {"n": len(IDS)}
    ]
    del policy.tables[uuid(lake)]
    return Situation(policy, TABLE, None, set())


def table_renamed(lake: Lake) -> Situation:
    policy = Policy(lake)
    policy.tables[uuid(lake)] = (eu_rows(lake),)
    lake.tables.rename(TABLE, "web.renamed")
    allowed = [full_row(i) for i in IDS if region_of(i) == "eu"]
    return Situation(policy, "web.renamed", allowed, cells_of(allowed), others=(TABLE,))


def columns_renamed(lake: Lake) -> Situation:
    """The filter and the column list were made before another client renamed region to
    area and cost to price: they follow the field ids."""
    policy = Policy(lake)
    shown = ids_of(lake, "id", "region", "status", "note")
    policy.tables[uuid(lake)] = (
        CellSet(row_filter(lake, "region = 'eu'"), shown, "data filter eu_no_cost"),
    )
    table = fixtures_lake.iceberg_table(lake, TABLE)
    with table.update_schema() as update:
        update.rename_column("region", "area")
        update.rename_column("cost", "price")
    allowed = [
        {"id": i, "area": "eu", "status": status_of(i), "note": f"note-{i}"}
        for i in IDS
        if region_of(i) == "eu"
    ]
    return Situation(policy, TABLE, allowed, cells_of(allowed), hidden_columns=("price",))


def time_travel(lake: Lake) -> Situation:
    """A snapshot from before the filter, and one after: both read through it."""
    policy = Policy(lake)
    policy.tables[uuid(lake)] = (eu_rows(lake),)
    append_rows(lake, TABLE, batch(range(13, 25)))
    allowed = [full_row(i) for i in range(1, 25) if region_of(i) == "eu"]
    return Situation(policy, TABLE, allowed, cells_of(allowed))


def view_over_filter(lake: Lake) -> Situation:
    """``web.eu_view`` reads the table with its definer's rights (EU rows only); the
    principal may read the view and not the table."""
    lake.views.create_from_sql(("web",), "eu_view", f"SELECT * FROM {TABLE}")
    policy = Policy(lake)
    policy.views.add("web.eu_view")
    policy.definers["web.eu_view", uuid(lake)] = (eu_rows(lake),)
    allowed = [full_row(i) for i in IDS if region_of(i) == "eu"]
    return Situation(policy, "web.eu_view", allowed, cells_of(allowed), others=(TABLE,))


SITUATIONS: dict[str, Callable[[Lake], Situation]] = {
    "no grant": no_grant,
    "column excluded": column_excluded,
    "row filter": filtered_rows,
    "two filters on one table": two_filters,
    "grant revoked": grant_revoked,
    "table renamed": table_renamed,
    "column renamed": columns_renamed,
    "time travel": time_travel,
    "view over a filtered table": view_over_filter,
}

REFUSED = True
ESCAPES: dict[str, tuple[str, bool]] = {
    "the table": ("SELECT * FROM {t}", False),
    "a self-join": ("SELECT a.*, b.* FROM {t} a JOIN {t} b ON a.id = b.id", False),
    "the registered object": ("SELECT * FROM {t}, {registered}", False),
    "query_table": ("SELECT * FROM query_table('{t}')", False),
    "the other name": ("SELECT * FROM {other}", False),
    "read_parquet of a data file": ("SELECT * FROM read_parquet('{file}')", REFUSED),
    "a data file as a table": ("SELECT * FROM '{file}'", REFUSED),
    "read_text of a data file": ("SELECT * FROM read_text('{file}')", REFUSED),
    "glob": ("SELECT * FROM glob('{warehouse}/**')", REFUSED),
    "read_csv of /etc/passwd": ("SELECT * FROM read_csv('/etc/passwd')", REFUSED),
    "ATTACH the state database": ("ATTACH '{state}' AS state", REFUSED),
    "COPY TO": ("COPY (SELECT * FROM {t}) TO '{out}'", REFUSED),
    "INSTALL": ("INSTALL httpfs", REFUSED),
    "LOAD": ("LOAD parquet", REFUSED),
    "SET": ("SET enable_external_access = true", REFUSED),
    "RESET": ("RESET lock_configuration", REFUSED),
    "PRAGMA": ("PRAGMA threads = 1", REFUSED),
    "two statements": ("SELECT 1; SELECT * FROM read_parquet('{file}')", REFUSED),
    "a Python variable": ("SELECT * FROM secret_rows", REFUSED),
    "information_schema": ("SELECT * FROM information_schema.columns", False),
    "SHOW ALL TABLES": ("SHOW ALL TABLES", False),
    "duckdb_views()": ("SELECT * FROM duckdb_views()", False),
    "duckdb_columns()": ("SELECT * FROM duckdb_columns()", False),
    "DESCRIBE": ("DESCRIBE {t}", False),
    "time travel to the first snapshot": ("SELECT * FROM {t} FOR VERSION AS OF {first}", False),
    "DELETE": ("DELETE FROM {t} WHERE id > 0", REFUSED),
}


def _fill(
    template: str, lake: Lake, situation: Situation, tmp_path: Path, first: int, data_file: str
) -> str:
    namespace, name = situation.table.split(".")
    return template.format(
        t=situation.table,
        registered=f"__icehouse_{namespace}_{name}",
        other=situation.others[0] if situation.others else "web.nothing",
        file=data_file.removeprefix("file://"),
        warehouse=lake.warehouse.removeprefix("file://"),
        state=lake.home / "state.db",
        out=tmp_path / "out.csv",
        first=first,
    )


@pytest.mark.parametrize("escape", ESCAPES)
@pytest.mark.parametrize("situation", SITUATIONS)
def test_no_escape_shows_a_cell_the_grants_hide(
    lake: Lake, tmp_path: Path, situation: str, escape: str
) -> None:
    make_table(lake)
    table = fixtures_lake.iceberg_table(lake, TABLE)
    first = table.metadata.snapshots[0].snapshot_id
    data_file = table.inspect.files().column("file_path").to_pylist()[0]
    case = SITUATIONS[situation](lake)
    template, refused = ESCAPES[escape]
    sql = _fill(template, lake, case, tmp_path, first, data_file)
    try:
        seen = str(governed(lake, case.policy, sql).table.to_pylist())
        assert not refused, f"{escape} ran: {seen[:200]}"
        for column in case.hidden_columns:
            assert f"'{column}'" not in seen
    except QueryError as exc:
        seen = str(exc)
    assert markers(seen) <= case.cells
    assert not (tmp_path / "out.csv").exists()
    admin_ids = fixtures_lake.rows_of(lake, f"SELECT count(*) AS n FROM {_admin_name(case)}")
    assert admin_ids[0]["n"] >= len(IDS)  # DELETE removed nothing


def _admin_name(case: Situation) -> str:
    return case.others[0] if case.table.endswith("eu_view") else case.table


@pytest.mark.parametrize("situation", SITUATIONS)
def test_the_allowed_part_stays_readable(lake: Lake, situation: str) -> None:
    make_table(lake)
    case = SITUATIONS[situation](lake)
    sql = f"SELECT * FROM {case.table} ORDER BY id"
    if case.allowed is None:
        with pytest.raises(QueryError, match=f"table {case.table} not found or not permitted"):
            governed(lake, case.policy, sql)
    else:
        assert governed(lake, case.policy, sql).table.to_pylist() == case.allowed
