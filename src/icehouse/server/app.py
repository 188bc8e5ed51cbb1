"""The app factory: one ``Lake`` shared by every request, the routes, the error answers,
one log line and one audit write per request, and the audit trail's export."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from icehouse.errors import IcehouseError, MaintenanceBusy
from icehouse.lake import Lake
from icehouse.lake.request_audit import AuditWriter, RequestAudit
from icehouse.server import (
    routes_config,
    routes_landed,
    routes_metrics,
    routes_mounts,
    routes_namespaces,
    routes_oauth,
    routes_query,
    routes_sign,
    routes_tables,
    routes_transactions,
    routes_views,
)
from icehouse.server.errors import icehouse_error_response, install_error_handlers
from icehouse.server.hot_reads import HotReads
from icehouse.server.load_bodies import LoadBodies

logger = logging.getLogger("icehouse.server")

PREFIX = "icehouse"


def create_app(
    lake: Lake,
    *,
    prefix: str = PREFIX,
    allow_anonymous: bool = False,
    audit_export_every: float | None = None,
    close_lake: bool = False,
) -> FastAPI:
    """An Iceberg REST catalog over ``lake``, and the query API (SQL as the request's
    principal). The caller opens the lake, and closes it unless ``close_lake`` hands
    that to the app, which then closes it when the server stops.

    Every route but the token endpoint and ``/healthz`` needs a bearer token, and acts
    as the principal it names; with ``allow_anonymous``, a request without one acts as
    ``lake``'s own principal (its owner, when opened locally).

    Routes run in FastAPI's worker threads and share the lake: its catalog connections
    are pooled, and every commit is a compare-and-swap in the state database. Each
    request's audit records are written before its answer is sent; with
    ``audit_export_every`` (seconds), a thread exports them into
    ``icehouse_system.audit`` while the app runs."""
    app = FastAPI(  # no schema or docs pages: every route but two needs a token
        title="icehouse Iceberg REST catalog",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=_lifespan(lake, audit_export_every, close_lake=close_lake),
    )
    app.state.lake = lake
    app.state.prefix = prefix
    app.state.allow_anonymous = allow_anonymous
    app.state.load_bodies = LoadBodies()
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
    app.include_router(routes_landed.router)  # likewise
    app.include_router(routes_sign.router)  # the S3 signer API's, not the catalog's: likewise
    for router in catalog_routers:
        app.include_router(router)
    app.include_router(routes_mounts.router)  # reached through ``MountedPrefix``
    hot = [*routes_tables.router.routes, *routes_mounts.router.routes]
    app.add_middleware(HotReads, prefix=prefix, routes=hot)
    app.add_middleware(routes_mounts.MountedPrefix, prefix=prefix)
    app.add_middleware(_RequestAudit, writer=AuditWriter(lake))
    app.add_middleware(_RequestLog)
    return app


class _RequestAudit:
    """Keeps the request's audit trail current while the request runs, and writes it
    (by the app's writer thread: it waits on the database) just before the answer starts; a
    request that ends without an answer has its trail written as it ends. No answer
    leaves unaudited: when the write fails (the state database is down), the answer
    becomes that failure's (a 503 naming the database)."""

    def __init__(self, app: ASGIApp, *, writer: AuditWriter) -> None:
        self.app = app
        self.writer = writer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with RequestAudit(self.writer) as audit:
            replaced = False

            async def send_audited(message: Message) -> None:
                nonlocal replaced
                if replaced:
                    return  # the rest of the answer the failed write replaced
                if message["type"] == "http.response.start" and audit.pending:
                    try:
                        await audit.write()
                    except IcehouseError as exc:
                        replaced = True
                        await icehouse_error_response(exc)(scope, receive, send)
                        return
                await send(message)

            try:
                await self.app(scope, receive, send_audited)
            finally:
                if audit.pending and not replaced:
                    await audit.write()


def _lifespan(
    lake: Lake, export_every: float | None, *, close_lake: bool
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """While the app runs, export the audit trail every ``export_every`` seconds (None:
    never) on a thread of its own (an export waits on the catalog and the object store);
    when it stops, close ``lake`` if the app owns it."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        thread = None
        if export_every is not None:
            thread = threading.Thread(
                target=_export_until,
                args=(lake, export_every, stop),
                name="audit export",
                daemon=True,
            )
            thread.start()
        try:
            yield
        finally:
            stop.set()
            if thread is not None:
                await run_in_threadpool(thread.join)
            if close_lake:
                lake.close()

    return lifespan


def _export_until(lake: Lake, every: float, stop: threading.Event) -> None:
    """Export, then wait ``every`` seconds, until ``stop``. Another exporter at work (a
    second server, ``maintain run``) takes these records too; a failed export (an
    outage) is logged, and its records wait for the next one."""
    while not stop.wait(every):
        try:
            with lake.outages_as_errors():
                lake.audit.export()
        except MaintenanceBusy:
            continue
        except IcehouseError as exc:
            logger.warning("audit export: %s", exc.message)


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
