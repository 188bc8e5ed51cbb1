"""Scan planning: which data files (and delete files) a filtered read of a snapshot needs.

It plans exactly what PyIceberg's ``DataScan.plan_files()`` plans, with PyIceberg's own
evaluators (manifest partition summaries, inclusive partition projection, inclusive
metrics), but cheaper, because a lake is queried again and again:

- manifests are immutable, so their decoded entries are kept in an in-process cache
  keyed by path: the shell, the Python API and benchmarks decode each manifest once;
- the partition predicate is evaluated once per distinct partition tuple, not per file,
  and so is its strict projection: where it proves every row of the partition matches
  (a one-day filter on a day partition), no file of it needs its metrics evaluated;
- no per-file residual is computed (PyIceberg binds a new residual evaluator for every
  planned file, most of its planning time); each task carries the whole row filter,
  which is a correct residual for every file, and DuckDB applies the query's ``WHERE``.

It also counts what each step pruned, for ``--explain``, and reads planned tasks into
Arrow (``read_tasks``) for tables DuckDB cannot read file by file. Equality delete files are not
applied yet: a plan that needs one raises (PyIceberg raises for any in the snapshot).
The strict-projection shortcut keeps a file PyIceberg would drop only if the file's
metrics contradicted its own partition value; that can never drop a matching row.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import pyarrow as pa
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from pyiceberg.expressions.visitors import (
    expression_evaluator,
    inclusive_projection,
    manifest_evaluator,
    strict_projection,
)
from pyiceberg.manifest import (
    INITIAL_SEQUENCE_NUMBER,
    DataFile,
    DataFileContent,
    ManifestContent,
    ManifestEntry,
    ManifestFile,
)
from pyiceberg.schema import Schema
from pyiceberg.table import FileScanTask, Table
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.snapshots import Snapshot
from pyiceberg.typedef import Record

from icehouse.errors import EqualityDeletesUnsupported
from icehouse.tables._compat import ArrowScan, DeleteFileIndex, InclusiveMetricsEvaluator
from icehouse.tables.manifest_cache import ManifestCache
from icehouse.tables.replace import ManifestIndex


@dataclass(frozen=True)
class ScanPlan:
    """The files to read and what each pruning step left."""

    tasks: tuple[FileScanTask, ...]
    files_in_snapshot: int
    files_after_partition_pruning: int
    manifests_in_snapshot: int
    manifests_read: int

    @property
    def files_after_metrics_pruning(self) -> int:
        return len(self.tasks)


def plan_scan(
    table: Table,
    row_filter: BooleanExpression | None = None,
    *,
    snapshot_id: int | None = None,
    name: str | None = None,
    sql: str = "",
    cache: ManifestCache | None = None,
    planners: PlannerCache | None = None,
) -> ScanPlan:
    """Plan a read of the current snapshot (or ``snapshot_id``) for ``row_filter``.

    ``name`` and ``sql`` only give errors their context. ``cache`` (decoded manifests)
    and ``planners`` are kept by the caller between plannings (the ``Lake`` owns one
    of each); without them, this planning decodes and binds everything anew.

    Raises:
        EqualityDeletesUnsupported: a planned data file has equality delete files.
    """
    row_filter = row_filter if row_filter is not None else AlwaysTrue()
    snapshot = (
        table.current_snapshot() if snapshot_id is None else table.snapshot_by_id(snapshot_id)
    )
    if snapshot is None:
        return ScanPlan((), 0, 0, 0, 0)
    cache = cache if cache is not None else ManifestCache()
    planner = (
        planners.planner(table.metadata, row_filter)
        if planners is not None
        else _Planner(table.metadata, row_filter)
    )
    manifests = cache.manifests(table.io, snapshot)
    kept = _manifests_to_read(planner, manifests)
    data, positions, equalities, partition_matches = [], DeleteFileIndex(), [], 0
    for entries in cache.entries(table.io, kept):
        for entry in entries:
            data_file = entry.data_file
            if not planner.partition_may_match(data_file):
                continue
            if data_file.content == DataFileContent.DATA:
                partition_matches += 1
            if not planner.metrics_may_match(data_file):
                continue
            if data_file.content == DataFileContent.DATA:
                data.append(entry)
            elif data_file.content == DataFileContent.POSITION_DELETES:
                positions.add_delete_file(entry, partition_key=data_file.partition)
            else:
                equalities.append(entry)
    _refuse_equality_deletes(data, equalities, name or table.name()[-1], sql)
    tasks = tuple(
        FileScanTask(
            entry.data_file,
            delete_files=positions.for_data_file(
                entry.sequence_number or INITIAL_SEQUENCE_NUMBER,
                entry.data_file,
                partition_key=entry.data_file.partition,
            ),
            residual=row_filter,
        )
        for entry in data
    )
    return ScanPlan(
        tasks=tasks,
        files_in_snapshot=_data_files_in(manifests, snapshot),
        files_after_partition_pruning=partition_matches,
        manifests_in_snapshot=len(manifests),
        manifests_read=len(kept),
    )


def _manifests_to_read(
    planner: _Planner, manifests: tuple[ManifestFile, ...]
) -> list[ManifestFile]:
    """Those whose partition summaries may match, less delete manifests older than every
    data manifest kept (their deletes apply to no file read), as PyIceberg decides."""
    kept = [m for m in manifests if planner.manifest_may_match(m)]
    oldest_data = min(
        (m.min_sequence_number or INITIAL_SEQUENCE_NUMBER for m in kept if _is_data(m)),
        default=INITIAL_SEQUENCE_NUMBER,
    )
    return [
        m
        for m in kept
        if _is_data(m) or (m.sequence_number or INITIAL_SEQUENCE_NUMBER) >= oldest_data
    ]


def _is_data(manifest: ManifestFile) -> bool:
    return manifest.content == ManifestContent.DATA


def _data_files_in(manifests: Iterable[ManifestFile], snapshot: Snapshot) -> int:
    """Live data files, from the manifest list's counts (the summary if a count is absent)."""
    total = 0
    for manifest in manifests:
        if not _is_data(manifest):
            continue
        if manifest.added_files_count is None or manifest.existing_files_count is None:
            summary = snapshot.summary
            return int(summary.get("total-data-files", 0) or 0) if summary else 0
        total += manifest.added_files_count + manifest.existing_files_count
    return total


