"""Query results and query plans for people (Rich), shared by ``icehouse sql``, the shell
and the demo."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table as RichTable

if TYPE_CHECKING:
    import pyarrow as pa

    from icehouse.query.sql import QueryResult


def _cell(value: object) -> str:
    """A value as text; strings are escaped, since ``[/x]`` is data, not Rich markup."""
    if value is None:
        return "NULL"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return escape(str(value))


def render_arrow(console: Console, result: pa.Table, *, limit: int = 1000) -> None:
    table = RichTable(*[escape(name) for name in result.column_names])
    for row in result.slice(0, limit).to_pylist():
        table.add_row(*[_cell(v) for v in row.values()])
    console.print(table)
    shown = min(limit, result.num_rows)
    console.print(
        f"{result.num_rows:,} row(s)"
        + (f", first {shown} shown" if shown < result.num_rows else "")
    )


def render_plans(console: Console, answer: QueryResult) -> None:
    """Per table: files in the snapshot, after partition and after metrics pruning, bytes
    planned, and (with explain) row groups read/skipped and bytes read."""
    explained = any(plan.row_groups_read is not None for plan in answer.plans)
    read_columns = ("row groups read", "skipped", "bytes read") if explained else ()
    table = RichTable(
        "table",
        "files",
        "after partitions",
        "after metrics",
        "bytes planned",
        *read_columns,
        "planning ms",
        title="what each table read",
    )
    for plan in answer.plans:
        read = (
            (f"{plan.row_groups_read:,}", f"{plan.row_groups_skipped:,}", f"{plan.bytes_read:,}")
            if plan.row_groups_read is not None
            else ("-", "-", "-")
        )
        table.add_row(
            escape(plan.table),
            f"{plan.files_in_snapshot:,}",
            f"{plan.files_after_partition_pruning:,}",
            f"{plan.files_after_metrics_pruning:,}",
            f"{plan.bytes_planned:,}",
            *(read if explained else ()),
            f"{plan.planning_seconds * 1000:.1f}",
        )
    console.print(table)
    for plan in answer.plans:
        console.print(f"{escape(plan.table)}: filter pushed {escape(plan.pushed_filter)}")
    console.print(f"executed in {answer.execution_seconds * 1000:.1f} ms")
