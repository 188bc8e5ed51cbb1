"""Views: list, create, load, exists (HEAD), replace, drop, rename, register."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from icehouse.errors import InvalidInput
from icehouse.lake.views import NewView, ViewState
from icehouse.server.deps import API, LakeDep, check_prefix
from icehouse.server.idempotency import IdempotencyKey, idempotent
from icehouse.server.paging import page
from icehouse.server.paths import namespace_from_path
from icehouse.server.view_models import (
    CommitViewBody,
    CreateViewBody,
    RegisterViewBody,
    RenameViewBody,
)

router = APIRouter(prefix=API, dependencies=[Depends(check_prefix)])
VIEWS = "/namespaces/{namespace}/views"
VIEW = VIEWS + "/{view}"


@router.get(VIEWS)
def list_views(
    namespace: str,
    lake: LakeDep,
    page_token: str | None = Query(default=None, alias="pageToken"),
    page_size: int | None = Query(default=None, alias="pageSize", ge=1),
) -> dict[str, Any]:
    levels = namespace_from_path(namespace)
    names, next_token = page(
        lake.views.list(levels), lambda name: name, token=page_token, size=page_size
    )
    return {
        "identifiers": [{"namespace": list(levels), "name": name} for name in names],
        "next-page-token": next_token,
    }


@router.post(VIEWS)
def create_view(
    namespace: str,
    body: CreateViewBody,
    request: Request,
    lake: LakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Honours an ``Idempotency-Key`` too, although the spec's createView does not list
    one: its presence in ``/v1/config`` promises it for every route that changes the
    catalog."""
    new = NewView(
        schema=body.view_schema,
        version=body.view_version,
        location=body.location,
        properties=body.properties,
    )

    def run() -> Response:
        state = lake.views.create(namespace_from_path(namespace), body.name, new)
        return JSONResponse(_load_result(state))

    return idempotent(lake, request, idempotency_key, body, run)


@router.get(VIEW)
def load_view(namespace: str, view: str, lake: LakeDep) -> dict[str, Any]:
    return _load_result(lake.views.load(namespace_from_path(namespace), view))


@router.head(VIEW)
def view_exists(namespace: str, view: str, lake: LakeDep) -> Response:
    found = lake.views.exists(namespace_from_path(namespace), view)
    return Response(status_code=204 if found else 404)


@router.post(VIEW)
def replace_view(
    namespace: str,
    view: str,
    body: CommitViewBody,
    request: Request,
    lake: LakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    levels = namespace_from_path(namespace)
    named = body.identifier
    if named is not None and (tuple(named.namespace), named.name) != (levels, view):
        raise InvalidInput(
            f"the body's identifier {'.'.join([*named.namespace, named.name])!r} is not "
            f"the view in the URL {'.'.join([*levels, view])!r}"
        )

    def run() -> Response:
        state = lake.views.replace(
            levels, view, requirements=body.requirements, updates=body.updates
        )
        return JSONResponse(_load_result(state))

    return idempotent(lake, request, idempotency_key, body, run)


@router.delete(VIEW, status_code=204)
def drop_view(
    namespace: str,
    view: str,
    request: Request,
    lake: LakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    def run() -> Response:
        lake.views.drop(namespace_from_path(namespace), view)
        return Response(status_code=204)

    return idempotent(lake, request, idempotency_key, None, run)


@router.post("/views/rename", status_code=204)
def rename_view(
    body: RenameViewBody, request: Request, lake: LakeDep, idempotency_key: IdempotencyKey = None
) -> Response:
    def run() -> Response:
        lake.views.rename(
            (tuple(body.source.namespace), body.source.name),
            (tuple(body.destination.namespace), body.destination.name),
        )
        return Response(status_code=204)

    return idempotent(lake, request, idempotency_key, body, run)


@router.post("/namespaces/{namespace}/register-view")
def register_view(
    namespace: str,
    body: RegisterViewBody,
    request: Request,
    lake: LakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    def run() -> Response:
        levels = namespace_from_path(namespace)
        state = lake.views.register(levels, body.name, body.metadata_location)
        return JSONResponse(_load_result(state))

    return idempotent(lake, request, idempotency_key, body, run)


def _load_result(state: ViewState) -> dict[str, Any]:
    """The spec's LoadViewResult."""
    return {"metadata-location": state.metadata_location, "metadata": state.metadata, "config": {}}
