"""Tenants in the state database: created and dropped by the server's administrators,
with administrators of their own who manage the tenant's principals, roles and grants.

A share with a tenant is a grant to it (``GranteeKind.TENANT``); the policy
(``policy.py``) says what its administrators may do with it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Engine, delete, func, insert, select
from sqlalchemy.exc import IntegrityError

from icehouse.errors import (
    Forbidden,
    InvalidInput,
    NoSuchPrincipal,
    TenantAlreadyExists,
    TenantNotEmpty,
)
from icehouse.govern import store
from icehouse.govern.authz import Principal
from icehouse.govern.objects import Grantee, GranteeKind, Privilege
from icehouse.govern.policy import Policy
from icehouse.govern.records import ObjectPath
from icehouse.state import models


@dataclass(frozen=True)
class TenantInfo:
    """A tenant as listed: its administrators and how many principals and roles it has."""

    name: str
    admins: tuple[str, ...]
    principals: int
    roles: int
    created_at: float


def create_tenant(engine: Engine, name: str) -> None:
    """Raises: TenantAlreadyExists, InvalidInput (an empty name)."""
    if not name.strip():
        raise InvalidInput("a tenant needs a name")
    try:
        with engine.begin() as conn:
            conn.execute(insert(models.tenants).values(name=name, created_at=time.time()))
            store.bump(conn)
    except IntegrityError:
        raise TenantAlreadyExists(f"tenant {name!r} already exists", tenant=name) from None


def drop_tenant(engine: Engine, name: str, locate: store.Locate) -> None:
    """Drop an empty tenant, the shares with it and what was granted through them.

    Raises: NoSuchTenant, TenantNotEmpty (it still has principals or roles)."""
    t, a, g = models.tenants, models.tenant_admins, models.grants
    with engine.begin() as conn:
        store.check_tenant(conn, name)
        principals, roles = (
            conn.execute(select(func.count()).where(table.c.tenant == name)).scalar() or 0
            for table in (models.principals, models.roles)
        )
        if principals or roles:
            raise TenantNotEmpty(
                f"tenant {name!r} still has {principals} principal(s) and {roles} role(s); "
                "delete them first (`icehouse principal delete NAME`, DROP ROLE r)",
                tenant=name,
            )
        conn.execute(delete(a).where(a.c.tenant == name))
        conn.execute(
            delete(g).where(g.c.grantee_kind == GranteeKind.TENANT.value, g.c.grantee_name == name)
        )
        conn.execute(delete(t).where(t.c.name == name))
        store.cascade(conn, locate)
        store.bump(conn)


def list_tenants(engine: Engine) -> list[TenantInfo]:
    """Returns: every tenant by name."""
    t, a = models.tenants, models.tenant_admins
    with engine.connect() as conn:
        rows = conn.execute(select(t).order_by(t.c.name)).all()
        admins = conn.execute(select(a.c.tenant, a.c.principal).order_by(a.c.principal)).all()
        counts: dict[str, dict[str | None, int]] = {
            table.name: dict(
                conn.execute(select(table.c.tenant, func.count()).group_by(table.c.tenant)).all()
            )
            for table in (models.principals, models.roles)
        }
    return [
        TenantInfo(
            name=row.name,
            admins=tuple(p for tenant, p in admins if tenant == row.name),
            principals=counts[models.principals.name].get(row.name, 0),
            roles=counts[models.roles.name].get(row.name, 0),
            created_at=row.created_at,
        )
        for row in rows
    ]


def grant_admin(engine: Engine, tenant: str, principal: str) -> None:
    """Make ``principal`` (a principal of ``tenant``) an administrator of ``tenant``.

    Raises: NoSuchTenant, NoSuchPrincipal, InvalidInput (a principal of another tenant
    or of the server: a tenant is administered from inside)."""
    a, p = models.tenant_admins, models.principals
    with engine.begin() as conn:
        store.check_tenant(conn, tenant)
        found = conn.execute(select(p.c.tenant).where(p.c.name == principal)).first()
        if found is None:
            raise NoSuchPrincipal(f"no principal {principal!r}", principal=principal)
        if found.tenant != tenant:
            raise InvalidInput(
                f"principal {principal!r} does not belong to tenant {tenant!r}; create the "
                f"tenant's administrator inside it: icehouse principal create NAME --tenant "
                f"{tenant}"
            )
        exists = conn.execute(
            select(a.c.tenant).where(a.c.tenant == tenant, a.c.principal == principal)
        ).first()
        if exists is None:
            conn.execute(
                insert(a).values(tenant=tenant, principal=principal, created_at=time.time())
            )
            store.bump(conn)


def revoke_admin(engine: Engine, tenant: str, principal: str, locate: store.Locate) -> None:
    """``principal`` no longer administers ``tenant``; what it granted on from the
    tenant's shares goes too (cascade).

    Raises: NoSuchTenant, NoSuchPrincipal (it is not an administrator of the tenant)."""
    a = models.tenant_admins
    with engine.begin() as conn:
        store.check_tenant(conn, tenant)
        gone = conn.execute(
            delete(a).where(a.c.tenant == tenant, a.c.principal == principal)
        ).rowcount
        if not gone:
            raise NoSuchPrincipal(
                f"principal {principal!r} is not an administrator of tenant {tenant!r}",
                principal=principal,
            )
        store.cascade(conn, locate)
        store.bump(conn)


def check_manages(policy: Policy, actor: Principal, *grantees: Grantee) -> None:
    """Raises: Forbidden, unless ``actor`` may manage the memberships of ``grantees``:
    an administrator of the server, a holder of MANAGE_GRANTS on the catalog, or the
    administrator of the tenant every one of them belongs to."""
    if actor.admin or policy.holds(actor.name, Privilege.MANAGE_GRANTS, ObjectPath()):
        return
    for grantee in grantees:
        if not policy.manages(actor.name, grantee):
            raise Forbidden(
                f"principal {actor.name!r} may not manage {grantee}: it manages only the "
                "principals and roles of the tenant it administers",
                principal=actor.name,
                action="manage",
                resource=str(grantee),
            )
