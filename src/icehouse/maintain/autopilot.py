"""The autopilot: decide from each table's statistics what maintenance it needs, and do it.

Like Apache Amoro's self-optimizing and Amazon S3 Tables' automatic maintenance, work is
planned from cheap statistics rather than run on a schedule: fragments per partition
(files under an eighth of the target size), manifest count, snapshot age, time since the
last orphan sweep. Partitions that a commit added to within the quiet period are left
alone (ingestion is still filling them; compacting them now would be redone soon).

Each table is worked on under an ``autopilot:`` lease, renewed while its round lasts, so
several autopilots (processes or hosts) spread over the tables instead of colliding;
every action also takes the table's maintenance lease, so an autopilot and a manual
``icehouse maintain`` never overlap.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table

from icehouse import resilience
from icehouse.durations import format_duration
from icehouse.errors import IcehouseError
from icehouse.maintain.compact_plan import CompactOptions, partition_label
from icehouse.maintain.policy import MaintenancePolicy
from icehouse.maintain.service import Maintenance
from icehouse.tables.catalog import load_table
from icehouse.tables.history import files_added_since
from icehouse.tables.manifest_cache import ManifestCache
from icehouse.tables.replace import ManifestIndex
from icehouse.tables.scan import current_tasks
from icehouse.tables.writer import DEFAULT_TARGET_FILE_BYTES


@dataclass(frozen=True)
class PlannedAction:
    table: str
    action: str
    """compact, manifests, expire or orphans (in the order they run); ``wait`` notes
    partitions due for compaction but still being written."""
    reason: str
    partitions: tuple[str, ...] = ()


@dataclass
class AutopilotReport:
    planned: list[PlannedAction] = field(default_factory=list)
    done: list[dict[str, Any]] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    """Table → why it was left alone this round (disabled, busy, failed)."""
    audit_exported: int = 0
    """Audit records exported into ``icehouse_system.audit`` after the round."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "planned": [asdict(p) for p in self.planned],
            "done": self.done,
            "skipped": self.skipped,
            "audit_exported": self.audit_exported,
        }


def _key(partition: dict[str, Any]) -> str:
    return json.dumps(partition, sort_keys=True)


def recently_written(table: Table, quiet: timedelta, now: float, cache: ManifestCache) -> set[str]:
    """Partitions that appends or overwrites added files to within ``quiet`` of ``now``."""
    cutoff_ms = (now - quiet.total_seconds()) * 1000
    return {
        _key(partition_label(table, file.spec_id, file.partition))
        for file in files_added_since(table, cutoff_ms, cache)
    }


def plan_table(
    name: str,
    table: Table,
    policy: MaintenancePolicy,
    *,
    last_orphan_sweep: float | None,
    now: float,
    cache: ManifestCache,
) -> list[PlannedAction]:
    """What ``table`` needs, from its statistics; its manifests are decoded through
    ``cache`` (the lake's), so a round on a table with no new commit decodes none."""
    snapshot = table.current_snapshot()
    if snapshot is None:
        return []
    planned = []
    target = int(
        table.metadata.properties.get("write.target-file-size-bytes", DEFAULT_TARGET_FILE_BYTES)
    )
    fragments: Counter[str] = Counter()
    small: Counter[str] = Counter()
    index = ManifestIndex(table.io, cache)
    for task in current_tasks(table, index):
        size = task.file.file_size_in_bytes
        if size < 0.75 * target:
            partition = _key(partition_label(table, task.file.spec_id, task.file.partition))
            small[partition] += 1
            fragments[partition] += size < target / 8
    due = {p for p, n in fragments.items() if n >= policy.small_file_trigger} | {
        p for p, n in small.items() if n >= policy.file_count_trigger
    }
    hot = recently_written(table, policy.quiet_period, now, cache) & due if due else set()
    if due - hot:
        reason = (
            f"{len(due - hot)} partition(s) with ≥ {policy.small_file_trigger} fragments "
            f"or ≥ {policy.file_count_trigger} small files"
        )
        planned.append(PlannedAction(name, "compact", reason, tuple(sorted(due - hot))))
    if hot:
        reason = (
            f"{len(hot)} partition(s) due but written within {format_duration(policy.quiet_period)}"
        )
        planned.append(PlannedAction(name, "wait", reason, tuple(sorted(hot))))
    manifests = len(index.manifests(snapshot))
    if manifests >= policy.manifest_count_trigger:
        planned.append(PlannedAction(name, "manifests", f"{manifests} manifests"))
    protected = {ref.snapshot_id for ref in table.metadata.refs.values()}
    cutoff_ms = (now - policy.snapshot_retention.total_seconds()) * 1000
    old = [
        s
        for s in table.metadata.snapshots
        if s.timestamp_ms < cutoff_ms and s.snapshot_id not in protected
    ]
    if old:
        planned.append(PlannedAction(name, "expire", f"{len(old)} snapshot(s) past retention"))
    if (
        last_orphan_sweep is None
        or now - last_orphan_sweep > policy.orphan_interval.total_seconds()
    ):
        planned.append(PlannedAction(name, "orphans", "no orphan sweep within the interval"))
    return planned


