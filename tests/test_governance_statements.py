"""Governance statements as ``icehouse sql`` reads them: every form of every statement
gives the value the lake runs; anything else is left to DuckDB (None); a statement that
starts like one but does not parse names the character it stopped at and what was
expected there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from icehouse.errors import GovernanceSyntaxError, QueryError
from icehouse.govern.objects import (
    Grantee,
    GranteeKind,
    Privilege,
    Securable,
    SecurableKind,
    TagCondition,
)
from icehouse.govern.statements import (
    ALL_PRIVILEGES,
    CreateDataFilter,
    CreateLink,
    CreateRole,
    CreateTag,
    CreateTenant,
    DropDataFilter,
    DropLink,
    DropRole,
    DropTag,
    DropTenant,
    Grant,
    GrantRole,
    GrantTenantAdmin,
    Revoke,
    RevokeRole,
    RevokeTenantAdmin,
    SetTag,
    ShowDataFilters,
    ShowGrants,
    ShowLinks,
    ShowRoles,
    ShowTags,
    ShowTenants,
    Statement,
    UnsetTag,
    parse_statement,
)

ROLE_R = Grantee(GranteeKind.ROLE, "r")
ANA = Grantee(GranteeKind.PRINCIPAL, "ana")
EVENTS = Securable(SecurableKind.TABLE, "logs.events")
S = Privilege.SELECT


def column(table: str, name: str) -> Securable:
    return Securable(SecurableKind.COLUMN, table, column=name)


PARSED: list[tuple[str, Statement]] = [
    ("CREATE ROLE analysts", CreateRole("analysts")),
    ("create role Analysts;", CreateRole("Analysts")),
    ('CREATE ROLE "cdn team"', CreateRole("cdn team")),
    ('CREATE ROLE "say ""hi"""', CreateRole('say "hi"')),
    ("DROP ROLE analysts", DropRole("analysts")),
    ("GRANT ROLE analysts TO PRINCIPAL ana", GrantRole("analysts", ANA)),
    ("GRANT ROLE analysts TO ROLE r", GrantRole("analysts", ROLE_R)),
    ("REVOKE ROLE analysts FROM PRINCIPAL ana", RevokeRole("analysts", ANA)),
    ("REVOKE ROLE analysts FROM ROLE r", RevokeRole("analysts", ROLE_R)),
    ("GRANT SELECT ON TABLE logs.events TO ROLE r", Grant((S,), (EVENTS,), ROLE_R)),
    (
        "grant select on table logs.events to role r with grant option",
        Grant((S,), (EVENTS,), ROLE_R, with_grant_option=True),
    ),
    (
        "GRANT SELECT, INSERT, DELETE ON TABLE logs.events TO PRINCIPAL ana",
        Grant((S, Privilege.INSERT, Privilege.DELETE), (EVENTS,), ANA),
    ),
    (
        "GRANT DESCRIBE ON TABLE a.b.t TO ROLE r",
        Grant((Privilege.DESCRIBE,), (Securable(SecurableKind.TABLE, "a.b.t"),), ROLE_R),
    ),
    (
        'GRANT SELECT ON TABLE "my ns"."my table" TO ROLE r',
        Grant((S,), (Securable(SecurableKind.TABLE, "my ns.my table"),), ROLE_R),
    ),
    (
        "GRANT SELECT ON VIEW logs.french TO ROLE r",
        Grant((S,), (Securable(SecurableKind.VIEW, "logs.french"),), ROLE_R),
    ),
    (
        "GRANT CREATE_TABLE, CREATE VIEW ON NAMESPACE logs TO ROLE r",
        Grant(
            (Privilege.CREATE_TABLE, Privilege.CREATE_VIEW),
            (Securable(SecurableKind.NAMESPACE, "logs"),),
            ROLE_R,
        ),
    ),
    (
        "GRANT ALTER ON NAMESPACE a.b TO ROLE r",
        Grant((Privilege.ALTER,), (Securable(SecurableKind.NAMESPACE, "a.b"),), ROLE_R),
    ),
    (
        "GRANT CREATE_NAMESPACE ON CATALOG TO ROLE r",
        Grant((Privilege.CREATE_NAMESPACE,), (Securable(SecurableKind.CATALOG),), ROLE_R),
    ),
    (
        "GRANT MANAGE GRANTS ON CATALOG icehouse TO PRINCIPAL ana",
        Grant((Privilege.MANAGE_GRANTS,), (Securable(SecurableKind.CATALOG, "icehouse"),), ANA),
    ),
    (
        "GRANT DATA_LOCATION_ACCESS ON CATALOG TO ROLE r",
        Grant((Privilege.DATA_LOCATION_ACCESS,), (Securable(SecurableKind.CATALOG),), ROLE_R),
    ),
    (
        "GRANT ALL ON TABLE logs.events TO ROLE r",
        Grant(ALL_PRIVILEGES[SecurableKind.TABLE], (EVENTS,), ROLE_R),
    ),
    (
        "GRANT ALL PRIVILEGES ON CATALOG TO ROLE r",
        Grant(ALL_PRIVILEGES[SecurableKind.CATALOG], (Securable(SecurableKind.CATALOG),), ROLE_R),
    ),
    (
        "GRANT SELECT ON TABLE logs.events (id, country) TO ROLE r",
        Grant((S,), (column("logs.events", "id"), column("logs.events", "country")), ROLE_R),
    ),
    (
        'GRANT SELECT (id, "Country") ON TABLE logs.events TO ROLE r',
        Grant((S,), (column("logs.events", "id"), column("logs.events", "Country")), ROLE_R),
    ),
    (
        "GRANT SELECT (id), DESCRIBE (id) ON TABLE logs.events TO ROLE r",
        Grant((S, Privilege.DESCRIBE), (column("logs.events", "id"),), ROLE_R),
    ),
    (
        "GRANT SELECT ON TAG domain = 'cdn' AND level IN ('public', 'internal') TO ROLE r",
        Grant(
            (S,),
            (
                Securable(
                    SecurableKind.TAG,
                    tags=(
                        TagCondition("domain", ("cdn",)),
                        TagCondition("level", ("public", "internal")),
                    ),
                ),
            ),
            ROLE_R,
        ),
    ),
    (
        "GRANT SELECT ON DATA FILTER eu_rows TO ROLE r",
        Grant((S,), (Securable(SecurableKind.DATA_FILTER, "eu_rows"),), ROLE_R),
    ),
    (
        "REVOKE SELECT ON TABLE logs.events FROM ROLE r",
        Revoke((S,), (EVENTS,), ROLE_R),
    ),
    (
        "REVOKE ALL ON DATA FILTER eu_rows FROM PRINCIPAL ana",
        Revoke((S,), (Securable(SecurableKind.DATA_FILTER, "eu_rows"),), ANA, all_privileges=True),
    ),
    (
        "REVOKE SELECT ON TABLE logs.events (country) FROM ROLE r",
        Revoke((S,), (column("logs.events", "country"),), ROLE_R),
    ),
    ("SHOW GRANTS", ShowGrants()),
    ("SHOW GRANTS ON TABLE logs.events", ShowGrants(on=(EVENTS,))),
    ("SHOW GRANTS TO ROLE r", ShowGrants(to=ROLE_R)),
    ("show grants to principal ana;", ShowGrants(to=ANA)),
    ("SHOW GRANTS ON CATALOG TO ROLE r", ShowGrants((Securable(SecurableKind.CATALOG),), ROLE_R)),
    ("SHOW ROLES", ShowRoles()),
    ("SHOW TAGS", ShowTags()),
    ("SHOW DATA FILTERS", ShowDataFilters()),
    ("CREATE TAG level VALUES ('public', 'internal')", CreateTag("level", ("public", "internal"))),
    ("CREATE TAG k VALUES ('it''s')", CreateTag("k", ("it's",))),
    ("DROP TAG level", DropTag("level")),
    ("ALTER TABLE logs.events SET TAG level = 'public'", SetTag(EVENTS, "level", "public")),
    ("ALTER TABLE logs.events UNSET TAG level", UnsetTag(EVENTS, "level")),
    (
        "ALTER TABLE logs.events ALTER COLUMN ip SET TAG level = 'secret'",
        SetTag(column("logs.events", "ip"), "level", "secret"),
    ),
    (
        "alter table logs.events alter column ip unset tag level",
        UnsetTag(column("logs.events", "ip"), "level"),
    ),
    (
        "ALTER VIEW logs.french SET TAG level = 'public'",
        SetTag(Securable(SecurableKind.VIEW, "logs.french"), "level", "public"),
    ),
    (
        "ALTER VIEW logs.french UNSET TAG level",
        UnsetTag(Securable(SecurableKind.VIEW, "logs.french"), "level"),
    ),
    (
        "ALTER NAMESPACE a.b SET TAG domain = 'cdn'",
        SetTag(Securable(SecurableKind.NAMESPACE, "a.b"), "domain", "cdn"),
    ),
    (
        "ALTER NAMESPACE logs UNSET TAG domain",
        UnsetTag(Securable(SecurableKind.NAMESPACE, "logs"), "domain"),
    ),
    (
        "CREATE DATA FILTER eu ON logs.events WHERE country IN ('de', 'fr')",
        CreateDataFilter("eu", "logs.events", "country IN ('de', 'fr')"),
    ),
    ("CREATE DATA FILTER everything ON logs.events", CreateDataFilter("everything", "logs.events")),
    (
        "CREATE DATA FILTER eu ON logs.events WHERE country = 'de' COLUMNS (id, ts)",
        CreateDataFilter("eu", "logs.events", "country = 'de'", columns=("id", "ts")),
    ),
    (
        "CREATE DATA FILTER no_ip ON logs.events EXCLUDING COLUMNS (ip);",
        CreateDataFilter("no_ip", "logs.events", excluding=("ip",)),
    ),
    (
        # 'COLUMNS' in a string and in a quoted name, and parentheses, end nothing
        "CREATE DATA FILTER f ON a.b.t WHERE (note = 'COLUMNS (x)' OR \"columns\" > 2)"
        " AND (a + (b * 2)) < 10 EXCLUDING COLUMNS (c3)",
        CreateDataFilter(
            "f",
            "a.b.t",
            "(note = 'COLUMNS (x)' OR \"columns\" > 2) AND (a + (b * 2)) < 10",
            excluding=("c3",),
        ),
    ),
    (
        "CREATE DATA FILTER f ON logs.events\n  WHERE status >= 500 -- errors only\n  COLUMNS (id)",
        CreateDataFilter("f", "logs.events", "status >= 500", columns=("id",)),
    ),
    ("DROP DATA FILTER eu", DropDataFilter("eu")),
    ("/* admin */ -- note\n  DROP ROLE r", DropRole("r")),
    ("CREATE TENANT consumer", CreateTenant("consumer")),
    ('drop tenant "cdn team"', DropTenant("cdn team")),
    ("SHOW TENANTS", ShowTenants()),
    ("CREATE LINK analytics.r FOR cdn.requests", CreateLink("analytics.r", "cdn.requests")),
    ("create link a.r for prod.cdn.requests;", CreateLink("a.r", "cdn.requests", "prod")),
    ("DROP LINK analytics.r", DropLink("analytics.r")),
    ("SHOW LINKS", ShowLinks()),
    ("SHOW LINKS IN analytics", ShowLinks("analytics")),
    ("GRANT ADMIN ON TENANT consumer TO PRINCIPAL ana", GrantTenantAdmin("consumer", "ana")),
    ("REVOKE ADMIN ON TENANT consumer FROM PRINCIPAL ana", RevokeTenantAdmin("consumer", "ana")),
    (
        "GRANT SELECT ON DATA FILTER eu TO TENANT consumer WITH GRANT OPTION",
        Grant(
            (S,),
            (Securable(SecurableKind.DATA_FILTER, "eu"),),
            Grantee(GranteeKind.TENANT, "consumer"),
            with_grant_option=True,
        ),
    ),
    (
        "REVOKE SELECT ON TABLE logs.events FROM TENANT consumer",
        Revoke((S,), (EVENTS,), Grantee(GranteeKind.TENANT, "consumer")),
    ),
]


