"""A governed statement's access is decided on the table as it is now. The identity a
decision keys a table by (its UUID, its columns' field ids) is kept per metadata file
rather than loaded for every statement, so each test reads once (filling what is kept),
changes the table, and reads again: a column added after a data filter, a table dropped
and created again under the same name, a rename."""

from __future__ import annotations

import pyarrow as pa
import pytest

from icehouse.errors import QueryError
from icehouse.govern.authz import Principal
from icehouse.lake import Lake
from tests import fixtures_lake
from tests.test_query_deletes import append_rows

lake = fixtures_lake.lake
home = fixtures_lake.home

TABLE = "web.t"
SCHEMA = {"id": "long", "region": "string", "secret": "string"}


def rows(ids: list[int]) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "region": ["eu" if i % 2 else "us" for i in ids],
            "secret": [f"secret-{i}" for i in ids],
        }
    )


@pytest.fixture
def ana(lake: Lake) -> Lake:
    """``web.t`` read by principal ``ana`` through data filter ``eu``: the eu rows
    (odd ids), without ``secret``."""
    lake.namespaces.create(("web",))
    lake.tables.create(TABLE, schema=SCHEMA)
    append_rows(lake, TABLE, rows([1, 2, 3, 4]))
    lake.principals.create("ana", kind="user")
    lake.sql(f"CREATE DATA FILTER eu ON {TABLE} WHERE region = 'eu' EXCLUDING COLUMNS (secret)")
    lake.sql("GRANT SELECT ON DATA FILTER eu TO PRINCIPAL ana")
    return lake.as_principal(Principal("ana", admin=False))


def test_a_column_added_after_the_filter_is_shown_at_once(lake: Lake, ana: Lake) -> None:
    before = ana.sql(f"SELECT * FROM {TABLE} ORDER BY id")
    assert before.to_pylist() == [{"id": 1, "region": "eu"}, {"id": 3, "region": "eu"}]
    lake.tables.alter(TABLE, add_columns=[("note", "string")])
    after = ana.sql(f"SELECT * FROM {TABLE} ORDER BY id")
    assert after.column_names == ["id", "region", "note"]
    assert after.column("id").to_pylist() == [1, 3]


def test_a_table_created_again_under_the_same_name_is_not_read_with_the_old_grant(
    lake: Lake, ana: Lake
) -> None:
    assert ana.sql(f"SELECT count(*) AS n FROM {TABLE}").to_pylist() == [{"n": 2}]
    lake.tables.drop(TABLE, purge=True)
    lake.tables.create(TABLE, schema=SCHEMA)
    append_rows(lake, TABLE, rows([5, 6]))
    with pytest.raises(QueryError, match="not found or not permitted"):
        ana.sql(f"SELECT * FROM {TABLE}")


def test_a_renamed_table_is_read_under_its_new_name_only(lake: Lake, ana: Lake) -> None:
    assert ana.sql(f"SELECT id FROM {TABLE} ORDER BY id").column("id").to_pylist() == [1, 3]
    lake.tables.rename(TABLE, "web.renamed")
    renamed = ana.sql("SELECT id FROM web.renamed ORDER BY id")
    assert renamed.column("id").to_pylist() == [1, 3]
    with pytest.raises(QueryError, match="not found or not permitted"):
        ana.sql(f"SELECT id FROM {TABLE}")
