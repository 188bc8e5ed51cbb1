"""A governed principal's query: pruned like the administrator's with the row filter
ANDed in, explained with the access filter applied, told "not found or not permitted"
alike for a missing and a forbidden table, and run through the sandbox even when its
access is unrestricted."""

from __future__ import annotations

import pytest
from rich.console import Console

from icehouse.cli.render import render_plans
from icehouse.errors import QueryError
from icehouse.govern.access import CellSet
from icehouse.govern.authz import Principal
from icehouse.govern.objects import Grantee, GranteeKind, Privilege, Securable, SecurableKind
from icehouse.lake import Lake
from icehouse.query.sql import TablePlan, run_sql
from tests import fixtures_lake
from tests.governed_fixtures import (
    IDS,
    TABLE,
    Policy,
    governed,
    ids_of,
    make_table,
    region_of,
    row_filter,
    status_of,
    uuid,
)

home = fixtures_lake.home
lake = fixtures_lake.lake


def eu_policy(lake: Lake) -> Policy:
    policy = Policy(lake)
    policy.tables[uuid(lake)] = (
        CellSet(row_filter(lake, "region = 'eu'"), None, "data filter eu"),
    )
    return policy


def admin_plan(lake: Lake, sql: str) -> TablePlan:
    (plan,) = run_sql(fixtures_lake.catalog_of(lake), sql, explain=True).plans
    return plan


def test_a_filtered_query_reads_no_more_than_the_administrators_with_the_filter(
    lake: Lake,
) -> None:
    make_table(lake)
    result = governed(lake, eu_policy(lake), f"SELECT id FROM {TABLE} ORDER BY id", explain=True)
    (plan,) = result.plans
    admin = admin_plan(lake, f"SELECT id FROM {TABLE} WHERE region = 'eu' ORDER BY id")
    assert result.table.column("id").to_pylist() == [i for i in IDS if region_of(i) == "eu"]
    assert plan.files_planned == admin.files_planned == 1
    assert plan.bytes_planned <= admin.bytes_planned
    assert plan.bytes_read is not None and admin.bytes_read is not None
    assert plan.bytes_read <= admin.bytes_read  # id, and region for the filter
    assert plan.files_in_snapshot == 3


def test_the_principals_own_where_is_pushed_down_with_the_filter(lake: Lake) -> None:
    make_table(lake)
    sql = f"SELECT id FROM {TABLE} WHERE status = 500 ORDER BY id"
    result = governed(lake, eu_policy(lake), sql, explain=True)
    (plan,) = result.plans
    assert result.table.column("id").to_pylist() == [
        i for i in IDS if region_of(i) == "eu" and status_of(i) == 500
    ]
    assert plan.pushed_filter == "status = 500 AND region = 'eu'"
    assert plan.files_planned == 1


def test_explain_shows_the_access_filter_and_what_granted_it(lake: Lake) -> None:
    make_table(lake)
    policy = Policy(lake)
    policy.tables[uuid(lake)] = (
        CellSet(row_filter(lake, "region = 'eu'"), ids_of(lake, "id", "note"), "data filter a"),
        CellSet(row_filter(lake, "status = 500"), ids_of(lake, "id", "cost"), "data filter b"),
    )
    (plan,) = governed(lake, policy, f"SELECT * FROM {TABLE}", explain=True).plans
    assert plan.access_filter == "region = 'eu' OR status = 500 (data filter a, data filter b)"
    assert plan.to_dict()["access_filter"] == plan.access_filter


def test_time_travel_is_explained_with_its_access_filter(lake: Lake) -> None:
    make_table(lake)
    first = fixtures_lake.iceberg_table(lake, TABLE).metadata.snapshots[0].snapshot_id
    sql = f"SELECT id FROM {TABLE} FOR VERSION AS OF {first} ORDER BY id"
    result = governed(lake, eu_policy(lake), sql, explain=True)
    (plan,) = result.plans
    assert result.table.column("id").to_pylist() == [i for i in IDS if region_of(i) == "eu"]
    assert plan.access_filter == "region = 'eu' (data filter eu)"
    assert plan.files_planned == 1


