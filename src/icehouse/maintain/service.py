"""Maintenance actions as the Lake runs them: under the table's lease, each run recorded
in the state database with its report, whether it succeeded, failed, was refused or was
a dry run, and, should it be killed, with what it had committed so far.

One lease per table keeps two maintainers (processes, hosts) from rewriting, expiring or
cleaning one table at once; ingestion is not blocked by it (rewrites commit on top of
whatever ingestion committed meanwhile). The lease is renewed while the run works, and
each renewal also keeps the run's history row alive, so that a run whose process died
reads as ``interrupted``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, Protocol, TypeVar

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from icehouse.errors import IcehouseError
from icehouse.maintain import reports
from icehouse.maintain.choices import DEFAULT_OLDER_THAN
from icehouse.maintain.compact import CompactResult, GroupResult, compact, where_filter
from icehouse.maintain.compact_plan import CompactOptions
from icehouse.maintain.expire import ExpireResult, expire_snapshots
from icehouse.maintain.leases import DEFAULT_LEASE_SECONDS, LeaseInfo, Leases
from icehouse.maintain.metadata_cleanup import MetadataCleanupResult, clean_metadata
from icehouse.maintain.orphans import OrphanResult, remove_orphans
from icehouse.maintain.scope import DeleteScope, delete_scope
from icehouse.maintain.spark_rewrite import compact_with_spark
from icehouse.maintain.spark_session import SparkSettings
from icehouse.state.clock import SYSTEM_CLOCK, Clock
from icehouse.tables.catalog import load_table
from icehouse.tables.manifest_cache import ManifestCache
from icehouse.tables.manifest_rewrite import ManifestRewriteResult, rewrite_manifests


class _Report(Protocol):
    def to_dict(self) -> dict[str, Any]: ...


R = TypeVar("R", bound=_Report)
Committed = Callable[[dict[str, Any]], None]
"""Called by a maintenance action with what it just committed (or is about to delete)."""
Work = Callable[[Table, Committed], R]
Faults = Callable[[str], None]
"""The fault-injection seam (``icehouse.ingest.faults``): called with
``maintain.committed`` right after each commit is recorded on the run's row."""


def _no_faults(point: str) -> None:
    """The production hook: does nothing."""


def lease_key(table: str) -> str:
    return f"maintain:{table}"


