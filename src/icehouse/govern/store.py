"""Governance in the state database: roles and memberships, grants, tags, data filters
and owners, read whole into a ``Policy`` and changed one transaction at a time.

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
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from icehouse.errors import (
    DataFilterAlreadyExists,
    GrantNotHeld,
    InvalidInput,
    InvalidTagValue,
    NoSuchDataFilter,
    NoSuchGrant,
    NoSuchPrincipal,
    NoSuchRole,
    NoSuchTag,
    RoleAlreadyExists,
    RoleCycle,
    TagAlreadyExists,
)
from icehouse.govern.authz import OWNER, Principal
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
    tag_expression,
)
from icehouse.state import models

Locate = Callable[[str], ObjectPath | None]
"""A table's or view's UUID → where it is now (None: dropped)."""


def read_version(engine: Engine) -> int:
    """The current policy version: one primary-key read."""
    with engine.connect() as conn:
        return _version(conn)


def read_policy(engine: Engine) -> Policy:
    """Every row a decision needs, read in one transaction (one consistent version)."""
    with engine.begin() as conn:
        return Policy(_rows(conn))


# -- roles -------------------------------------------------------------------------------


def create_role(engine: Engine, name: str) -> None:
    """Raises: RoleAlreadyExists, InvalidInput (an empty name)."""
    if not name.strip():
        raise InvalidInput("a role needs a name")
    try:
        with engine.begin() as conn:
            conn.execute(insert(models.roles).values(name=name, created_at=time.time()))
            _bump(conn)
    except IntegrityError:
        raise RoleAlreadyExists(f"role {name!r} already exists", role=name) from None


def drop_role(engine: Engine, name: str, locate: Locate) -> None:
    """Drop a role, its memberships both ways and its grants (and what was granted only
    through them). Raises: NoSuchRole."""
    r, m, g = models.roles, models.role_members, models.grants
    with engine.begin() as conn:
        _check_role(conn, name)
        conn.execute(delete(r).where(r.c.name == name))
        conn.execute(delete(m).where(m.c.role == name))
        conn.execute(delete(m).where(m.c.member_kind == "role", m.c.member_name == name))
        conn.execute(delete(g).where(g.c.grantee_kind == "role", g.c.grantee_name == name))
        _cascade(conn, locate)
        _bump(conn)


def grant_role(engine: Engine, role: str, member: Grantee) -> None:
    """Make ``member`` (a principal, or a role: nesting) a member of ``role``.

    Raises: NoSuchRole, NoSuchPrincipal, RoleCycle (``role`` is already within
    ``member``, or is ``member``)."""
    with engine.begin() as conn:
        _check_role(conn, role)
        _check_grantee(conn, member)
        if member.kind is GranteeKind.ROLE:
            above = Policy(_rows(conn)).roles_of(Grantee(GranteeKind.ROLE, role))
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
            _bump(conn)


def revoke_role(engine: Engine, role: str, member: Grantee, locate: Locate) -> None:
    """Raises: NoSuchRole (also when ``member`` is not in ``role``)."""
    m = models.role_members
    with engine.begin() as conn:
        _check_role(conn, role)
        gone = conn.execute(
            delete(m).where(
                m.c.role == role,
                m.c.member_kind == member.kind.value,
                m.c.member_name == member.name,
            )
        ).rowcount
        if not gone:
            raise NoSuchRole(f"{member} is not a member of role {role!r}", role=role)
        _cascade(conn, locate)
        _bump(conn)


def list_roles(engine: Engine) -> list[tuple[str, list[Grantee]]]:
    """Returns: each role by name, with its direct members."""
    r, m = models.roles, models.role_members
    with engine.connect() as conn:
        names = conn.execute(select(r.c.name).order_by(r.c.name)).scalars().all()
        members = conn.execute(
            select(m.c.role, m.c.member_kind, m.c.member_name).order_by(
                m.c.member_kind, m.c.member_name
            )
        ).all()
    return [(name, [grantee_of(k, n) for role, k, n in members if role == name]) for name in names]


# -- grants ------------------------------------------------------------------------------


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
    NoSuchRole, NoSuchPrincipal."""
    g = models.grants
    with engine.begin() as conn:
        _check_grantee(conn, grantee)
        policy = Policy(_rows(conn))
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
        _bump(conn)


