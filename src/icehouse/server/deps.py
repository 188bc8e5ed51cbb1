"""What every route receives: the ``Lake`` the app was made with, and the check that a
URL's ``{prefix}`` is the one ``/v1/config`` handed out."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request

from icehouse.errors import NotFound
from icehouse.lake import Lake


def lake_of(request: Request) -> Iterator[Lake]:
    """The app's lake, with an outage of the state database or the object store during
    the request answered as a 503 naming the service (a commit cut off by one may or may
    not have landed: clients must not retry it blindly, and do not on a 503)."""
    lake: Lake = request.app.state.lake
    with lake.outages_as_errors():
        yield lake


def check_prefix(prefix: str, request: Request) -> None:
    """Raises: NotFound (a prefix this server does not serve)."""
    if prefix != request.app.state.prefix:
        raise NotFound(f"no catalog {prefix!r} here; GET /v1/config names the prefix to use")


LakeDep = Annotated[Lake, Depends(lake_of)]
API = "/v1/{prefix}"
"""The root of every catalog route (``prefix`` as ``/v1/config`` hands it out)."""
