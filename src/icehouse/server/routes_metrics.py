"""``POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/metrics``: engines' scan and
commit reports, kept in the state database (``icehouse sql``: ``icehouse.metrics``)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response

from icehouse.errors import NoSuchTable
from icehouse.server.deps import API, LakeDep, check_prefix
from icehouse.server.models import MetricsReportBody
from icehouse.server.paths import namespace_from_path

router = APIRouter(prefix=API, dependencies=[Depends(check_prefix)])


@router.post("/namespaces/{namespace}/tables/{table}/metrics", status_code=204)
def report_metrics(namespace: str, table: str, body: MetricsReportBody, lake: LakeDep) -> Response:
    """Raises: NoSuchTable (reports are kept only for tables of this catalog)."""
    levels = namespace_from_path(namespace)
    name = ".".join((*levels, table))
    if not lake.iceberg.exists(levels, table):
        raise NoSuchTable(f"table {name!r} does not exist", table=name)
    lake.metrics.report(name, body.model_dump(by_alias=True))
    return Response(status_code=204)
