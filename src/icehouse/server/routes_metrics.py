"""``POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/metrics``: engines' scan and
commit reports, kept in the state database (``icehouse sql``: ``icehouse.metrics``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from icehouse.errors import NoSuchNamespace
from icehouse.server.deps import API, LakeDep, check_prefix
from icehouse.server.models import MetricsReportBody
from icehouse.server.paths import namespace_from_path

router = APIRouter(prefix=API, dependencies=[Depends(check_prefix)])


@router.post("/namespaces/{namespace}/tables/{table}/metrics", status_code=204)
def report_metrics(namespace: str, table: str, body: MetricsReportBody, lake: LakeDep) -> Response:
    """A report is kept even when its table does not exist (yet): Spark's CREATE TABLE
    AS SELECT reports the commit that writes the rows before the commit that creates
    the table, and the spec allows, not requires, a 404 here. Its namespace must exist,
    which keeps reports of names no engine could have written out of the lake.

    Raises: NoSuchNamespace."""
    levels = namespace_from_path(namespace)
    if not lake.namespaces.exists(levels):
        ns = ".".join(levels)
        raise NoSuchNamespace(f"namespace {ns!r} does not exist", namespace=ns)
    lake.metrics.report(".".join((*levels, table)), body.model_dump(by_alias=True))
    return Response(status_code=204)
