"""The app factory: one ``Lake`` shared by every request, the routes, the error answers
and one log line per request."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from icehouse.lake import Lake
from icehouse.server import (
    routes_config,
    routes_metrics,
    routes_namespaces,
    routes_oauth,
    routes_query,
    routes_tables,
    routes_transactions,
    routes_views,
)
from icehouse.server.errors import install_error_handlers

logger = logging.getLogger("icehouse.server")

PREFIX = "icehouse"


def create_app(
    lake: Lake, *, prefix: str = PREFIX, allow_anonymous: bool = False, close_lake: bool = False
) -> FastAPI:
    """An Iceberg REST catalog over ``lake`` (the caller opens it, and closes it unless
    ``close_lake`` hands that to the app, which then closes it when the server stops),
    and the query API (SQL as the request's principal).

    Every route but the token endpoint and ``/healthz`` needs a bearer token, and acts
    as the principal it names; with ``allow_anonymous``, a request without one acts as
    ``lake``'s own principal (its owner, when opened locally).

    Routes run in FastAPI's worker threads and share the lake: its catalog connections
    are pooled, and every commit is a compare-and-swap in the state database."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if close_lake:
                lake.close()

    app = FastAPI(  # no schema or docs pages: every route but two needs a token
        title="icehouse Iceberg REST catalog",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.lake = lake
    app.state.prefix = prefix
    app.state.allow_anonymous = allow_anonymous
    catalog_routers = [
        routes_namespaces.router,
        routes_tables.router,
        routes_views.router,
        routes_transactions.router,
        routes_metrics.router,
    ]
    app.state.endpoints = routes_config.served_endpoints(catalog_routers)
    install_error_handlers(app)
    app.include_router(routes_config.router)
    app.include_router(routes_oauth.router)
    app.include_router(routes_query.router)  # not Iceberg's: kept off ``endpoints``
    for router in catalog_routers:
        app.include_router(router)
    app.add_middleware(_RequestLog)
    return app


class _RequestLog:
    """``alice GET /v1/{prefix}/namespaces/{namespace} 200 3.1 ms``: who asked (``-``
    before a token names anyone: the token endpoint, a refused token), then the route's
    template, not the path, so that lines group by operation.

    A plain ASGI wrapper rather than ``@app.middleware("http")``, whose per-request task
    and stream plumbing cost more than most catalog requests themselves."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_noting_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_noting_status)
        finally:
            route = scope.get("route")
            path = getattr(route, "path", scope["path"])
            elapsed = (time.perf_counter() - started) * 1000
            principal = scope.get("state", {}).get("principal", "-")
            logger.info("%s %s %s %d %.1f ms", principal, scope["method"], path, status, elapsed)
