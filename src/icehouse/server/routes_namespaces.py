"""Namespaces: list, create, load, exists (HEAD), drop, update properties."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from icehouse.server.deps import API, LakeDep, check_prefix
from icehouse.server.idempotency import IdempotencyKey, idempotent
from icehouse.server.models import CreateNamespaceBody, UpdateNamespacePropertiesBody
from icehouse.server.paging import page
from icehouse.server.paths import SEPARATOR, namespace_from_path

router = APIRouter(prefix=API, dependencies=[Depends(check_prefix)])
NAMESPACE = "/namespaces/{namespace}"


@router.get("/namespaces")
def list_namespaces(
    lake: LakeDep,
    parent: str | None = None,
    page_token: str | None = Query(default=None, alias="pageToken"),
    page_size: int | None = Query(default=None, alias="pageSize", ge=1),
) -> dict[str, Any]:
    found = lake.namespaces.list(namespace_from_path(parent) if parent else ())
    chosen, next_token = page(found, SEPARATOR.join, token=page_token, size=page_size)
    return {"namespaces": [list(n) for n in chosen], "next-page-token": next_token}


@router.post("/namespaces")
def create_namespace(
    body: CreateNamespaceBody,
    request: Request,
    lake: LakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    def run() -> Response:
        properties = lake.namespaces.create(tuple(body.namespace), body.properties)
        return JSONResponse({"namespace": body.namespace, "properties": properties})

    return idempotent(lake, request, idempotency_key, body, run)


@router.get(NAMESPACE)
def load_namespace(namespace: str, lake: LakeDep) -> dict[str, Any]:
    levels = namespace_from_path(namespace)
    return {"namespace": list(levels), "properties": lake.namespaces.properties(levels)}


@router.head(NAMESPACE)
def namespace_exists(namespace: str, lake: LakeDep) -> Response:
    found = lake.namespaces.exists(namespace_from_path(namespace))
    return Response(status_code=204 if found else 404)


@router.delete(NAMESPACE, status_code=204)
def drop_namespace(
    namespace: str, request: Request, lake: LakeDep, idempotency_key: IdempotencyKey = None
) -> Response:
    def run() -> Response:
        lake.namespaces.drop(namespace_from_path(namespace))
        return Response(status_code=204)

    return idempotent(lake, request, idempotency_key, None, run)


@router.post(NAMESPACE + "/properties")
def update_namespace_properties(
    namespace: str,
    body: UpdateNamespacePropertiesBody,
    request: Request,
    lake: LakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    def run() -> Response:
        change = lake.namespaces.update(
            namespace_from_path(namespace), removals=set(body.removals), updates=body.updates
        )
        return JSONResponse(
            {"removed": change.removed, "updated": change.updated, "missing": change.missing}
        )

    return idempotent(lake, request, idempotency_key, body, run)
