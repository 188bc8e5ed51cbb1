"""Compaction: rewrite a table's small (or unsorted, or mis-partitioned) files per
partition, prove each rewrite, and commit ``replace`` snapshots.

Groups are rewritten in a thread pool (pyarrow and DuckDB release the GIL) while the
calling thread commits, so a table is never committed from two threads. Each group reads
its files (``group_io.py``: straight from Parquet, few-valued strings as dictionaries, or
through PyIceberg's reader where field ids, schema evolution or delete files need it),
lays the rows out with the table writer (partitioned, ordered, sized, zstd), and must
pass its proof (``proof.py``) before it may commit. Commits re-check that
the group's input files are still live on the *current* ``main``: a concurrent append
never fails a rewrite, a concurrent delete or rewrite of its input aborts just that group
and deletes its output.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb
import pyarrow as pa
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from pyiceberg.manifest import DataFile
from pyiceberg.table import Table

from icehouse.errors import (
    CommitConflict,
    FilterNotTranslatable,
    InvalidInput,
    InvalidSortOrder,
    ProofFailed,
    RewriteConflict,
)
from icehouse.maintain.compact_plan import (
    CompactOptions,
    FileGroup,
    plan_groups,
)
from icehouse.maintain.group_io import fingerprint_written, read_group
from icehouse.maintain.ordering import sort_ordering, zorder_ordering
from icehouse.maintain.proof import fingerprint
from icehouse.tables.filters import SUPPORTED, where_expression
from icehouse.tables.grammar import parse_sort_order
from icehouse.tables.manifest_cache import ManifestCache
from icehouse.tables.replace import ManifestIndex, live_data_paths, replace_files
from icehouse.tables.retry import retry_commit
from icehouse.tables.scan import current_tasks
from icehouse.tables.writer import Ordering, TableWriter, keep_order

MAX_COMMIT_ATTEMPTS = 10


@dataclass(frozen=True)
class GroupResult:
    partition: str
    spec_id: int
    files_before: int
    bytes_before: int
    rows: int
    files_after: int = 0
    bytes_after: int = 0
    seconds: float = 0.0
    status: str = "planned"
    """planned (dry run), committed, conflict (input changed underneath), failed."""
    reason: str | None = None


@dataclass
class CompactResult:
    table: str
    strategy: str
    dry_run: bool
    groups: list[GroupResult] = field(default_factory=list)
    snapshots: list[int] = field(default_factory=list)
    seconds: float = 0.0
    engine: str = "icehouse"
    """Who rewrote the files: icehouse itself, or Spark."""

    @property
    def committed(self) -> list[GroupResult]:
        return [g for g in self.groups if g.status == "committed"]

    def to_dict(self) -> dict[str, Any]:
        """Before/after totals over the groups committed (planned, in a dry run)."""
        counted = self.groups if self.dry_run else self.committed
        return {
            "table": self.table,
            "strategy": self.strategy,
            "engine": self.engine,
            "dry_run": self.dry_run,
            "groups_rewritten": len(counted),
            "files_before": sum(g.files_before for g in counted),
            "files_after": sum(g.files_after for g in counted),
            "bytes_before": sum(g.bytes_before for g in counted),
            "bytes_after": sum(g.bytes_after for g in counted),
            "snapshots": self.snapshots,
            "seconds": round(self.seconds, 3),
            "groups": [asdict(g) for g in self.groups],
        }


@dataclass
class _Rewritten:
    group: FileGroup
    writer: TableWriter
    outputs: list[DataFile]
    seconds: float

    @property
    def inputs(self) -> list[DataFile]:
        return [t.file for t in self.group.tasks]

    def result(self, status: str, reason: str | None = None) -> GroupResult:
        return GroupResult(
            partition=self.group.label,
            spec_id=self.group.spec_id,
            files_before=self.group.files,
            bytes_before=self.group.bytes,
            rows=self.group.rows,
            files_after=len(self.outputs),
            bytes_after=sum(f.file_size_in_bytes for f in self.outputs),
            seconds=round(self.seconds, 3),
            status=status,
            reason=reason,
        )


def where_filter(table: Table, name: str, where: str | None) -> BooleanExpression:
    """``--where`` as a PyIceberg filter; every term must translate (a dropped term would
    silently widen the rewrite)."""
    if not where:
        return AlwaysTrue()
    try:
        return where_expression(where, name, table.schema())
    except FilterNotTranslatable as exc:
        raise InvalidInput(f"--where supports {SUPPORTED}; cannot use: {exc.term}") from exc


def ordering_for(table: Table, options: CompactOptions) -> Ordering | None:
    """None means the table's own sort order (the writer's default)."""
    if options.strategy == "binpack":
        return keep_order
    if options.strategy == "zorder":
        if not options.zorder:
            raise InvalidSortOrder("zorder needs columns: --zorder 'customer_id, requested_at'")
        columns = [c.strip() for c in options.zorder.split(",") if c.strip()]
        _check_columns(table, columns)
        return zorder_ordering(columns)
    if options.sort:
        fields = parse_sort_order(options.sort)
        _check_columns(table, [f.source for f in fields])
        return sort_ordering(fields)
    if table.sort_order().is_unsorted:
        raise InvalidSortOrder(
            "the table has no sort order: pass --sort 'column, ...' or set one with "
            "`icehouse table alter --sort`"
        )
    return None


def _check_columns(table: Table, columns: list[str]) -> None:
    names = set(table.schema().column_names)
    if unknown := [c for c in columns if c not in names]:
        raise InvalidSortOrder(
            f"unknown column(s) {', '.join(unknown)}; the table has {sorted(names)}"
        )


def compact(
    table: Table,
    options: CompactOptions,
    *,
    row_filter: BooleanExpression | None = None,
    include: Callable[[dict[str, Any]], bool] | None = None,
    dry_run: bool = False,
    on_group: Callable[[GroupResult], None] | None = None,
    on_commit: Callable[[dict[str, Any]], None] | None = None,
    cache: ManifestCache | None = None,
) -> CompactResult:
    """Rewrite the planned groups; ``on_commit`` hears of each snapshot as soon as it is
    committed (the run's history row records it, in case the process dies next). No
    group to rewrite commits nothing. Manifests are decoded through ``cache`` (the
    lake's), else a cache of this compaction's own."""
    started = time.perf_counter()
    name = ".".join(table.name())
    ordering = ordering_for(table, options)
    result = CompactResult(name, options.strategy, dry_run)
    snapshot = table.current_snapshot()
    index = ManifestIndex(table.io, cache)
    tasks = current_tasks(table, index, row_filter)
    groups = plan_groups(table, options, tasks, include=include)
    if dry_run or not groups:
        result.groups = [GroupResult(g.label, g.spec_id, g.files, g.bytes, g.rows) for g in groups]
        result.seconds = time.perf_counter() - started
        return result
    committer = _Committer(table, snapshot.snapshot_id if snapshot else None, index)
    pending: list[_Rewritten] = []

    def record(group_result: GroupResult) -> None:
        result.groups.append(group_result)
        if on_group is not None:
            on_group(group_result)

    def commit(batch: list[_Rewritten]) -> None:
        snapshot_id, outcomes = committer.commit(batch)
        if snapshot_id is not None:
            result.snapshots.append(snapshot_id)
            if on_commit is not None:
                done = [o.partition for o in outcomes if o.status == "committed"]
                on_commit({"snapshot_id": snapshot_id, "groups": done})
        for outcome in outcomes:
            record(outcome)

    with ThreadPoolExecutor(max_workers=max(1, options.max_concurrent_groups)) as pool:
        futures: dict[Future[_Rewritten], FileGroup] = {
            pool.submit(_rewrite, table, g, ordering, options.respec): g for g in groups
        }
        for future in as_completed(futures):
            group = futures[future]
            try:
                rewritten = future.result()
            except (ProofFailed, OSError, pa.ArrowException, duckdb.Error) as exc:
                record(
                    GroupResult(
                        group.label,
                        group.spec_id,
                        group.files,
                        group.bytes,
                        group.rows,
                        status="failed",
                        reason=str(exc),
                    )
                )
                continue
            if options.partial_progress:
                commit([rewritten])
            else:
                pending.append(rewritten)
    if pending:
        commit(pending)
    result.seconds = time.perf_counter() - started
    return result


def _rewrite(table: Table, group: FileGroup, ordering: Ordering | None, respec: bool) -> _Rewritten:
    started = time.perf_counter()
    name = ".".join(table.name())
    rows = read_group(table, group, contiguous=ordering is not keep_order)
    spec = table.spec() if respec else table.metadata.specs()[group.spec_id]
    written_as = rows.schema
    writer = TableWriter(
        table,
        name_prefix=f"compact-{uuid.uuid4().hex}",
        buffer_bytes=2 * rows.nbytes + 1,
        spec=spec,
        ordering=ordering,
    )
    try:
        # The input's fingerprint is taken by DuckDB on its own threads while the
        # (mostly single-threaded) sort and Parquet encoding run.
        with ThreadPoolExecutor(max_workers=1) as side:
            input_fingerprint = side.submit(fingerprint, rows)
            writer.write(rows)
            del rows
            outputs = writer.close()
            before = input_fingerprint.result()
        after = fingerprint_written(table, outputs, written_as)
        if problems := before.differences(after):
            raise ProofFailed(
                "rewrite output differs from input: " + "; ".join(problems),
                table=name,
                partition=group.label,
            )
    except BaseException:
        writer.abort()
        raise
    return _Rewritten(group, writer, outputs, time.perf_counter() - started)


class _Committer:
    """Commits rewritten groups on the current ``main``, dropping those whose input
    changed underneath them."""

    def __init__(self, table: Table, started_from: int | None, index: ManifestIndex) -> None:
        self._table = table
        self._started_from = started_from
        self._index = index

    def commit(self, batch: list[_Rewritten]) -> tuple[int | None, list[GroupResult]]:
        """Commit ``batch`` in one snapshot, retried while ``main`` moves; returns the
        snapshot (None if nothing committed) and each group's outcome."""
        outcomes: list[GroupResult] = []
        pending = batch

        def attempt(_: int) -> tuple[int | None, list[GroupResult]]:
            nonlocal pending
            table = self._table.catalog.load_table(self._table.name())
            pending = self._still_valid(table, pending, outcomes)
            if not pending:
                return None, outcomes
            try:
                response = replace_files(
                    table,
                    removed=[f for r in pending for f in r.inputs],
                    added=[f for r in pending for f in r.outputs],
                    started_from=self._started_from,
                    index=self._index,
                )
            except RewriteConflict as exc:
                for rewritten in pending:
                    rewritten.writer.abort()
                return None, outcomes + [r.result("conflict", exc.message) for r in pending]
            snapshot = response.metadata.current_snapshot()
            return (snapshot.snapshot_id if snapshot else None), outcomes + [
                r.result("committed") for r in pending
            ]

        def gave_up() -> CommitConflict:
            name = ".".join(self._table.name())
            return CommitConflict("main kept moving; gave up after retries", table=name)

        try:
            return retry_commit(attempt, attempts=MAX_COMMIT_ATTEMPTS, gave_up=gave_up)
        except CommitConflict as exc:  # only ``gave_up``: an attempt handles the others
            for rewritten in pending:
                rewritten.writer.abort()
            return None, outcomes + [r.result("conflict", exc.message) for r in pending]

    def _still_valid(
        self, table: Table, batch: list[_Rewritten], outcomes: list[GroupResult]
    ) -> list[_Rewritten]:
        """The groups whose input files are all still live on ``table``; the others are
        aborted, their conflict added to ``outcomes``."""
        live = live_data_paths(table, self._index)
        valid = []
        for rewritten in batch:
            gone = [f.file_path for f in rewritten.inputs if f.file_path not in live]
            if gone:
                rewritten.writer.abort()
                outcomes.append(
                    rewritten.result(
                        "conflict",
                        f"{len(gone)} input file(s) removed by a concurrent commit, e.g. {gone[0]}",
                    )
                )
            else:
                valid.append(rewritten)
        return valid
