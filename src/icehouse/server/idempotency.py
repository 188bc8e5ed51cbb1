"""``Idempotency-Key`` on every route that changes the catalog: a retried request gets
the final answer of the first.

A client whose commit timed out cannot tell whether it landed; retrying it blindly could
append twice (or, for a create or a drop, get a 409 or a 404 for what in fact worked).
With the same key, the retry is answered from the state database: the first attempt's
success (or its deterministic 4xx, e.g. a 409) comes back, and nothing runs again. A
5xx is never remembered: the outcome is unknown, and a retry runs anew. Keys are the
sending principal's own: another principal's request with the same key runs as its own.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from typing import Annotated

from fastapi import Header, Request, Response
from pydantic import BaseModel

from icehouse.errors import IcehouseError, InvalidInput
from icehouse.lake import Lake
from icehouse.lake.catalog_requests import IDEMPOTENCY_KEY_LIFETIME, RememberedAnswer
from icehouse.server.errors import error_response

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]

KEY_LIFETIME = f"PT{int(IDEMPOTENCY_KEY_LIFETIME // 60)}M"
"""The key lifetime as ``/v1/config`` advertises it (ISO 8601)."""


def idempotent(
    lake: Lake,
    request: Request,
    key: str | None,
    body: BaseModel | None,
    run: Callable[[], Response],
) -> Response:
    """``run()``'s answer, or, for a key this principal already had answered, that answer
    again.

    ``body`` is the request's body as parsed; with the method, the route and the query
    (``purgeRequested``), it identifies the request. ``run`` answers a success or raises.

    Raises: InvalidInput (a key that is not a UUID), IdempotencyKeyReused, and whatever
    ``run`` raises."""
    if key is None:
        return run()
    try:
        uuid.UUID(key)
    except ValueError:
        raise InvalidInput(f"Idempotency-Key must be a UUID (UUIDv7), got {key!r}") from None
    sent = "" if body is None else body.model_dump_json()
    url = request.url
    identity = f"{request.method} {url.path}?{url.query}\n{sent}"
    fingerprint = hashlib.sha256(identity.encode()).hexdigest()
    remembered = lake.idempotency.recall(key, fingerprint)
    if remembered is not None:
        return Response(
            remembered.body or None,
            status_code=remembered.status,
            media_type="application/json" if remembered.body else None,
        )
    try:
        response = run()
    except IcehouseError as exc:
        if exc.status < 500:
            answer = error_response(exc.status, exc.error_type, exc.message)
            lake.idempotency.remember(key, fingerprint, _answer(answer))
        raise
    lake.idempotency.remember(key, fingerprint, _answer(response))
    return response


def _answer(response: Response) -> RememberedAnswer:
    return RememberedAnswer(status=response.status_code, body=bytes(response.body).decode())


__all__ = ["KEY_LIFETIME", "IdempotencyKey", "idempotent"]
