"""``icehouse sql``: DuckDB over the tables' current snapshots."""

from __future__ import annotations

import io
import sys
from typing import Annotated

import pyarrow as pa
import pyarrow.csv as pacsv
import typer
from rich.console import Console
from rich.table import Table as RichTable

from icehouse.cli.common import FormatOption, HomeOption, open_lake
from icehouse.cli.output import Format, Output
from icehouse.query.sql import QueryResult


def render_arrow(console: Console, result: pa.Table, *, limit: int = 1000) -> None:
    table = RichTable(*result.column_names)
    for row in result.slice(0, limit).to_pylist():
        table.add_row(
            *[
                "NULL" if v is None else f"{v:,}" if isinstance(v, int) else str(v)
                for v in row.values()
            ]
        )
    console.print(table)
    shown = min(limit, result.num_rows)
    console.print(
        f"{result.num_rows:,} row(s)"
        + (f", first {shown} shown" if shown < result.num_rows else "")
    )


def render_plans(console: Console, answer: QueryResult) -> None:
    for plan in answer.plans:
        console.print(
            f"[bold]{plan.table}[/bold]: {plan.files_planned} of {plan.files_in_snapshot} files, "
            f"{plan.bytes_planned:,} bytes; planned in {plan.planning_seconds * 1000:.0f} ms "
            f"with filter {plan.pushed_filter}"
        )
    console.print(f"executed in {answer.execution_seconds * 1000:.0f} ms")


def sql(
    query: Annotated[str, typer.Argument(help="SQL; name tables namespace.table.")],
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Also show, per table, the filter pushed into planning and the files and bytes read.",
        ),
    ] = False,
    home: HomeOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Run SQL over the lake; --format table, csv or json (a JSON array of row objects;
    with --explain, an object with "plans" and "rows")."""
    output = Output(format)
    with open_lake(home, output) as lake:
        answer = lake.query(query)
    result = answer.table
    if explain:
        data = {"plans": [p.to_dict() for p in answer.plans], "rows": result.to_pylist()}
        output.emit(data, lambda c: (render_plans(c, answer), render_arrow(c, result)))
        return
    if format == Format.csv:
        buffer = io.BytesIO()
        pacsv.write_csv(result, buffer)
        sys.stdout.write(buffer.getvalue().decode())
        return
    output.emit(result.to_pylist(), lambda c: render_arrow(c, result))
