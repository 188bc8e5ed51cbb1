"""The governance statements ``icehouse sql`` accepts, parsed into values.

DuckDB's parser knows neither ``GRANT`` nor ``CREATE ROLE``, so these statements are
read here, by a small recursive-descent parser over ``sql_tokens``, before any SQL
reaches DuckDB: ``parse_statement`` returns None for anything else, which goes to
DuckDB unchanged. A statement that begins like one of these (``GRANT``, ``CREATE
ROLE``, ``SHOW GRANTS``...) but does not parse is a GovernanceSyntaxError naming the
character where it went wrong and what was expected there.

Keywords are case-insensitive; names keep the case they are written in, and a name in
double quotes may hold spaces or symbols (``"cdn team"``) but never a dot, which
separates the parts of a name (``a.b.t``: table ``t`` of namespace ``a.b``).

Columns are granted with a column list after the table, ``ON TABLE ns.t (c1, c2)``;
Lake Formation's ``GRANT SELECT (c1, c2) ON TABLE ns.t`` means the same. Either gives
one COLUMN securable per column.

``ALL [PRIVILEGES]`` stands for every privilege that applies to the kind of object it
is granted on (``ALL_PRIVILEGES``), never MANAGE_GRANTS: handing on the
administrator's work is always said by name.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from icehouse.errors import QueryError
from icehouse.govern.objects import (
    Grantee,
    GranteeKind,
    Privilege,
    Securable,
    SecurableKind,
    TagCondition,
)
from icehouse.govern.sql_tokens import Cursor, Kind, Token

_P = Privilege
_ON_TABLES = (_P.DESCRIBE, _P.SELECT, _P.INSERT, _P.DELETE, _P.ALTER, _P.DROP)
_ON_NAMESPACES = (*_ON_TABLES, _P.CREATE_NAMESPACE, _P.CREATE_TABLE, _P.CREATE_VIEW)
ALL_PRIVILEGES: dict[SecurableKind, tuple[Privilege, ...]] = {
    SecurableKind.CATALOG: (*_ON_NAMESPACES, _P.DATA_LOCATION_ACCESS),
    SecurableKind.NAMESPACE: _ON_NAMESPACES,
    SecurableKind.TABLE: _ON_TABLES,
    SecurableKind.VIEW: (_P.DESCRIBE, _P.SELECT, _P.ALTER, _P.DROP),
    SecurableKind.COLUMN: (_P.SELECT,),
    SecurableKind.TAG: _ON_TABLES,
    SecurableKind.DATA_FILTER: (_P.SELECT,),
}
"""What ``ALL`` grants on each kind of object: creating is granted on the catalog or a
namespace only, reading a column or a data filter's cells is all they take."""


@dataclass(frozen=True)
class CreateRole:
    name: str


@dataclass(frozen=True)
class DropRole:
    name: str


@dataclass(frozen=True)
class GrantRole:
    """``GRANT ROLE role TO PRINCIPAL p`` or ``TO ROLE r`` (a role inside a role)."""

    role: str
    to: Grantee


@dataclass(frozen=True)
class RevokeRole:
    role: str
    from_: Grantee


@dataclass(frozen=True)
class Grant:
    """Privileges on objects (several only for a column list: one per column)."""

    privileges: tuple[Privilege, ...]
    on: tuple[Securable, ...]
    to: Grantee
    with_grant_option: bool = False


@dataclass(frozen=True)
class Revoke:
    privileges: tuple[Privilege, ...]
    on: tuple[Securable, ...]
    from_: Grantee
    all_privileges: bool = False
    """``REVOKE ALL``: whichever of ``privileges`` the grantee holds, not each of them."""


@dataclass(frozen=True)
class ShowGrants:
    """Every grant (none given), those on some objects, to someone, or both."""

    on: tuple[Securable, ...] = ()
    to: Grantee | None = None


@dataclass(frozen=True)
class ShowRoles:
    pass


@dataclass(frozen=True)
class ShowTags:
    pass


@dataclass(frozen=True)
class ShowDataFilters:
    pass


@dataclass(frozen=True)
class CreateTag:
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class DropTag:
    key: str


@dataclass(frozen=True)
class SetTag:
    """``ALTER TABLE|VIEW|NAMESPACE x SET TAG key = 'value'``, or a column's
    (``ALTER TABLE ns.t ALTER COLUMN c SET TAG ...``)."""

    on: Securable
    key: str
    value: str


