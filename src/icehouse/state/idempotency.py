"""Answers remembered by ``Idempotency-Key``: a request retried with the key of one that
already got its final answer gets that answer again, and nothing runs twice.

A key belongs to one request (route and body, its ``fingerprint``): the same key on a
different request is refused rather than answered with another request's outcome. And
it belongs to the principal that sent it: keys are kept by a digest of principal and
key, so another principal sending the same key (by accident, or having seen it) is a
request of its own, never answered with the first one's outcome.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from icehouse.errors import IdempotencyKeyReused
from icehouse.state import models


@dataclass(frozen=True)
class RememberedAnswer:
    """The HTTP status and JSON body (``""`` for none) of a request's final answer."""

    status: int
    body: str


def recall(
    engine: Engine, key: str, fingerprint: str, *, principal: str, now: float
) -> RememberedAnswer | None:
    """The answer given to ``principal``'s ``key``, None if there is none (or it expired).

    Raises: IdempotencyKeyReused (the key answered a different request)."""
    with engine.connect() as conn:
        row = conn.execute(
            select(models.idempotency_keys).where(
                models.idempotency_keys.c.key == _kept_as(principal, key),
                models.idempotency_keys.c.expires_at > now,
            )
        ).first()
    if row is None:
        return None
    if row.fingerprint != fingerprint:
        raise IdempotencyKeyReused(
            f"Idempotency-Key {key} was used for a different request; use a new key for a "
            "different operation",
            key=key,
        )
    return RememberedAnswer(status=row.status, body=row.body)


def remember(
    engine: Engine,
    key: str,
    fingerprint: str,
    answer: RememberedAnswer,
    *,
    principal: str,
    now: float,
    keep_for: float,
) -> None:
    """Keep ``answer`` for ``principal``'s ``key`` for ``keep_for`` seconds, dropping
    expired keys. A key answered meanwhile by a concurrent request keeps its first
    answer."""
    with engine.begin() as conn:
        conn.execute(
            delete(models.idempotency_keys).where(models.idempotency_keys.c.expires_at <= now)
        )
        try:
            with conn.begin_nested():
                conn.execute(
                    insert(models.idempotency_keys).values(
                        key=_kept_as(principal, key),
                        fingerprint=fingerprint,
                        status=answer.status,
                        body=answer.body,
                        created_at=now,
                        expires_at=now + keep_for,
                    )
                )
        except IntegrityError:
            pass  # the concurrent request's answer stands


def _kept_as(principal: str, key: str) -> str:
    """The row's key: 64 hex digits, whatever the lengths of principal name and key."""
    return hashlib.sha256(f"{principal}\x1f{key}".encode()).hexdigest()


__all__ = ["RememberedAnswer", "recall", "remember"]
