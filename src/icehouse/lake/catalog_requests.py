"""``lake.idempotency`` and ``lake.metrics``: what the REST catalog keeps about the
requests engines send it, in the state database.

Remembered answers make a retried commit safe (``Idempotency-Key``); metrics reports are
what engines measured while scanning and committing, queryable as ``icehouse.metrics``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from icehouse.lake.governed import governed
from icehouse.state import catalog_metrics, idempotency
from icehouse.state.catalog_metrics import MetricsReport
from icehouse.state.idempotency import RememberedAnswer

if TYPE_CHECKING:
    from icehouse.lake import Lake

__all__ = ["IDEMPOTENCY_KEY_LIFETIME", "LakeIdempotency", "LakeMetrics", "RememberedAnswer"]

IDEMPOTENCY_KEY_LIFETIME = 30 * 60.0
"""Seconds during which a client may retry with the same ``Idempotency-Key``."""

_KEPT_BEYOND_LIFETIME = 5 * 60.0
"""Grace for the clocks of client and server disagreeing and for slow retries."""

METRICS_TABLE = "icehouse.metrics"
"""The name ``icehouse sql`` knows the kept metrics reports by."""


class LakeIdempotency:
    """``lake.idempotency``: final answers by ``Idempotency-Key``."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake

    @governed("catalog.idempotency")
    def recall(self, key: str, fingerprint: str) -> RememberedAnswer | None:
        """The answer given to ``key``, sent by the principal this lake acts as, within
        its lifetime; None if none (another principal's use of the same key is not it).

        Raises: IdempotencyKeyReused (the key came with a different request)."""
        lake = self._lake
        return idempotency.recall(
            lake._engine, key, fingerprint, principal=lake.principal.name, now=lake._clock()
        )

    @governed("catalog.idempotency")
    def remember(self, key: str, fingerprint: str, answer: RememberedAnswer) -> None:
        """Keep ``answer`` for the acting principal's key for the key's lifetime and a
        grace beyond."""
        idempotency.remember(
            self._lake._engine,
            key,
            fingerprint,
            answer,
            principal=self._lake.principal.name,
            now=self._lake._clock(),
            keep_for=IDEMPOTENCY_KEY_LIFETIME + _KEPT_BEYOND_LIFETIME,
        )


class LakeMetrics:
    """``lake.metrics``: scan and commit reports engines sent to the REST catalog."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake

    @governed("table.report_metrics", on="table")
    def report(self, table: str, report: dict[str, Any]) -> None:
        """Keep one report of ``table`` (``namespace.table``)."""
        catalog_metrics.record_report(self._lake._engine, table, report, now=self._lake._clock())

    @governed("metrics.read")
    def list(self) -> list[MetricsReport]:
        """Every kept report, oldest first."""
        return catalog_metrics.list_reports(self._lake._engine)

    @governed("metrics.read")
    def as_arrow(self) -> pa.Table:
        """The reports as ``icehouse.metrics`` shows them: one row per report, the full
        report as JSON in ``report`` (DuckDB's ``->>`` reaches into it)."""
        reports = self.list()
        return pa.table(
            {
                "id": pa.array([r.id for r in reports], pa.int64()),
                "received_at": pa.array(
                    [int(r.received_at * 1_000_000) for r in reports], pa.timestamp("us", "UTC")
                ),
                "table_name": pa.array([r.table_name for r in reports], pa.string()),
                "report_type": pa.array([r.report_type for r in reports], pa.string()),
                "snapshot_id": pa.array([r.snapshot_id for r in reports], pa.int64()),
                "operation": pa.array([r.operation for r in reports], pa.string()),
                "report": pa.array([json.dumps(r.report) for r in reports], pa.string()),
            }
        )
