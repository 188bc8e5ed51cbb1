"""Governance statements run through ``lake.sql`` and ``icehouse sql`` (one query, the
piped shell) against a real lake: what each answers, what the lake then holds, and the
errors a user sees."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from icehouse.errors import GovernanceSyntaxError, InvalidInput, QueryError
from icehouse.lake import Lake
from tests import fixtures_lake
from tests.test_sql_cli import one_line, run

home = fixtures_lake.home
lake = fixtures_lake.lake
events = fixtures_lake.events


def rows(lake: Lake, sql: str) -> list[dict[str, object]]:
    return lake.sql(sql).to_pylist()


# --- errors --------------------------------------------------------------------------------


def test_a_statement_that_does_not_parse_is_refused_before_anything_runs(lake: Lake) -> None:
    with pytest.raises(GovernanceSyntaxError) as raised:
        lake.sql("GRANT SELECT ON TABLE logs.events FORM ROLE analysts")
    assert raised.value.message == "expected TO at line 1, column 35, found 'FORM'"


def test_explaining_a_governance_statement_is_refused(lake: Lake) -> None:
    with pytest.raises(QueryError, match="EXPLAIN shows what a query reads, and SHOW reads"):
        lake.explain("SHOW GRANTS")
    with pytest.raises(QueryError, match="and GRANT reads no table: run the statement without"):
        lake.sql("EXPLAIN GRANT SELECT ON TABLE logs.events TO ROLE analysts")


def test_queries_and_duckdb_statements_still_go_to_duckdb(lake: Lake, events: object) -> None:
    assert rows(lake, "SELECT count(*) AS n FROM logs.events") == [{"n": 0}]
    assert lake.sql("SHOW TABLES").column_names == ["name"]  # DuckDB's, not SHOW TAGS
    assert rows(lake, "SELECT 'GRANT ROLE a TO ROLE b' AS text") == [
        {"text": "GRANT ROLE a TO ROLE b"}
    ]


def test_the_cli_prints_a_syntax_error_like_other_sql_errors(home: Path) -> None:
    result = run("sql", "CREATE DATA FILTER f ON logs.events WHERE (id > 1", "--home", str(home))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert (
        one_line(result.stderr)
        == "Error: expected ')' at line 1, column 50, found the end of the statement"
    )


def test_the_cli_refuses_explain_of_a_governance_statement(home: Path) -> None:
    result = run("sql", "CREATE ROLE analysts", "--explain", "--home", str(home))
    assert result.exit_code == 1
    assert one_line(result.stderr) == (
        "Error: EXPLAIN shows what a query reads, and CREATE reads no table: run the "
        "statement without EXPLAIN"
    )


# --- roles and grants ----------------------------------------------------------------------


@pytest.fixture
def analysts(lake: Lake, events: object) -> Lake:
    """Role ``analysts`` with principal ``ana`` in it, and table ``logs.events``."""
    lake.principals.create("ana", kind="user")
    assert rows(lake, "CREATE ROLE analysts") == [{"status": "created role analysts"}]
    assert rows(lake, "GRANT ROLE analysts TO PRINCIPAL ana") == [
        {"status": "granted role analysts to principal ana"}
    ]
    return lake


def grant(grantee: str, privilege: str, on: str, *, option: bool = False) -> dict[str, object]:
    """A row of SHOW GRANTS, as the administrator (``owner``) granted it."""
    return {
        "grantee": grantee,
        "privilege": privilege,
        "object": on,
        "with_grant_option": option,
        "granted_by": "owner",
    }


def test_show_roles_lists_each_role_with_its_members(analysts: Lake) -> None:
    rows(analysts, 'CREATE ROLE "data science"')
    rows(analysts, 'GRANT ROLE analysts TO ROLE "data science"')
    assert rows(analysts, "SHOW ROLES") == [
        {"name": "analysts", "members": ["principal ana", "role data science"]},
        {"name": "data science", "members": []},
    ]
    assert rows(analysts, "REVOKE ROLE analysts FROM PRINCIPAL ana") == [
        {"status": "revoked role analysts from principal ana"}
    ]
    assert rows(analysts, "DROP ROLE analysts") == [{"status": "dropped role analysts"}]
    assert rows(analysts, "SHOW ROLES") == [{"name": "data science", "members": []}]


def test_grants_on_a_table_and_on_columns_show_as_granted(analysts: Lake) -> None:
    assert rows(
        analysts, "GRANT SELECT ON TABLE logs.events TO ROLE analysts WITH GRANT OPTION"
    ) == [{"status": "granted SELECT on table logs.events to role analysts with grant option"}]
    assert rows(analysts, "grant select (id, country) on table logs.events to principal ana") == [
        {
            "status": "granted SELECT on column logs.events.id, column logs.events.country "
            "to principal ana"
        }
    ]
    ana_country = grant("principal ana", "SELECT", "column logs.events.country")
    ana_id = grant("principal ana", "SELECT", "column logs.events.id")
    analysts_table = grant("role analysts", "SELECT", "table logs.events", option=True)
    assert rows(analysts, "SHOW GRANTS") == [ana_country, ana_id, analysts_table]
    assert rows(analysts, "SHOW GRANTS ON TABLE logs.events") == [analysts_table]
    assert rows(analysts, "SHOW GRANTS ON TABLE logs.events (country)") == [ana_country]
    assert rows(analysts, "SHOW GRANTS TO PRINCIPAL ana") == [ana_country, ana_id]
    assert rows(analysts, "REVOKE SELECT ON TABLE logs.events (id) FROM PRINCIPAL ana") == [
        {"status": "revoked SELECT on column logs.events.id from principal ana"}
    ]
    assert rows(analysts, "SHOW GRANTS TO PRINCIPAL ana") == [ana_country]


def test_a_column_list_with_a_misspelt_column_grants_none(analysts: Lake) -> None:
    with pytest.raises(InvalidInput, match=r"table 'logs\.events' has no column 'nope'"):
        analysts.sql("GRANT SELECT ON TABLE logs.events (id, nope) TO ROLE analysts")
    assert rows(analysts, "SHOW GRANTS") == []
    analysts.sql("GRANT SELECT ON TABLE logs.events (id) TO ROLE analysts")
    with pytest.raises(InvalidInput, match="has no column 'nope'"):
        analysts.sql("REVOKE SELECT (id, nope) ON TABLE logs.events FROM ROLE analysts")
    assert rows(analysts, "SHOW GRANTS") == [
        grant("role analysts", "SELECT", "column logs.events.id")
    ]


def test_revoke_all_takes_back_whatever_is_held(analysts: Lake) -> None:
    rows(analysts, "GRANT SELECT, DESCRIBE ON TABLE logs.events TO ROLE analysts")
    rows(analysts, "GRANT SELECT ON TABLE logs.events TO PRINCIPAL ana")
    assert rows(analysts, "REVOKE ALL PRIVILEGES ON TABLE logs.events FROM ROLE analysts") == [
        {"status": "revoked DESCRIBE, SELECT on table logs.events from role analysts"}
    ]
    assert rows(analysts, "SHOW GRANTS") == [grant("principal ana", "SELECT", "table logs.events")]


def test_all_on_the_catalog_grants_every_privilege_but_managing_grants(analysts: Lake) -> None:
    rows(analysts, "GRANT ALL PRIVILEGES ON CATALOG TO ROLE analysts")
    shown = rows(analysts, "SHOW GRANTS ON CATALOG")
    assert {r["object"] for r in shown} == {"catalog icehouse"}
    assert sorted(str(r["privilege"]) for r in shown) == [
        "ALTER", "CREATE_NAMESPACE", "CREATE_TABLE", "CREATE_VIEW", "DATA_LOCATION_ACCESS",
        "DELETE", "DESCRIBE", "DROP", "INSERT", "SELECT",
    ]  # fmt: skip


def test_an_empty_show_grants_still_has_its_columns(analysts: Lake) -> None:
    shown = analysts.sql("SHOW GRANTS TO ROLE analysts")
    assert shown.num_rows == 0
    assert shown.column_names == [
        "grantee", "privilege", "object", "with_grant_option", "granted_by",
    ]  # fmt: skip


def test_what_the_lake_refuses_is_its_own_error(analysts: Lake) -> None:
    from icehouse.errors import NoSuchTable

    with pytest.raises(NoSuchTable):
        analysts.sql("GRANT SELECT ON TABLE logs.nothing TO ROLE analysts")


def test_a_principal_that_may_not_manage_grants_is_refused(analysts: Lake) -> None:
    from icehouse.errors import Forbidden
    from icehouse.govern.authz import Principal

    ana = analysts.as_principal(Principal("ana", admin=False, kind="user"))
    with pytest.raises(Forbidden):
        ana.sql("CREATE ROLE mine")
    assert [r["name"] for r in rows(analysts, "SHOW ROLES")] == ["analysts"]


# --- tags ----------------------------------------------------------------------------------


def test_tags_are_created_set_granted_on_and_dropped(analysts: Lake) -> None:
    assert rows(analysts, "CREATE TAG level VALUES ('public', 'internal')") == [
        {"status": "created tag level with values 'public', 'internal'"}
    ]
    assert rows(analysts, "SHOW TAGS") == [{"key": "level", "values": ["public", "internal"]}]
    assert rows(analysts, "ALTER NAMESPACE logs SET TAG level = 'public'") == [
        {"status": "set tag level = 'public' on namespace logs"}
    ]
    assert rows(
        analysts, "ALTER TABLE logs.events ALTER COLUMN country SET TAG level = 'internal'"
    ) == [{"status": "set tag level = 'internal' on column logs.events.country"}]
    assert rows(analysts, "ALTER TABLE logs.events UNSET TAG level") == [
        {"status": "unset tag level on table logs.events"}
    ]
    rows(analysts, "GRANT SELECT ON TAG level = 'public' TO ROLE analysts")
    assert rows(analysts, "SHOW GRANTS ON TAG level IN ('public')") == [
        grant("role analysts", "SELECT", "tag level IN ('public')")
    ]
    assert rows(analysts, "DROP TAG level") == [{"status": "dropped tag level"}]
    assert rows(analysts, "SHOW TAGS") == []
    assert rows(analysts, "SHOW GRANTS TO ROLE analysts") == []


def test_a_view_is_tagged_and_granted_on_by_name(analysts: Lake) -> None:
    analysts.views.create_from_sql(("logs",), "french", "SELECT id FROM logs.events")
    rows(analysts, "CREATE TAG level VALUES ('public')")
    assert rows(analysts, "ALTER VIEW logs.french SET TAG level = 'public'") == [
        {"status": "set tag level = 'public' on view logs.french"}
    ]
    rows(analysts, "GRANT SELECT ON VIEW logs.french TO ROLE analysts")
    assert rows(analysts, "SHOW GRANTS ON VIEW logs.french") == [
        grant("role analysts", "SELECT", "view logs.french")
    ]
    assert rows(analysts, "ALTER VIEW logs.french UNSET TAG level") == [
        {"status": "unset tag level on view logs.french"}
    ]


# --- data filters --------------------------------------------------------------------------


def test_data_filters_show_as_created_and_their_grants_go_with_them(analysts: Lake) -> None:
    assert rows(
        analysts,
        "CREATE DATA FILTER europe ON logs.events WHERE country IN ('de', 'fr') "
        "EXCLUDING COLUMNS (bytes)",
    ) == [{"status": "created data filter europe on logs.events"}]
    rows(analysts, "CREATE DATA FILTER ids ON logs.events COLUMNS (id, ts)")
    assert rows(analysts, "SHOW DATA FILTERS") == [
        {
            "name": "europe",
            "table": "logs.events",
            "where": "coalesce(\"country\" IN ('de', 'fr'), false)",
            "columns": None,
            "excluding": ["bytes"],
        },
        {"name": "ids", "table": "logs.events", "where": None, "columns": ["id", "ts"],
         "excluding": None},
    ]  # fmt: skip
    rows(analysts, "GRANT SELECT ON DATA FILTER europe TO ROLE analysts")
    assert rows(analysts, "SHOW GRANTS TO ROLE analysts") == [
        grant("role analysts", "SELECT", "data filter europe")
    ]
    assert rows(analysts, "DROP DATA FILTER europe") == [{"status": "dropped data filter europe"}]
    assert [r["name"] for r in rows(analysts, "SHOW DATA FILTERS")] == ["ids"]
    assert rows(analysts, "SHOW GRANTS TO ROLE analysts") == []


def test_statements_keep_their_grants_in_a_postgresql_state_database(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ICEHOUSE_STATE_URL", postgres_url)
    Lake.init(tmp_path / "lake")
    with Lake.open(tmp_path / "lake") as lake:
        lake.tables.create("logs.events", schema=fixtures_lake.EVENTS_SCHEMA)
        for statement in (
            "CREATE ROLE analysts",
            "CREATE DATA FILTER europe ON logs.events WHERE country = 'de' COLUMNS (id)",
            "GRANT SELECT ON DATA FILTER europe TO ROLE analysts WITH GRANT OPTION",
        ):
            lake.sql(statement)
    with Lake.open(tmp_path / "lake") as reopened:
        assert rows(reopened, "SHOW GRANTS") == [
            grant("role analysts", "SELECT", "data filter europe", option=True)
        ]


# --- icehouse sql --------------------------------------------------------------------------


def test_icehouse_sql_runs_governance_statements_and_shows_grants(
    home: Path, lake: Lake, events: object
) -> None:
    lake.close()
    created = run("sql", "CREATE ROLE analysts", "--home", str(home))
    assert created.exit_code == 0, created.stderr
    assert "created role analysts" in created.stdout
    granted = run("sql", "GRANT SELECT ON TABLE logs.events TO ROLE analysts", "--home", str(home))
    assert granted.exit_code == 0, granted.stderr
    shown = run("sql", "SHOW GRANTS", "--format", "json", "--home", str(home))
    assert shown.exit_code == 0, shown.stderr
    assert json.loads(shown.stdout) == [grant("role analysts", "SELECT", "table logs.events")]
    table = run("sql", "SHOW GRANTS", "--home", str(home))
    assert "role analysts" in table.stdout and "table logs.events" in table.stdout


def test_the_piped_shell_runs_governance_statements_in_order(
    home: Path, lake: Lake, events: object
) -> None:
    lake.close()
    script = (
        "CREATE ROLE analysts;\n"
        "GRANT DESCRIBE ON NAMESPACE logs TO ROLE analysts;\n"
        "SHOW GRANTS TO ROLE analysts;\n"
        "GRANT SELECT ON TABLE logs.events TO ROLE analysts WITH OPTION;\n"
        "SHOW ROLES;\n"
    )
    result = run("sql", "--home", str(home), input=script)
    assert result.exit_code == 1
    assert "namespace logs" in result.stdout
    assert one_line(result.stderr) == (
        "Error in statement 4 (line 4): expected GRANT at line 1, column 57, found 'OPTION'"
    )


def test_the_shell_with_explain_on_still_runs_governance_statements(
    home: Path, lake: Lake, events: object
) -> None:
    lake.close()
    script = "\\explain on\nCREATE ROLE analysts;\nSHOW ROLES;\n"
    result = run("sql", "--home", str(home), input=script)
    assert result.exit_code == 0, result.stderr
    assert "created role analysts" in result.stdout
    assert "analysts" in result.stdout.split("created role analysts")[1]
