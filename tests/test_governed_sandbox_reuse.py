"""A sandbox is reused by the next statement that needs exactly its files, of any
principal: it must hold nothing of the statement before, neither the tables fed to it
nor their names."""

from __future__ import annotations

import duckdb
import pytest

from icehouse.errors import QueryError
from icehouse.govern.access import CellSet
from icehouse.lake import Lake
from tests import fixtures_lake
from tests import test_governed_file_paths as paths
from tests.governed_fixtures import TABLE, Policy, governed, markers, uuid
from tests.test_governed_file_paths import FILTERED, eu_filter, whole_and_filtered

home = fixtures_lake.home
lake = fixtures_lake.lake
tables = paths.tables


def test_a_reused_sandbox_holds_nothing_of_the_last_statement(tables: Lake) -> None:
    first = whole_and_filtered(tables)
    # range() keeps the filtered table off the native path: it is registered as a dataset
    read = f"SELECT count(*) AS n FROM {TABLE}, {FILTERED}, range(1)"
    governed(tables, first, read)
    sandboxes = tables._queries.local.sandboxes
    (used,) = sandboxes.values()
    second = Policy(tables)
    second.tables[uuid(tables)] = (CellSet(None, None, f"table {TABLE}"),)
    for sql in (
        f"SELECT * FROM __icehouse_web_filtered -- {TABLE}",
        f"SELECT * FROM {FILTERED} -- {TABLE}",
    ):
        with pytest.raises(QueryError, match=r"not found or not permitted|does not exist"):
            governed(tables, second, sql)
    for sql in (
        f"SELECT * FROM duckdb_tables() -- {TABLE}",
        f"SELECT * FROM duckdb_views() -- {TABLE}",
        f"SELECT table_schema, table_name FROM information_schema.tables -- {TABLE}",
    ):
        listed = str(governed(tables, second, sql).table.to_pylist())
        assert "filtered" not in listed
        assert not markers(listed)
    assert list(sandboxes.values()) == [used]  # the first statement's sandbox, reused


def test_a_filtered_principal_after_a_whole_one_gets_only_its_rows(tables: Lake) -> None:
    whole = Policy(tables)
    whole.tables[uuid(tables)] = (CellSet(None, None, f"table {TABLE}"),)
    assert governed(tables, whole, f"SELECT count(*) AS n FROM {TABLE}").table.to_pylist() == [
        {"n": 12}
    ]
    filtered = Policy(tables)
    filtered.tables[uuid(tables)] = (eu_filter(tables, TABLE),)
    rows = governed(tables, filtered, f"SELECT * FROM {TABLE} ORDER BY id").table
    assert rows.column_names == ["id", "region", "status"]
    assert set(rows.column("region").to_pylist()) == {"eu"}


def test_a_sandbox_retired_after_a_heavy_statement_has_a_locked_successor_waiting(
    tables: Lake, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The next statement for the same files runs on a sandbox opened meanwhile on the
    helper thread, as the administrator's runs on its trusted connection's successor:
    it waits for no connect, and its sandbox is as locked as a new one."""
    from icehouse.query import governed as governed_module

    whole = Policy(tables)
    whole.tables[uuid(tables)] = (CellSet(None, None, f"table {TABLE}"),)
    count = f"SELECT count(*) AS n FROM {TABLE}"
    assert governed(tables, whole, count).table.to_pylist() == [{"n": 12}]
    local = tables._queries.local
    (retired,) = local.sandboxes.values()
    monkeypatch.setattr(governed_module, "HEAVY_QUERY_SECONDS", -1.0)  # every one is heavy

    assert governed(tables, whole, count).table.to_pylist() == [{"n": 12}]  # retires it
    (waiting,) = local.sandbox_successors.values()
    monkeypatch.setattr(governed_module, "HEAVY_QUERY_SECONDS", 3600.0)
    assert governed(tables, whole, count).table.to_pylist() == [{"n": 12}]
    with pytest.raises(QueryError, match="disabled"):
        governed(tables, whole, f"SELECT * FROM read_csv('/etc/passwd') -- {TABLE}")

    assert list(local.sandboxes.values()) == [waiting.result()]
    assert not local.sandbox_successors
    with pytest.raises(duckdb.ConnectionException):
        retired.execute("SELECT 1")  # closed by the helper thread
