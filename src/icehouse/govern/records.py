"""Governance as the state database keeps it, one frozen value per row, and what the
``lake.governance`` group hands out (``GrantInfo``, ``RoleInfo``, ``TagInfo``,
``DataFilterInfo``).

Rows name tables by UUID and columns by field id; the infos name them as they are called
now, which only the lake (holding the catalog) can say.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from icehouse.govern.objects import Grantee, GranteeKind, Privilege, Securable, SecurableKind

NOT_A_COLUMN = 0
"""The ``field_id`` of an object that is not a column (Iceberg field ids start at 1)."""


@dataclass(frozen=True)
class Target:
    """A securable as stored: its kind, its key (the catalog's name, a namespace's dotted
    name, a table's or view's UUID, a canonical tag expression, a data filter's id) and,
    for a column, its field id."""

    kind: SecurableKind
    key: str
    field_id: int = NOT_A_COLUMN


@dataclass(frozen=True)
class ObjectPath:
    """Where an object sits, for a decision: its namespace (empty for the catalog), the
    table's or view's UUID and current name (``ns.t``), and a column's field id."""

    namespace: tuple[str, ...] = ()
    uuid: str = ""
    name: str = ""
    kind: SecurableKind = SecurableKind.CATALOG
    field_id: int = NOT_A_COLUMN
    catalog: str = ""
    """The mount the object is in (its namespace then starts with the mount's name);
    empty for the lake's own catalog."""


MOUNTED_KEY_SEPARATOR = "/"
"""Between a mount's name and a producer table's UUID in a mounted object's key: a UUID
never holds it, so a local key is never taken for a mounted one."""


def mounted_key(mount: str, uuid: str) -> str:
    """The key of the producer table ``uuid`` read through ``mount``: the same table
    registered locally, or mounted under another name, has another key, so it never
    inherits the grants, tags and filters given here."""
    return f"{mount}{MOUNTED_KEY_SEPARATOR}{uuid}"


def mount_of(key: str) -> str | None:
    """The mount of a mounted object's key; None for a local table's or view's UUID."""
    mount, separator, _ = key.partition(MOUNTED_KEY_SEPARATOR)
    return mount if separator else None


@dataclass(frozen=True)
class GrantRow:
    id: int
    grantee: Grantee
    privilege: Privilege
    target: Target
    with_grant_option: bool
    granted_by: str
    via: int | None


@dataclass(frozen=True)
class DataFilterRow:
    id: int
    name: str
    table_uuid: str
    row_filter: dict[str, Any] | None
    column_mode: str
    """``all``, ``include`` or ``exclude`` (the ``field_ids``)."""
    field_ids: frozenset[int]


@dataclass(frozen=True)
class TagRow:
    """A tag on a namespace (``object_key`` its dotted name), a table (its UUID) or a
    column (its table's UUID and ``field_id``)."""

    object_kind: SecurableKind
    object_key: str
    field_id: int
    key: str
    value: str


@dataclass(frozen=True)
class PolicyRows:
    """Everything a decision depends on, as read in one transaction."""

    version: int
    grants: tuple[GrantRow, ...] = ()
    memberships: tuple[tuple[str, Grantee], ...] = ()
    """(role, member): the member is in the role."""
    tags: tuple[TagRow, ...] = ()
    data_filters: tuple[DataFilterRow, ...] = ()
    owners: dict[tuple[SecurableKind, str], str] = field(default_factory=dict)
    """(TABLE or VIEW, UUID) → the principal that created it."""
    tenants: dict[Grantee, str] = field(default_factory=dict)
    """A principal or role → the tenant it belongs to (absent: the server's own)."""
    tenant_admins: tuple[tuple[str, str], ...] = ()
    """(tenant, principal): the principal administers the tenant."""


@dataclass(frozen=True)
class GrantInfo:
    """A grant as ``SHOW GRANTS`` lists it: the object as it is named now."""

    grantee: Grantee
    privilege: Privilege
    on: Securable
    with_grant_option: bool
    granted_by: str


@dataclass(frozen=True)
class RoleInfo:
    name: str
    members: tuple[Grantee, ...]
    tenant: str | None = None
    """The tenant the role belongs to (None: the server's own)."""


@dataclass(frozen=True)
class TagInfo:
    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class DataFilterInfo:
    """A data filter as listed: its table and columns by their current names, its row
    filter as stored (columns by field id)."""

    name: str
    table: str
    row_filter: dict[str, Any] | None
    column_mode: str
    columns: tuple[str, ...]


def tag_expression_key(conditions: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    """The one spelling of a tag expression (keys and values sorted, JSON), so that the
    same expression written two ways is one securable."""
    merged: dict[str, set[str]] = {}
    for key, values in conditions:
        merged.setdefault(key, set()).update(values)
    return json.dumps(
        [[key, sorted(values)] for key, values in sorted(merged.items())], separators=(",", ":")
    )


def tag_expression(key: str) -> tuple[tuple[str, frozenset[str]], ...]:
    """The conditions of a stored tag expression: (key, allowed values), ANDed."""
    return tuple((k, frozenset(values)) for k, values in json.loads(key))


def grantee_of(kind: str, name: str) -> Grantee:
    return Grantee(GranteeKind(kind), name)