@dataclass(frozen=True)
class UnsetTag:
    on: Securable
    key: str


@dataclass(frozen=True)
class CreateDataFilter:
    """Rows of ``table`` matching ``where`` (None: every row), and its columns: those
    listed in ``columns``, all but those in ``excluding``, or (both None) all."""

    name: str
    table: str
    where: str | None = None
    columns: tuple[str, ...] | None = None
    excluding: tuple[str, ...] | None = None


@dataclass(frozen=True)
class DropDataFilter:
    name: str


@dataclass(frozen=True)
class CreateTenant:
    name: str


@dataclass(frozen=True)
class DropTenant:
    name: str


@dataclass(frozen=True)
class GrantTenantAdmin:
    """``GRANT ADMIN ON TENANT t TO PRINCIPAL p``."""

    tenant: str
    principal: str


@dataclass(frozen=True)
class RevokeTenantAdmin:
    tenant: str
    principal: str


@dataclass(frozen=True)
class ShowTenants:
    pass


@dataclass(frozen=True)
class CreateLink:
    """``CREATE LINK ns.name FOR [catalog.]ns.t``: ``catalog`` empty for this lake's."""

    name: str
    target: str
    catalog: str = ""


@dataclass(frozen=True)
class DropLink:
    name: str


@dataclass(frozen=True)
class ShowLinks:
    """``SHOW LINKS [IN ns]``: every link the principal may see, or those of ``namespace``."""

    namespace: str | None = None


Statement = (
    CreateRole
    | DropRole
    | GrantRole
    | RevokeRole
    | Grant
    | Revoke
    | ShowGrants
    | ShowRoles
    | ShowTags
    | ShowDataFilters
    | CreateTag
    | DropTag
    | SetTag
    | UnsetTag
    | CreateDataFilter
    | DropDataFilter
    | CreateTenant
    | DropTenant
    | GrantTenantAdmin
    | RevokeTenantAdmin
    | ShowTenants
    | CreateLink
    | DropLink
    | ShowLinks
)

_MAYBE = re.compile(
    r"\s*(?:(?:--[^\n]*(?:\n|$)|/\*.*?\*/)\s*)*(?:EXPLAIN\s+(?:ANALYZE\s+)?)?"
    r"(?:GRANT|REVOKE|CREATE|DROP|SHOW|ALTER)\b",
    re.IGNORECASE | re.DOTALL,
)
"""Every governance statement starts so: anything else is DuckDB's without tokenizing."""


def parse_statement(sql: str, *, explain: bool = False) -> Statement | None:
    """Read ``sql`` as a governance statement.

    Args: ``sql``, one statement (a closing ``;`` allowed); ``explain``, whether the
    caller means to explain it (as ``EXPLAIN ...`` in the text does).
    Returns: the statement, or None when ``sql`` is not a governance statement (a query,
    ``CREATE TABLE``, ``SHOW TABLES``...: DuckDB's to run).
    Raises: GovernanceSyntaxError (it begins like one but does not parse), QueryError (a
    governance statement explained: it reads no table, so there is no plan to show)."""
    if not _MAYBE.match(sql):
        return None
    cursor = Cursor(sql)
    if cursor.accept("EXPLAIN"):
        cursor.accept("ANALYZE")
        explain = True
    start = cursor.peek()
    parse = _recognise(cursor)
    if parse is None:
        return None
    if explain:
        raise QueryError(
            f"EXPLAIN shows what a query reads, and {start.text.upper()} reads no table: "
            "run the statement without EXPLAIN",
            sql=sql,
        )
    statement = parse(cursor)
    cursor.expect_end()
    return statement


Parser = Callable[[Cursor], Statement]


def _recognise(cursor: Cursor) -> Parser | None:
    """The parser for the statement ahead, its leading keywords read; None (nothing
    read) when the statement is not a governance statement."""
    for words, parse in _STARTS:
        if cursor.accept(*words):
            return parse
    if cursor.at("ALTER", "TABLE") and _sets_a_tag(cursor):
        cursor.accept("ALTER", "TABLE")
        return _alter_table
    if cursor.at("ALTER", "VIEW") and _sets_a_tag(cursor):
        cursor.accept("ALTER", "VIEW")
        return _alter_view
    return None


