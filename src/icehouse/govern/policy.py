"""The policy: every grant, membership, tag, data filter and owner read at one version,
answering decisions from memory.

A decision is asked on every governed call, so it must cost microseconds, not a query:
the rows are indexed once, and what each principal holds (its roles, transitively, and
their grants by object) is worked out the first time it asks and kept with the snapshot.
A snapshot never changes; a newer policy version means a new snapshot.

The rules:

- **Inheritance.** A privilege on the catalog holds on every namespace, table, view and
  column; on a namespace, on its child namespaces and everything in them; on a table, on
  its columns. A principal holds what it was granted and what every role it is in (a role
  in a role, too) was granted.
- **Tags.** A namespace's tags are its tables' and columns' unless a closer object sets
  the same key (a child namespace, the table, the column). A grant on a tag expression
  holds on every object whose tags match it: each key present with one of its values.
- **Owners.** Whoever created a table or view holds every privilege on it, with grant
  option.
- **DESCRIBE** (seeing that an object exists) is implied by any privilege on the object
  or below it (a column, a data filter of a table) and by table privileges held on a
  namespace above it; creating objects in a namespace does not show the others there.
- **SELECT** is per cell (``govern/access.py``): whole tables, some columns, and each
  data filter's rows and columns are separate cell sets; a tag grant on a table whose
  columns override the tag covers only the columns that still match.
- **Views run with their definer's rights, limited to what the definer could grant**:
  a view reads a table with the access its owner holds *with grant option* (owning the
  table, or being an administrator, gives all of it). So a view never shows more than its
  owner could have granted the reader directly, and a principal who only may read a
  table cannot hand it on by wrapping it in a view.
- **Tenants.** A principal or role belongs to one tenant or to the server. A grant to a
  tenant (a share) is held by the tenant's administrators for granting on and for seeing
  that the object exists, never for reading: the tenant's principals, its administrators
  included, read nothing of it until it is re-granted to them. So a share through a data
  filter re-granted inside the tenant is that filter again, never more, and each
  re-grant stands on the share (its ``via``): revoking the share revokes them. Whoever
  belongs to a tenant grants only to its tenant's principals and roles; a principal of
  the server grants to the server's principals and roles, and to tenants (sharing). A
  tenant's administrator manages the grants to, and the memberships of, its tenant's
  principals and roles.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Hashable, Iterator
from dataclasses import dataclass
from typing import TypeVar, cast

from icehouse.govern.access import CellSet, TableAccess
from icehouse.govern.objects import Grantee, GranteeKind, Privilege, SecurableKind
from icehouse.govern.records import (
    NOT_A_COLUMN,
    DataFilterRow,
    GrantRow,
    ObjectPath,
    PolicyRows,
    Target,
    tag_expression,
)

T = TypeVar("T")

REMEMBERED = 1024
"""Answers ``Policy.remembered`` keeps per snapshot (all forgotten when it is full)."""
_UNKNOWN = object()

CATALOG_KEY = ""
"""The key of the catalog as a securable: a lake has one catalog."""

TABLE_PRIVILEGES = frozenset(
    {
        Privilege.DESCRIBE,
        Privilege.SELECT,
        Privilege.INSERT,
        Privilege.DELETE,
        Privilege.ALTER,
        Privilege.DROP,
        Privilege.DATA_LOCATION_ACCESS,
    }
)
"""Privileges about a table's own data and definition (what an owner holds)."""

Conditions = tuple[tuple[str, frozenset[str]], ...]
Namespace = tuple[str, ...]
NamespaceOf = Callable[[str], Namespace | None]
"""A table's or view's UUID → the namespace it is in now (None: dropped)."""


@dataclass(frozen=True)
class Authority:
    """Why a principal may grant something: ``via`` is the grant it holds with grant
    option (or MANAGE_GRANTS), None when it owns the object."""

    via: int | None


@dataclass
class _Held:
    """What one principal holds: its grants by object and privilege, and its grants on
    tag expressions."""

    direct: dict[Target, dict[Privilege, list[GrantRow]]]
    tagged: list[tuple[Conditions, GrantRow]]


