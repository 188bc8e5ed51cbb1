"""Compaction run by Spark: icehouse plans which partitions to rewrite, and Spark rewrites
them with Iceberg's ``rewrite_data_files`` through the lake's REST catalog.

Spark is for tables too large for one process to rewrite. It reaches the tables through
the lake's REST catalog (``spark_session``), so its commit goes through the lake's own
compare-and-swap, and the server carries the ingestion keys (``icehouse.batch-id``,
watermarks) forward onto it: an ingest after it neither repeats nor skips a file.
Iceberg's rewrite allows concurrent appends, so ingestion keeps going meanwhile. The
planned partitions are handed over as a ``where`` (their partition values as ranges of
the source columns), with the sizes of the planner (target, ratios, group size) as the
procedure's options, so that Spark rewrites what icehouse would have. The report is read
from the ``replace`` snapshots Spark committed, so it says what landed, not what was
asked for.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from pyiceberg.table import Table
from pyiceberg.transforms import (
    DayTransform,
    HourTransform,
    IdentityTransform,
    MonthTransform,
    YearTransform,
)
from pyiceberg.types import (
    DateType,
    IntegerType,
    LongType,
    StringType,
    TimestampType,
    TimestamptzType,
)

from icehouse.errors import SparkRewriteFailed
from icehouse.maintain.compact import CompactResult, GroupResult, ordering_for, where_filter
from icehouse.maintain.compact_plan import CompactOptions, FileGroup, plan_groups
from icehouse.maintain.spark_session import (
    SparkSettings,
    first_line,
    forget_catalog,
    lake_catalog,
    spark_session,
)
from icehouse.tables.manifest_cache import ManifestCache
from icehouse.tables.replace import ManifestIndex
from icehouse.tables.scan import current_tasks
from icehouse.tables.writer import DEFAULT_TARGET_FILE_BYTES


def group_predicate(table: Table, group: FileGroup) -> str | None:
    """Spark SQL selecting exactly the rows of ``group``'s partition, or None when a
    partition field's transform has no such range (bucket, truncate)."""
    spec = table.metadata.specs()[group.spec_id]
    schema = table.schema()
    terms = []
    for pf in spec.fields:
        source = schema.find_field(pf.source_id)
        column = f"`{schema.find_column_name(pf.source_id)}`"
        value = group.partition.get(pf.name)
        if value is None or value == "null":
            terms.append(f"{column} IS NULL")
            continue
        term = _term(column, source.field_type, pf.transform, str(value))
        if term is None:
            return None
        terms.append(term)
    return " AND ".join(terms) if terms else "true"


def _term(column: str, kind: Any, transform: Any, value: str) -> str | None:
    if isinstance(transform, IdentityTransform):
        if isinstance(kind, IntegerType | LongType):
            return f"{column} = {int(value)}"
        if isinstance(kind, StringType):
            return f"{column} = {_spark_string(value)}"
        if isinstance(kind, DateType):
            return f"{column} = DATE '{value}'"
        return None
    bounds = _period(transform, value)
    if bounds is None:
        return None
    start, end = bounds
    if isinstance(kind, DateType):
        return f"{column} >= DATE '{start:%Y-%m-%d}' AND {column} < DATE '{end:%Y-%m-%d}'"
    if isinstance(kind, TimestamptzType):
        literal = "TIMESTAMP"
    elif isinstance(kind, TimestampType):
        literal = "TIMESTAMP_NTZ"
    else:
        return None
    return (
        f"{column} >= {literal} '{start:%Y-%m-%d %H:%M:%S}' "
        f"AND {column} < {literal} '{end:%Y-%m-%d %H:%M:%S}'"
    )