@pytest.mark.parametrize(("sql", "statement"), PARSED, ids=[p[0][:60] for p in PARSED])
def test_each_statement_parses_into_its_value(sql: str, statement: Statement) -> None:
    assert parse_statement(sql) == statement


def test_all_privileges_never_hand_on_the_administrators_work() -> None:
    assert all(Privilege.MANAGE_GRANTS not in granted for granted in ALL_PRIVILEGES.values())
    assert set(ALL_PRIVILEGES) == set(SecurableKind)


NOT_GOVERNANCE = [
    "SELECT 1",
    "select * from logs.events where note = 'GRANT SELECT ON TABLE a.b TO ROLE r'",
    "CREATE TABLE logs.copy AS SELECT * FROM logs.events",
    "DROP TABLE logs.copy",
    "SHOW TABLES",
    "SHOW logs.events",
    "ALTER TABLE logs.events ADD COLUMN note VARCHAR",
    "ALTER TABLE logs.events ALTER COLUMN note SET DATA TYPE INT",
    "ALTER TABLE logs.events RENAME TO other",
    "ALTER VIEW logs.french RENAME TO other",
    "DESCRIBE logs.events",
    "WITH x AS (SELECT 1) SELECT * FROM x",
    "SELECT 'unterminated",
    "",
]


