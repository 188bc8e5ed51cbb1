"""What grants are about: privileges, the objects they are on, and who holds them.

These are the words every part of governance shares (the statements ``icehouse sql``
accepts, the state database's rows, the decisions, the audit), so they live apart from
any one of them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Privilege(StrEnum):
    DESCRIBE = "DESCRIBE"
    SELECT = "SELECT"
    INSERT = "INSERT"
    DELETE = "DELETE"
    ALTER = "ALTER"
    DROP = "DROP"
    CREATE_NAMESPACE = "CREATE_NAMESPACE"
    CREATE_TABLE = "CREATE_TABLE"
    CREATE_VIEW = "CREATE_VIEW"
    DATA_LOCATION_ACCESS = "DATA_LOCATION_ACCESS"
    MANAGE_GRANTS = "MANAGE_GRANTS"
    """Create and drop roles, tags and data filters, and grant what one does not hold
    with grant option: the administrator's work, delegated (on the catalog only)."""


class SecurableKind(StrEnum):
    CATALOG = "catalog"
    NAMESPACE = "namespace"
    TABLE = "table"
    VIEW = "view"
    COLUMN = "column"
    TAG = "tag"
    """A tag expression: every namespace, table and column whose tags match it."""
    DATA_FILTER = "data_filter"


@dataclass(frozen=True)
class TagCondition:
    """``key = 'a'`` or ``key IN ('a', 'b')``: the values of one key are ORed."""

    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Securable:
    """An object a privilege is granted on, as a statement names it.

    ``name``: the catalog's name (``icehouse``) for CATALOG, ``a.b`` for a namespace,
    ``ns.t`` for a table or view (and for a column's table), the filter's name for a
    DATA_FILTER, empty for TAG. ``column`` only for COLUMN. ``tags`` only for TAG: the
    conditions, ANDed (one per key)."""

    kind: SecurableKind
    name: str = ""
    column: str | None = None
    tags: tuple[TagCondition, ...] = field(default=())

    def __str__(self) -> str:
        if self.kind is SecurableKind.TAG:
            return "tag " + " AND ".join(
                f"{c.key} IN ({', '.join(repr(v) for v in c.values)})" for c in self.tags
            )
        if self.kind is SecurableKind.COLUMN:
            return f"column {self.name}.{self.column}"
        return f"{self.kind.value.replace('_', ' ')} {self.name}"


class GranteeKind(StrEnum):
    PRINCIPAL = "principal"
    ROLE = "role"
    TENANT = "tenant"
    """A share with another tenant: its administrators re-grant it inside the tenant;
    its principals hold nothing of it until they do."""


@dataclass(frozen=True)
class Grantee:
    kind: GranteeKind
    name: str

    def __str__(self) -> str:
        return f"{self.kind.value} {self.name}"
