"""What every route receives: the ``Lake`` the app was made with, acting as the
request's principal, and the check that a URL's ``{prefix}`` is the one ``/v1/config``
handed out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, TypeVar

from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from icehouse.errors import NotAuthenticated, NotFound
from icehouse.lake import Lake


async def lake_of(request: Request) -> AsyncIterator[Lake]:
    """The app's lake acting as the request's principal (``principal_lake``), with an
    outage of the state database or the object store during the request answered as a
    503 naming the service (a commit cut off by one may or may not have landed: clients
    must not retry it blindly, and do not on a 503).

    Async, so that it runs on the event loop: FastAPI runs a plain generator's start and
    end each in a worker thread, two thread switches that cost more than a cached
    loadTable. Only a token's lookup in the state database goes to a worker thread."""
    if bearer_token(request.headers.get("authorization")) is None:
        lake = principal_lake(request)  # no token: nothing to look up
    else:
        lake = await run_in_threadpool(principal_lake, request)
    with lake.outages_as_errors():
        yield lake


async def as_principal(request: Request, work: Callable[[Lake], T]) -> T:
    """``work`` done by the lake acting as the request's principal, with outages answered
    as ``lake_of`` answers them: for the hottest routes (a table's load, a listing),
    which take no ``LakeDep`` and call this instead.

    The token's lookup and ``work`` share one worker thread: ``lake_of`` followed by a
    plain route costs two switches to a worker thread and back, each dearer than the
    lookup itself.

    Raises: NotAuthenticated (as ``principal_lake``), and whatever ``work`` raises."""

    def authenticated_work() -> T:
        lake = principal_lake(request)
        with lake.outages_as_errors():
            return work(lake)

    return await run_in_threadpool(authenticated_work)


def principal_lake(request: Request) -> Lake:
    """The lake as whoever the request's bearer token names; without a token, as the
    lake's owner when the server allows anonymous access. The principal's name is kept
    in the request's state, where the request log finds it.

    Raises: NotAuthenticated (no token, or one unknown, expired or revoked)."""
    root: Lake = request.app.state.lake
    token = bearer_token(request.headers.get("authorization"))
    if token is None:
        if request.app.state.allow_anonymous:
            request.state.principal = root.principal.name
            return root
        raise NotAuthenticated(
            "this catalog needs a bearer token: POST /v1/oauth/tokens with a client id "
            "and secret (`icehouse principal create NAME` makes them); PyIceberg does it "
            'when given credential="CLIENT_ID:CLIENT_SECRET"'
        )
    with root.outages_as_errors():
        principal = root.principals.authenticate(token)
        request.state.principal = principal.name  # for the request's log line
        return root.as_principal(principal)


def bearer_token(header: str | None) -> str | None:
    """The token of ``Authorization: Bearer <token>``; None without the header, and for
    ``Bearer None``, which is what PyIceberg sends when it was given no credential.

    Raises: NotAuthenticated (another scheme, or no token after it)."""
    if header is None:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise NotAuthenticated("the Authorization header must be `Bearer <token>`")
    return None if token.strip() == NO_CREDENTIAL else token.strip()


async def check_prefix(prefix: str, request: Request) -> None:
    """Async, as it does no I/O: a plain function would cost a switch to a worker thread
    and back on every request.

    Raises: NotFound (a prefix this server does not serve)."""
    if prefix != request.app.state.prefix:
        raise NotFound(f"no catalog {prefix!r} here; GET /v1/config names the prefix to use")


T = TypeVar("T")
NO_CREDENTIAL = "None"
"""The token PyIceberg's REST client sends when it has none (``f"Bearer {None}"``)."""
LakeDep = Annotated[Lake, Depends(lake_of)]
API = "/v1/{prefix}"
"""The root of every catalog route (``prefix`` as ``/v1/config`` hands it out)."""