@pytest.mark.parametrize("sql", NOT_GOVERNANCE)
def test_other_statements_are_left_to_duckdb(sql: str) -> None:
    assert parse_statement(sql) is None


ERRORS = [
    # (statement, where it stops (the character, from 0), what was expected, what was found)
    ("GRANT SELECT ON TABLE logs.events FORM ROLE r", 34, "TO", "'FORM'"),
    ("GRANT SELECT ON TABLE events TO ROLE r", 29, "'.' and the rest of a table name", "'TO'"),
    ("GRANT SELEKT ON TABLE a.b TO ROLE r", 6, "a privilege (DESCRIBE, SELECT", "'SELEKT'"),
    ("GRANT SELECT ON SCHEMA a TO ROLE r", 16, "CATALOG, NAMESPACE, TABLE", "'SCHEMA'"),
    ("GRANT SELECT ON TABLE a.b TO r", 29, "PRINCIPAL, ROLE or TENANT", "'r'"),
    ("GRANT SELECT ON TABLE a.b TO ROLE r WITH OPTION", 41, "GRANT", "'OPTION'"),
    ("GRANT SELECT ON TABLE a.b TO ROLE r extra", 36, "the end of the statement", "'extra'"),
    ("GRANT SELECT ON TABLE a.b TO ROLE", 33, "a role name", "the end of the statement"),
    ("GRANT SELECT ON TABLE a.b TO ROLE 'r'", 34, "a role name", "'r'"),
    (
        'GRANT SELECT ON TABLE a."b.c" TO ROLE r',
        24,
        "the next part of a table name (a name may not hold '.'",
        '"b.c"',
    ),
    ("GRANT SELECT (a), INSERT ON TABLE x.y TO ROLE r", 18, "the same column list", "'INSERT'"),
    ("GRANT SELECT (a) ON NAMESPACE x TO ROLE r", 20, "TABLE (a column list", "'NAMESPACE'"),
    ("GRANT SELECT (a) ON TABLE x.y (b) TO ROLE r", 30, "TO or FROM", "'('"),
    ("GRANT SELECT ON TAG k = v TO ROLE r", 24, "a tag value in quotes", "'v'"),
    ("GRANT SELECT ON TAG k = 'a' AND k IN ('b') TO ROLE r", 32, "each tag key once", "'k'"),
    ("GRANT SELECT ON TAG k LIKE 'a' TO ROLE r", 22, "'=' or IN", "'LIKE'"),
    ("REVOKE SELECT ON TABLE a.b TO ROLE r", 27, "FROM", "'TO'"),
    ("REVOKE ROLE r TO PRINCIPAL p", 14, "FROM", "'TO'"),
    ("CREATE TAG k ('a')", 13, "VALUES", "'('"),
    ("CREATE TAG k VALUES ('a', b)", 26, "a tag value in quotes", "'b'"),
    ("CREATE TAG k VALUES ('a'", 24, "')'", "the end of the statement"),
    ("CREATE ROLE 'it''s'", 12, "a role name", "'it''s'"),
    ('CREATE ROLE "unclosed', 12, "a role name", "a quote that is never closed"),
    ("ALTER TABLE a.b SET TAG k 'v'", 26, "'='", "'v'"),
    ("ALTER NAMESPACE a RENAME TO b", 18, "SET", "'RENAME'"),
    ("CREATE DATA FILTER f ON a.b WHERE (x > 1 COLUMNS (y)", 52, "')'", "the end of"),
    (
        "CREATE DATA FILTER f ON a.b WHERE x > 1) COLUMNS (y)",
        39,
        "a predicate whose parentheses match",
        "')'",
    ),
    ("CREATE DATA FILTER f ON a.b WHERE COLUMNS (y)", 34, "a predicate after WHERE", "'COLUMNS'"),
    ("CREATE DATA FILTER f ON a.b WHERE note = 'x", 41, "a closing quote", "a quote that"),
    ("CREATE DATA FILTER f ON a.b COLUMNS y", 36, "'('", "'y'"),
    ("CREATE DATA FILTER f ON a.b WHERE x = 1; DROP ROLE r", 41, "the end of", "'DROP'"),
    ("SHOW GRANTS FOR ROLE r", 12, "the end of the statement", "'FOR'"),
    ("GRANT ADMIN ON consumer TO PRINCIPAL ana", 15, "TENANT", "'consumer'"),
    ("GRANT ADMIN ON TENANT consumer TO ROLE r", 34, "PRINCIPAL", "'ROLE'"),
    ("REVOKE ADMIN ON TENANT consumer TO PRINCIPAL ana", 32, "FROM", "'TO'"),
    ("CREATE LINK a FOR x.y", 14, "'.' and the rest of a link name", "'FOR'"),
    ("CREATE LINK a.b x.y", 16, "FOR", "'x'"),
    ("CREATE LINK a.b FOR w.x.y.z", 20, "namespace.name FOR [catalog.]namespace", "'w'"),
]


