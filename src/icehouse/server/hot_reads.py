"""listTables and loadTable answered before FastAPI's routing and dependency solving.

Engines load a table before every read and after every commit, and list a namespace
whenever they browse it: these two reads are most of a catalog's requests. Once the
table's answer is kept (``load_bodies.py``), matching the path against every route and
solving each parameter cost more CPU than the read itself. So a GET of the lake's own
``/v1/{prefix}/namespaces/{namespace}/tables[/{table}]`` whose parameters are all well
formed is answered here, by the same code the routes run (``routes_tables.listing`` and
``routes_tables.loading``), with errors rendered as the app's handler renders them. So is
a loadTable on a mount's prefix (``/v1/mounted/{mount}/...`` once ``MountedPrefix`` has
routed it), by ``routes_mounts.loading``: a load through a mount does all a local one
does, plus a request to the producer.

A request with a parameter that is not plainly valid (a ``pageSize`` that is not a
positive number, an unknown ``snapshots``) goes on to the routes, whose validation
answers it exactly as it always has; so do other methods and other paths. The routes
stay the declaration: ``/v1/config`` lists them as served.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable

from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from icehouse.errors import IcehouseError
from icehouse.lake.iceberg import SnapshotsMode
from icehouse.server import routes_mounts
from icehouse.server.deps import API
from icehouse.server.errors import icehouse_error_response
from icehouse.server.routes_tables import TABLE, TABLES, listing, loading

LONGEST_PAGE_SIZE = 9
"""Digits of the longest ``pageSize`` answered here (longer ones go to validation)."""


class HotReads:
    """Answers the well-formed GETs of a namespace's tables and of a table, on the
    lake's own ``prefix``, and of a mounted table; passes anything else on to ``app``.
    ``routes``: the app's routes, whose listTables and loadTables (local and mounted)
    the request log names as the route."""

    def __init__(self, app: ASGIApp, *, prefix: str, routes: Iterable[BaseRoute]) -> None:
        self.app = app
        self._prefix = prefix
        templates = {
            route.path: route
            for route in routes
            if isinstance(route, Route) and "GET" in (route.methods or ())
        }
        self._listing_route = templates[API + TABLES]
        self._loading_route = templates[API + TABLE]
        self._mounted_route = templates[routes_mounts.MOUNTED + routes_mounts.TABLE]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = self._answer(scope, receive) if scope["type"] == "http" else None
        if answer is None:
            await self.app(scope, receive, send)
            return
        try:
            response = await answer
        except IcehouseError as exc:
            response = icehouse_error_response(exc)
        await response(scope, receive, send)

    def _answer(self, scope: Scope, receive: Receive) -> Awaitable[Response] | None:
        """The answer to make, None for a request left to the routes."""
        if scope["method"] != "GET":
            return None
        # "", "v1", prefix, "namespaces", namespace, "tables"[, table]
        parts = scope["path"].split("/")
        if _mounted_table(parts):
            scope["route"] = self._mounted_route
            request = Request(scope, receive)
            if_none_match = request.headers.get("if-none-match")
            return routes_mounts.loading(request, parts[3], parts[5], parts[7], if_none_match)
        if not (
            len(parts) in (6, 7)
            and parts[1] == "v1"
            and parts[2] == self._prefix
            and parts[3] == "namespaces"
            and parts[5] == "tables"
            and all(parts[4:])
        ):
            return None
        query = QueryParams(scope["query_string"])
        request = Request(scope, receive)
        if len(parts) == 6:
            size = query.get("pageSize")
            if size is not None and not _positive(size):
                return None
            scope["route"] = self._listing_route
            page_size = None if size is None else int(size)
            return listing(request, parts[4], query.get("pageToken"), page_size)
        snapshots = _snapshots(query.get("snapshots", "all"))
        if snapshots is None:
            return None
        scope["route"] = self._loading_route
        if_none_match = request.headers.get("if-none-match")
        return loading(request, parts[4], parts[6], snapshots, if_none_match)


def _mounted_table(parts: list[str]) -> bool:
    """Whether the path's ``parts`` are ``/v1/mounted/{mount}/namespaces/{namespace}/
    tables/{table}`` (the mount's route takes no query parameters)."""
    return (
        len(parts) == 8
        and parts[1:3] == ["v1", "mounted"]
        and parts[4] == "namespaces"
        and parts[6] == "tables"
        and all(parts[3:])
    )


def _positive(text: str) -> bool:
    """Whether ``text`` is plainly a positive number (validation decides anything else)."""
    return text.isascii() and text.isdigit() and len(text) <= LONGEST_PAGE_SIZE and int(text) > 0


def _snapshots(text: str) -> SnapshotsMode | None:
    """The snapshots mode ``text`` names; None for one validation must refuse."""
    if text == "all":
        return "all"
    if text == "refs":
        return "refs"
    return None
