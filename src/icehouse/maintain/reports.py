"""What every maintenance run did, kept in the state database (``icehouse maintain
history``), so that the effect of maintenance can be seen after the fact."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select

from icehouse.state.models import maintenance_runs as runs
from icehouse.state.owners import this_process


@dataclass(frozen=True)
class MaintenanceRun:
    id: int
    table: str
    action: str
    started_at: float
    finished_at: float
    dry_run: bool
    status: str
    summary: dict[str, Any]
    error: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "table": self.table,
            "action": self.action,
            "started_at": self.started_at,
            "seconds": round(self.finished_at - self.started_at, 3),
            "dry_run": self.dry_run,
            "status": self.status,
            "summary": self.summary,
            "error": self.error,
        }


def record_run(
    engine: Engine,
    *,
    table: str,
    action: str,
    started_at: float,
    dry_run: bool,
    status: str,
    summary: dict[str, Any],
    error: str | None = None,
) -> int:
    with engine.begin() as conn:
        result = conn.execute(
            insert(runs).values(
                table_name=table,
                action=action,
                started_at=started_at,
                finished_at=time.time(),
                dry_run=int(dry_run),
                status=status,
                owner=this_process(),
                summary=json.dumps(summary, default=str),
                error=error,
            )
        )
        return int(result.inserted_primary_key[0])


def list_runs(engine: Engine, table: str | None = None, *, limit: int = 50) -> list[MaintenanceRun]:
    query = select(runs).order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(limit)
    if table is not None:
        query = query.where(runs.c.table_name == table)
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    return [
        MaintenanceRun(
            id=r["id"],
            table=r["table_name"],
            action=r["action"],
            started_at=r["started_at"],
            finished_at=r["finished_at"],
            dry_run=bool(r["dry_run"]),
            status=r["status"],
            summary=json.loads(r["summary"]),
            error=r["error"],
        )
        for r in rows
    ]