@pytest.mark.parametrize(
    ("sql", "position", "expected", "found"), ERRORS, ids=[e[0] for e in ERRORS]
)
def test_a_statement_that_does_not_parse_names_where_and_what_was_expected(
    sql: str, position: int, expected: str, found: str
) -> None:
    with pytest.raises(GovernanceSyntaxError) as raised:
        parse_statement(sql)
    error = raised.value
    assert (error.position, error.sql) == (position, sql)
    assert error.expected.startswith(expected)
    assert error.found.startswith(found)
    assert error.message == (
        f"expected {error.expected} at line 1, column {position + 1}, found {error.found}"
    )


def test_the_position_of_an_error_on_a_later_line_is_its_line_and_column() -> None:
    with pytest.raises(GovernanceSyntaxError, match=r"^expected TO at line 3, column 3, "):
        parse_statement("GRANT SELECT\nON TABLE a.b\n  FOR ROLE r")


def test_a_syntax_error_is_a_query_error_as_duckdb_s_are() -> None:
    assert issubclass(GovernanceSyntaxError, QueryError)


@pytest.mark.parametrize("sql", ["EXPLAIN GRANT ROLE a TO ROLE b", "explain analyze SHOW GRANTS"])
def test_explaining_a_governance_statement_says_it_reads_no_table(sql: str) -> None:
    with pytest.raises(QueryError, match=r"EXPLAIN shows what a query reads, and .* reads no"):
        parse_statement(sql)


