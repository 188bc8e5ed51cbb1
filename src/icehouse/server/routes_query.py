"""``POST /api/v1/query``: SQL run as the request's principal, answered as an Arrow IPC
stream (the default) or as JSON rows.

Not part of the Iceberg REST protocol, hence outside ``/v1/{prefix}`` and off the
``endpoints`` that ``/v1/config`` lists. The statement runs in one of FastAPI's worker
threads (the route is a plain function), through ``Lake.sql`` of the lake acting as the
token's principal, so it is governed and refused exactly as the same statement would be
locally; its errors are the ErrorModel of every other route.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from icehouse.client.wire import (
    ARROW_STREAM,
    FORMATS,
    JSON,
    QUERY_PATH,
    arrow_stream,
    json_document,
)
from icehouse.server.deps import LakeDep

router = APIRouter()


class QueryBody(BaseModel):
    """A misspelt field is refused rather than ignored: ``"explian": true`` answered
    without plans would look like a query that read nothing."""

    model_config = ConfigDict(extra="forbid")

    sql: str = Field(min_length=1)
    format: Literal["arrow", "json"] | None = None
    """The answer's format; without it, the ``Accept`` header's (default Arrow)."""
    explain: bool = False
    """Also say what each table had to read (``icehouse sql --explain``)."""


@router.post(QUERY_PATH)
def run_query(body: QueryBody, request: Request, lake: LakeDep) -> Response:
    """Raises: QueryError (400), NotAuthenticated (401), Forbidden (403), NotFound (404),
    and a 406 for an ``Accept`` that names neither format."""
    media_type = FORMATS[body.format] if body.format else _accepted(request.headers.get("accept"))
    explain: dict[str, Any] | None = None
    if body.explain:
        answer = lake.explain(body.sql)
        table = answer.table
        explain = {
            "plans": [plan.to_dict() for plan in answer.plans],
            "execution_seconds": answer.execution_seconds,
        }
    else:
        table = lake.sql(body.sql)
    if media_type == JSON:
        return JSONResponse(json_document(table, explain))
    return Response(arrow_stream(table, explain), media_type=ARROW_STREAM)


def _accepted(accept: str | None) -> str:
    """The first of ``Accept``'s media types that we answer with (parameters and
    quality values aside); Arrow for no header or a wildcard."""
    if not accept:
        return ARROW_STREAM
    for item in accept.split(","):
        media_type = item.split(";", 1)[0].strip().lower()
        if media_type in (ARROW_STREAM, JSON):
            return media_type
        if media_type in ("*/*", "application/*"):
            return ARROW_STREAM
    raise HTTPException(406, f"the query API answers with {ARROW_STREAM} or {JSON}, not {accept!r}")
