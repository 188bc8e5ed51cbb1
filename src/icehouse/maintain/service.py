"""Maintenance actions as the Lake runs them: under the table's lease, each run recorded
in the state database with its report, whether it succeeded, failed or was a dry run.

One lease per table keeps two maintainers (processes, hosts) from rewriting, expiring or
cleaning one table at once; ingestion is not blocked by it (rewrites commit on top of
whatever ingestion committed meanwhile).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol, TypeVar

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table
from sqlalchemy import Engine

from icehouse.errors import IcehouseError
from icehouse.maintain import reports
from icehouse.maintain.compact import CompactResult, GroupResult, compact, where_filter
from icehouse.maintain.compact_plan import CompactOptions
from icehouse.maintain.expire import ExpireResult, expire_snapshots
from icehouse.maintain.leases import Leases
from icehouse.maintain.metadata_cleanup import MetadataCleanupResult, clean_metadata
from icehouse.maintain.orphans import DEFAULT_OLDER_THAN, OrphanResult, remove_orphans
from icehouse.tables.catalog import load_table
from icehouse.tables.manifest_rewrite import ManifestRewriteResult, rewrite_manifests


class _Report(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=_Report)


def lease_key(table: str) -> str:
    return f"maintain:{table}"


class Maintenance:
    def __init__(self, engine: Engine, catalog: SqlCatalog, *, owner: str | None = None) -> None:
        self._engine = engine
        self._catalog = catalog
        self.leases = Leases(engine, owner=owner)

    def _run(self, name: str, action: str, dry_run: bool, work: Callable[[Table], R]) -> R:
        """Run ``work`` under the table's lease and record what it did (or why it failed)."""
        table = load_table(self._catalog, name)
        started = time.time()

        def record(status: str, summary: dict[str, Any], error: str | None = None) -> None:
            reports.record_run(
                self._engine,
                table=name,
                action=action,
                started_at=started,
                dry_run=dry_run,
                status=status,
                summary=summary,
                error=error,
            )

        with self.leases.hold(lease_key(name), table=name):
            try:
                result = work(table)
            except IcehouseError as exc:
                record("failed", {}, exc.message)
                raise
        summary = result.to_dict()
        record(_status(summary), summary)
        return result

    def compact(
        self,
        name: str,
        options: CompactOptions,
        *,
        where: str | None = None,
        include: Callable[[dict[str, Any]], bool] | None = None,
        dry_run: bool = False,
        on_group: Callable[[GroupResult], None] | None = None,
    ) -> CompactResult:
        def work(table: Table) -> CompactResult:
            row_filter = where_filter(table, name, where)
            return compact(
                table,
                options,
                row_filter=row_filter,
                include=include,
                dry_run=dry_run,
                on_group=on_group,
            )

        return self._run(name, f"compact:{options.strategy}", dry_run, work)

    def expire(
        self,
        name: str,
        *,
        older_than: timedelta | None = None,
        retain_last: int | None = None,
        dry_run: bool = False,
    ) -> ExpireResult:
        return self._run(
            name,
            "expire",
            dry_run,
            lambda t: expire_snapshots(
                t, older_than=older_than, retain_last=retain_last, dry_run=dry_run
            ),
        )

    def clean_metadata(self, name: str, *, dry_run: bool = False) -> MetadataCleanupResult:
        return self._run(
            name, "clean-metadata", dry_run, lambda t: clean_metadata(t, dry_run=dry_run)
        )

    def orphans(
        self,
        name: str,
        *,
        older_than: timedelta = DEFAULT_OLDER_THAN,
        dry_run: bool = False,
        force: bool = False,
    ) -> OrphanResult:
        return self._run(
            name,
            "orphans",
            dry_run,
            lambda t: remove_orphans(t, older_than=older_than, dry_run=dry_run, force=force),
        )

    def manifests(self, name: str, *, dry_run: bool = False) -> ManifestRewriteResult:
        return self._run(
            name, "manifests", dry_run, lambda t: rewrite_manifests(t, dry_run=dry_run)
        )

    def history(self, name: str | None = None, *, limit: int = 50) -> list[reports.MaintenanceRun]:
        return reports.list_runs(self._engine, name, limit=limit)


def _status(summary: dict[str, Any]) -> str:
    """``partial`` when some rewrite groups did not commit (conflicts or failed proofs)."""
    groups = summary.get("groups") or []
    if any(g.get("status") in ("conflict", "failed") for g in groups):
        return "partial"
    return "ok"