def revoke(
    engine: Engine,
    privileges: Sequence[Privilege],
    target: Target,
    path: ObjectPath,
    grantee: Grantee,
    *,
    revoker: Principal,
    locate: Locate,
) -> int:
    """Revoke the privileges on ``target`` from ``grantee``: every such grant when the
    revoker is an administrator or manages grants, else the ones it made; then cascade.

    Returns: how many grants went, cascade included. Raises: NoSuchGrant, GrantNotHeld
    (the revoker may not grant them either)."""
    g = models.grants
    with engine.begin() as conn:
        policy = Policy(_rows(conn))
        before = _count(conn)
        for privilege in privileges:
            matching = _identity(grantee, privilege, target)
            if not revoker.admin and not _manages(policy, revoker):
                _authority(policy, revoker, privilege, target, path)
                matching.append(g.c.granted_by == revoker.name)
            if not conn.execute(delete(g).where(*matching)).rowcount:
                raise NoSuchGrant(
                    f"{grantee} holds no {privilege.value} on {path.name or target.kind.value} "
                    "granted by you",
                    grantee=str(grantee),
                    securable=path.name or target.kind.value,
                )
        _cascade(conn, locate)
        _bump(conn)
        return before - _count(conn)


def forget_principal(engine: Engine, name: str, locate: Locate) -> None:
    """A deleted principal's grants and memberships go with it (a principal created
    later under the same name starts with nothing), and so does what it granted on."""
    g, m = models.grants, models.role_members
    with engine.begin() as conn:
        conn.execute(delete(g).where(g.c.grantee_kind == "principal", g.c.grantee_name == name))
        conn.execute(delete(m).where(m.c.member_kind == "principal", m.c.member_name == name))
        _cascade(conn, locate)
        _bump(conn)


def forget_namespace(engine: Engine, name: str, locate: Locate) -> None:
    """A dropped namespace's grants and tags go with it (names are reused; UUIDs are
    not), and what was granted on through them."""
    g, a = models.grants, models.tag_assignments
    with engine.begin() as conn:
        conn.execute(delete(g).where(*_on(Target(SecurableKind.NAMESPACE, name))))
        conn.execute(
            delete(a).where(
                a.c.object_kind == SecurableKind.NAMESPACE.value, a.c.object_key == name
            )
        )
        _cascade(conn, locate)
        _bump(conn)


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


# -- tags --------------------------------------------------------------------------------


def create_tag(engine: Engine, key: str, values: Sequence[str]) -> None:
    """Raises: TagAlreadyExists, InvalidInput (no key or no values)."""
    if not key.strip() or not values:
        raise InvalidInput(f"a tag needs a key and at least one value (got {key!r}: {values!r})")
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(models.tag_keys).values(
                    key=key,
                    allowed_values=json.dumps(list(dict.fromkeys(values))),
                    created_at=time.time(),
                )
            )
            _bump(conn)
    except IntegrityError:
        raise TagAlreadyExists(f"tag {key!r} already exists", key=key) from None


def drop_tag(engine: Engine, key: str, locate: Locate) -> None:
    """Drop a tag key, its assignments and the grants on expressions naming it (they
    could match nothing any more). Raises: NoSuchTag."""
    t, a, g = models.tag_keys, models.tag_assignments, models.grants
    with engine.begin() as conn:
        _allowed_values(conn, key)
        conn.execute(delete(t).where(t.c.key == key))
        conn.execute(delete(a).where(a.c.key == key))
        tag_grants = conn.execute(
            select(g.c.id, g.c.securable_key).where(g.c.securable_kind == SecurableKind.TAG.value)
        ).all()
        naming = [i for i, k in tag_grants if key in dict(tag_expression(k))]
        if naming:
            conn.execute(delete(g).where(g.c.id.in_(naming)))
        _cascade(conn, locate)
        _bump(conn)


