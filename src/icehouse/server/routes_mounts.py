"""Mounted producer catalogs, each served as its own REST ``prefix`` (read-only).

``GET /v1/config?warehouse=NAME`` hands a client the prefix ``NAME`` of the catalog
mounted as ``NAME``; its namespaces, tables and ``loadTable`` answer from the producer,
through the central server, which keeps the producer's credential. A commit through a
mount answers 501: the producer holds the table and decides who changes it.

Every catalog route is ``/v1/{prefix}/...``, the lake's own included, so a request for a
mount's prefix is routed here by its path before routing (``MountedPrefix``): the
lake's own routes keep answering exactly as before, unknown prefixes included (404).
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Header, Request, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from icehouse.lake import Lake
from icehouse.server.deps import LakeDep, as_principal
from icehouse.server.load_bodies import etag_of
from icehouse.server.paths import namespace_from_path

MOUNTED = "/v1/mounted/{mount}"
"""Where a mount's routes live once ``MountedPrefix`` has routed its request here."""
router = APIRouter(prefix=MOUNTED)
TABLE = "/namespaces/{namespace}/tables/{table}"
NO_CONFIG: dict[str, str] = {}
"""The ``config`` of a mounted table's load: nothing (the central server keeps the
producer's credentials, and vends none)."""


class MountedPrefix:
    """Routes ``/v1/<mount>/...`` to this module's ``/v1/mounted/<mount>/...``, for the
    requests a mount answers (listings, ``loadTable`` and commits) on every prefix that
    is not the lake's own nor a route of ``/v1`` itself (``config``, ``oauth``): whether
    ``<mount>`` is mounted, and may be shown, the route decides. Any other request keeps
    its path, and a prefix that is not the lake's its 404."""

    def __init__(self, app: ASGIApp, *, prefix: str) -> None:
        self.app = app
        self.own = {prefix, "config", "oauth", "mounted"}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            parts = scope["path"].split("/", 3)  # "", "v1", prefix, rest
            if (
                len(parts) == 4
                and parts[1] == "v1"
                and parts[2] not in self.own
                and _SERVED.fullmatch(parts[3])
                and scope["method"] in ("GET", "POST")
            ):
                scope = {**scope, "path": f"/v1/mounted/{parts[2]}/{parts[3]}"}
        await self.app(scope, receive, send)


_SERVED = re.compile(r"namespaces(/[^/]+/tables(/[^/]+)?)?")
"""The paths below a prefix that a mount answers."""


@router.get("/namespaces")
def list_namespaces(mount: str, lake: LakeDep) -> dict[str, Any]:
    """The mount's top-level namespaces (none for a principal that may not describe it)."""
    found = lake.catalogs.namespaces(mount)
    return {"namespaces": [list(n) for n in found], "next-page-token": None}


@router.get("/namespaces/{namespace}/tables")
def list_tables(mount: str, namespace: str, lake: LakeDep) -> dict[str, Any]:
    levels = namespace_from_path(namespace)
    names = lake.catalogs.namespace_tables(mount, levels)
    return {
        "identifiers": [{"namespace": list(levels), "name": name} for name in names],
        "next-page-token": None,
    }


@router.get(TABLE)
async def load_table(
    mount: str,
    namespace: str,
    table: str,
    request: Request,
    if_none_match: str | None = Header(default=None),
) -> Response:
    """Reached for a request ``HotReads`` leaves to the routes (none today: every
    mount load is plain); answered by ``loading``."""
    return await loading(request, mount, namespace, table, if_none_match)


async def loading(
    request: Request, mount: str, namespace: str, table: str, if_none_match: str | None
) -> Response:
    """The producer's metadata location and metadata, as the producer has them now, with
    an ETag as a local table's load has (304 to a client that sends it back while the
    table is unchanged). The token's lookup and the load share one worker thread
    (``as_principal``), and the answer is serialised once per version of the table.

    Raises: InvalidInput (a blank namespace level), NotAuthenticated, NoSuchMount,
    NoSuchTable, CatalogUnavailable, Forbidden (as ``lake.catalogs.load``)."""
    levels = namespace_from_path(namespace)

    def load(lake: Lake) -> Response:
        state = lake.catalogs.load(mount, levels, table)
        etag = etag_of(state, "all")
        if if_none_match and etag in {tag.strip() for tag in if_none_match.split(",")}:
            return Response(status_code=304, headers={"ETag": etag})
        body = request.app.state.load_bodies.get(state, "all", NO_CONFIG)
        return Response(body.content, media_type="application/json", headers={"ETag": body.etag})

    return await as_principal(request, load)


@router.post(TABLE)
def commit_table(mount: str, namespace: str, table: str, lake: LakeDep) -> None:
    """Refused (501 to an administrator, 403 to anyone else): mounts are read-only."""
    lake.catalogs.commit(mount, namespace_from_path(namespace), table)