def _sets_a_tag(cursor: Cursor) -> bool:
    """Whether ``ALTER TABLE|VIEW name`` is followed by ``[ALTER COLUMN c] SET|UNSET
    TAG`` (any other ALTER TABLE or VIEW is DuckDB's). Reads nothing."""
    start = cursor.index
    try:
        cursor.index += 2
        cursor.expect_dotted("a table name")
        if cursor.accept("ALTER", "COLUMN"):
            cursor.expect_name("a column name")
        return cursor.at("SET", "TAG") or cursor.at("UNSET", "TAG")
    except QueryError:
        return False
    finally:
        cursor.index = start


# -- roles and grants -----------------------------------------------------------------------


def _grantee(cursor: Cursor) -> Grantee:
    if cursor.accept("PRINCIPAL"):
        return Grantee(GranteeKind.PRINCIPAL, cursor.expect_name("a principal name"))
    if cursor.accept("ROLE"):
        return Grantee(GranteeKind.ROLE, cursor.expect_name("a role name"))
    if cursor.accept("TENANT"):
        return Grantee(GranteeKind.TENANT, cursor.expect_name("a tenant name"))
    raise cursor.error("PRINCIPAL, ROLE or TENANT")


def _tenant_admin(cursor: Cursor, preposition: str) -> tuple[str, str]:
    """``ON TENANT t TO|FROM PRINCIPAL p``, after ``GRANT|REVOKE ADMIN``."""
    cursor.expect("ON", "TENANT")
    tenant = cursor.expect_name("a tenant name")
    cursor.expect(preposition, "PRINCIPAL")
    return tenant, cursor.expect_name("a principal name")


def _grant(cursor: Cursor) -> GrantRole | Grant | GrantTenantAdmin:
    if cursor.accept("ADMIN"):
        return GrantTenantAdmin(*_tenant_admin(cursor, "TO"))
    if cursor.accept("ROLE"):
        role = cursor.expect_name("a role name")
        cursor.expect("TO")
        return GrantRole(role, _grantee(cursor))
    privileges, on = _privileges_on(cursor)
    cursor.expect("TO")
    to = _grantee(cursor)
    with_grant_option = cursor.accept("WITH")
    if with_grant_option:
        cursor.expect("GRANT", "OPTION")
    return Grant(privileges, on, to, with_grant_option)


def _revoke(cursor: Cursor) -> RevokeRole | Revoke | RevokeTenantAdmin:
    if cursor.accept("ADMIN"):
        return RevokeTenantAdmin(*_tenant_admin(cursor, "FROM"))
    if cursor.accept("ROLE"):
        role = cursor.expect_name("a role name")
        cursor.expect("FROM")
        return RevokeRole(role, _grantee(cursor))
    every = cursor.at("ALL")
    privileges, on = _privileges_on(cursor)
    cursor.expect("FROM")
    return Revoke(privileges, on, _grantee(cursor), all_privileges=every)


def _privileges_on(cursor: Cursor) -> tuple[tuple[Privilege, ...], tuple[Securable, ...]]:
    """``SELECT, INSERT ON ...``, ``SELECT (c1, c2) ON TABLE ...`` or ``ALL ON ...``."""
    if cursor.accept("ALL"):
        cursor.accept("PRIVILEGES")
        cursor.expect("ON")
        on = _securables(cursor)
        return ALL_PRIVILEGES[on[0].kind], on
    privileges = []
    columns: tuple[str, ...] | None = None
    while True:
        token = cursor.peek()
        privileges.append(_privilege(cursor))
        named = cursor.expect_list("a column name") if cursor.at_symbol("(") else None
        if len(privileges) > 1 and named != columns:
            raise cursor.error("the same column list after every privilege", token)
        columns = named
        if not cursor.accept_symbol(","):
            break
    cursor.expect("ON")
    return tuple(dict.fromkeys(privileges)), _securables(cursor, columns)


def _privilege(cursor: Cursor) -> Privilege:
    """A privilege by name, its words joined by ``_`` or not (``CREATE TABLE``)."""
    for count in (3, 2, 1):
        words = [cursor.peek(i) for i in range(count)]
        name = "_".join(w.text.upper() for w in words)
        if all(w.kind is Kind.WORD for w in words) and name in Privilege.__members__:
            cursor.index += count
            return Privilege[name]
    raise cursor.error(f"a privilege ({', '.join(Privilege)}) or ALL")


