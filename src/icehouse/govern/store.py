"""Governance in the state database: the policy read whole (``read_policy``, and
``PolicyCache``, which reads it again only when its version moved), owners of tables and
views, and what every change shares: the version bump and the cascade.

Every change moves the policy version in its own transaction, so a policy held in memory
is stale exactly when the version it was read at is not the current one.

Revoking cascades. A grant made by a principal that is neither an administrator nor the
object's owner stands on the grant option it held (``via``); after any revoke, role
membership removal or drop, each such grant is checked again against what its granter
still holds, by any path: a grant whose granter can no longer grant it goes too (and
what was granted through it, in the next round), and one whose granter still can keeps
standing, on the path that remains. So losing one of two ways to the same option
revokes nothing.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update

from icehouse.errors import NoSuchPrincipal, NoSuchRole, NoSuchTenant
from icehouse.govern.authz import OWNER
from icehouse.govern.objects import Grantee, GranteeKind, Privilege, SecurableKind
from icehouse.govern.policy import Policy
from icehouse.govern.records import (
    DataFilterRow,
    GrantRow,
    ObjectPath,
    PolicyRows,
    TagRow,
    Target,
    grantee_of,
)
from icehouse.state import models

Locate = Callable[[str], ObjectPath | None]
"""A table's or view's UUID → where it is now (None: dropped)."""


def read_version(engine: Engine) -> int:
    """The current policy version: one primary-key read."""
    with engine.connect() as conn:
        return version_in(conn)


def read_policy(engine: Engine) -> Policy:
    """Every row a decision needs, read in one transaction (one consistent version)."""
    with engine.begin() as conn:
        return Policy(rows_in(conn))


def read_rows(engine: Engine) -> PolicyRows:
    with engine.begin() as conn:
        return rows_in(conn)


def record_owner(engine: Engine, kind: SecurableKind, uuid: str, owner: str) -> None:
    """``owner`` created the table or view ``uuid`` (a re-created one keeps its first)."""
    o = models.owners
    with engine.begin() as conn:
        if conn.execute(
            select(o.c.owner).where(o.c.object_kind == kind.value, o.c.object_key == uuid)
        ).first():
            return
        conn.execute(
            insert(o).values(
                object_kind=kind.value, object_key=uuid, owner=owner, created_at=time.time()
            )
        )
        bump(conn)


def view_owner(engine: Engine, uuid: str) -> str | None:
    """Who created the view ``uuid`` (None for a view made before owners were kept)."""
    o = models.owners
    with engine.connect() as conn:
        found = conn.execute(
            select(o.c.owner).where(
                o.c.object_kind == SecurableKind.VIEW.value, o.c.object_key == uuid
            )
        ).scalar()
    return None if found is None else str(found)


_VERSION = select(models.policy_version.c.version).where(models.policy_version.c.id == 1)
"""Built once: every governed decision runs it, and building a statement costs more than
running it on SQLite."""


def version_in(conn: Connection) -> int:
    """The policy version, read on ``conn`` (inside a change's transaction)."""
    return int(conn.execute(_VERSION).scalar() or 0)


def bump(conn: Connection) -> None:
    """Move the policy version: every change does, in its own transaction."""
    v = models.policy_version
    conn.execute(update(v).where(v.c.id == 1).values(version=v.c.version + 1))


def rows_in(conn: Connection) -> PolicyRows:
    """Every governance row, as values. Equal grantees and targets are made once and
    shared (a large policy repeats them thousands of times), which keeps reading 10,000
    grants to a few tens of milliseconds."""
    g, m, a = models.grants, models.role_members, models.tag_assignments
    f, o = models.data_filters, models.owners
    grantees: dict[tuple[str, str], Grantee] = {}
    targets: dict[tuple[str, str, int], Target] = {}

    def grantee(kind: str, name: str) -> Grantee:
        found = grantees.get((kind, name))
        if found is None:
            found = grantees[kind, name] = grantee_of(kind, name)
        return found

    def target(kind: str, key: str, field_id: int) -> Target:
        found = targets.get((kind, key, field_id))
        if found is None:
            found = targets[kind, key, field_id] = Target(_KINDS[kind], key, field_id)
        return found

    grants = conn.execute(
        select(
            g.c.id,
            g.c.grantee_kind,
            g.c.grantee_name,
            g.c.privilege,
            g.c.securable_kind,
            g.c.securable_key,
            g.c.field_id,
            g.c.with_grant_option,
            g.c.granted_by,
            g.c.via,
        ).order_by(g.c.id)
    ).all()
    return PolicyRows(
        version=version_in(conn),
        grants=tuple(
            GrantRow(i, grantee(gk, gn), _PRIVILEGES[pr], target(sk, key, fid), bool(wgo), by, via)
            for i, gk, gn, pr, sk, key, fid, wgo, by, via in grants
        ),
        memberships=tuple(
            (role, grantee(kind, name))
            for role, kind, name in conn.execute(
                select(m.c.role, m.c.member_kind, m.c.member_name)
            ).all()
        ),
        tags=tuple(
            TagRow(_KINDS[kind], key, field_id, tag, value)
            for kind, key, field_id, tag, value in conn.execute(
                select(a.c.object_kind, a.c.object_key, a.c.field_id, a.c.key, a.c.value)
            ).all()
        ),
        data_filters=tuple(
            DataFilterRow(
                id=r.id,
                name=r.name,
                table_uuid=r.table_uuid,
                row_filter=None if r.row_filter is None else json.loads(r.row_filter),
                column_mode=r.column_mode,
                field_ids=frozenset(json.loads(r.field_ids)),
            )
            for r in conn.execute(select(f))
        ),
        owners={(_KINDS[r.object_kind], r.object_key): r.owner for r in conn.execute(select(o))},
        tenants=_tenants_in(conn, grantee),
        tenant_admins=tuple(
            (tenant, principal)
            for tenant, principal in conn.execute(
                select(models.tenant_admins.c.tenant, models.tenant_admins.c.principal)
            ).all()
        ),
    )


def _tenants_in(conn: Connection, grantee: Callable[[str, str], Grantee]) -> dict[Grantee, str]:
    """Every principal and role that belongs to a tenant → its tenant."""
    found: dict[Grantee, str] = {}
    for kind, table in (
        (GranteeKind.PRINCIPAL, models.principals),
        (GranteeKind.ROLE, models.roles),
    ):
        for name, tenant in conn.execute(
            select(table.c.name, table.c.tenant).where(table.c.tenant.is_not(None))
        ).all():
            found[grantee(kind.value, name)] = tenant
    return found


def cascade(conn: Connection, locate: Locate) -> None:
    """Drop every grant whose granter can no longer grant it, round after round, and
    point the others at the path their granter still holds the option by."""
    admins = set(
        conn.execute(
            select(models.principals.c.name).where(models.principals.c.admin == 1)
        ).scalars()
    ) | {OWNER.name}
    paths: dict[str, ObjectPath | None] = {}
    while True:
        rows = rows_in(conn)
        policy = Policy(rows)
        filters = {str(f.id): f.table_uuid for f in rows.data_filters}
        doomed: list[int] = []
        for row in rows.grants:
            if row.granted_by in admins:
                continue
            path = _path_of(row.target, filters, paths, locate)
            found = policy.authority(row.granted_by, row.privilege, row.target, path)
            if found is None:
                doomed.append(row.id)
            elif found.via != row.via:
                conn.execute(
                    update(models.grants).where(models.grants.c.id == row.id).values(via=found.via)
                )
        if not doomed:
            return
        conn.execute(delete(models.grants).where(models.grants.c.id.in_(doomed)))


def _path_of(
    target: Target,
    filters: dict[str, str],
    seen: dict[str, ObjectPath | None],
    locate: Locate,
) -> ObjectPath:
    if target.kind is SecurableKind.NAMESPACE:
        return ObjectPath(
            tuple(target.key.split(".")), name=target.key, kind=SecurableKind.NAMESPACE
        )
    if target.kind in (SecurableKind.CATALOG, SecurableKind.TAG):
        return ObjectPath()
    uuid = filters.get(target.key, "") if target.kind is SecurableKind.DATA_FILTER else target.key
    if uuid not in seen:
        seen[uuid] = locate(uuid) if uuid else None
    found = seen[uuid]
    kind = SecurableKind.VIEW if target.kind is SecurableKind.VIEW else SecurableKind.TABLE
    base = found or ObjectPath(uuid=uuid, kind=kind)
    if target.kind is SecurableKind.COLUMN:
        return ObjectPath(base.namespace, base.uuid, base.name, base.kind, target.field_id)
    return base


def on_target(target: Target) -> list[Any]:
    """The WHERE terms of the grants on ``target``."""
    g = models.grants
    return [
        g.c.securable_kind == target.kind.value,
        g.c.securable_key == target.key,
        g.c.field_id == target.field_id,
    ]


def check_role(conn: Connection, name: str) -> None:
    """Raises: NoSuchRole."""
    if conn.execute(select(models.roles.c.name).where(models.roles.c.name == name)).first() is None:
        raise NoSuchRole(f"no role {name!r}", role=name)


def check_tenant(conn: Connection, name: str) -> None:
    """Raises: NoSuchTenant."""
    t = models.tenants
    if conn.execute(select(t.c.name).where(t.c.name == name)).first() is None:
        raise NoSuchTenant(
            f"no tenant {name!r}; SHOW TENANTS lists them (`icehouse tenant list`)", tenant=name
        )


def check_grantee(conn: Connection, grantee: Grantee) -> None:
    """Raises: NoSuchRole, NoSuchPrincipal, NoSuchTenant."""
    if grantee.kind is GranteeKind.ROLE:
        check_role(conn, grantee.name)
        return
    if grantee.kind is GranteeKind.TENANT:
        check_tenant(conn, grantee.name)
        return
    p = models.principals
    if conn.execute(select(p.c.id).where(p.c.name == grantee.name)).first() is None:
        raise NoSuchPrincipal(f"no principal {grantee.name!r}", principal=grantee.name)


_KINDS = {kind.value: kind for kind in SecurableKind}
_PRIVILEGES = {privilege.value: privilege for privilege in Privilege}


class PolicyCache:
    """The policy a lake decides with, read again only when the version moved: each
    decision costs one primary-key SELECT, not a read of every grant."""

    def __init__(self) -> None:
        self._policy: Policy | None = None
        self._lock = threading.Lock()

    def current(self, engine: Engine, version: int | None = None) -> Policy:
        """The policy at ``version`` (read just now by the caller) or later; without
        it, at the version read here."""
        if version is None:
            version = read_version(engine)
        with self._lock:
            if self._policy is not None and self._policy.version == version:
                return self._policy
        policy = read_policy(engine)
        with self._lock:
            if self._policy is None or self._policy.version <= policy.version:
                self._policy = policy
        return policy