class Maintenance:
    def __init__(
        self,
        engine: Engine,
        catalog: SqlCatalog,
        *,
        warehouse: str,
        owner: str | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        faults: Faults = _no_faults,
        clock: Clock = SYSTEM_CLOCK,
        manifests: ManifestCache | None = None,
        spark: SparkSettings | None = None,
    ) -> None:
        """``manifests`` is the lake's manifest cache, shared with its queries, so that a
        round of maintenance decodes only the manifests committed since the last one;
        without it, this service keeps a cache of its own. ``spark`` says where
        compactions with the Spark engine run."""
        self._engine = engine
        self._clock = clock
        self._catalog = catalog
        self._warehouse = warehouse
        self._faults = faults
        self.manifest_cache = manifests if manifests is not None else ManifestCache()
        self.leases = Leases(engine, owner=owner, seconds=lease_seconds, clock=clock)
        self.spark = spark if spark is not None else SparkSettings()

    @property
    def clock(self) -> Clock:
        """The time leases and run records are stamped with."""
        return self._clock

    def _run(self, name: str, action: str, dry_run: bool, work: Work[R]) -> R:
        """Record the run as ``running``, then run ``work`` under the table's lease and
        record how it ended: its report, or the error (a refused lease included), which
        is then raised unchanged."""
        table = load_table(self._catalog, name)
        alive_for = self.leases.seconds
        run_id = reports.start_run(
            self._engine,
            table=name,
            action=action,
            dry_run=dry_run,
            alive_for=alive_for,
            clock=self._clock,
        )

        def committed(what: dict[str, Any]) -> None:
            reports.note_committed(self._engine, run_id, what, clock=self._clock)
            self._faults("maintain.committed")

        def heartbeat() -> None:
            reports.keep_alive(self._engine, run_id, alive_for, self._clock)

        try:
            with self.leases.hold(lease_key(name), table=name, on_renew=heartbeat) as lease:
                result = work(table, committed)
        except IcehouseError as exc:
            self._finish_failed(run_id, exc.message)
            raise
        except BaseException as exc:  # not ours (OSError, KeyboardInterrupt...): a bug
            self._finish_failed(run_id, repr(exc))
            raise
        summary = result.to_dict()
        if lease.lost.is_set():
            summary["lease_lost"] = True
        reports.finish_run(
            self._engine, run_id, status=_status(summary), summary=summary, clock=self._clock
        )
        return result

    def _finish_failed(self, run_id: int, error: str) -> None:
        """Record the failure; should the database fail too, the original error is the
        one worth raising, and the run then reads as interrupted."""
        with suppress(SQLAlchemyError):
            reports.finish_run(
                self._engine, run_id, status="failed", summary={}, error=error, clock=self._clock
            )

    def _scope(self, table: Table) -> DeleteScope:
        return delete_scope(table, self._warehouse)

    def unlock(self, name: str) -> LeaseInfo | None:
        """Break the table's maintenance lease (and its autopilot lease) whoever holds
        it; the holder's running runs are recorded as interrupted. Returns the
        maintenance lease that was broken, if any."""
        broken = self.leases.break_lease(lease_key(name))
        self.leases.break_lease(f"autopilot:{name}")
        if broken is not None:
            reports.mark_interrupted(
                self._engine,
                table=name,
                owner=broken.owner,
                reason=f"lease broken with `icehouse maintain unlock` by {self.leases.owner}",
            )
        return broken

    def compact(
        self,
        name: str,
        options: CompactOptions,
        *,
        where: str | None = None,
        include: Callable[[dict[str, Any]], bool] | None = None,
        dry_run: bool = False,
        on_group: Callable[[GroupResult], None] | None = None,
        engine: Literal["icehouse", "spark"] = "icehouse",
    ) -> CompactResult:
        """Compact under the table's lease, by icehouse itself or (``engine="spark"``)
        by Spark's ``rewrite_data_files`` on ``self.spark``, the lease renewed while
        Spark works."""

        def work(table: Table, committed: Committed) -> CompactResult:
            if engine == "spark":
                return compact_with_spark(
                    table,
                    options,
                    self.spark,
                    where=where,
                    include=include,
                    dry_run=dry_run,
                    on_group=on_group,
                    on_commit=committed,
                    cache=self.manifest_cache,
                )
            row_filter = where_filter(table, name, where)
            return compact(
                table,
                options,
                row_filter=row_filter,
                include=include,
                dry_run=dry_run,
                on_group=on_group,
                on_commit=committed,
                cache=self.manifest_cache,
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
            lambda t, committed: expire_snapshots(
                t,
                older_than=older_than,
                retain_last=retain_last,
                dry_run=dry_run,
                scope=self._scope(t),
                on_commit=committed,
                clock=self._clock,
                cache=self.manifest_cache,
            ),
        )

    def clean_metadata(self, name: str, *, dry_run: bool = False) -> MetadataCleanupResult:
        return self._run(
            name,
            "clean-metadata",
            dry_run,
            lambda t, committed: clean_metadata(
                t, dry_run=dry_run, scope=self._scope(t), on_delete=committed, clock=self._clock
            ),
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
            lambda t, committed: remove_orphans(
                t,
                older_than=older_than,
                dry_run=dry_run,
                force=force,
                now=datetime.fromtimestamp(self._clock(), UTC),
                scope=self._scope(t),
                on_delete=committed,
                cache=self.manifest_cache,
            ),
        )

    def manifests(self, name: str, *, dry_run: bool = False) -> ManifestRewriteResult:
        return self._run(
            name,
            "manifests",
            dry_run,
            lambda t, committed: rewrite_manifests(
                t, dry_run=dry_run, on_commit=committed, cache=self.manifest_cache
            ),
        )

    def history(
        self, name: str | None = None, *, limit: int = 50, dry_runs: bool = False
    ) -> list[reports.MaintenanceRun]:
        return reports.list_runs(
            self._engine, name, limit=limit, dry_runs=dry_runs, clock=self._clock
        )


def _status(summary: dict[str, Any]) -> str:
    """``partial`` when some rewrite groups did not commit (conflicts or failed proofs)."""
    groups = summary.get("groups") or []
    if any(g.get("status") in ("conflict", "failed") for g in groups):
        return "partial"
    return "ok"
