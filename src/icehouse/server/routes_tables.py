"""Tables: list, create (and stage), load (with ETag), exists (HEAD), commit, drop,
rename, register."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from icehouse.errors import InvalidInput
from icehouse.lake import Lake
from icehouse.lake.iceberg import NewTable, SnapshotsMode, TableChange, TableState
from icehouse.server.deps import API, LakeDep, as_principal, check_prefix
from icehouse.server.idempotency import IdempotencyKey, idempotent
from icehouse.server.load_bodies import etag_of, load_result
from icehouse.server.models import (
    CommitTableBody,
    CreateTableBody,
    RegisterTableBody,
    RenameTableBody,
)
from icehouse.server.paging import page
from icehouse.server.paths import namespace_from_path
from icehouse.server.routes_sign import signing_config

router = APIRouter(prefix=API, dependencies=[Depends(check_prefix)])
TABLES = "/namespaces/{namespace}/tables"
TABLE = TABLES + "/{table}"
NO_CONFIG: dict[str, str] = {}
"""The ``config`` of every load's answer: nothing to add to the client's properties."""


@router.get(TABLES)
async def list_tables(
    namespace: str,
    request: Request,
    page_token: str | None = Query(default=None, alias="pageToken"),
    page_size: int | None = Query(default=None, alias="pageSize", ge=1),
) -> Response:
    """Reached for a request ``HotReads`` leaves to validation (a malformed
    ``pageSize``), which then answers as any route does; the answer is ``listing``'s."""
    return await listing(request, namespace, page_token, page_size)


async def listing(
    request: Request, namespace: str, page_token: str | None, page_size: int | None
) -> Response:
    """A page of the namespace's tables, answered as a ready ``JSONResponse``: FastAPI's
    generic encoding of a returned dict walks every identifier and costs more than the
    listing's query. The token's lookup and the listing share one worker thread
    (``as_principal``).

    Raises: InvalidInput (a blank namespace level, a page token not handed out here),
    NotAuthenticated, NoSuchNamespace."""
    levels = namespace_from_path(namespace)
    names, next_token = page(
        await as_principal(request, lambda lake: lake.iceberg.list(levels)),
        lambda name: name,
        token=page_token,
        size=page_size,
    )
    return JSONResponse(
        {
            "identifiers": [{"namespace": list(levels), "name": name} for name in names],
            "next-page-token": next_token,
        }
    )