def set_tag(engine: Engine, on: Target, key: str, value: str) -> None:
    """Tag a namespace, table or column (``on``), replacing its value of ``key``.

    Raises: NoSuchTag, InvalidTagValue."""
    a = models.tag_assignments
    with engine.begin() as conn:
        allowed = _allowed_values(conn, key)
        if value not in allowed:
            raise InvalidTagValue(
                f"tag {key!r} allows {', '.join(repr(v) for v in allowed)}, not {value!r}",
                key=key,
                value=value,
            )
        where = _tag_row(on, key)
        if conn.execute(update(a).where(*where).values(value=value)).rowcount == 0:
            conn.execute(
                insert(a).values(
                    object_kind=_tag_kind(on).value,
                    object_key=on.key,
                    field_id=on.field_id,
                    key=key,
                    value=value,
                )
            )
        _bump(conn)


def unset_tag(engine: Engine, on: Target, key: str, locate: Locate) -> None:
    """Raises: NoSuchTag (the key does not exist)."""
    with engine.begin() as conn:
        _allowed_values(conn, key)
        conn.execute(delete(models.tag_assignments).where(*_tag_row(on, key)))
        _cascade(conn, locate)
        _bump(conn)


def list_tags(engine: Engine) -> list[tuple[str, list[str]]]:
    t = models.tag_keys
    with engine.connect() as conn:
        rows = conn.execute(select(t.c.key, t.c.allowed_values).order_by(t.c.key)).all()
    return [(key, json.loads(values)) for key, values in rows]


# -- data filters and owners -------------------------------------------------------------


def create_data_filter(
    engine: Engine,
    name: str,
    table_uuid: str,
    *,
    row_filter: dict[str, Any] | None,
    column_mode: str,
    field_ids: Sequence[int],
    created_by: str,
) -> None:
    """Raises: DataFilterAlreadyExists, InvalidInput (an empty name)."""
    if not name.strip():
        raise InvalidInput("a data filter needs a name")
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(models.data_filters).values(
                    name=name,
                    table_uuid=table_uuid,
                    row_filter=None if row_filter is None else json.dumps(row_filter),
                    column_mode=column_mode,
                    field_ids=json.dumps(sorted(field_ids)),
                    created_by=created_by,
                    created_at=time.time(),
                )
            )
            _bump(conn)
    except IntegrityError:
        raise DataFilterAlreadyExists(
            f"data filter {name!r} already exists", data_filter=name
        ) from None


def drop_data_filter(engine: Engine, name: str, locate: Locate) -> None:
    """Drop a data filter and the grants on it. Raises: NoSuchDataFilter."""
    f, g = models.data_filters, models.grants
    with engine.begin() as conn:
        found = conn.execute(select(f.c.id).where(f.c.name == name)).scalar()
        if found is None:
            raise NoSuchDataFilter(f"no data filter {name!r}", data_filter=name)
        conn.execute(delete(f).where(f.c.id == found))
        conn.execute(delete(g).where(*_on(Target(SecurableKind.DATA_FILTER, str(found)))))
        _cascade(conn, locate)
        _bump(conn)


def data_filter_id(engine: Engine, name: str) -> int:
    """Raises: NoSuchDataFilter."""
    f = models.data_filters
    with engine.connect() as conn:
        found = conn.execute(select(f.c.id).where(f.c.name == name)).scalar()
    if found is None:
        raise NoSuchDataFilter(f"no data filter {name!r}", data_filter=name)
    return int(found)


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
        _bump(conn)


