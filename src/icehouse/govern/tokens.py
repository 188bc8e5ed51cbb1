"""Bearer tokens: issued for a checked client secret, looked up on every request.

A token is 256 random bits; the database keeps its SHA-256 (fast, and safe for that
much randomness), its expiry and a revoked flag. Each check joins the token to its
principal, so an expired or revoked token, or one whose principal was deleted, is
refused on the very next request: no cache to outlive it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, bindparam, insert, select, update

from icehouse.errors import NoSuchPrincipal, NotAuthenticated
from icehouse.govern.authz import Principal
from icehouse.state import models

DEFAULT_LIFETIME = 3600.0
"""Seconds a token lives: clients fetch a new one with their secret when it ends."""


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    """Seconds from now (as OAuth2 says it)."""


def issue(engine: Engine, principal_id: int, *, now: float, lifetime: float) -> IssuedToken:
    token = secrets.token_urlsafe(32)
    with engine.begin() as conn:
        conn.execute(
            insert(models.tokens).values(
                token_hash=_digest(token),
                principal_id=principal_id,
                issued_at=now,
                expires_at=now + lifetime,
                revoked=0,
            )
        )
    return IssuedToken(token, int(lifetime))


_TOKEN_QUERY = (
    select(
        models.tokens.c.expires_at,
        models.tokens.c.revoked,
        models.principals.c.name,
        models.principals.c.admin,
        models.principals.c.kind,
        models.principals.c.tenant,
    )
    .select_from(
        models.tokens.join(
            models.principals, models.principals.c.id == models.tokens.c.principal_id
        )
    )
    .where(models.tokens.c.token_hash == bindparam("token_hash"))
)
"""The token's row joined to its principal's, built once: every request runs it, and
building it cost several times running it."""


def principal_for(engine: Engine, token: str, *, now: float) -> Principal:
    """Raises: NotAuthenticated (unknown, expired or revoked token, or its principal is
    gone), saying which, so that a client knows whether to fetch a new token."""
    with engine.connect() as conn:
        row = conn.execute(_TOKEN_QUERY, {"token_hash": _digest(token)}).first()
    if row is None:
        raise NotAuthenticated("unknown bearer token; get one from POST /v1/oauth/tokens")
    if row.revoked:
        raise NotAuthenticated("the bearer token was revoked; get a new one")
    if row.expires_at <= now:
        raise NotAuthenticated("the bearer token expired; get a new one")
    return Principal(name=row.name, admin=bool(row.admin), kind=row.kind, tenant=row.tenant)


def revoke_all(engine: Engine, name: str) -> int:
    """Revoke every token of principal ``name``. Returns: how many were live.

    Raises: NoSuchPrincipal."""
    t, p = models.tokens, models.principals
    with engine.begin() as conn:
        found = conn.execute(select(p.c.id).where(p.c.name == name)).scalar()
        if found is None:
            raise NoSuchPrincipal(f"no principal {name!r}", principal=name)
        revoked = conn.execute(
            update(t).where(t.c.principal_id == found, t.c.revoked == 0).values(revoked=1)
        )
    return int(revoked.rowcount)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