def _securables(cursor: Cursor, columns: tuple[str, ...] | None = None) -> tuple[Securable, ...]:
    """The object after ON; ``columns`` were listed after the privilege already."""
    kind_token = cursor.peek()
    if columns is not None and not kind_token.is_word("TABLE"):
        raise cursor.error("TABLE (a column list names a table's columns)")
    if cursor.accept("CATALOG"):
        return (Securable(SecurableKind.CATALOG, _optional_name(cursor)),)
    if cursor.accept("NAMESPACE"):
        return (Securable(SecurableKind.NAMESPACE, cursor.expect_dotted("a namespace")),)
    if cursor.accept("VIEW"):
        return (Securable(SecurableKind.VIEW, cursor.expect_dotted("a view name", parts=2)),)
    if cursor.accept("TAG"):
        return (Securable(SecurableKind.TAG, tags=_tag_expression(cursor)),)
    if cursor.accept("DATA", "FILTER"):
        return (Securable(SecurableKind.DATA_FILTER, cursor.expect_name("a data filter name")),)
    if not cursor.accept("TABLE"):
        raise cursor.error("CATALOG, NAMESPACE, TABLE, VIEW, TAG or DATA FILTER")
    table = cursor.expect_dotted("a table name", parts=2)
    if cursor.at_symbol("("):
        if columns is not None:
            raise cursor.error("TO or FROM (the columns were listed after the privilege)")
        columns = cursor.expect_list("a column name")
    if columns is None:
        return (Securable(SecurableKind.TABLE, table),)
    return tuple(Securable(SecurableKind.COLUMN, table, column=c) for c in columns)


def _optional_name(cursor: Cursor) -> str:
    """``ON CATALOG`` may name the catalog; empty when it does not (this lake's)."""
    if cursor.at_name() and not cursor.peek().is_word("TO", "FROM"):
        return cursor.expect_name("a catalog name")
    return ""


def _tag_expression(cursor: Cursor) -> tuple[TagCondition, ...]:
    """``k = 'a' AND k2 IN ('x', 'y')``: one condition per key."""
    conditions: dict[str, TagCondition] = {}
    while True:
        token = cursor.peek()
        key = cursor.expect_name("a tag key")
        if key in conditions:
            raise cursor.error(f"each tag key once (put the values of {key} in IN (...))", token)
        if cursor.accept_symbol("="):
            values: tuple[str, ...] = (cursor.expect_string("a tag value in quotes"),)
        elif cursor.accept("IN"):
            values = cursor.expect_list("a tag value in quotes", read="string")
        else:
            raise cursor.error("'=' or IN")
        conditions[key] = TagCondition(key, values)
        if not cursor.accept("AND"):
            return tuple(conditions.values())


def _show_grants(cursor: Cursor) -> ShowGrants:
    on = _securables(cursor) if cursor.accept("ON") else ()
    return ShowGrants(on, _grantee(cursor) if cursor.accept("TO") else None)


# -- tags -----------------------------------------------------------------------------------


def _create_tag(cursor: Cursor) -> CreateTag:
    key = cursor.expect_name("a tag key")
    cursor.expect("VALUES")
    return CreateTag(key, cursor.expect_list("a tag value in quotes", read="string"))


def _set_or_unset(cursor: Cursor, on: Securable) -> SetTag | UnsetTag:
    if cursor.accept("UNSET"):
        cursor.expect("TAG")
        return UnsetTag(on, cursor.expect_name("a tag key"))
    cursor.expect("SET")
    cursor.expect("TAG")
    key = cursor.expect_name("a tag key")
    cursor.expect_symbol("=")
    return SetTag(on, key, cursor.expect_string("a tag value in quotes"))


def _alter_table(cursor: Cursor) -> SetTag | UnsetTag:
    table = cursor.expect_dotted("a table name", parts=2)
    if cursor.accept("ALTER", "COLUMN"):
        column = cursor.expect_name("a column name")
        return _set_or_unset(cursor, Securable(SecurableKind.COLUMN, table, column=column))
    return _set_or_unset(cursor, Securable(SecurableKind.TABLE, table))


def _alter_view(cursor: Cursor) -> SetTag | UnsetTag:
    view = cursor.expect_dotted("a view name", parts=2)
    return _set_or_unset(cursor, Securable(SecurableKind.VIEW, view))


def _alter_namespace(cursor: Cursor) -> SetTag | UnsetTag:
    namespace = cursor.expect_dotted("a namespace")
    return _set_or_unset(cursor, Securable(SecurableKind.NAMESPACE, namespace))


# -- data filters ---------------------------------------------------------------------------


