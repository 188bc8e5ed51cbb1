"""How tables reach a governed principal's sandbox without a copy, and that neither way
shows more than the copy did.

Unrestricted access to a plain table lets the sandbox read the table's planned data
files, and only those: not another table's file, not a file of an older snapshot, not a
file the statement's own filter pruned, and not for the next principal, whose statement
gets a sandbox allowed only its own files. A single data filter whose predicate reads
only columns it shows reads through a filtered dataset: the excluded column and the
filtered rows are absent however the principal reads it, the registered object's own
name included."""

from __future__ import annotations

import pyarrow as pa
import pytest

from icehouse.errors import QueryError
from icehouse.govern.access import CellSet
from icehouse.lake import Lake
from icehouse.query.sql import QuerySession
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

PERMISSION = "Permission Error"


def current_files(lake: Lake, name: str = TABLE) -> dict[str, str]:
    """The table's current data files by region (one per region), as local paths."""
    table = fixtures_lake.iceberg_table(lake, name)
    return {
        task.file.partition[0]: task.file.file_path.removeprefix("file://")
        for task in table.scan().plan_files()
    }


def whole(lake: Lake) -> Policy:
    policy = Policy(lake)
    policy.tables[uuid(lake)] = (CellSet(None, None, f"table {TABLE}"),)
    return policy


def eu_without_note(lake: Lake) -> Policy:
    policy = Policy(lake)
    policy.tables[uuid(lake)] = (
        CellSet(
            row_filter(lake, "region = 'eu'"),
            ids_of(lake, "id", "region", "status", "cost"),
            "data filter eu_no_note",
        ),
    )
    return policy


def read_file(path: str, table: str = TABLE) -> str:
    """A statement that names ``table`` (so that it is fed) and reads ``path`` directly."""
    return f"SELECT count(*) AS n FROM {table}, read_parquet('{path}')"


def test_unrestricted_access_reads_its_own_files_and_nothing_more(lake: Lake) -> None:
    make_table(lake)
    files = current_files(lake)
    own = governed(lake, whole(lake), read_file(files["eu"])).table.to_pylist()
    eu_rows = sum(1 for i in IDS if region_of(i) == "eu")
    assert own == [{"n": len(IDS) * eu_rows}]  # the table's rows, which it may read anyway
    pruned = (
        f"SELECT id, (SELECT count(*) FROM read_parquet('{files['us']}')) AS n "
        f"FROM {TABLE} WHERE region = 'eu'"
    )
    with pytest.raises(QueryError, match=PERMISSION):
        governed(lake, whole(lake), pruned)  # a file its own filter pruned is not allowed
    with pytest.raises(QueryError, match=PERMISSION):
        directory = files["eu"].rsplit("/", 1)[0]
        governed(lake, whole(lake), read_file(f"{directory}/*.parquet"))


def test_unrestricted_access_cannot_read_another_tables_file(lake: Lake) -> None:
    make_table(lake)
    make_table(lake, "web.secrets")
    other = current_files(lake, "web.secrets")["eu"]
    with pytest.raises(QueryError, match=PERMISSION):
        governed(lake, whole(lake), read_file(other))


def test_unrestricted_access_cannot_read_a_file_of_an_older_snapshot(lake: Lake) -> None:
    make_table(lake)
    before = current_files(lake)["eu"]
    lake.delete(TABLE, "id = 3")  # rewrites the eu file: the old one stays on disk
    assert current_files(lake)["eu"] != before
    rows = governed(lake, whole(lake), f"SELECT id FROM {TABLE} ORDER BY id").table
    assert rows.column("id").to_pylist() == [i for i in IDS if i != 3]
    with pytest.raises(QueryError, match=PERMISSION):
        governed(lake, whole(lake), read_file(before))


def test_the_next_principal_gets_no_file_the_last_one_could_read(lake: Lake) -> None:
    make_table(lake)
    files = current_files(lake)
    governed(lake, whole(lake), f"SELECT * FROM {TABLE}")
    for policy in (eu_without_note(lake), Policy(lake)):
        with pytest.raises(QueryError, match=PERMISSION):
            governed(lake, policy, f"SELECT count(*) FROM read_parquet('{files['us']}')")
    with pytest.raises(QueryError, match=PERMISSION):
        governed(lake, eu_without_note(lake), read_file(files["eu"]))


