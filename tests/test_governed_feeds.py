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

import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyiceberg.manifest import DATA_FILE_TYPE, DataFile
from pyiceberg.table import FileScanTask

from icehouse.errors import QueryError
from icehouse.govern.access import CellSet
from icehouse.lake import Lake
from icehouse.query.sql import QuerySession
from icehouse.tables.append import fast_append
from icehouse.tables.writer import TableWriter
from tests import fixtures_lake
from tests.governed_fixtures import (
    IDS,
    SCHEMA,
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


def test_a_single_filter_reads_its_files_behind_its_view_and_never_directly(lake: Lake) -> None:
    make_table(lake)
    files = current_files(lake)
    policy = eu_without_note(lake)
    rows = governed(lake, policy, f"SELECT * FROM {TABLE} ORDER BY id").table
    assert rows.column("id").to_pylist() == [i for i in IDS if region_of(i) == "eu"]
    assert frozenset({files["eu"]}) in lake._queries.local.sandboxes  # read natively
    for escape in (read_file(files["eu"]), f"SELECT count(*) AS n FROM {TABLE}, '{files['eu']}'"):
        with pytest.raises(QueryError, match=PERMISSION):
            governed(lake, policy, escape)
    settings = f"SELECT current_setting('allowed_paths') AS paths FROM {TABLE} LIMIT 1"
    assert governed(lake, policy, settings).table.to_pylist() == [{"paths": []}]


def test_no_error_comes_from_a_row_the_filter_hides(lake: Lake) -> None:
    """Every row the filter keeps has a numeric cost, every row it hides a text one: a
    cast evaluated on a hidden row would fail, naming its value."""
    lake.namespaces.create(("web",))
    lake.tables.create(TABLE, schema=SCHEMA)
    costs = [str(i) if status_of(i) == 200 else f"cost-{i}" for i in IDS]
    append_rows(lake, TABLE, batch(IDS).set_column(4, "cost", pa.array(costs)))
    policy = Policy(lake)
    policy.tables[uuid(lake)] = (
        CellSet(row_filter(lake, "status = 200"), ids_of(lake, "id", "status", "cost"), "f"),
    )
    shown = [i for i in IDS if status_of(i) == 200]
    for sql in (
        f"SELECT id FROM {TABLE} WHERE CAST(cost AS INTEGER) > 0 ORDER BY id",
        f"SELECT id FROM {TABLE} WHERE id > 0 AND cost::INTEGER = id ORDER BY id",
        f"SELECT id, CAST(cost AS INTEGER) AS c FROM {TABLE} ORDER BY c",
    ):
        assert governed(lake, policy, sql).table.column("id").to_pylist() == shown
    with pytest.raises(QueryError) as refused:
        governed(lake, policy, f"SELECT CAST(status + 1 AS VARCHAR)::DATE FROM {TABLE}")
    assert "201" in str(refused.value) and "501" not in str(refused.value)


def test_filtered_files_follow_a_new_snapshot_a_new_filter_and_a_rename(lake: Lake) -> None:
    make_table(lake)
    policy = eu_without_note(lake)
    sql = f"SELECT id FROM {TABLE} ORDER BY id"
    eu = [i for i in IDS if region_of(i) == "eu"]
    us = [i for i in IDS if region_of(i) == "us"]
    assert governed(lake, policy, sql).table.column("id").to_pylist() == eu
    append_rows(lake, TABLE, batch([102, 103]))  # one eu row, one us row
    assert governed(lake, policy, sql).table.column("id").to_pylist() == [*eu, 102]
    eu_files = {t.file.file_path.removeprefix("file://") for t in _eu_tasks(lake)}
    policy.tables[uuid(lake)] = (
        CellSet(row_filter(lake, "region = 'us'"), ids_of(lake, "id", "region"), "data filter us"),
    )
    rows = governed(lake, policy, f"SELECT * FROM {TABLE} ORDER BY id").table
    assert rows.column_names == ["id", "region"]
    assert rows.column("id").to_pylist() == [*us, 103]
    for path in eu_files:
        with pytest.raises(QueryError, match=PERMISSION):
            governed(lake, policy, read_file(path))
    lake.tables.rename(TABLE, "web.renamed")
    renamed = governed(lake, policy, "SELECT id FROM web.renamed ORDER BY id").table
    assert renamed.column("id").to_pylist() == [*us, 103]
    with pytest.raises(QueryError, match="not found or not permitted"):
        governed(lake, policy, sql)


def _eu_tasks(lake: Lake) -> list[FileScanTask]:
    table = fixtures_lake.iceberg_table(lake, TABLE)
    return [t for t in table.scan().plan_files() if t.file.partition[0] == "eu"]


def append_wider_file(lake: Lake, ids: list[int]) -> str:
    """An append by another writer whose file carries a column the table lacks
    (``secret``, field id 99), as PyIceberg reads past; the file's path."""
    table = fixtures_lake.iceberg_table(lake, TABLE)
    writer = TableWriter(table)
    writer.write(batch(ids))
    (written,) = writer.close()
    path = written.file_path.removeprefix("file://")
    secret = pa.field("secret", pa.string(), metadata={b"PARQUET:field_id": b"99"})
    wider = pq.read_table(path).append_column(secret, pa.array([f"secret-{i}" for i in ids]))
    pq.write_table(wider, path)
    fields = {f.name: getattr(written, f.name) for f in DATA_FILE_TYPE[2].fields}
    rewritten = DataFile.from_args(**{**fields, "file_size_in_bytes": os.path.getsize(path)})
    rewritten.spec_id = written.spec_id
    fast_append(table, [rewritten], properties={})
    return path


def test_a_file_another_writer_widened_is_never_read_directly(lake: Lake) -> None:
    make_table(lake)
    foreign = append_wider_file(lake, [102, 105])  # both eu
    rows = governed(lake, whole(lake), f"SELECT * FROM {TABLE} ORDER BY id").table
    assert rows.column_names == list(SCHEMA)
    assert rows.column("id").to_pylist() == [*IDS, 102, 105]
    eu = [i for i in IDS if region_of(i) == "eu"]
    filtered = governed(lake, eu_without_note(lake), f"SELECT * FROM {TABLE} ORDER BY id").table
    assert filtered.column("id").to_pylist() == [*eu, 102, 105]
    for policy in (whole(lake), eu_without_note(lake)):
        with pytest.raises(QueryError, match=PERMISSION):
            governed(lake, policy, f"SELECT secret FROM {TABLE}, read_parquet('{foreign}')")