def _create_data_filter(cursor: Cursor) -> CreateDataFilter:
    name = cursor.expect_name("a data filter name")
    cursor.expect("ON")
    table = cursor.expect_dotted("a table name", parts=2)
    where = _predicate(cursor) if cursor.accept("WHERE") else None
    if cursor.accept("COLUMNS"):
        return CreateDataFilter(name, table, where, columns=cursor.expect_list("a column name"))
    if cursor.accept("EXCLUDING"):
        cursor.expect("COLUMNS")
        excluding = cursor.expect_list("a column name")
        return CreateDataFilter(name, table, where, excluding=excluding)
    return CreateDataFilter(name, table, where)


def _predicate(cursor: Cursor) -> str:
    """The text after WHERE up to ``COLUMNS (`` or ``EXCLUDING COLUMNS`` outside any
    parentheses, or the end: strings and quoted names are single tokens, so a
    ``'COLUMNS'`` in a string ends nothing."""
    first = last = cursor.peek()
    depth = 0
    while True:
        token = cursor.peek()
        ahead = cursor.peek(1)
        if token.kind is Kind.END or (depth == 0 and _ends_predicate(token.text, ahead)):
            break
        if token.kind is Kind.UNTERMINATED:
            raise cursor.error("a closing quote")
        if cursor.at_symbol(")") and depth == 0:
            raise cursor.error("a predicate whose parentheses match")
        depth += {"(": 1, ")": -1}.get(token.text, 0) if token.kind is Kind.SYMBOL else 0
        last = cursor.next()
    if depth:
        raise cursor.error("')'")
    if cursor.peek() is first:
        raise cursor.error("a predicate after WHERE")
    return cursor.sql[first.start : last.end]


def _ends_predicate(text: str, ahead: Token) -> bool:
    upper = text.upper()
    return (
        (upper == "COLUMNS" and ahead.kind is Kind.SYMBOL and ahead.text == "(")
        or (upper == "EXCLUDING" and ahead.is_word("COLUMNS"))
        or text == ";"
    )


# -- resource links -------------------------------------------------------------------------


def _create_link(cursor: Cursor) -> CreateLink:
    name = cursor.expect_dotted("a link name", parts=2)
    cursor.expect("FOR")
    token = cursor.peek()
    target = cursor.expect_dotted("a table name", parts=2).split(".")
    if len(name.split(".")) != 2 or len(target) > 3:
        raise cursor.error("namespace.name FOR [catalog.]namespace.table", token)
    catalog = target[0] if len(target) == 3 else ""
    return CreateLink(name, ".".join(target[-2:]), catalog)


def _show_links(cursor: Cursor) -> ShowLinks:
    return ShowLinks(cursor.expect_name("a namespace") if cursor.accept("IN") else None)


def _empty(statement: Statement) -> Parser:
    return lambda cursor: statement


_STARTS: tuple[tuple[tuple[str, ...], Parser], ...] = (
    (("GRANT",), _grant),
    (("REVOKE",), _revoke),
    (("CREATE", "ROLE"), lambda c: CreateRole(c.expect_name("a role name"))),
    (("DROP", "ROLE"), lambda c: DropRole(c.expect_name("a role name"))),
    (("CREATE", "TAG"), _create_tag),
    (("DROP", "TAG"), lambda c: DropTag(c.expect_name("a tag key"))),
    (("CREATE", "DATA", "FILTER"), _create_data_filter),
    (("DROP", "DATA", "FILTER"), lambda c: DropDataFilter(c.expect_name("a data filter name"))),
    (("SHOW", "GRANTS"), _show_grants),
    (("SHOW", "ROLES"), _empty(ShowRoles())),
    (("SHOW", "TAGS"), _empty(ShowTags())),
    (("SHOW", "DATA", "FILTERS"), _empty(ShowDataFilters())),
    (("CREATE", "TENANT"), lambda c: CreateTenant(c.expect_name("a tenant name"))),
    (("DROP", "TENANT"), lambda c: DropTenant(c.expect_name("a tenant name"))),
    (("SHOW", "TENANTS"), _empty(ShowTenants())),
    (("ALTER", "NAMESPACE"), _alter_namespace),
    (("CREATE", "LINK"), _create_link),
    (("DROP", "LINK"), lambda c: DropLink(c.expect_dotted("a link name", parts=2))),
    (("SHOW", "LINKS"), _show_links),
)
"""The leading keywords of each statement, and what reads the rest (ALTER TABLE and ALTER
VIEW are only governance's when they set a tag: ``_sets_a_tag``)."""