class Autopilot:
    def __init__(self, maintenance: Maintenance, catalog: SqlCatalog) -> None:
        self._maintenance = maintenance
        self._catalog = catalog

    def run_once(
        self,
        tables: list[str],
        *,
        dry_run: bool = False,
        on_action: Callable[[PlannedAction, dict[str, Any]], None] | None = None,
    ) -> AutopilotReport:
        report = AutopilotReport()
        leases = self._maintenance.leases
        for name in tables:
            table = load_table(self._catalog, name)
            policy = MaintenancePolicy.from_properties(table.metadata.properties, table=name)
            if not policy.enabled:
                report.skipped[name] = "icehouse.maintenance.enabled is false"
                continue
            key = f"autopilot:{name}"
            if not dry_run and not leases.try_acquire(key):
                report.skipped[name] = f"another autopilot ({leases.holder(key)}) has it"
                continue
            try:
                with nullcontext() if dry_run else leases.renewing(key):
                    self._table_round(name, table, policy, report, dry_run, on_action)
            except IcehouseError as exc:  # MaintenanceBusy among them
                report.skipped[name] = exc.message
            finally:
                if not dry_run:
                    leases.release(key)
        return report

    def _table_round(
        self,
        name: str,
        table: Table,
        policy: MaintenancePolicy,
        report: AutopilotReport,
        dry_run: bool,
        on_action: Callable[[PlannedAction, dict[str, Any]], None] | None,
    ) -> None:
        now = self._maintenance.clock()
        planned = plan_table(
            name,
            table,
            policy,
            last_orphan_sweep=self._last_sweep(name),
            now=now,
            cache=self._maintenance.manifest_cache,
        )
        report.planned.extend(planned)
        if dry_run:
            return
        for action in planned:
            if action.action == "wait":
                continue
            outcome = self._do(action, policy)
            report.done.append({"table": name, "action": action.action} | outcome)
            if on_action is not None:
                on_action(action, outcome)

    def _last_sweep(self, name: str) -> float | None:
        runs = self._maintenance.history(name, limit=200)
        sweeps = [r.started_at for r in runs if r.action == "orphans" and not r.dry_run]
        return max(sweeps) if sweeps else None

    def _do(self, action: PlannedAction, policy: MaintenancePolicy) -> dict[str, Any]:
        maintenance = self._maintenance
        if action.action == "compact":
            chosen = set(action.partitions)
            table = load_table(self._catalog, action.table)
            strategy = policy.strategy
            if strategy == "auto":
                strategy = "binpack" if table.sort_order().is_unsorted else "sort"
            options = CompactOptions(
                strategy=strategy, sort=policy.sort, zorder=policy.zorder, min_input_files=2
            )
            result = maintenance.compact(
                action.table, options, include=lambda p: _key(p) in chosen, engine=policy.engine
            )
            return result.to_dict() | {"groups": len(result.groups)}
        if action.action == "manifests":
            return maintenance.manifests(action.table).to_dict()
        if action.action == "expire":
            return maintenance.expire(action.table, older_than=policy.snapshot_retention).to_dict()
        return maintenance.orphans(action.table, older_than=policy.orphan_age).to_dict()


def follow(
    run_round: Callable[[], AutopilotReport],
    *,
    interval: float,
    stop: threading.Event,
    on_round: Callable[[AutopilotReport], None],
    say: Callable[[str], None] = resilience.logger.warning,
) -> None:
    """Run rounds every ``interval`` seconds until ``stop`` is set (after the round).

    A round that meets an outage of the state database or the object store is started
    over after a backoff (its leases are this process's, so it takes them again)."""

    def round_(working: Callable[[], None]) -> None:
        on_round(run_round())

    while not stop.is_set():
        resilience.keep_running(round_, stop=stop, say=say)
        stop.wait(interval)
