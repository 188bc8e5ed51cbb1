"""The audit trail's rows in the state database: written a request at a time, read in
id order by the export, deleted once the Iceberg table holds them.

Ids are the export's cursor: it takes every row above the highest id already exported.
That holds only if no row can become visible with an id below one already read. SQLite
has one writer at a time, so ids become visible in order; on PostgreSQL two requests may
take ids 5 and 6 and commit 6 first, so the export's read first waits for every insert
in flight (``LOCK ... IN SHARE MODE`` waits for the inserts' locks and holds new ones
back only while the rows are read).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select, text

from icehouse.state.models import audit_events


@dataclass(frozen=True)
class AuditRow:
    """One record of the trail, as the state database holds it."""

    at: float
    """UNIX seconds."""
    request_id: str
    """The request (server) or command (local) that made it: its records share it."""
    kind: str
    """``decision`` or ``query``."""
    principal: str
    action: str
    resource: str
    allowed: bool
    reason: str | None = None
    """Why allowed (``administrator``) or why denied (the refusal's message); for a
    query that failed, the error."""
    filters: tuple[str, ...] = ()
    """The data filters a read went through."""
    statement: str | None = None
    tables: tuple[str, ...] = ()
    rows: int | None = None
    seconds: float | None = None
    tenant: str | None = None
    """The principal's tenant (None: the server's own)."""
    id: int | None = None
    """Given by the database (None until written)."""


def write_rows(engine: Engine, rows: Sequence[AuditRow]) -> None:
    """Write ``rows`` in one transaction, one statement."""
    values = [
        {
            "at": row.at,
            "request_id": row.request_id,
            "kind": row.kind,
            "principal": row.principal,
            "action": row.action,
            "resource": row.resource,
            "allowed": int(row.allowed),
            "reason": row.reason,
            "filters": json.dumps(list(row.filters)) if row.filters else None,
            "statement": row.statement,
            "tables": json.dumps(list(row.tables)) if row.tables else None,
            "rows": row.rows,
            "seconds": row.seconds,
            "tenant": row.tenant,
        }
        for row in rows
    ]
    with engine.begin() as conn:
        conn.execute(insert(audit_events), values)


def rows_after(engine: Engine, after: int, *, limit: int) -> list[AuditRow]:
    """The oldest ``limit`` rows with an id above ``after``, in id order (see the module
    for why this waits for inserts in flight on PostgreSQL)."""
    query = (
        select(audit_events)
        .where(audit_events.c.id > after)
        .order_by(audit_events.c.id)
        .limit(limit)
    )
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text(f"LOCK TABLE {audit_events.name} IN SHARE MODE"))
        found = conn.execute(query).mappings().all()
    return [
        AuditRow(
            id=r["id"],
            at=r["at"],
            request_id=r["request_id"],
            kind=r["kind"],
            principal=r["principal"],
            action=r["action"],
            resource=r["resource"],
            allowed=bool(r["allowed"]),
            reason=r["reason"],
            filters=tuple(json.loads(r["filters"])) if r["filters"] else (),
            statement=r["statement"],
            tables=tuple(json.loads(r["tables"])) if r["tables"] else (),
            rows=r["rows"],
            seconds=r["seconds"],
            tenant=r["tenant"],
        )
        for r in found
    ]


def delete_through(engine: Engine, through: int) -> int:
    """Delete the rows with an id up to ``through`` (exported); returns how many."""
    with engine.begin() as conn:
        return conn.execute(delete(audit_events).where(audit_events.c.id <= through)).rowcount