def test_explain_of_a_query_is_left_to_duckdb() -> None:
    assert parse_statement("EXPLAIN SELECT 1") is None
    assert parse_statement("EXPLAIN SHOW TABLES") is None


def test_a_caller_that_explains_a_governance_statement_is_refused_too() -> None:
    with pytest.raises(QueryError, match="run the statement without EXPLAIN"):
        parse_statement("CREATE ROLE r", explain=True)
    assert parse_statement("SELECT 1", explain=True) is None


DOC = Path(__file__).resolve().parents[1] / "docs" / "governance.md"
_DOC_STATEMENT = re.compile(
    r'icehouse sql (?:--server \S+ )?"((?:GRANT|REVOKE|CREATE|DROP|ALTER|SHOW)[^"]*)"'
    r"|`((?:GRANT|REVOKE|CREATE|DROP|ALTER|SHOW) [^`<\[|]*)`"
    r"|^((?:GRANT|REVOKE|CREATE|DROP|ALTER|SHOW) [^<\[|\n]*)$",
    re.DOTALL | re.MULTILINE,
)
DUCKDB_EXAMPLES = {"CREATE TABLE", "SHOW TABLES", "ALTER TABLE ... ADD COLUMN"}
"""What the docs name as going to DuckDB, not governance statements."""


def doc_statements() -> list[str]:
    """The governance statements docs/governance.md shows, as a user would copy them
    (templates with <...>, [...] or alternatives left out)."""
    text = DOC.read_text().replace("\\\n", " ")
    found = ["".join(groups) for groups in _DOC_STATEMENT.findall(text)]
    wrong = " TABLE demo.requests FORM "  # the example of an error
    return [s for s in found if s not in DUCKDB_EXAMPLES and wrong not in s]


def test_the_docs_show_statements_of_every_kind() -> None:
    kinds = {type(parse_statement(s)).__name__ for s in doc_statements()}
    assert kinds >= {
        "CreateRole", "DropRole", "GrantRole", "RevokeRole", "Grant", "Revoke", "ShowGrants",
        "ShowRoles", "ShowTags", "ShowDataFilters", "CreateTag", "DropTag", "SetTag",
        "UnsetTag", "CreateDataFilter", "DropDataFilter", "CreateTenant", "GrantTenantAdmin",
        "ShowTenants", "CreateLink", "DropLink", "ShowLinks",
    }  # fmt: skip


@pytest.mark.parametrize("sql", doc_statements())
def test_every_statement_the_docs_show_parses(sql: str) -> None:
    assert parse_statement(sql) is not None