_PLANNERS_KEPT = 64


class PlannerCache:
    """Planners of each table's schema, specs and filter, kept per thread (PyIceberg's
    metrics evaluator is not thread-safe): a query run again binds nothing anew. Its
    owner (a ``Lake``) decides who shares it."""

    def __init__(self) -> None:
        self._local = threading.local()

    def planner(self, metadata: TableMetadata, row_filter: BooleanExpression) -> _Planner:
        key = (
            metadata.table_uuid,
            metadata.location,  # a producer's copy of a table keeps its UUID, not this
            metadata.current_schema_id,
            len(metadata.partition_specs),
            repr(row_filter),
        )
        kept: dict[tuple[object, ...], _Planner] = getattr(self._local, "kept", None) or {}
        self._local.kept = kept
        planner = kept.get(key)
        if planner is None:
            if len(kept) >= _PLANNERS_KEPT:
                kept.clear()
            planner = kept[key] = _Planner(metadata, row_filter)
        return planner


class _Planner:
    """PyIceberg's evaluators for one filter, built once per partition spec, their
    verdicts kept per partition tuple."""

    def __init__(self, metadata: TableMetadata, row_filter: BooleanExpression) -> None:
        self._schema = metadata.schema()
        self._specs = metadata.specs()
        self._trivial = row_filter == AlwaysTrue()
        self._row_filter = row_filter
        self._manifest_evaluators: dict[int, Callable[[ManifestFile], bool]] = {}
        self._evaluators: dict[int, tuple[Callable[[Record], bool], Callable[[Record], bool]]] = {}
        self._verdicts: dict[tuple[int, Record], tuple[bool, bool]] = {}
        self._metrics = InclusiveMetricsEvaluator(self._schema, row_filter, case_sensitive=True)

    def manifest_may_match(self, manifest: ManifestFile) -> bool:
        if self._trivial:
            return True
        spec_id = manifest.partition_spec_id
        if spec_id not in self._manifest_evaluators:
            project = inclusive_projection(self._schema, self._specs[spec_id], case_sensitive=True)
            self._manifest_evaluators[spec_id] = manifest_evaluator(
                self._specs[spec_id], self._schema, project(self._row_filter), case_sensitive=True
            )
        return self._manifest_evaluators[spec_id](manifest)

    def partition_may_match(self, data_file: DataFile) -> bool:
        return self._trivial or self._verdict(data_file)[0]

    def metrics_may_match(self, data_file: DataFile) -> bool:
        if self._trivial or self._verdict(data_file)[1]:
            # Every row matches: metrics could only drop an empty file, as their
            # evaluator's first test does.
            return data_file.record_count != 0
        return self._metrics.eval(data_file)

    def _verdict(self, data_file: DataFile) -> tuple[bool, bool]:
        """(some row of the partition may match, every row of it matches)."""
        key = (data_file.spec_id, data_file.partition)
        verdict = self._verdicts.get(key)
        if verdict is None:
            some, every = self._partition_evaluators(key[0])
            verdict = self._verdicts[key] = (some(key[1]), every(key[1]))
        return verdict

    def _partition_evaluators(
        self, spec_id: int
    ) -> tuple[Callable[[Record], bool], Callable[[Record], bool]]:
        if spec_id not in self._evaluators:
            spec = self._specs[spec_id]
            partition_schema = Schema(*spec.partition_type(self._schema).fields)
            inclusive = inclusive_projection(self._schema, spec, case_sensitive=True)
            strict = strict_projection(self._schema, spec, case_sensitive=True)
            self._evaluators[spec_id] = (
                expression_evaluator(partition_schema, inclusive(self._row_filter), True),
                expression_evaluator(partition_schema, strict(self._row_filter), True),
            )
        return self._evaluators[spec_id]


