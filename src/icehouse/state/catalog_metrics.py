"""Scan and commit reports that engines send to the REST catalog, kept in the state
database so that ``icehouse sql`` can query them beside the tables they describe."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, insert, select

from icehouse.state import models


@dataclass(frozen=True)
class MetricsReport:
    """One report as received; ``report`` is its full JSON (``metrics`` holds the
    counters and timers, e.g. ``total-planning-duration`` or ``added-records``)."""

    id: int
    received_at: float
    table_name: str
    report_type: str
    snapshot_id: int | None
    operation: str | None
    report: dict[str, Any]


def record_report(engine: Engine, table_name: str, report: dict[str, Any], *, now: float) -> None:
    """Keep one report (``report-type`` ``scan-report`` or ``commit-report``) of
    ``table_name`` (``namespace.table``)."""
    with engine.begin() as conn:
        conn.execute(
            insert(models.catalog_metrics).values(
                received_at=now,
                table_name=table_name,
                report_type=str(report.get("report-type", "")),
                snapshot_id=report.get("snapshot-id"),
                operation=report.get("operation"),
                report=json.dumps(report, sort_keys=True),
            )
        )


def list_reports(engine: Engine) -> list[MetricsReport]:
    """Every kept report, oldest first."""
    table = models.catalog_metrics
    with engine.connect() as conn:
        rows = conn.execute(select(table).order_by(table.c.id)).all()
    return [
        MetricsReport(
            id=row.id,
            received_at=row.received_at,
            table_name=row.table_name,
            report_type=row.report_type,
            snapshot_id=row.snapshot_id,
            operation=row.operation,
            report=json.loads(row.report),
        )
        for row in rows
    ]


__all__ = ["MetricsReport", "list_reports", "record_report"]