def test_a_filter_on_a_masked_column_does_not_prune_away_its_nulls(lake: Lake) -> None:
    """``cost`` shows only on the 500s: every other returned row has a NULL cost, which
    pruning by the files' real costs would have dropped."""
    make_table(lake)
    policy = Policy(lake)
    policy.tables[uuid(lake)] = (
        CellSet(None, ids_of(lake, "id", "region"), "table columns"),
        CellSet(row_filter(lake, "status = 500"), ids_of(lake, "id", "cost"), "data filter b"),
    )
    sql = f"SELECT count(*) AS n FROM {TABLE} WHERE cost IS NULL"
    assert governed(lake, policy, sql).table.to_pylist() == [
        {"n": sum(1 for i in IDS if status_of(i) != 500)}
    ]


def test_unrestricted_access_reads_what_the_administrator_reads(lake: Lake) -> None:
    make_table(lake)
    policy = Policy(lake)
    policy.tables[uuid(lake)] = (CellSet(None, None, f"table {TABLE}"),)
    sql = f"SELECT * FROM {TABLE} ORDER BY id"
    assert governed(lake, policy, sql).table == lake.sql(sql)
    with pytest.raises(QueryError, match="Permission Error"):
        governed(lake, policy, "SELECT * FROM read_csv('/etc/passwd')")


def test_a_forbidden_table_reads_exactly_as_a_missing_one(lake: Lake) -> None:
    make_table(lake)
    make_table(lake, "web.secrets")
    policy = eu_policy(lake)
    errors = {}
    for name in ("web.secrets", "web.secretz"):
        with pytest.raises(QueryError) as caught:
            governed(lake, policy, f"SELECT * FROM {name}")
        errors[name] = str(caught.value).replace(name, "NAME").replace("^^^^", "")
    assert errors["web.secrets"] == errors["web.secretz"]
    assert "table NAME not found or not permitted" in errors["web.secretz"]


def test_hints_name_only_tables_the_principal_may_read(lake: Lake) -> None:
    make_table(lake)
    make_table(lake, "web.secret")
    policy = eu_policy(lake)
    with pytest.raises(QueryError) as near_readable:
        governed(lake, policy, "SELECT * FROM web.request")
    with pytest.raises(QueryError) as near_forbidden:
        governed(lake, policy, "SELECT * FROM web.secrets")
    assert "did you mean web.requests?" in str(near_readable.value)
    assert "web.secret" not in str(near_forbidden.value).replace("web.secrets", "")


def test_information_schema_lists_only_readable_tables_and_columns(lake: Lake) -> None:
    make_table(lake)
    make_table(lake, "web.secrets")
    policy = Policy(lake)
    policy.tables[uuid(lake)] = (CellSet(None, ids_of(lake, "id", "note"), "columns"),)
    sql = (
        "SELECT table_schema || '.' || table_name AS t, column_name AS c "
        "FROM information_schema.columns WHERE table_schema = 'web' ORDER BY ALL"
    )
    rows = governed(lake, policy, f"{sql} -- reads {TABLE} and web.secrets").table.to_pylist()
    assert rows == [{"t": TABLE, "c": "id"}, {"t": TABLE, "c": "note"}]


def test_a_principal_deletes_only_through_unfiltered_access(lake: Lake) -> None:
    make_table(lake)
    with pytest.raises(QueryError, match="access to it is filtered"):
        governed(lake, eu_policy(lake), f"DELETE FROM {TABLE} WHERE id = 3")
    with pytest.raises(QueryError, match=f"table {TABLE} not found or not permitted"):
        governed(lake, Policy(lake), f"DELETE FROM {TABLE} WHERE id = 3")
    full = Policy(lake)
    full.tables[uuid(lake)] = (CellSet(None, None, f"table {TABLE}"),)
    deleted = governed(lake, full, f"DELETE FROM {TABLE} WHERE id = 3").table.to_pylist()
    assert deleted == [{"deleted_rows": 1}]
    assert fixtures_lake.ids(lake, TABLE) == [i for i in IDS if i != 3]


