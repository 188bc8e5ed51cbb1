"""``lake.governance``: roles, grants, tags and data filters, as the governance statements
of ``icehouse sql`` and the query API use them.

Objects are named as users name them (``ns.t``, a column's name); the state database
keys them by table UUID and field id (``tables/identity.py`` resolves both ways), so a
grant made today still holds on the same table after a rename, and ``show_grants`` names
it as it is called now.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from icehouse.errors import (
    Forbidden,
    InvalidGrant,
    InvalidInput,
    InvalidTagValue,
    NoSuchNamespace,
    NoSuchTag,
    NotFound,
)
from icehouse.govern import data_filters, grants, roles, store, tags, tenants
from icehouse.govern.audit import current_trail
from icehouse.govern.authz import Resource
from icehouse.govern.objects import (
    Grantee,
    GranteeKind,
    Privilege,
    Securable,
    SecurableKind,
    TagCondition,
)
from icehouse.govern.policy import CATALOG_KEY
from icehouse.govern.records import (
    DataFilterInfo,
    GrantInfo,
    ObjectPath,
    RoleInfo,
    TagInfo,
    Target,
    mount_of,
    tag_expression,
    tag_expression_key,
)
from icehouse.lake.authz_scope import locate_uuid
from icehouse.lake.governed import governed

if TYPE_CHECKING:
    from icehouse.lake import Lake
    from icehouse.tables.identity import Identity

__all__ = ["DataFilterInfo", "GrantInfo", "LakeGovernance", "RoleInfo", "TagInfo"]

_LEVELS: dict[Privilege, frozenset[SecurableKind]] = {
    Privilege.MANAGE_GRANTS: frozenset({SecurableKind.CATALOG}),
    Privilege.CREATE_NAMESPACE: frozenset({SecurableKind.CATALOG, SecurableKind.NAMESPACE}),
    Privilege.CREATE_TABLE: frozenset({SecurableKind.CATALOG, SecurableKind.NAMESPACE}),
    Privilege.CREATE_VIEW: frozenset({SecurableKind.CATALOG, SecurableKind.NAMESPACE}),
    Privilege.SELECT: frozenset(SecurableKind),
}
"""Privilege → the kinds of object it may be granted on (others: any but a column or a
data filter, which are about reading rows and cells only)."""
_DESCRIBED = frozenset(
    {SecurableKind.TABLE, SecurableKind.VIEW, SecurableKind.COLUMN, SecurableKind.DATA_FILTER}
)
"""The objects a grant names that a principal may not know of (by UUID, under a
namespace it may see)."""
_OBJECTS = frozenset(
    {
        SecurableKind.CATALOG,
        SecurableKind.NAMESPACE,
        SecurableKind.TABLE,
        SecurableKind.VIEW,
        SecurableKind.TAG,
    }
)


class LakeGovernance:
    """``lake.governance``: who may do what on which tables, columns and rows."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake

    # -- roles --------------------------------------------------------------------------

    @governed("governance.create_role", on="name")
    def create_role(self, name: str) -> None:
        """Args: ``name``, the new role's. Raises: RoleAlreadyExists, InvalidInput."""
        roles.create_role(self._lake._engine, name)

    @governed("governance.drop_role", on="name")
    def drop_role(self, name: str) -> None:
        """Drop a role with its memberships and its grants (and what its members granted
        only through them). Args: ``name``. Raises: NoSuchRole."""
        roles.drop_role(self._lake._engine, name, self._locate)

    @governed("governance.grant_role", on="role")
    def grant_role(self, role: str, to: Grantee) -> None:
        """Make ``to`` (a principal, or a role: roles nest) a member of ``role``. A
        tenant's administrator does so for its tenant's roles and members only.

        Args: ``role``; ``to``. Raises: NoSuchRole, NoSuchPrincipal, RoleCycle,
        Forbidden (a member outside the administrator's tenant)."""
        self._check_manages(Grantee(GranteeKind.ROLE, role), to)
        roles.grant_role(self._lake._engine, role, to)

    @governed("governance.revoke_role", on="role")
    def revoke_role(self, role: str, from_: Grantee) -> None:
        """Take ``from_`` out of ``role``; what it granted only through the role's grant
        options is revoked too. Args: ``role``; ``from_``. Raises: NoSuchRole,
        Forbidden (a member outside the administrator's tenant)."""
        self._check_manages(Grantee(GranteeKind.ROLE, role), from_)
        roles.revoke_role(self._lake._engine, role, from_, self._locate)

    @governed("governance.list_roles")
    def list_roles(self) -> list[RoleInfo]:
        """Returns: every role by name, with its direct members (a tenant's
        administrator: its tenant's roles only)."""
        lake = self._lake
        policy = lake._policies.current(lake._engine)
        scoped = not lake.principal.admin and not policy.holds(
            lake.principal.name, Privilege.MANAGE_GRANTS, ObjectPath()
        )
        mine = policy.administers(lake.principal.name)
        return [
            RoleInfo(name, tuple(members), tenant)
            for name, members, tenant in roles.list_roles(lake._engine)
            if not scoped or tenant == mine
        ]

    # -- grants -------------------------------------------------------------------------

    @governed("governance.grant")
    def grant(
        self,
        privileges: Sequence[Privilege],
        on: Securable,
        to: Grantee,
        *,
        with_grant_option: bool = False,
    ) -> None:
        """Grant ``privileges`` on ``on`` to ``to``. A principal that is not an
        administrator grants only what it holds with grant option there (or owns, or
        with MANAGE_GRANTS on the catalog).

        Args: ``privileges``; ``on``; ``to``; ``with_grant_option``, whether ``to`` may
        grant them on. Raises: GrantNotHeld, InvalidGrant, NoSuchTable, NoSuchView,
        NoSuchNamespace, NoSuchTag, NoSuchDataFilter, NoSuchRole, NoSuchPrincipal,
        Forbidden (an object the principal may not describe, or a grantee outside its
        tenant)."""
        target, path = self._resolve_seen(on, "grant")
        _check_levels(privileges, on)
        grants.grant(
            self._lake._engine,
            privileges,
            target,
            path,
            to,
            granter=self._lake.principal,
            with_grant_option=with_grant_option,
        )

    @governed("governance.revoke")
    def revoke(self, privileges: Sequence[Privilege], on: Securable, from_: Grantee) -> None:
        """Revoke ``privileges`` on ``on`` from ``from_``, and whatever was granted only
        through them (cascade). An administrator, a holder of MANAGE_GRANTS, or the
        administrator of ``from_``'s tenant revokes every such grant; another principal
        the ones it made.

        Args: ``privileges``; ``on``; ``from_``. Raises: NoSuchGrant, GrantNotHeld,
        NoSuchTable, NoSuchView, NoSuchNamespace, NoSuchDataFilter, Forbidden (an
        object the principal may not describe)."""
        lake = self._lake
        policy = lake._policies.current(lake._engine)
        if policy.manages(lake.principal.name, from_):  # its tenant's: it sees their grants
            target, path = self._resolve(on)
        else:
            target, path = self._resolve_seen(on, "revoke")
        grants.revoke(
            lake._engine,
            privileges,
            target,
            path,
            from_,
            revoker=lake.principal,
            locate=self._locate,
        )

    @governed("governance.show")
    def show_grants(
        self, *, on: Securable | None = None, to: Grantee | None = None
    ) -> list[GrantInfo]:
        """The grants on ``on`` and/or to ``to`` (all without either), objects named as
        they are now. A principal that is neither an administrator nor a holder of
        MANAGE_GRANTS sees only the grants to itself and its roles, and those it made; a
        tenant's administrator also those to its tenant and its principals and roles.

        Args: ``on``; ``to``. Returns: the grants, by grantee, object and privilege.
        Raises: NoSuchTable, NoSuchView, NoSuchNamespace, NoSuchDataFilter."""
        lake = self._lake
        wanted = self._resolve(on)[0] if on is not None else None
        policy = lake._policies.current(lake._engine)
        rows = store.read_rows(lake._engine)
        me = Grantee(GranteeKind.PRINCIPAL, lake.principal.name)
        everything = lake.principal.admin or policy.holds(
            me.name, Privilege.MANAGE_GRANTS, ObjectPath()
        )
        mine = {me, *(Grantee(GranteeKind.ROLE, r) for r in policy.roles_of(me))}
        tenant = policy.administers(me.name)
        if tenant is not None:
            mine.add(Grantee(GranteeKind.TENANT, tenant))
        names = _Names(self, {str(f.id): (f.name, f.table_uuid) for f in rows.data_filters})
        shown = [
            GrantInfo(g.grantee, g.privilege, on_now, g.with_grant_option, g.granted_by)
            for g in rows.grants
            if (wanted is None or g.target == wanted)
            and (to is None or g.grantee == to)
            and (
                everything
                or g.grantee in mine
                or g.granted_by == me.name
                or policy.manages(me.name, g.grantee)
            )
            and (on_now := names.securable(g.target)) is not None
        ]
        return sorted(shown, key=lambda i: (str(i.grantee), str(i.on), i.privilege.value))

    # -- tags ---------------------------------------------------------------------------

    @governed("governance.create_tag", on="key")
    def create_tag(self, key: str, values: Sequence[str]) -> None:
        """Args: ``key``; ``values``, the values it allows. Raises: TagAlreadyExists,
        InvalidInput."""
        tags.create_tag(self._lake._engine, key, values)

    @governed("governance.drop_tag", on="key")
    def drop_tag(self, key: str) -> None:
        """Drop a tag key, its assignments, and the grants on expressions naming it.

        Args: ``key``. Raises: NoSuchTag."""
        tags.drop_tag(self._lake._engine, key, self._locate)

    @governed("governance.set_tag", on="key")
    def set_tag(self, on: Securable, key: str, value: str) -> None:
        """Tag a namespace, table, view or column; access through tag grants changes at
        once. Args: ``on``; ``key``; ``value``. Raises: NoSuchTag, InvalidTagValue,
        InvalidInput (another kind of object), NoSuchTable, NoSuchNamespace."""
        tags.set_tag(self._lake._engine, self._taggable(on), key, value)

    @governed("governance.unset_tag", on="key")
    def unset_tag(self, on: Securable, key: str) -> None:
        """Args: ``on``; ``key``. Raises: NoSuchTag, InvalidInput, NoSuchTable,
        NoSuchNamespace."""
        tags.unset_tag(self._lake._engine, self._taggable(on), key, self._locate)

    @governed("governance.list_tags")
    def list_tags(self) -> list[TagInfo]:
        """Returns: every tag key with its allowed values."""
        return [TagInfo(k, tuple(v)) for k, v in tags.list_tags(self._lake._engine)]

    # -- data filters -------------------------------------------------------------------

    @governed("governance.create_data_filter", on="name")
    def create_data_filter(
        self,
        name: str,
        table: str,
        *,
        where: str | None,
        columns: Sequence[str] | None = None,
        excluding: Sequence[str] | None = None,
    ) -> None:
        """A named filter on one table: the rows ``where`` keeps (None: all) and the
        columns ``columns`` lists, or all but ``excluding`` (neither: all).

        Args: ``name``; ``table``, ``ns.t``; ``where``, an SQL predicate over its
        columns; ``columns``; ``excluding``. Raises: DataFilterAlreadyExists,
        NoSuchTable, FilterNotTranslatable, InvalidInput (both column lists, or an
        unknown column), Forbidden (neither MANAGE_GRANTS on the catalog nor SELECT
        with grant option on the table)."""
        from icehouse.tables.catalog import load_table
        from icehouse.tables.row_filters import encode_row_filter

        if columns is not None and excluding is not None:
            raise InvalidInput("a data filter takes COLUMNS or EXCLUDING COLUMNS, not both")
        self._check_filter_maker(name, table)
        identity = self._table(table)
        encoded = None
        if where is not None:
            parsed = table  # the name the WHERE is read against, as SQL over one table
            if mount_of(identity.uuid) is not None:
                from icehouse.lake.catalogs import MountedCatalogs

                schema = MountedCatalogs(self._lake).load(table).schema()
                parsed = f"{identity.namespace[-1]}.{identity.name}"
            else:
                schema = load_table(self._lake._catalog, table).schema()
            encoded = encode_row_filter(where, parsed, schema)
        listed = columns if columns is not None else excluding
        mode = "all" if listed is None else ("include" if columns is not None else "exclude")
        data_filters.create_data_filter(
            self._lake._engine,
            name,
            identity.uuid,
            row_filter=encoded,
            column_mode=mode,
            field_ids=[_field_id(identity, c) for c in listed or ()],
            created_by=self._lake.principal.name,
        )

    @governed("governance.drop_data_filter", on="name")
    def drop_data_filter(self, name: str) -> None:
        """Drop a data filter and every grant on it. Args: ``name``.
        Raises: NoSuchDataFilter."""
        data_filters.drop_data_filter(self._lake._engine, name, self._locate)

    @governed("governance.list_data_filters")
    def list_data_filters(self) -> list[DataFilterInfo]:
        """Returns: every data filter by name, its table and columns named as now (a
        filter whose table was dropped names it by UUID)."""
        infos = []
        for f in store.read_rows(self._lake._engine).data_filters:
            found = self._identity(f.table_uuid)
            infos.append(
                DataFilterInfo(
                    name=f.name,
                    table=found.dotted if found else f.table_uuid,
                    row_filter=f.row_filter,
                    column_mode=f.column_mode,
                    columns=tuple(
                        sorted(found.column_name(i) if found else f"#{i}" for i in f.field_ids)
                    ),
                )
            )
        return sorted(infos, key=lambda i: i.name)

    @governed("view.describe", on="view")
    def view_owner(self, view: str) -> str | None:
        """Who created view ``view`` (``ns.v``): the query engine reads the view's
        tables with ``Lake.table_access(name, as_definer=<this>)``.

        Args: ``view``. Returns: the owner's name; None for a view created before
        owners were kept (read it as an administrator's). Raises: NoSuchView."""
        return store.view_owner(self._lake._engine, self._view(view).uuid)

    # -- inside -------------------------------------------------------------------------

    def _resolve(self, on: Securable) -> tuple[Target, ObjectPath]:
        """The stored key of ``on`` and where it is (for a data filter: its table)."""
        kind = on.kind
        if kind is SecurableKind.CATALOG:
            mount = self._mount(on.name)
            if mount is not None:
                return Target(kind, mount), ObjectPath(catalog=mount)
            return Target(kind, CATALOG_KEY), ObjectPath()
        if kind is SecurableKind.NAMESPACE:
            return Target(kind, on.name), self._namespace(on.name)
        if kind is SecurableKind.TAG:
            self._check_tags(on.tags)
            key = tag_expression_key(tuple((c.key, c.values) for c in on.tags))
            return Target(kind, key), ObjectPath(name=str(on))
        if kind is SecurableKind.DATA_FILTER:
            filter_id = data_filters.data_filter_id(self._lake._engine, on.name)
            rows = store.read_rows(self._lake._engine).data_filters
            uuid = next(f.table_uuid for f in rows if f.id == filter_id)
            return Target(kind, str(filter_id)), self._locate(uuid) or ObjectPath(uuid=uuid)
        identity = self._view(on.name) if kind is SecurableKind.VIEW else self._table(on.name)
        mount = mount_of(identity.uuid) or CATALOG_KEY
        path = ObjectPath(identity.namespace, identity.uuid, on.name, kind, catalog=mount)
        if kind is SecurableKind.COLUMN:
            field_id = _field_id(identity, on.column or "")
            return (
                Target(kind, identity.uuid, field_id),
                ObjectPath(
                    identity.namespace,
                    identity.uuid,
                    on.name,
                    SecurableKind.TABLE,
                    field_id,
                    catalog=mount,
                ),
            )
        return Target(kind, identity.uuid), path

    def _check_manages(self, *grantees: Grantee) -> None:
        lake = self._lake
        tenants.check_manages(lake._policies.current(lake._engine), lake.principal, *grantees)

    def _check_filter_maker(self, name: str, table: str) -> None:
        """May the lake's principal define data filter ``name`` on ``table``? With
        MANAGE_GRANTS on the catalog, or with SELECT on the table it may grant on (its
        owner; a producer's administrator granted SELECT on its mount with grant
        option): a filter only narrows what it could share whole, and sharing the
        filter is then a grant like any other.

        Raises: Forbidden, recorded ("not found or not permitted" for a table it may
        not describe)."""
        lake = self._lake
        principal = lake.principal.name
        if lake.principal.admin:
            return
        policy = lake._policies.current(lake._engine)
        if policy.holds(principal, Privilege.MANAGE_GRANTS, ObjectPath()):
            return
        on = Securable(SecurableKind.TABLE, table)
        try:
            path = self._resolve_seen(on, "create_data_filter")[1]
        except Forbidden as exc:
            refusal = exc
        else:
            if policy.holds(principal, Privilege.SELECT, path, grant_option=True):
                return
            refusal = Forbidden(
                f"principal {principal!r} may not governance.create_data_filter on {on}: "
                "it needs SELECT with grant option on it, or MANAGE_GRANTS on the catalog",
                principal=principal,
                action="governance.create_data_filter",
                resource=str(on),
            )
        trail = current_trail()
        if trail is not None:
            resource = Resource("governance", name)
            trail.decision(lake.principal, refusal.action, resource, denied=refusal.message)
        raise refusal

    def _resolve_seen(self, on: Securable, verb: str) -> tuple[Target, ObjectPath]:
        """``_resolve``, and for a principal that may neither manage grants nor describe
        the table, view or data filter named, the words it is told about one that does
        not exist: a grant neither names another tenant's objects nor tells they exist.

        Raises: Forbidden, and what ``_resolve`` raises to who may describe it."""
        lake = self._lake
        if lake.principal.admin or on.kind not in _DESCRIBED:
            return self._resolve(on)
        policy = lake._policies.current(lake._engine)
        if policy.holds(lake.principal.name, Privilege.MANAGE_GRANTS, ObjectPath()):
            return self._resolve(on)
        seen = on
        if on.kind is SecurableKind.COLUMN:  # the table first: a wrong column names the rest
            seen = Securable(SecurableKind.TABLE, on.name)
        try:
            path: ObjectPath | None = self._resolve(seen)[1]
        except NotFound:
            path = None
        if path is None or not policy.may_describe(lake.principal.name, path):
            raise Forbidden(
                f"principal {lake.principal.name!r} may not {verb} on {on}: {on} is not "
                "found or not permitted",
                principal=lake.principal.name,
                action=f"governance.{verb}",
                resource=str(on),
            )
        return self._resolve(on)

    def _taggable(self, on: Securable) -> Target:
        if on.kind not in (
            SecurableKind.NAMESPACE,
            SecurableKind.TABLE,
            SecurableKind.VIEW,
            SecurableKind.COLUMN,
        ):
            raise InvalidInput(f"only namespaces, tables, views and columns take tags, not {on}")
        return self._resolve(on)[0]

    def _check_tags(self, conditions: Sequence[TagCondition]) -> None:
        allowed = dict(tags.list_tags(self._lake._engine))
        if not conditions:
            raise InvalidInput("a grant on tags needs at least one condition")
        for condition in conditions:
            if condition.key not in allowed:
                raise NoSuchTag(f"no tag {condition.key!r}", key=condition.key)
            for value in condition.values:
                if value not in allowed[condition.key]:
                    raise InvalidTagValue(
                        f"tag {condition.key!r} allows "
                        f"{', '.join(repr(v) for v in allowed[condition.key])}, not {value!r}",
                        key=condition.key,
                        value=value,
                    )

    def _namespace(self, name: str) -> ObjectPath:
        from icehouse.tables.namespaces import list_namespaces

        namespace = tuple(name.split("."))
        if name not in {".".join(n) for n in list_namespaces(self._lake._catalog, namespace[:-1])}:
            raise NoSuchNamespace(f"namespace {name!r} does not exist", namespace=name)
        return ObjectPath(namespace, name=name, kind=SecurableKind.NAMESPACE)

    def _mount(self, name: str) -> str | None:
        """``name`` when a catalog is mounted as it (``ON CATALOG cdn_prod``)."""
        from icehouse.govern.mounts import find_mount

        return name if name and find_mount(self._lake._engine, name) is not None else None

    def _table(self, name: str) -> Identity:
        from icehouse.lake.catalogs import mounted_identity
        from icehouse.tables.catalog import split_name
        from icehouse.tables.identity import table_identity

        mounted = mounted_identity(self._lake, name)
        if mounted is not None:
            return mounted
        namespace, table = split_name(name)
        return table_identity(self._lake._catalog, (namespace,), table)

    def _view(self, name: str) -> Identity:
        from icehouse.tables.identity import view_identity

        *namespace, view = name.split(".")
        return view_identity(self._lake._catalog, tuple(namespace), view)

    def _identity(self, uuid: str) -> Identity | None:
        from icehouse.errors import CatalogUnavailable
        from icehouse.lake.catalogs import locate_mounted

        if mount_of(uuid) is None:
            return self._lake._uuids.locate(self._lake._catalog, uuid)
        try:
            return locate_mounted(self._lake, uuid)
        except CatalogUnavailable:
            return None  # named when its producer answers again

    def _locate(self, uuid: str) -> ObjectPath | None:
        return locate_uuid(self._lake, uuid)