def _refuse_equality_deletes(
    data: list[ManifestEntry], equalities: list[ManifestEntry], table: str, sql: str
) -> None:
    """Raise if an equality delete applies to a planned data file: one committed after the
    data file (higher data sequence number), in its partition or in an unpartitioned spec."""
    if not equalities:
        return
    for entry in data:
        sequence = entry.sequence_number or INITIAL_SEQUENCE_NUMBER
        data_file = entry.data_file
        for delete in equalities:
            if (delete.sequence_number or INITIAL_SEQUENCE_NUMBER) <= sequence:
                continue
            delete_file = delete.data_file
            same_partition = (delete_file.spec_id, delete_file.partition) == (
                data_file.spec_id,
                data_file.partition,
            )
            if same_partition or len(delete_file.partition) == 0:
                raise EqualityDeletesUnsupported(
                    table=table,
                    data_file=data_file.file_path,
                    delete_file=delete_file.file_path,
                    sql=sql,
                )


def read_tasks(
    table: Table,
    tasks: Iterable[FileScanTask],
    *,
    schema: Schema | None = None,
    row_filter: BooleanExpression | None = None,
) -> pa.Table:
    """The rows of planned ``tasks`` in ``schema`` (default: the current one), through
    PyIceberg's Arrow reader: it applies position deletes, maps columns by field id
    (renamed or added columns) and fills identity partition columns a writer left out.
    ``row_filter`` drops rows that cannot match; the default keeps every row."""
    return ArrowScan(
        table.metadata,
        table.io,
        schema if schema is not None else table.schema(),
        row_filter if row_filter is not None else AlwaysTrue(),
    ).to_table(tasks)


def current_tasks(
    table: Table, index: ManifestIndex, row_filter: BooleanExpression | None = None
) -> list[FileScanTask]:
    """The current snapshot's data files as scan tasks. Without a filter or delete files
    they come straight from the manifests (through ``index``, which the commit reuses, so
    each manifest is decoded once per compaction); otherwise PyIceberg plans them."""
    snapshot = table.current_snapshot()
    if snapshot is None:
        return []
    manifests = index.manifests(snapshot)
    plain = all(m.content == ManifestContent.DATA for m in manifests)
    if plain and (row_filter is None or row_filter == AlwaysTrue()):
        return [FileScanTask(e.data_file) for es in index.entries_of(manifests) for e in es]
    return list(table.scan(row_filter=row_filter or AlwaysTrue()).plan_files())
