"""``POST /v1/{prefix}/transactions/commit``: changes to several tables, all or none."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response

from icehouse.lake.iceberg import TableChange
from icehouse.server.deps import API, LakeDep, check_prefix
from icehouse.server.idempotency import IdempotencyKey, idempotent
from icehouse.server.models import CommitTransactionBody

router = APIRouter(prefix=API, dependencies=[Depends(check_prefix)])


@router.post("/transactions/commit", status_code=204)
def commit_transaction(
    body: CommitTransactionBody,
    request: Request,
    lake: LakeDep,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """Every table's requirements are checked and every pointer swapped in one
    transaction of the state database: a failed requirement (409) leaves every table as
    it was."""
    changes = [
        TableChange(
            tuple(change.identifier.namespace),
            change.identifier.name,
            requirements=change.requirements,
            updates=change.updates,
        )
        for change in body.table_changes
    ]

    def run() -> Response:
        lake.iceberg.commit_transaction(changes)
        return Response(status_code=204)

    return idempotent(lake, request, idempotency_key, body, run)