class Policy:
    """A snapshot of the policy at ``version`` (see the module's rules)."""

    def __init__(self, rows: PolicyRows) -> None:
        self.version = rows.version
        self._rows = rows
        self._containers: dict[Grantee, set[str]] = {}
        for role, member in rows.memberships:
            self._containers.setdefault(member, set()).add(role)
        self._grants_of: dict[Grantee, list[GrantRow]] = {}
        for grant in rows.grants:
            self._grants_of.setdefault(grant.grantee, []).append(grant)
        self._namespace_tags: dict[str, dict[str, str]] = {}
        self._table_tags: dict[str, dict[str, str]] = {}
        self._column_tags: dict[str, dict[int, dict[str, str]]] = {}
        for tag in rows.tags:
            if tag.object_kind is SecurableKind.NAMESPACE:
                self._namespace_tags.setdefault(tag.object_key, {})[tag.key] = tag.value
            elif tag.field_id == NOT_A_COLUMN:
                self._table_tags.setdefault(tag.object_key, {})[tag.key] = tag.value
            else:
                columns = self._column_tags.setdefault(tag.object_key, {})
                columns.setdefault(tag.field_id, {})[tag.key] = tag.value
        self._filters: dict[str, DataFilterRow] = {str(f.id): f for f in rows.data_filters}
        self._filters_of: dict[str, list[DataFilterRow]] = {}
        for data_filter in rows.data_filters:
            self._filters_of.setdefault(data_filter.table_uuid, []).append(data_filter)
        self._tenant_of: dict[Grantee, str] = rows.tenants
        self._administers: dict[str, str] = {
            principal: tenant for tenant, principal in rows.tenant_admins
        }
        self._held_by: dict[tuple[str, bool], _Held] = {}
        self._remembered: dict[Hashable, object] = {}

    def remembered(self, key: Hashable, decide: Callable[[], T]) -> T:
        """``decide()``'s answer for ``key``, kept with this snapshot: a snapshot never
        changes, so an answer made only from it and from what ``key`` names (a listing's
        decisions: the principal and each table's metadata file) stays right for as long
        as the snapshot is the current policy. A principal that lists a namespace again
        is answered without deciding on each of its tables again."""
        found = self._remembered.get(key, _UNKNOWN)
        if found is not _UNKNOWN:
            return cast(T, found)
        answer = decide()
        if len(self._remembered) >= REMEMBERED:
            self._remembered.clear()
        self._remembered[key] = answer
        return answer

    # -- who is who ---------------------------------------------------------------------

    def roles_of(self, member: Grantee) -> frozenset[str]:
        """Every role ``member`` is in, directly or through other roles."""
        found: set[str] = set()
        pending = list(self._containers.get(member, ()))
        while pending:
            role = pending.pop()
            if role not in found:
                found.add(role)
                pending += self._containers.get(Grantee(GranteeKind.ROLE, role), ())
        return frozenset(found)

    def tenant_of(self, grantee: Grantee) -> str | None:
        """The tenant ``grantee`` belongs to, or is (None: the server's own)."""
        if grantee.kind is GranteeKind.TENANT:
            return grantee.name
        return self._tenant_of.get(grantee)

    def administers(self, principal: str) -> str | None:
        """The tenant ``principal`` administers, if any."""
        return self._administers.get(principal)

    def reaches(self, granter: str, grantee: Grantee) -> bool:
        """May ``granter`` (not an administrator of the server) grant to ``grantee`` at
        all? Inside its own tenant only; a principal of the server, to the server's
        principals and roles and to tenants."""
        mine = self.tenant_of(Grantee(GranteeKind.PRINCIPAL, granter))
        if grantee.kind is GranteeKind.TENANT:
            return mine is None
        return self.tenant_of(grantee) == mine

    def manages(self, principal: str, grantee: Grantee) -> bool:
        """Does ``principal`` administer the tenant ``grantee`` (a principal or role)
        belongs to? Then it manages the grants to it and its memberships."""
        tenant = self._administers.get(principal)
        return (
            tenant is not None
            and grantee.kind is not GranteeKind.TENANT
            and self._tenant_of.get(grantee) == tenant
        )

    def owner_of(self, path: ObjectPath) -> str | None:
        if not path.uuid:
            return None
        return self._rows.owners.get((path.kind, path.uuid))

    # -- decisions ----------------------------------------------------------------------

    def holds(
        self, principal: str, privilege: Privilege, path: ObjectPath, *, grant_option: bool = False
    ) -> bool:
        """May ``principal`` (not an administrator: the caller knows) exercise
        ``privilege`` on the object at ``path``?"""
        if privilege in TABLE_PRIVILEGES and self.owner_of(path) == principal:
            return True
        return self._grant_for(principal, privilege, path, grant_option) is not None

    def may_describe(
        self, principal: str, path: ObjectPath, namespace_of: NamespaceOf | None = None
    ) -> bool:
        """May ``principal`` see that the object at ``path`` exists? A namespace is also
        seen by whoever holds something inside it (a child namespace, a table, a view),
        which ``namespace_of`` (a table's or view's UUID → its namespace now) tells; so
        a principal can walk from the top of the catalog down to what it was granted."""
        if self._may_describe(principal, path):
            return True
        if path.kind is not SecurableKind.NAMESPACE or namespace_of is None:
            return False
        return any(
            inner[: len(path.namespace)] == path.namespace
            for inner in self._held_inside(principal, namespace_of)
        )

    def _held_inside(self, principal: str, namespace_of: NamespaceOf) -> Iterator[Namespace]:
        """The namespaces ``principal`` holds something in: those its grants, its tag
        grants and the objects it owns are in, and those below a namespace it holds a
        grant on (that namespace itself is described already)."""
        held = self._held(principal, shares=True)
        for target in held.direct:
            if target.kind is SecurableKind.NAMESPACE:
                yield tuple(target.key.split("."))[:-1]
            elif target.kind in (SecurableKind.TABLE, SecurableKind.VIEW, SecurableKind.COLUMN):
                yield from _found(namespace_of(target.key))
            elif target.kind is SecurableKind.DATA_FILTER and target.key in self._filters:
                yield from _found(namespace_of(self._filters[target.key].table_uuid))
        for (_kind, uuid), owner in self._rows.owners.items():
            if owner == principal:
                yield from _found(namespace_of(uuid))
        if held.tagged:
            for uuid in self._table_tags.keys() | self._column_tags.keys():
                namespace = namespace_of(uuid)
                if namespace is not None and self._may_describe(
                    principal, ObjectPath(namespace, uuid, kind=SecurableKind.TABLE)
                ):
                    yield namespace

    def _may_describe(self, principal: str, path: ObjectPath) -> bool:
        if path.uuid and self.owner_of(path) == principal:
            return True
        held = self._held(principal, shares=True)
        here = _targets(path)[0] if path.uuid or path.namespace else None
        if here is not None and held.direct.get(here):
            return True
        for target in _targets(path)[1:]:
            if any(p in TABLE_PRIVILEGES for p in held.direct.get(target, {})):
                return True
        if path.uuid and path.field_id == NOT_A_COLUMN:
            if self._has_column_or_filter_grant(held, path.uuid):
                return True
            paths = [path, *self._tagged_columns(path)]
        else:
            paths = [path]
        tags = [self._tags(p) for p in paths]
        return any(_matches(c, t) for c, _ in held.tagged for t in tags)

    def authority(
        self, principal: str, privilege: Privilege, target: Target, path: ObjectPath
    ) -> Authority | None:
        """May ``principal`` grant ``privilege`` on ``target`` (found at ``path``: for a
        data filter, its table)? It may when it owns the object, holds the privilege
        with grant option there (or above, or through a matching tag grant, or on the
        data filter's table), or holds MANAGE_GRANTS on the catalog."""
        if privilege in TABLE_PRIVILEGES and self.owner_of(path) == principal:
            return Authority(None)
        held = self._held(principal, shares=True)
        found: GrantRow | None
        if target.kind is SecurableKind.TAG:
            found = next(
                (
                    g
                    for g in _options(held.direct.get(target, {}).get(privilege, ()))
                    if g.target == target
                ),
                None,
            )
        else:
            if target.kind is SecurableKind.DATA_FILTER:
                found = _first(_options(held.direct.get(target, {}).get(privilege, ())))
            else:
                found = None
            found = found or self._grant_for(principal, privilege, path, True, shares=True)
        if found is None:
            manage = held.direct.get(Target(SecurableKind.CATALOG, CATALOG_KEY), {})
            found = _first(manage.get(Privilege.MANAGE_GRANTS, ()))
        return None if found is None else Authority(found.id)

    def table_access(
        self,
        principal: str,
        path: ObjectPath,
        all_field_ids: Collection[int],
        *,
        as_definer: bool = False,
    ) -> TableAccess:
        """The cells of the table at ``path`` that ``principal`` may SELECT, given every
        field id the table has had (``all_field_ids``: what a tag override or an
        excluded column is taken from). ``as_definer``: only what it holds with grant
        option (a view's owner reading for the view)."""
        if self.owner_of(path) == principal:
            return TableAccess(path.uuid, (CellSet(None, None, f"owner of {path.name}"),))
        whole = self._grant_for(principal, Privilege.SELECT, path, as_definer)
        if whole is not None:
            return TableAccess(path.uuid, (CellSet(None, None, _source(whole, path)),))
        held = self._held(principal)
        cells = [*self._tag_cells(held, path, all_field_ids, as_definer)]
        columns = frozenset(
            target.field_id
            for target, privileges in held.direct.items()
            if target.kind is SecurableKind.COLUMN
            and target.key == path.uuid
            and _usable(privileges.get(Privilege.SELECT, ()), as_definer)
        )
        if columns:
            cells.append(CellSet(None, columns, f"columns of {path.name}"))
        for data_filter in self._filters_of.get(path.uuid, ()):
            target = Target(SecurableKind.DATA_FILTER, str(data_filter.id))
            if _usable(held.direct.get(target, {}).get(Privilege.SELECT, ()), as_definer):
                cells.append(_filter_cells(data_filter, all_field_ids))
        return TableAccess(path.uuid, tuple(cells))

    # -- inside -------------------------------------------------------------------------

    def _held(self, principal: str, *, shares: bool = False) -> _Held:
        """What ``principal`` holds; with ``shares``, also what was shared with the
        tenant it administers (for granting on and describing, never for reading)."""
        held = self._held_by.get((principal, shares))
        if held is not None:
            return held
        me = Grantee(GranteeKind.PRINCIPAL, principal)
        grantees = [me, *(Grantee(GranteeKind.ROLE, r) for r in self.roles_of(me))]
        tenant = self._administers.get(principal)
        if shares and tenant is not None:
            grantees.append(Grantee(GranteeKind.TENANT, tenant))
        held = _Held(direct={}, tagged=[])
        for grantee in grantees:
            for grant in self._grants_of.get(grantee, ()):
                by_privilege = held.direct.setdefault(grant.target, {})
                by_privilege.setdefault(grant.privilege, []).append(grant)
                if grant.target.kind is SecurableKind.TAG:
                    held.tagged.append((tag_expression(grant.target.key), grant))
        self._held_by[principal, shares] = held  # a race computes the same value twice: harmless
        return held

    def _grant_for(
        self,
        principal: str,
        privilege: Privilege,
        path: ObjectPath,
        grant_option: bool,
        *,
        shares: bool = False,
    ) -> GrantRow | None:
        """A grant through which ``principal`` holds ``privilege`` at ``path``, the
        closest first, then one on a matching tag expression (``shares``: as ``_held``)."""
        held = self._held(principal, shares=shares)
        for target in _targets(path):
            found = _first(
                _usable_grants(held.direct.get(target, {}).get(privilege, ()), grant_option)
            )
            if found is not None:
                return found
        if not held.tagged:
            return None
        tags = self._tags(path)
        for conditions, grant in held.tagged:
            usable = grant.privilege is privilege and (grant.with_grant_option or not grant_option)
            if usable and _matches(conditions, tags) and not self._overridden(conditions, path):
                return grant
        return None

    def _overridden(self, conditions: Conditions, path: ObjectPath) -> bool:
        """A table-wide tag grant does not cover a table some of whose columns set a tag
        that no longer matches (those columns are covered one by one instead)."""
        if path.field_id != NOT_A_COLUMN or not path.uuid:
            return False
        return any(not _matches(conditions, self._tags(c)) for c in self._tagged_columns(path))

    def _tag_cells(
        self, held: _Held, path: ObjectPath, all_field_ids: Collection[int], as_definer: bool
    ) -> Iterator[CellSet]:
        """Per tag grant on SELECT that matches some columns but not the whole table: the
        columns whose tags (the table's, or their own) match."""
        table_tags = self._tags(path)
        own = self._column_tags.get(path.uuid, {})
        for conditions, grant in held.tagged:
            if grant.privilege is not Privilege.SELECT or not _usable((grant,), as_definer):
                continue
            shown = frozenset(
                field_id
                for field_id in all_field_ids
                if _matches(conditions, {**table_tags, **own.get(field_id, {})})
            )
            if shown:
                yield CellSet(None, shown, f"tag {_spell(conditions)}")

    def _tags(self, path: ObjectPath) -> dict[str, str]:
        tags: dict[str, str] = {}
        for depth in range(1, len(path.namespace) + 1):
            tags.update(self._namespace_tags.get(".".join(path.namespace[:depth]), {}))
        if path.uuid:
            tags.update(self._table_tags.get(path.uuid, {}))
            if path.field_id != NOT_A_COLUMN:
                tags.update(self._column_tags.get(path.uuid, {}).get(path.field_id, {}))
        return tags

    def _tagged_columns(self, path: ObjectPath) -> list[ObjectPath]:
        return [
            ObjectPath(path.namespace, path.uuid, path.name, path.kind, field_id)
            for field_id in self._column_tags.get(path.uuid, {})
        ]

    def _has_column_or_filter_grant(self, held: _Held, uuid: str) -> bool:
        for target in held.direct:
            if target.kind is SecurableKind.COLUMN and target.key == uuid:
                return True
            if target.kind is SecurableKind.DATA_FILTER:
                data_filter = self._filters.get(target.key)
                if data_filter is not None and data_filter.table_uuid == uuid:
                    return True
        return False


