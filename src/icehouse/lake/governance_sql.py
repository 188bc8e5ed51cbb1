"""Governance statements run on the lake, so that ``icehouse sql``, the Python API and
the query API grant and revoke in SQL through the same methods as everything else.

``Lake.sql`` hands here every statement ``govern.statements`` recognises; each becomes
a call of ``lake.governance`` (which checks that the lake's principal may make it), and
its answer a table, as a query's would be: ``SHOW ...`` one row per grant, role, tag or
data filter; every other statement one row saying what it did.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from icehouse.config import CATALOG_NAME
from icehouse.govern.objects import Securable, SecurableKind
from icehouse.govern.statements import (
    CreateDataFilter,
    CreateRole,
    CreateTag,
    DropDataFilter,
    DropRole,
    DropTag,
    Grant,
    GrantRole,
    Revoke,
    RevokeRole,
    SetTag,
    ShowDataFilters,
    ShowGrants,
    ShowRoles,
    ShowTags,
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
    Raises: whatever ``lake.governance`` raises (Forbidden, RoleNotFound...)."""
    if isinstance(statement, ShowGrants):
        return _show_grants(lake, statement)
    if isinstance(statement, ShowRoles | ShowTags | ShowDataFilters):
        return _show(lake, statement)
    return pa.table({"status": [_change(lake, statement)]})


def _change(lake: Lake, statement: Statement) -> str:
    """Make the change; what was done, in words."""
    governance = lake.governance
    match statement:
        case CreateRole(name):
            governance.create_role(name)
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
            for securable in _named(on):
                governance.grant(privileges, securable, to, with_grant_option=with_grant_option)
            option = " with grant option" if with_grant_option else ""
            return f"granted {_words(privileges)} on {_objects(on)} to {to}{option}"
        case Revoke(privileges, on, from_):
            for securable in _named(on):
                governance.revoke(privileges, securable, from_)
            return f"revoked {_words(privileges)} on {_objects(on)} from {from_}"
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
    raise AssertionError(f"no change is made for {statement!r}")  # SHOWs are not changes


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
            "granted_by": None if grant.granted_by is None else str(grant.granted_by),
        }
        for grant in grants
    ]
    return pa.Table.from_pylist(rows, schema=GRANTS_SCHEMA)


def _show(lake: Lake, statement: ShowRoles | ShowTags | ShowDataFilters) -> pa.Table:
    """One row per role, tag or data filter, one column per field of what the lake
    lists."""
    governance = lake.governance
    listed: Sequence[Any]
    if isinstance(statement, ShowRoles):
        listed = governance.list_roles()
    elif isinstance(statement, ShowTags):
        listed = governance.list_tags()
    else:
        listed = governance.list_data_filters()
    return pa.Table.from_pylist([_plain_record(item) for item in listed])


def _plain_record(item: Any) -> dict[str, Any]:
    return {f.name: _plain(getattr(item, f.name)) for f in dataclasses.fields(item)}


def _plain(value: Any) -> Any:
    """A value Arrow can hold: names of enums and objects as text, sequences as lists."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, list | tuple | frozenset | set):
        return [_plain(v) for v in value]
    return str(value)


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


def _words(privileges: Sequence[Enum]) -> str:
    return ", ".join(str(p.value) for p in privileges)


def _quoted(values: Sequence[str]) -> str:
    return ", ".join("'" + v.replace("'", "''") + "'" for v in values)
