"""Governance statements run on the lake, so that ``icehouse sql``, the Python API and
the query API grant and revoke in SQL through the same methods as everything else.

``Lake.sql`` hands here every statement ``govern.statements`` recognises; each becomes
a call of ``lake.governance`` (which checks that the lake's principal may make it), and
its answer a table, as a query's would be: ``SHOW ...`` one row per grant, role, tag or
data filter; every other statement one row saying what it did.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, assert_never

import pyarrow as pa

from icehouse.config import CATALOG_NAME
from icehouse.govern.objects import Grantee, Privilege, Securable, SecurableKind
from icehouse.govern.statements import (
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
)

if TYPE_CHECKING:
    from icehouse.lake import Lake

GRANTS_SCHEMA = pa.schema(
    [
        ("grantee", pa.string()),
        ("privilege", pa.string()),
        ("object", pa.string()),
        ("with_grant_option", pa.bool_()),
        ("granted_by", pa.string()),
    ]
)
"""``SHOW GRANTS``: who holds which privilege on what (``role analysts``, ``SELECT``,
``table logs.events``), whether they may grant it on, and who granted it."""


def run_statement(lake: Lake, statement: Statement) -> pa.Table:
    """Run ``statement`` as ``lake``'s principal.

    Returns: the rows of a SHOW, or one row (``status``) saying what was done.
    Raises: what ``lake.governance`` raises (Forbidden, NoSuchRole, GrantNotHeld...)."""
    if isinstance(statement, ShowGrants):
        return _show_grants(lake, statement)
    if isinstance(statement, ShowRoles | ShowTags | ShowDataFilters):
        return _show(lake, statement)
    if isinstance(statement, ShowTenants):
        return _show_tenants(lake)
    if isinstance(statement, ShowLinks):
        return _show_links(lake, statement)
    return pa.table({"status": [_change(lake, statement)]})


Change = (
    CreateRole
    | DropRole
    | GrantRole
    | RevokeRole
    | Grant
    | Revoke
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
    | CreateLink
    | DropLink
)
"""The statements that change something (all but the SHOWs)."""


def _change(lake: Lake, statement: Change) -> str:
    """Make the change; what was done, in words."""
    governance = lake.governance
    match statement:
        case CreateRole(name):
            if lake.principal.tenant is None:
                governance.create_role(name)
            else:  # a tenant's principal makes its tenant's roles
                lake.tenants.create_role(lake.principal.tenant, name)
            return f"created role {name}"
        case DropRole(name):
            governance.drop_role(name)
            return f"dropped role {name}"
        case GrantRole(role, to):
            governance.grant_role(role, to)
            return f"granted role {role} to {to}"
        case RevokeRole(role, from_):
            governance.revoke_role(role, from_)
            return f"revoked role {role} from {from_}"
        case Grant(privileges, on, to, with_grant_option):
            _resolve_all(lake, on)
            for securable in _named(on):
                governance.grant(privileges, securable, to, with_grant_option=with_grant_option)
            option = " with grant option" if with_grant_option else ""
            return f"granted {_words(privileges)} on {_objects(on)} to {to}{option}"
        case Revoke(privileges, on, from_, all_privileges):
            _resolve_all(lake, on)
            revoked: dict[Privilege, None] = {}
            for securable in _named(on):
                held = _held(lake, securable, from_, privileges) if all_privileges else ()
                governance.revoke(held or privileges, securable, from_)
                revoked.update(dict.fromkeys(held or privileges))
            return f"revoked {_words(list(revoked))} on {_objects(on)} from {from_}"
        case CreateTag(key, values):
            governance.create_tag(key, values)
            return f"created tag {key} with values {_quoted(values)}"
        case DropTag(key):
            governance.drop_tag(key)
            return f"dropped tag {key}"
        case SetTag(on, key, value):
            governance.set_tag(on, key, value)
            return f"set tag {key} = {_quoted([value])} on {on}"
        case UnsetTag(on, key):
            governance.unset_tag(on, key)
            return f"unset tag {key} on {on}"
        case CreateDataFilter(name, table, where, columns, excluding):
            governance.create_data_filter(
                name, table, where=where, columns=columns, excluding=excluding
            )
            return f"created data filter {name} on {table}"
        case DropDataFilter(name):
            governance.drop_data_filter(name)
            return f"dropped data filter {name}"
        case CreateTenant(name):
            lake.tenants.create(name)
            return f"created tenant {name}"
        case DropTenant(name):
            lake.tenants.drop(name)
            return f"dropped tenant {name}"
        case GrantTenantAdmin(tenant, principal):
            lake.tenants.grant_admin(tenant, principal)
            return f"granted admin on tenant {tenant} to principal {principal}"
        case RevokeTenantAdmin(tenant, principal):
            lake.tenants.revoke_admin(tenant, principal)
            return f"revoked admin on tenant {tenant} from principal {principal}"
        case CreateLink(name, target, catalog):
            lake.links.create(name, target, catalog=catalog)
            return f"created link {name} for {f'{catalog}.' if catalog else ''}{target}"
        case DropLink(name):
            lake.links.drop(name)
            return f"dropped link {name}"
        case _:
            assert_never(statement)


def _held(
    lake: Lake, on: Securable, grantee: Grantee, privileges: tuple[Privilege, ...]
) -> tuple[Privilege, ...]:
    """Which of ``privileges`` ``grantee`` holds on ``on``: what ``REVOKE ALL`` takes
    back (the others are not there to revoke)."""
    shown = {g.privilege for g in lake.governance.show_grants(on=on, to=grantee)}
    return tuple(p for p in privileges if p in shown)


def _resolve_all(lake: Lake, on: tuple[Securable, ...]) -> None:
    """Look up every column of a column list before granting or revoking on any, so that
    a misspelt column changes nothing (each column is its own grant).

    Raises: NoSuchTable, InvalidInput (a column the table does not have)."""
    if len(on) > 1:
        for securable in on:
            lake.governance.show_grants(on=securable)


def _show_grants(lake: Lake, statement: ShowGrants) -> pa.Table:
    governance = lake.governance
    if statement.on:
        grants = [
            grant
            for securable in _named(statement.on)
            for grant in governance.show_grants(on=securable, to=statement.to)
        ]
    else:
        grants = governance.show_grants(to=statement.to)
    rows = [
        {
            "grantee": str(grant.grantee),
            "privilege": str(grant.privilege),
            "object": str(grant.on),
            "with_grant_option": grant.with_grant_option,
            "granted_by": grant.granted_by,
        }
        for grant in grants
    ]
    return pa.Table.from_pylist(rows, schema=GRANTS_SCHEMA)


ROLES_SCHEMA = pa.schema([("name", pa.string()), ("members", pa.list_(pa.string()))])
"""``SHOW ROLES``: each role and its direct members (``principal ana``, ``role r``)."""
TAGS_SCHEMA = pa.schema([("key", pa.string()), ("values", pa.list_(pa.string()))])
DATA_FILTERS_SCHEMA = pa.schema(
    [
        ("name", pa.string()),
        ("table", pa.string()),
        ("where", pa.string()),
        ("columns", pa.list_(pa.string())),
        ("excluding", pa.list_(pa.string())),
    ]
)
"""``SHOW DATA FILTERS``, as ``CREATE DATA FILTER`` says it: the table, the rows
(``where``, None for all), and the columns listed (``columns``) or left out
(``excluding``), both None for all; named as they are called now."""


def _show(lake: Lake, statement: ShowRoles | ShowTags | ShowDataFilters) -> pa.Table:
    governance = lake.governance
    if isinstance(statement, ShowRoles):
        roles = [
            {"name": r.name, "members": [str(m) for m in r.members]}
            for r in governance.list_roles()
        ]
        return pa.Table.from_pylist(roles, schema=ROLES_SCHEMA)
    if isinstance(statement, ShowTags):
        tags = [{"key": t.key, "values": list(t.values)} for t in governance.list_tags()]
        return pa.Table.from_pylist(tags, schema=TAGS_SCHEMA)
    filters = [
        {
            "name": f.name,
            "table": f.table,
            "where": _where(lake, f.table, f.row_filter),
            "columns": list(f.columns) if f.column_mode == "include" else None,
            "excluding": list(f.columns) if f.column_mode == "exclude" else None,
        }
        for f in governance.list_data_filters()
    ]
    return pa.Table.from_pylist(filters, schema=DATA_FILTERS_SCHEMA)


TENANTS_SCHEMA = pa.schema(
    [
        ("name", pa.string()),
        ("admins", pa.list_(pa.string())),
        ("principals", pa.int64()),
        ("roles", pa.int64()),
    ]
)
"""``SHOW TENANTS``: each tenant, its administrators, how many principals and roles."""


def _show_tenants(lake: Lake) -> pa.Table:
    tenants = [
        {"name": t.name, "admins": list(t.admins), "principals": t.principals, "roles": t.roles}
        for t in lake.tenants.list()
    ]
    return pa.Table.from_pylist(tenants, schema=TENANTS_SCHEMA)


LINKS_SCHEMA = pa.schema(
    [("name", pa.string()), ("target", pa.string()), ("created_by", pa.string())]
)
"""``SHOW LINKS``: each link, the table it stands for (``mount.ns.t`` for a mounted
one), and who made it."""


def _show_links(lake: Lake, statement: ShowLinks) -> pa.Table:
    rows = [
        {"name": link.name, "target": link.qualified_target, "created_by": link.created_by}
        for link in lake.links.list(statement.namespace)
    ]
    return pa.Table.from_pylist(rows, schema=LINKS_SCHEMA)


def _where(lake: Lake, table: str, row_filter: dict[str, Any] | None) -> str | None:
    """A stored row filter as SQL over the table's current column names (it is kept by
    field id); as stored (JSON) when its table is gone."""
    from icehouse.tables.catalog import find_table
    from icehouse.tables.row_filters import row_filter_sql

    if row_filter is None:
        return None
    found = find_table(lake._catalog, table) if "." in table else None
    if found is None:
        return json.dumps(row_filter)
    return row_filter_sql(row_filter, found.schema())


def _named(on: tuple[Securable, ...]) -> list[Securable]:
    """``ON CATALOG`` without a name is this lake's catalog."""
    return [
        dataclasses.replace(s, name=CATALOG_NAME)
        if s.kind is SecurableKind.CATALOG and not s.name
        else s
        for s in on
    ]


def _objects(on: tuple[Securable, ...]) -> str:
    return ", ".join(str(s) for s in _named(on))


def _words(privileges: Sequence[Privilege]) -> str:
    return ", ".join(str(p.value) for p in privileges)


def _quoted(values: Sequence[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)