def read_rows(engine: Engine) -> PolicyRows:
    with engine.begin() as conn:
        return _rows(conn)


# -- inside ------------------------------------------------------------------------------


def _version(conn: Connection) -> int:
    v = models.policy_version
    return int(conn.execute(select(v.c.version).where(v.c.id == 1)).scalar() or 0)


def _bump(conn: Connection) -> None:
    v = models.policy_version
    conn.execute(update(v).where(v.c.id == 1).values(version=v.c.version + 1))


def _rows(conn: Connection) -> PolicyRows:
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
        version=_version(conn),
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
    )


_KINDS = {kind.value: kind for kind in SecurableKind}
_PRIVILEGES = {privilege.value: privilege for privilege in Privilege}


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


def _manages(policy: Policy, principal: Principal) -> bool:
    return policy.holds(principal.name, Privilege.MANAGE_GRANTS, ObjectPath())


def _cascade(conn: Connection, locate: Locate) -> None:
    """Drop every grant whose granter can no longer grant it, round after round, and
    point the others at the path their granter still holds the option by."""
    admins = set(
        conn.execute(
            select(models.principals.c.name).where(models.principals.c.admin == 1)
        ).scalars()
    ) | {OWNER.name}
    paths: dict[str, ObjectPath | None] = {}
    while True:
        rows = _rows(conn)
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


def _identity(grantee: Grantee, privilege: Privilege, target: Target) -> list[Any]:
    g = models.grants
    return [
        g.c.grantee_kind == grantee.kind.value,
        g.c.grantee_name == grantee.name,
        g.c.privilege == privilege.value,
        *_on(target),
    ]


def _on(target: Target) -> list[Any]:
    g = models.grants
    return [
        g.c.securable_kind == target.kind.value,
        g.c.securable_key == target.key,
        g.c.field_id == target.field_id,
    ]


def _count(conn: Connection) -> int:
    return len(conn.execute(select(models.grants.c.id)).all())


def _check_role(conn: Connection, name: str) -> None:
    if conn.execute(select(models.roles.c.name).where(models.roles.c.name == name)).first() is None:
        raise NoSuchRole(f"no role {name!r}", role=name)


def _check_grantee(conn: Connection, grantee: Grantee) -> None:
    if grantee.kind is GranteeKind.ROLE:
        _check_role(conn, grantee.name)
        return
    p = models.principals
    if conn.execute(select(p.c.id).where(p.c.name == grantee.name)).first() is None:
        raise NoSuchPrincipal(f"no principal {grantee.name!r}", principal=grantee.name)


def _allowed_values(conn: Connection, key: str) -> list[str]:
    t = models.tag_keys
    found = conn.execute(select(t.c.allowed_values).where(t.c.key == key)).scalar()
    if found is None:
        raise NoSuchTag(f"no tag {key!r}; create it with CREATE TAG {key} VALUES (...)", key=key)
    return list(json.loads(found))


def _tag_kind(on: Target) -> SecurableKind:
    return SecurableKind.NAMESPACE if on.kind is SecurableKind.NAMESPACE else SecurableKind.TABLE


def _tag_row(on: Target, key: str) -> list[Any]:
    a = models.tag_assignments
    return [
        a.c.object_kind == _tag_kind(on).value,
        a.c.object_key == on.key,
        a.c.field_id == on.field_id,
        a.c.key == key,
    ]


class PolicyCache:
    """The policy a lake decides with, read again only when the version moved: each
    decision costs one primary-key SELECT, not a read of every grant."""

    def __init__(self) -> None:
        self._policy: Policy | None = None
        self._lock = threading.Lock()

    def current(self, engine: Engine) -> Policy:
        version = read_version(engine)
        with self._lock:
            if self._policy is not None and self._policy.version == version:
                return self._policy
        policy = read_policy(engine)
        with self._lock:
            if self._policy is None or self._policy.version <= policy.version:
                self._policy = policy
        return policy