def _period(transform: Any, value: str) -> tuple[datetime, datetime] | None:
    """The [start, end) of a time partition from its human string (``2024-06-01``,
    ``2024-06-01-10``, ``2024-06``, ``2024``)."""
    if isinstance(transform, HourTransform):
        start = datetime.strptime(value, "%Y-%m-%d-%H")
        return start, start + timedelta(hours=1)
    if isinstance(transform, DayTransform):
        day = date.fromisoformat(value)
        start = datetime(day.year, day.month, day.day)
        return start, start + timedelta(days=1)
    if isinstance(transform, MonthTransform):
        start = datetime.strptime(value, "%Y-%m")
        following = start.replace(year=start.year + start.month // 12, month=start.month % 12 + 1)
        return start, following
    if isinstance(transform, YearTransform):
        start = datetime(int(value), 1, 1)
        return start, start.replace(year=start.year + 1)
    return None


def spark_where(table: Table, groups: list[FileGroup], where: str | None) -> str | None:
    """``where`` narrowed to the planned partitions (left as it is when one of them
    cannot be written as a range)."""
    predicates = [group_predicate(table, g) for g in groups]
    narrowed = None
    if predicates and all(p is not None for p in predicates):
        narrowed = " OR ".join(f"({p})" for p in sorted(set(filter(None, predicates))))
    parts = [f"({w})" for w in (where, narrowed) if w]
    return " AND ".join(parts) or None


def procedure_call(
    catalog: str,
    table: Table,
    options: CompactOptions,
    groups: list[FileGroup],
    where: str | None,
) -> str:
    """The ``CALL`` of ``catalog``'s ``rewrite_data_files`` that rewrites ``groups``, with
    the planner's sizes as its options (so Spark's candidates are icehouse's)."""
    name = ".".join(table.name())
    target = options.target_file_bytes or int(
        table.metadata.properties.get("write.target-file-size-bytes", DEFAULT_TARGET_FILE_BYTES)
    )
    settings = {
        "target-file-size-bytes": target,
        "min-file-size-bytes": int(options.min_file_ratio * target),
        "max-file-size-bytes": int(options.max_file_ratio * target),
        "min-input-files": min(g.files for g in groups),
        "max-file-group-size-bytes": options.max_group_bytes,
        "max-concurrent-file-group-rewrites": max(1, options.max_concurrent_groups),
        "partial-progress.enabled": str(options.partial_progress).lower(),
        "rewrite-all": str(options.rewrite_all).lower(),
    }
    pairs = ", ".join(f"'{k}', '{v}'" for k, v in settings.items())
    arguments = [f"table => '{name}'"]
    if options.strategy == "binpack":
        arguments.append("strategy => 'binpack'")
    elif options.strategy == "zorder":
        zorder = _spark_string(f"zorder({options.zorder})")
        arguments.append(f"strategy => 'sort', sort_order => {zorder}")
    else:
        arguments.append("strategy => 'sort'")
        if options.sort:
            arguments.append(f"sort_order => {_spark_string(options.sort)}")
    if where:
        arguments.append(f"where => {_spark_string(where)}")
    arguments.append(f"options => map({pairs})")
    return f"CALL {catalog}.system.rewrite_data_files({', '.join(arguments)})"


def _spark_string(text: str) -> str:
    """``text`` as a Spark SQL string literal: Spark reads ``''`` as two adjacent
    literals, not an escaped quote, so the text goes in double quotes with backslash
    escapes."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def compact_with_spark(
    table: Table,
    options: CompactOptions,
    settings: SparkSettings,
    *,
    where: str | None = None,
    include: Callable[[dict[str, Any]], bool] | None = None,
    dry_run: bool = False,
    on_group: Callable[[GroupResult], None] | None = None,
    on_commit: Callable[[dict[str, Any]], None] | None = None,
    cache: ManifestCache | None = None,
) -> CompactResult:
    """Plan as ``compact`` does, then have Spark rewrite the planned partitions; nothing
    planned starts no Spark. Each ``replace`` snapshot Spark committed becomes one
    reported group, its files, bytes and rows before and after from its summary.

    Raises:
        SparkUnavailable: Spark cannot be started or reached, or has no catalog (none
            configured, and ``settings.serve`` unset).
        SparkRewriteFailed: the procedure failed in Spark.
        InvalidSortOrder, InvalidInput: as ``compact``.
    """
    started = time.perf_counter()
    name = ".".join(table.name())
    ordering_for(table, options)  # the same checks of sort and zorder columns
    result = CompactResult(name, options.strategy, dry_run, engine="spark")
    tasks = current_tasks(table, ManifestIndex(table.io, cache), where_filter(table, name, where))
    groups = plan_groups(table, options, tasks, include=include)
    if dry_run or not groups:
        result.groups = [GroupResult(g.label, g.spec_id, g.files, g.bytes, g.rows) for g in groups]
        result.seconds = time.perf_counter() - started
        return result
    before = table.current_snapshot()
    narrowed = spark_where(table, groups, where)
    with lake_catalog(settings) as catalog:  # a catalog served for the run stops after it
        spark = spark_session(settings, catalog)
        try:
            _rewrite(spark, procedure_call(catalog.name, table, options, groups, narrowed), name)
        finally:
            forget_catalog(spark, catalog)
    seconds = time.perf_counter() - started
    labels = [g.label for g in groups]
    after = table.catalog.load_table(table.name())
    for snapshot in _replaced_since(after, before.snapshot_id if before else None):
        summary = snapshot.summary.additional_properties if snapshot.summary else {}
        group = GroupResult(
            partition=", ".join(labels),
            spec_id=after.spec().spec_id,
            files_before=int(summary.get("deleted-data-files", 0)),
            bytes_before=int(summary.get("removed-files-size", 0)),
            rows=int(summary.get("deleted-records", 0)),
            files_after=int(summary.get("added-data-files", 0)),
            bytes_after=int(summary.get("added-files-size", 0)),
            seconds=round(seconds, 3),
            status="committed",
        )
        result.groups.append(group)
        result.snapshots.append(snapshot.snapshot_id)
        if on_group is not None:
            on_group(group)
        if on_commit is not None:
            on_commit({"snapshot_id": snapshot.snapshot_id, "groups": labels, "engine": "spark"})
    result.seconds = time.perf_counter() - started
    return result


def _rewrite(spark: Any, call: str, table: str) -> None:
    """Run the procedure call; Spark's failures become ``SparkRewriteFailed``."""
    from py4j.protocol import Py4JError  # type: ignore[import-untyped]
    from pyspark.errors import PySparkException

    try:
        spark.sql(call).collect()
    except (PySparkException, Py4JError) as exc:
        raise SparkRewriteFailed(
            f"Spark's rewrite_data_files failed: {first_line(exc)}", table=table
        ) from exc


def _replaced_since(table: Table, since: int | None) -> list[Any]:
    """The ``replace`` snapshots on ``main`` after snapshot ``since``, oldest first."""
    found = []
    snapshot = table.current_snapshot()
    while snapshot is not None and snapshot.snapshot_id != since:
        if snapshot.summary is not None and snapshot.summary.operation.value == "replace":
            found.append(snapshot)
        parent = snapshot.parent_snapshot_id
        snapshot = table.snapshot_by_id(parent) if parent is not None else None
    return found[::-1]