def test_a_sandbox_is_reused_only_for_exactly_the_files_it_was_opened_for(lake: Lake) -> None:
    make_table(lake)
    files = current_files(lake)
    session = QuerySession()
    try:
        eu = session.sandbox(frozenset({files["eu"]}))
        assert session.sandbox(frozenset({files["eu"]})) is eu
        both = session.sandbox(frozenset({files["eu"], files["us"]}))
        assert both is not eu
        query = f"SELECT count(*) FROM read_parquet('{files['us']}')"
        assert both.execute(query).fetchall() == [(sum(1 for i in IDS if region_of(i) == "us"),)]
        with pytest.raises(Exception, match=PERMISSION):
            eu.execute(query)
        with pytest.raises(Exception, match="configuration has been locked"):
            eu.execute(f"SET allowed_paths = ['{files['us']}']")
    finally:
        session.close()


def test_a_single_filter_shows_only_its_rows_and_columns_however_it_is_read(lake: Lake) -> None:
    make_table(lake)
    policy = eu_without_note(lake)
    eu = [i for i in IDS if region_of(i) == "eu"]
    for sql in (
        f"SELECT * FROM {TABLE} ORDER BY id",
        "SELECT * FROM __icehouse_web_requests ORDER BY id",
        f"SELECT * FROM {TABLE} WHERE region <> 'eu' OR id > 0 ORDER BY id",
    ):
        rows = governed(lake, policy, f"{sql} -- {TABLE}").table
        assert rows.column_names == ["id", "region", "status", "cost"]
        assert rows.column("id").to_pylist() == eu
        assert not markers(str(rows.to_pylist())) - {f"cost-{i}" for i in eu}
    count = f"SELECT count(*) AS n FROM __icehouse_web_requests -- {TABLE}"
    assert governed(lake, policy, count).table.to_pylist() == [{"n": len(eu)}]
    with pytest.raises(QueryError, match="note"):
        governed(lake, policy, f"SELECT note FROM {TABLE}")


def test_a_filter_on_a_column_it_hides_still_filters_and_hides_it(lake: Lake) -> None:
    """The predicate reads ``status``, which the filter excludes: read through the
    masked copy, which applies the predicate before dropping the column."""
    make_table(lake)
    policy = Policy(lake)
    policy.tables[uuid(lake)] = (
        CellSet(row_filter(lake, "status = 500"), ids_of(lake, "id", "note"), "data filter f"),
    )
    rows = governed(lake, policy, f"SELECT * FROM {TABLE} ORDER BY id").table
    assert rows.column_names == ["id", "note"]
    assert rows.column("id").to_pylist() == [i for i in IDS if status_of(i) == 500]


def test_a_filtered_table_read_twice_in_one_statement_gives_its_rows_each_time(
    lake: Lake,
) -> None:
    make_table(lake)
    sql = (
        f"SELECT a.id, b.status FROM {TABLE} a JOIN {TABLE} b ON a.id = b.id "
        "WHERE a.status = 200 ORDER BY a.id"
    )
    rows = governed(lake, eu_without_note(lake), sql).table.to_pylist()
    assert rows == [
        {"id": i, "status": 200} for i in IDS if region_of(i) == "eu" and status_of(i) == 200
    ]


@pytest.mark.parametrize("where", ["status <> 500", "NOT (status = 500)", "status NOT IN (500)"])
def test_a_filtered_dataset_keeps_the_rows_the_filter_keeps_where_a_column_is_null(
    lake: Lake, where: str
) -> None:
    make_table(lake)
    nulls = batch([100, 101]).set_column(2, "status", pa.array([None, None], pa.int64()))
    append_rows(lake, TABLE, nulls)
    policy = Policy(lake)
    policy.tables[uuid(lake)] = (
        CellSet(row_filter(lake, where), ids_of(lake, "id", "status"), "data filter f"),
    )
    shown = governed(lake, policy, f"SELECT * FROM {TABLE} ORDER BY id").table
    assert shown == lake.sql(f"SELECT id, status FROM {TABLE} WHERE {where} ORDER BY id")
    assert shown.column("id").to_pylist() == [i for i in IDS if status_of(i) != 500]