def test_a_governed_principal_cannot_query_until_granted(lake: Lake) -> None:
    """Without a grant the table reads as missing; a SELECT grant opens it whole."""
    make_table(lake)
    lake.principals.create("analyst")
    analyst = lake.as_principal(Principal("analyst", admin=False))
    with pytest.raises(QueryError, match=f"table {TABLE} not found or not permitted"):
        analyst.sql(f"SELECT * FROM {TABLE}")
    lake.governance.grant(
        [Privilege.SELECT],
        Securable(SecurableKind.TABLE, TABLE),
        Grantee(GranteeKind.PRINCIPAL, "analyst"),
    )
    assert analyst.table_access(TABLE).unrestricted
    assert (
        analyst.sql(f"SELECT * FROM {TABLE}").num_rows
        == lake.sql(f"SELECT * FROM {TABLE}").num_rows
    )


def test_sql_explain_prints_the_access_filter(lake: Lake) -> None:
    make_table(lake)
    answer = governed(lake, eu_policy(lake), f"SELECT id FROM {TABLE}", explain=True)
    console = Console(record=True, width=200)
    render_plans(console, answer)
    assert f"{TABLE}: access filter region = 'eu' (data filter eu)" in console.export_text()


def test_nothing_one_principals_query_registered_is_left_for_the_next(lake: Lake) -> None:
    make_table(lake)
    governed(lake, eu_policy(lake), f"SELECT * FROM {TABLE}")
    nobody = Policy(lake)
    assert governed(lake, nobody, "SHOW ALL TABLES").table.num_rows == 0
    for sql in (f"SELECT * FROM {TABLE}", "SELECT * FROM __icehouse_web_requests"):
        with pytest.raises(QueryError, match="not found or not permitted"):
            governed(lake, nobody, sql)


def test_a_view_over_a_view_reads_it_with_its_own_definers_rights(lake: Lake) -> None:
    make_table(lake)
    lake.views.create_from_sql(("web",), "eu_view", f"SELECT * FROM {TABLE}")
    lake.views.create_from_sql(("web",), "outer_view", "SELECT id FROM web.eu_view")
    policy = Policy(lake)
    policy.views |= {"web.eu_view", "web.outer_view"}
    policy.definers["web.eu_view", uuid(lake)] = eu_policy(lake).tables[uuid(lake)]
    sql = "SELECT id FROM web.outer_view ORDER BY id"
    with pytest.raises(QueryError, match=r"^table web\.outer_view not found or not permitted$"):
        governed(lake, policy, sql)  # the outer view's definer may not read the inner one
    policy.definers["web.outer_view", "web.eu_view"] = ()
    ids = governed(lake, policy, sql).table.column("id").to_pylist()
    assert ids == [i for i in IDS if region_of(i) == "eu"]


def test_a_count_copies_one_column_not_the_whole_table(lake: Lake) -> None:
    make_table(lake)
    policy = eu_policy(lake)
    count = governed(lake, policy, f"SELECT count(*) AS n FROM {TABLE}", explain=True)
    whole = governed(lake, policy, f"SELECT * FROM {TABLE}", explain=True)
    assert count.table.to_pylist() == [{"n": sum(1 for i in IDS if region_of(i) == "eu")}]
    (counted,), (read,) = count.plans, whole.plans
    assert counted.bytes_read is not None and read.bytes_read is not None
    assert counted.bytes_read < read.bytes_read


def test_a_selective_where_returns_the_rows_the_administrator_gets_through_the_filter(
    lake: Lake,
) -> None:
    make_table(lake)
    where = "id < 10 AND status <> 500 AND note <> 'note-3'"
    governed_rows = governed(lake, eu_policy(lake), f"SELECT * FROM {TABLE} WHERE {where}")
    admin_rows = lake.sql(f"SELECT * FROM {TABLE} WHERE {where} AND region = 'eu'")
    assert governed_rows.table.sort_by("id") == admin_rows.sort_by("id")
    assert governed_rows.table.column("id").to_pylist() == [6, 9]
