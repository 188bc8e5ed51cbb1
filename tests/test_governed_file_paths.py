"""Which data file paths a governed principal may see.

A principal with unrestricted SELECT on a table has its sandbox read the table's planned
files directly, so the statement can see their paths (``current_setting('allowed_paths')``,
``duckdb_views()``, a ``filename`` column): the rule is that it may, since loadTable
hands that principal the table's metadata, and with it every file path, anyway. The
paths of a table it may not read whole (filtered, or not granted at all) are never
shown: not in the same statement, and not on a sandbox another principal's statement
used before it, however the statement asks for them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from icehouse.errors import QueryError
from icehouse.govern.access import CellSet
from icehouse.lake import Lake
from tests import fixtures_lake
from tests.governed_fixtures import TABLE, Policy, governed, ids_of, make_table, row_filter, uuid
from tests.test_governed_feeds import current_files

home = fixtures_lake.home
lake = fixtures_lake.lake

FILTERED = "web.filtered"
HIDDEN = "web.hidden"


@pytest.fixture
def tables(lake: Lake) -> Lake:
    """``web.requests`` (read whole), ``web.filtered`` (a single data filter, read
    natively where the statement allows it) and ``web.hidden`` (no grant)."""
    for name in (TABLE, FILTERED, HIDDEN):
        make_table(lake, name)
    return lake


def whole_and_filtered(lake: Lake) -> Policy:
    policy = Policy(lake)
    policy.tables[uuid(lake)] = (CellSet(None, None, f"table {TABLE}"),)
    policy.tables[uuid(lake, FILTERED)] = (eu_filter(lake, FILTERED),)
    return policy


def eu_filter(lake: Lake, name: str) -> CellSet:
    return CellSet(
        row_filter(lake, "region = 'eu'", name),
        ids_of(lake, "id", "region", "status", name=name),
        "data filter eu",
    )


def secret_paths(lake: Lake, *names: str) -> set[str]:
    """What would give away where ``names`` keep their data: each data file's name and
    each table's directory."""
    found = set()
    for name in names:
        for path in current_files(lake, name).values():
            found.add(Path(path).name)
        location = fixtures_lake.iceberg_table(lake, name).metadata.location
        found.add(location.removeprefix("file://"))
    return found


def probes(lake: Lake, named: str, own: str | None) -> Iterator[str]:
    """Statements that name ``named`` (so that it is fed to the sandbox) and look for
    file paths every way they can; ``own``: a data file the principal may read whole
    (None: it may read none), which a statement may name."""
    warehouse = fixtures_lake.iceberg_table(lake, TABLE).metadata.location.split("/web/")[0]
    warehouse = warehouse.removeprefix("file://")
    comment = f" -- {named}"
    yield f"SELECT current_setting('allowed_paths') AS paths FROM {named} LIMIT 1"
    yield f"SELECT string_agg(sql, ' ') AS views FROM duckdb_views(){comment}"
    yield f"SELECT name, value FROM duckdb_settings(){comment}"
    yield f"SELECT * FROM information_schema.views{comment}"
    yield f"SELECT * FROM duckdb_tables(){comment}"
    yield f"SELECT * FROM duckdb_dependencies(){comment}"
    yield f"SELECT * FROM glob('{warehouse}/**'){comment}"
    yield f"SELECT * FROM read_parquet('{warehouse}/**/*.parquet', filename = true){comment}"
    if own is not None:
        yield f"SELECT DISTINCT filename FROM read_parquet('{own}', filename = true){comment}"
    yield f"SELECT * FROM {named}, {named} AS again WHERE CAST(region AS INTEGER) > 0"
    yield f"SELECT no_such_column FROM {named}"
    yield f"SELECT * FROM {named} WHERE status = 'not a number'"
    yield f"DESCRIBE {named}"
    yield f"SUMMARIZE {named}"
    yield f"EXPLAIN SELECT * FROM {named}"
    yield f"SELECT * FROM {named}, {named} AS again LIMIT 1"


def shown(lake: Lake, policy: Policy, sql: str) -> str:
    """Everything a statement gives back: its rows, or its error."""
    try:
        return str(governed(lake, policy, sql).table.to_pylist())
    except QueryError as exc:
        return str(exc)


def test_a_table_read_whole_may_show_its_own_paths(tables: Lake) -> None:
    own = current_files(tables)
    settings = f"SELECT current_setting('allowed_paths') AS paths FROM {TABLE} LIMIT 1"
    listed = shown(tables, whole_and_filtered(tables), settings)
    assert all(path in listed for path in own.values())


@pytest.mark.parametrize("named", [f"{TABLE}, {FILTERED}", FILTERED])
def test_no_statement_shows_a_path_of_a_table_not_read_whole(tables: Lake, named: str) -> None:
    own = current_files(tables)["eu"]
    policy = whole_and_filtered(tables)
    secrets = secret_paths(tables, FILTERED, HIDDEN)
    for sql in probes(tables, named, own):
        answer = shown(tables, policy, sql)
        assert not {s for s in secrets if s in answer}, sql


def test_a_sandbox_used_before_shows_the_next_principal_none_of_its_paths(tables: Lake) -> None:
    """The first principal reads ``web.requests`` whole; the second only through a
    filter, then probes on whatever sandbox the first one left."""
    first = Policy(tables)
    first.tables[uuid(tables)] = (CellSet(None, None, f"table {TABLE}"),)
    governed(tables, first, f"SELECT * FROM {TABLE}")
    second = Policy(tables)
    second.tables[uuid(tables)] = (eu_filter(tables, TABLE),)
    secrets = secret_paths(tables, TABLE, HIDDEN)
    for sql in probes(tables, TABLE, None):
        answer = shown(tables, second, sql)
        assert not {s for s in secrets if s in answer}, sql
