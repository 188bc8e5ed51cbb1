"""``GET /v1/config`` and ``/healthz``: what a client learns before anything else."""

from __future__ import annotations

import contextlib
from typing import Any

from fastapi import APIRouter, Request
from fastapi.routing import APIRoute

from icehouse.errors import NoSuchMount
from icehouse.lake.catalogs import MountedCatalogs
from icehouse.server.deps import API, LakeDep
from icehouse.server.idempotency import KEY_LIFETIME

router = APIRouter()


@router.get("/v1/config")
def get_config(request: Request, lake: LakeDep, warehouse: str | None = None) -> dict[str, Any]:
    """The prefix every other route lives under, the endpoints served, and how long a
    commit may be retried with the same ``Idempotency-Key``: only to a principal who may
    connect (the lake check runs as the request's principal). ``warehouse`` names a
    mounted catalog to use instead of the lake's own: its name is its prefix. Any other
    warehouse is the lake's own (engines send one whatever the server: DuckDB its
    ATTACH name), and so is a mount the principal may not describe: answered as for a
    name that is no mount, the answer does not tell it that the mount exists."""
    prefix = request.app.state.prefix
    if warehouse is not None and warehouse in MountedCatalogs(request.app.state.lake).names():
        with contextlib.suppress(NoSuchMount):
            prefix = lake.catalogs.get(warehouse).name
    return {
        "defaults": {},
        "overrides": {"prefix": prefix},
        "endpoints": request.app.state.endpoints,
        "idempotency-key-lifetime": KEY_LIFETIME,
    }


@router.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def served_endpoints(routers: list[APIRouter]) -> list[str]:
    """``"GET /v1/{prefix}/namespaces"``... as the REST spec's ``endpoints`` lists them,
    derived from the routers themselves so that the list cannot drift from what answers."""
    return sorted(
        f"{method} {route.path}"
        for router in routers
        for route in router.routes
        if isinstance(route, APIRoute) and route.path.startswith(API)
        for method in route.methods or ()
    )
