"""Roles in the state database: created, dropped, nested (cycles refused), and the
memberships of principals and roles; a principal's deletion takes its grants along."""

from __future__ import annotations

import time

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from icehouse.errors import InvalidInput, NoSuchRole, RoleAlreadyExists, RoleCycle
from icehouse.govern import store
from icehouse.govern.objects import Grantee, GranteeKind
from icehouse.govern.policy import Policy
from icehouse.govern.records import grantee_of
from icehouse.state import models


def create_role(engine: Engine, name: str, *, tenant: str | None = None) -> None:
    """Create a role of the server (``tenant`` None) or of a tenant.

    Raises: RoleAlreadyExists, NoSuchTenant, InvalidInput (an empty name)."""
    if not name.strip():
        raise InvalidInput("a role needs a name")
    try:
        with engine.begin() as conn:
            if tenant is not None:
                store.check_tenant(conn, tenant)
            conn.execute(
                insert(models.roles).values(name=name, created_at=time.time(), tenant=tenant)
            )
            store.bump(conn)
    except IntegrityError:
        raise RoleAlreadyExists(f"role {name!r} already exists", role=name) from None


def drop_role(engine: Engine, name: str, locate: store.Locate) -> None:
    """Drop a role, its memberships both ways and its grants (and what was granted only
    through them). Raises: NoSuchRole."""
    r, m, g = models.roles, models.role_members, models.grants
    with engine.begin() as conn:
        store.check_role(conn, name)
        conn.execute(delete(r).where(r.c.name == name))
        conn.execute(delete(m).where(m.c.role == name))
        conn.execute(delete(m).where(m.c.member_kind == "role", m.c.member_name == name))
        conn.execute(delete(g).where(g.c.grantee_kind == "role", g.c.grantee_name == name))
        store.cascade(conn, locate)
        store.bump(conn)


def grant_role(engine: Engine, role: str, member: Grantee) -> None:
    """Make ``member`` (a principal, or a role: nesting) a member of ``role``.

    Raises: NoSuchRole, NoSuchPrincipal, RoleCycle (``role`` is already within
    ``member``, or is ``member``)."""
    with engine.begin() as conn:
        store.check_role(conn, role)
        store.check_grantee(conn, member)
        if member.kind is GranteeKind.ROLE:
            above = Policy(store.rows_in(conn)).roles_of(Grantee(GranteeKind.ROLE, role))
            if member.name == role or member.name in above:
                raise RoleCycle(
                    f"role {member.name!r} cannot be a member of role {role!r}: {role!r} is "
                    f"already within {member.name!r}",
                    role=role,
                    member=member.name,
                )
        m = models.role_members
        exists = conn.execute(
            select(m.c.role).where(
                m.c.role == role,
                m.c.member_kind == member.kind.value,
                m.c.member_name == member.name,
            )
        ).first()
        if exists is None:
            conn.execute(
                insert(m).values(
                    role=role,
                    member_kind=member.kind.value,
                    member_name=member.name,
                    created_at=time.time(),
                )
            )
            store.bump(conn)


def revoke_role(engine: Engine, role: str, member: Grantee, locate: store.Locate) -> None:
    """Raises: NoSuchRole (also when ``member`` is not in ``role``)."""
    m = models.role_members
    with engine.begin() as conn:
        store.check_role(conn, role)
        gone = conn.execute(
            delete(m).where(
                m.c.role == role,
                m.c.member_kind == member.kind.value,
                m.c.member_name == member.name,
            )
        ).rowcount
        if not gone:
            raise NoSuchRole(f"{member} is not a member of role {role!r}", role=role)
        store.cascade(conn, locate)
        store.bump(conn)


def list_roles(engine: Engine) -> list[tuple[str, list[Grantee], str | None]]:
    """Returns: each role by name, with its direct members and its tenant."""
    r, m = models.roles, models.role_members
    with engine.connect() as conn:
        names = conn.execute(select(r.c.name, r.c.tenant).order_by(r.c.name)).all()
        members = conn.execute(
            select(m.c.role, m.c.member_kind, m.c.member_name).order_by(
                m.c.member_kind, m.c.member_name
            )
        ).all()
    return [
        (name, [grantee_of(k, n) for role, k, n in members if role == name], tenant)
        for name, tenant in names
    ]


def forget_principal(engine: Engine, name: str, locate: store.Locate) -> None:
    """A deleted principal's grants and memberships go with it (a principal created
    later under the same name starts with nothing), and so does what it granted on."""
    g, m = models.grants, models.role_members
    with engine.begin() as conn:
        conn.execute(delete(g).where(g.c.grantee_kind == "principal", g.c.grantee_name == name))
        conn.execute(delete(m).where(m.c.member_kind == "principal", m.c.member_name == name))
        store.cascade(conn, locate)
        store.bump(conn)