@router.post(TABLES)
def create_table(
    namespace: str,
    body: CreateTableBody,
    request: Request,
    lake: LakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    new = NewTable(
        schema=body.table_schema,
        partition_spec=body.partition_spec,
        write_order=body.write_order,
        location=body.location,
        properties=body.properties,
    )

    def run() -> Response:
        levels = namespace_from_path(namespace)
        state = lake.iceberg.create(levels, body.name, new, stage=body.stage_create)
        config = _storage_config(request, lake, levels, body.name, state)
        if state.metadata_location is None:  # staged: no version of the table exists yet
            return JSONResponse(load_result(state, config))
        return JSONResponse(load_result(state, config), headers={"ETag": etag_of(state, "all")})

    return idempotent(lake, request, idempotency_key, body, run)


@router.get(TABLE)
async def load_table(
    namespace: str,
    table: str,
    request: Request,
    snapshots: Literal["all", "refs"] = "all",
    if_none_match: str | None = Header(default=None),
) -> Response:
    """Reached for a request ``HotReads`` leaves to validation (an unknown
    ``snapshots``), which then answers as any route does; the answer is ``loading``'s."""
    return await loading(request, namespace, table, snapshots, if_none_match)


async def loading(
    request: Request,
    namespace: str,
    table: str,
    snapshots: SnapshotsMode,
    if_none_match: str | None,
) -> Response:
    """The table's metadata, with an ETag: a client that sends back in ``If-None-Match``
    the ETag of a load, create or commit while the table is unchanged gets a 304 and no
    body; any other gets the answer serialised at the version's first load. The token's
    lookup and the load share one worker thread (``as_principal``).

    Raises: InvalidInput (a blank namespace level), NotAuthenticated, NoSuchTable,
    Forbidden (as ``lake.iceberg.load``)."""
    levels = namespace_from_path(namespace)

    def load(lake: Lake) -> Response:
        state = lake.iceberg.load(levels, table, snapshots=snapshots)
        etag = etag_of(state, snapshots)
        if if_none_match and etag in {tag.strip() for tag in if_none_match.split(",")}:
            return Response(status_code=304, headers={"ETag": etag})
        config = _storage_config(request, lake, levels, table, state)
        body = request.app.state.load_bodies.get(state, snapshots, config)
        return Response(body.content, media_type="application/json", headers={"ETag": body.etag})

    return await as_principal(request, load)


@router.head(TABLE)
def table_exists(namespace: str, table: str, lake: LakeDep) -> Response:
    found = lake.iceberg.exists(namespace_from_path(namespace), table)
    return Response(status_code=204 if found else 404)


@router.post(TABLE)
def commit_table(
    namespace: str,
    table: str,
    body: CommitTableBody,
    request: Request,
    lake: LakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Lands if the requirements hold on the table's metadata when the pointer is
    swapped; a retry with the same ``Idempotency-Key`` gets this answer again. The commit
    of a staged create (requirement ``assert-create``) is decided as a create."""
    levels = namespace_from_path(namespace)
    named = body.identifier
    if named is not None and (tuple(named.namespace), named.name) != (levels, table):
        raise InvalidInput(
            f"the body's identifier {'.'.join([*named.namespace, named.name])!r} is not "
            f"the table in the URL {'.'.join([*levels, table])!r}"
        )

    change = TableChange(levels, table, requirements=body.requirements, updates=body.updates)
    commit = lake.iceberg.create_staged if change.creates else lake.iceberg.commit

    def run() -> Response:
        state = commit(levels, table, requirements=body.requirements, updates=body.updates)
        result = {"metadata-location": state.metadata_location, "metadata": state.metadata}
        return JSONResponse(result, headers={"ETag": etag_of(state, "all")})

    return idempotent(lake, request, idempotency_key, body, run)


@router.delete(TABLE, status_code=204)
def drop_table(
    namespace: str,
    table: str,
    request: Request,
    lake: LakeDep,
    purge_requested: bool = Query(default=False, alias="purgeRequested"),
    idempotency_key: IdempotencyKey = None,
) -> Response:
    def run() -> Response:
        lake.iceberg.drop(namespace_from_path(namespace), table, purge=purge_requested)
        return Response(status_code=204)

    return idempotent(lake, request, idempotency_key, None, run)


@router.post("/tables/rename", status_code=204)
def rename_table(
    body: RenameTableBody, request: Request, lake: LakeDep, idempotency_key: IdempotencyKey = None
) -> Response:
    def run() -> Response:
        lake.iceberg.rename(
            (tuple(body.source.namespace), body.source.name),
            (tuple(body.destination.namespace), body.destination.name),
        )
        return Response(status_code=204)

    return idempotent(lake, request, idempotency_key, body, run)


@router.post("/namespaces/{namespace}/register")
def register_table(
    namespace: str,
    body: RegisterTableBody,
    request: Request,
    lake: LakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    if body.overwrite:
        raise InvalidInput("registering over an existing table (overwrite) is not supported")

    def run() -> Response:
        levels = namespace_from_path(namespace)
        state = lake.iceberg.register(levels, body.name, body.metadata_location)
        return JSONResponse(load_result(state, NO_CONFIG))

    return idempotent(lake, request, idempotency_key, body, run)


def _storage_config(
    request: Request, lake: Lake, levels: tuple[str, ...], table: str, state: TableState
) -> dict[str, str]:
    """Remote signing of the table's S3 requests, for a principal handed the table
    unfiltered (a trusted engine handed read restrictions gets none: a signed read
    returns whole files). The same for every such principal, so kept answers stay
    shared."""
    if state.read_restrictions:
        return NO_CONFIG
    location = str(state.metadata.get("location", ""))
    return signing_config(lake.config.storage, request.app.state.prefix, levels, table, location)