def _found(namespace: Namespace | None) -> Iterator[Namespace]:
    if namespace is not None:
        yield namespace


def _targets(path: ObjectPath) -> list[Target]:
    """The object at ``path`` and every object above it, the closest first."""
    found: list[Target] = []
    if path.uuid:
        if path.field_id != NOT_A_COLUMN:
            found.append(Target(SecurableKind.COLUMN, path.uuid, path.field_id))
        found.append(Target(path.kind, path.uuid))
    for depth in range(len(path.namespace), 0, -1):
        found.append(Target(SecurableKind.NAMESPACE, ".".join(path.namespace[:depth])))
    found.append(Target(SecurableKind.CATALOG, path.catalog or CATALOG_KEY))
    return found


def _matches(conditions: Conditions, tags: dict[str, str]) -> bool:
    return all(tags.get(key) in values for key, values in conditions)


def _usable_grants(grants: Collection[GrantRow], grant_option: bool) -> Iterator[GrantRow]:
    return (g for g in grants if g.with_grant_option or not grant_option)


def _usable(grants: Collection[GrantRow], grant_option: bool) -> bool:
    return any(True for _ in _usable_grants(grants, grant_option))


def _options(grants: Collection[GrantRow]) -> Iterator[GrantRow]:
    return _usable_grants(grants, True)


def _first(grants: Collection[GrantRow] | Iterator[GrantRow]) -> GrantRow | None:
    return next(iter(grants), None)


def _filter_cells(data_filter: DataFilterRow, all_field_ids: Collection[int]) -> CellSet:
    if data_filter.column_mode == "include":
        field_ids: frozenset[int] | None = data_filter.field_ids
    elif data_filter.column_mode == "exclude":
        field_ids = frozenset(all_field_ids) - data_filter.field_ids
    else:
        field_ids = None
    return CellSet(data_filter.row_filter, field_ids, f"data filter {data_filter.name}")


def _source(grant: GrantRow, path: ObjectPath) -> str:
    if grant.target.kind is SecurableKind.TAG:
        return f"tag {_spell(tag_expression(grant.target.key))}"
    return f"table {path.name}"


def _spell(conditions: Conditions) -> str:
    return " AND ".join(
        f"{key} IN ({', '.join(repr(v) for v in sorted(values))})" for key, values in conditions
    )
