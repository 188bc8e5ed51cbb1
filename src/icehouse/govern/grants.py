"""Grants in the state database: made by whoever may grant them (an administrator,
the owner, a holder of the grant option or of MANAGE_GRANTS, to a grantee its tenant
reaches), revoked with their cascade (``store.cascade``)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update

from icehouse.errors import Forbidden, GrantNotHeld, NoSuchGrant
from icehouse.govern import store
from icehouse.govern.authz import Principal
from icehouse.govern.objects import Grantee, GranteeKind, Privilege, SecurableKind
from icehouse.govern.policy import Policy
from icehouse.govern.records import ObjectPath, Target
from icehouse.state import models


def grant(
    engine: Engine,
    privileges: Sequence[Privilege],
    target: Target,
    path: ObjectPath,
    grantee: Grantee,
    *,
    granter: Principal,
    with_grant_option: bool,
) -> None:
    """Grant each privilege on ``target`` (at ``path``) to ``grantee``, as ``granter``.

    Raises: GrantNotHeld (naming the first privilege the granter may not grant),
    Forbidden (a grantee outside the granter's tenant), NoSuchRole, NoSuchPrincipal,
    NoSuchTenant."""
    g = models.grants
    with engine.begin() as conn:
        store.check_grantee(conn, grantee)
        policy = Policy(store.rows_in(conn))
        if not granter.admin:
            _check_reach(policy, granter, grantee)
        for privilege in privileges:
            via = _authority(policy, granter, privilege, target, path)
            identity = [*_identity(grantee, privilege, target), g.c.granted_by == granter.name]
            existing = conn.execute(select(g.c.id).where(*identity)).scalar()
            if existing is not None:
                conn.execute(
                    update(g)
                    .where(g.c.id == existing)
                    .values(with_grant_option=int(with_grant_option), via=via)
                )
                continue
            conn.execute(
                insert(g).values(
                    grantee_kind=grantee.kind.value,
                    grantee_name=grantee.name,
                    privilege=privilege.value,
                    securable_kind=target.kind.value,
                    securable_key=target.key,
                    field_id=target.field_id,
                    with_grant_option=int(with_grant_option),
                    granted_by=granter.name,
                    via=via,
                    created_at=time.time(),
                )
            )
        store.bump(conn)


def revoke(
    engine: Engine,
    privileges: Sequence[Privilege],
    target: Target,
    path: ObjectPath,
    grantee: Grantee,
    *,
    revoker: Principal,
    locate: store.Locate,
) -> int:
    """Revoke the privileges on ``target`` from ``grantee``: every such grant when the
    revoker is an administrator, manages grants, or administers the grantee's tenant,
    else the ones it made; then cascade.

    Returns: how many grants went, cascade included. Raises: NoSuchGrant, GrantNotHeld
    (the revoker may not grant them either)."""
    g = models.grants
    with engine.begin() as conn:
        policy = Policy(store.rows_in(conn))
        before = _count(conn)
        everyone = revoker.admin or _manages(policy, revoker)
        everyone = everyone or policy.manages(revoker.name, grantee)
        for privilege in privileges:
            matching = _identity(grantee, privilege, target)
            if not everyone:
                _authority(policy, revoker, privilege, target, path)
                matching.append(g.c.granted_by == revoker.name)
            if not conn.execute(delete(g).where(*matching)).rowcount:
                raise NoSuchGrant(
                    f"{grantee} holds no {privilege.value} on {path.name or target.kind.value} "
                    "granted by you",
                    grantee=str(grantee),
                    securable=path.name or target.kind.value,
                )
        store.cascade(conn, locate)
        store.bump(conn)
        return before - _count(conn)


def forget_namespace(engine: Engine, name: str, locate: store.Locate) -> None:
    """A dropped namespace's grants and tags go with it (names are reused; UUIDs are
    not), and what was granted on through them."""
    g, a = models.grants, models.tag_assignments
    with engine.begin() as conn:
        conn.execute(delete(g).where(*store.on_target(Target(SecurableKind.NAMESPACE, name))))
        conn.execute(
            delete(a).where(
                a.c.object_kind == SecurableKind.NAMESPACE.value, a.c.object_key == name
            )
        )
        store.cascade(conn, locate)
        store.bump(conn)


def _authority(
    policy: Policy, granter: Principal, privilege: Privilege, target: Target, path: ObjectPath
) -> int | None:
    """The grant ``granter`` grants through (None for an administrator or owner).

    Raises: GrantNotHeld."""
    if granter.admin:
        return None
    found = policy.authority(granter.name, privilege, target, path)
    if found is None:
        raise GrantNotHeld(
            f"principal {granter.name!r} may not grant {privilege.value} on "
            f"{path.name or target.kind.value}: it holds it without grant option, or not at all",
            principal=granter.name,
            action=f"grant {privilege.value}",
            resource=path.name or target.kind.value,
        )
    return found.via


def _check_reach(policy: Policy, granter: Principal, grantee: Grantee) -> None:
    """Raises: Forbidden, unless ``granter`` may grant to ``grantee`` at all (inside its
    tenant; for the server's principals, also to tenants). The refusal names no more
    than the statement did."""
    if policy.reaches(granter.name, grantee):
        return
    tenant = policy.tenant_of(Grantee(GranteeKind.PRINCIPAL, granter.name))
    inside = f"tenant {tenant!r}" if tenant else "the server (or share with a TENANT)"
    raise Forbidden(
        f"principal {granter.name!r} may not grant to {grantee}: it grants only to the "
        f"principals and roles of {inside}",
        principal=granter.name,
        action="grant",
        resource=str(grantee),
    )


def _manages(policy: Policy, principal: Principal) -> bool:
    return policy.holds(principal.name, Privilege.MANAGE_GRANTS, ObjectPath())


def _identity(grantee: Grantee, privilege: Privilege, target: Target) -> list[Any]:
    g = models.grants
    return [
        g.c.grantee_kind == grantee.kind.value,
        g.c.grantee_name == grantee.name,
        g.c.privilege == privilege.value,
        *store.on_target(target),
    ]


def _count(conn: Connection) -> int:
    return len(conn.execute(select(models.grants.c.id)).all())