class _Names:
    """Stored securables named as they are now (None: the object is gone)."""

    def __init__(self, governance: LakeGovernance, filters: dict[str, tuple[str, str]]) -> None:
        self._governance = governance
        self._filters = filters
        self._found: dict[str, Identity | None] = {}

    def securable(self, target: Target) -> Securable | None:
        kind = target.kind
        if kind is SecurableKind.CATALOG:
            from icehouse.tables.catalog import CATALOG_NAME

            return Securable(kind, target.key or CATALOG_NAME)
        if kind is SecurableKind.NAMESPACE:
            return Securable(kind, target.key)
        if kind is SecurableKind.TAG:
            conditions = tag_expression(target.key)
            return Securable(
                kind, tags=tuple(TagCondition(k, tuple(sorted(v))) for k, v in conditions)
            )
        if kind is SecurableKind.DATA_FILTER:
            found = self._filters.get(target.key)
            return None if found is None else Securable(kind, found[0])
        identity = self._identity(target.key)
        if identity is None:
            return None
        if kind is SecurableKind.COLUMN:
            return Securable(kind, identity.dotted, column=identity.column_name(target.field_id))
        return Securable(kind, identity.dotted)

    def _identity(self, uuid: str) -> Identity | None:
        if uuid not in self._found:
            self._found[uuid] = self._governance._identity(uuid)
        return self._found[uuid]


def _check_levels(privileges: Sequence[Privilege], on: Securable) -> None:
    for privilege in privileges:
        allowed = _LEVELS.get(privilege, _OBJECTS)
        if on.kind not in allowed:
            raise InvalidGrant(
                f"{privilege.value} cannot be granted on {on}: it applies to "
                f"{', '.join(sorted(k.value for k in allowed))}",
                privilege=privilege.value,
                securable=str(on),
            )


def _field_id(identity: Identity, column: str) -> int:
    """Raises: InvalidInput (no such column in the table now)."""
    found = identity.columns.get(column)
    if found is None:
        raise InvalidInput(
            f"table {identity.dotted!r} has no column {column!r}; its columns: "
            f"{', '.join(identity.columns)}"
        )
    return found
