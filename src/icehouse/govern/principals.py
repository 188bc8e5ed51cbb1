"""Principals in the state database: create, list, rotate a secret, delete, and check a
client id and secret.

A secret is 256 random bits shown once; the database keeps only its scrypt hash with a
salt of its own, so that a copy of the database gives no one a working secret, and a
guessed secret costs an attacker scrypt's work per try.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Row, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from icehouse.errors import InvalidInput, NoSuchPrincipal, PrincipalAlreadyExists
from icehouse.govern import store
from icehouse.govern.authz import Principal
from icehouse.state import models

KINDS = ("service", "user", "engine")
"""``engine``: a service trusted to apply the read restrictions a filtered table is
handed with (``Principal.trusted_engine``); kept in the same column, as it is a kind of
service, not a grant."""
_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
"""scrypt's cost (16 MiB, about 50 ms a check): paid once per token, not per request."""


@dataclass(frozen=True)
class PrincipalInfo:
    """A principal as listed: never its secret."""

    name: str
    kind: str
    client_id: str
    admin: bool
    created_at: float
    rotated_at: float | None
    tenant: str | None = None
    """The tenant it belongs to (None: the server's own)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "client_id": self.client_id,
            "admin": self.admin,
            "created_at": self.created_at,
            "rotated_at": self.rotated_at,
            "tenant": self.tenant,
        }


@dataclass(frozen=True)
class Credentials:
    """What a client connects with; the secret exists here only, never in the database."""

    name: str
    client_id: str
    client_secret: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "client_id": self.client_id, "client_secret": self.client_secret}


def create(
    engine: Engine, name: str, *, admin: bool, kind: str, tenant: str | None = None
) -> Credentials:
    """Create a principal of the server (``tenant`` None) or of a tenant. The policy
    version moves: which tenant a principal belongs to decides whom it may grant to.

    Raises: PrincipalAlreadyExists, NoSuchTenant, InvalidInput (an empty name, an unknown
    kind, or an administrator of the server inside a tenant)."""
    if not name.strip():
        raise InvalidInput("a principal needs a name")
    if kind not in KINDS:
        raise InvalidInput(f"kind {kind!r} is not one of {', '.join(KINDS)}")
    if admin and tenant is not None:
        raise InvalidInput(
            f"a principal of tenant {tenant!r} cannot administer the server; make it the "
            f"tenant's administrator with GRANT ADMIN ON TENANT {tenant} TO PRINCIPAL {name}"
        )
    client_id, secret = secrets.token_hex(16), secrets.token_urlsafe(32)
    salt = secrets.token_hex(16)
    try:
        with engine.begin() as conn:
            if tenant is not None:
                store.check_tenant(conn, tenant)
            conn.execute(
                insert(models.principals).values(
                    name=name,
                    kind=kind,
                    client_id=client_id,
                    secret_salt=salt,
                    secret_hash=_hash(secret, salt),
                    admin=int(admin),
                    created_at=time.time(),
                    tenant=tenant,
                )
            )
            store.bump(conn)
    except IntegrityError:
        raise PrincipalAlreadyExists(
            f"principal {name!r} already exists; `icehouse principal rotate {name}` gives "
            "it a new secret",
            principal=name,
        ) from None
    return Credentials(name, client_id, secret)


def list_all(engine: Engine) -> list[PrincipalInfo]:
    """Returns: every principal, by name."""
    p = models.principals
    with engine.connect() as conn:
        rows = conn.execute(select(p).order_by(p.c.name)).all()
    return [_info(row) for row in rows]


def rotate(engine: Engine, name: str) -> Credentials:
    """A new secret (the old one stops working) and every token handed out revoked, as a
    secret is usually rotated because it leaked. Raises: NoSuchPrincipal."""
    p = models.principals
    secret, salt = secrets.token_urlsafe(32), secrets.token_hex(16)
    with engine.begin() as conn:
        row = _row(conn.execute(select(p).where(p.c.name == name)).first(), name)
        conn.execute(
            update(p)
            .where(p.c.id == row.id)
            .values(secret_salt=salt, secret_hash=_hash(secret, salt), rotated_at=time.time())
        )
        conn.execute(
            update(models.tokens).where(models.tokens.c.principal_id == row.id).values(revoked=1)
        )
    return Credentials(name, row.client_id, secret)


def remove(engine: Engine, name: str) -> int:
    """Delete a principal and its tokens in one transaction, so none works after.

    Returns: how many tokens went with it. Raises: NoSuchPrincipal."""
    p, t = models.principals, models.tokens
    with engine.begin() as conn:
        row = _row(conn.execute(select(p.c.id).where(p.c.name == name)).first(), name)
        tokens = conn.execute(delete(t).where(t.c.principal_id == row.id)).rowcount
        conn.execute(delete(p).where(p.c.id == row.id))
        conn.execute(delete(models.tenant_admins).where(models.tenant_admins.c.principal == name))
        store.bump(conn)
    return int(tokens)


def check_secret(engine: Engine, client_id: str, secret: str) -> tuple[int, Principal] | None:
    """Returns: the principal's id and itself when ``secret`` is its current one, else
    None (an unknown client id costs the same scrypt work, telling nothing)."""
    p = models.principals
    with engine.connect() as conn:
        row = conn.execute(select(p).where(p.c.client_id == client_id)).first()
    salt = row.secret_salt if row is not None else "0" * 32
    computed = _hash(secret, salt)
    if row is None or not hmac.compare_digest(computed, row.secret_hash):
        return None
    return row.id, Principal(name=row.name, admin=bool(row.admin), kind=row.kind, tenant=row.tenant)


def _hash(secret: str, salt: str) -> str:
    return hashlib.scrypt(secret.encode(), salt=bytes.fromhex(salt), **_SCRYPT).hex()


def _row(row: Row[Any] | None, name: str) -> Row[Any]:
    if row is None:
        raise NoSuchPrincipal(
            f"no principal {name!r}; `icehouse principal list` shows them", principal=name
        )
    return row


def _info(row: Row[Any]) -> PrincipalInfo:
    return PrincipalInfo(
        name=row.name,
        kind=row.kind,
        client_id=row.client_id,
        admin=bool(row.admin),
        created_at=row.created_at,
        rotated_at=row.rotated_at,
        tenant=row.tenant,
    )


def is_admin(engine: Engine, name: str) -> bool:
    """Whether principal ``name`` exists and is an administrator."""
    p = models.principals
    with engine.connect() as conn:
        return bool(conn.execute(select(p.c.admin).where(p.c.name == name)).scalar())
