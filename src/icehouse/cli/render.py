"""Query results and query plans for people, shared by ``icehouse sql``, the shell and
the demo: a Rich table on a terminal, plain aligned text when piped (see ``grid``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from icehouse.cli.grid import Column, Kind, print_grid

if TYPE_CHECKING:
    import pyarrow as pa

    from icehouse.query.sql import QueryResult


def _cell(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def _kind(type_: pa.DataType) -> Kind:
    """Numbers align right; times and dates are whole values; the rest may wrap."""
    import pyarrow as pa

    if pa.types.is_integer(type_) or pa.types.is_floating(type_) or pa.types.is_decimal(type_):
        return Kind.NUMBER
    if pa.types.is_temporal(type_):
        return Kind.WHOLE
    return Kind.TEXT


def render_arrow(console: Console, result: pa.Table, *, limit: int = 1000) -> None:
    columns = [Column(f.name, _kind(f.type)) for f in result.schema]
    rows = [[_cell(v) for v in row.values()] for row in result.slice(0, limit).to_pylist()]
    print_grid(console, columns, rows)
    shown = min(limit, result.num_rows)
    console.print(
        f"{result.num_rows:,} row(s)"
        + (f", first {shown} shown" if shown < result.num_rows else "")
    )


_PLAN_COLUMNS = (
    Column("table", Kind.WHOLE),
    Column("files", Kind.NUMBER),
    Column("after partitions", Kind.NUMBER, optional=4),
    Column("after metrics", Kind.NUMBER, optional=1),
    Column("bytes planned", Kind.NUMBER, optional=2),
)
_READ_COLUMNS = (
    Column("row groups read", Kind.NUMBER, optional=5),
    Column("skipped", Kind.NUMBER, optional=6),
    Column("bytes read", Kind.NUMBER),
)
"""A narrow terminal keeps the table, its files, the files left after pruning, and the
bytes it read."""


def render_plans(console: Console, answer: QueryResult) -> None:
    """Per table: files in the snapshot, after partition and after metrics pruning, bytes
    planned, and (with explain) row groups read/skipped and bytes read; then each table's
    pushed filter and, for a governed principal, the access filter its grants applied."""
    explained = any(plan.row_groups_read is not None for plan in answer.plans)
    rows = []
    for plan in answer.plans:
        read = (
            (f"{plan.row_groups_read:,}", f"{plan.row_groups_skipped:,}", f"{plan.bytes_read:,}")
            if plan.row_groups_read is not None
            else ("-", "-", "-")
        )
        rows.append(
            [
                plan.table,
                f"{plan.files_in_snapshot:,}",
                f"{plan.files_after_partition_pruning:,}",
                f"{plan.files_after_metrics_pruning:,}",
                f"{plan.bytes_planned:,}",
                *(read if explained else ()),
                f"{plan.planning_seconds * 1000:.1f}",
            ]
        )
    columns = [
        *_PLAN_COLUMNS,
        *(_READ_COLUMNS if explained else ()),
        Column("planning ms", Kind.NUMBER, optional=3),
    ]
    print_grid(console, columns, rows, title="what each table read")
    for plan in answer.plans:
        console.print(f"{escape(plan.table)}: filter pushed {escape(plan.pushed_filter)}")
        if plan.access_filter is not None:
            console.print(f"{escape(plan.table)}: access filter {escape(plan.access_filter)}")
    console.print(f"executed in {answer.execution_seconds * 1000:.1f} ms")
