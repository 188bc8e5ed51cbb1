"""``icehouse table ...``: create, list, show and evolve tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Table as RichTable

from icehouse.cli.common import FormatOption, HomeOption, open_lake, parse_pairs
from icehouse.cli.output import Format, Output, iso
from icehouse.errors import InvalidInput

if TYPE_CHECKING:
    from icehouse.tables.manage import TableInfo

app = typer.Typer(help="Create, inspect and evolve Iceberg tables.", no_args_is_help=True)


def _schema_argument(schema: str) -> str:
    """``--schema`` takes a file name or the JSON itself."""
    path = Path(schema)
    if not schema.lstrip().startswith("{") and path.is_file():
        return path.read_text()
    if not schema.lstrip().startswith("{"):
        raise InvalidInput(f"--schema {schema!r} is neither a JSON document nor an existing file")
    return schema


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="namespace.table, e.g. logs.requests")],
    schema: Annotated[
        str | None,
        typer.Option(
            help='Iceberg schema JSON or {"column": "type"} map (file or inline); a type ending in ! is required.'
        ),
    ] = None,
    like: Annotated[
        Path | None,
        typer.Option(help="Infer the schema from a sample file (jsonl, csv, tsv, parquet)."),
    ] = None,
    partition: Annotated[
        list[str],
        typer.Option(
            help="Partition field: day(c), hour(c), month(c), year(c), bucket(N, c), truncate(W, c), or a column. Repeat for more."
        ),
    ] = [],  # noqa: B006
    sort: Annotated[
        str | None,
        typer.Option(help="Sort order, e.g. 'customer_id, requested_at DESC NULLS LAST'."),
    ] = None,
    property: Annotated[
        list[str], typer.Option("--property", help="Table property KEY=VALUE. Repeat for more.")
    ] = [],  # noqa: B006
    home: HomeOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Create a table: zstd Parquet, 128 MiB files, bounded metadata, by default."""
    output = Output(format)
    with open_lake(home, output) as lake:
        if (schema is None) == (like is None):
            raise InvalidInput("give exactly one of --schema or --like")
        lake.tables.create(
            name,
            schema=_schema_argument(schema) if schema else None,
            like=like,
            partition=partition,
            sort=sort,
            properties=dict(parse_pairs(property, "--property")),
        )
        info = lake.tables.get(name)

        def render(console: Console) -> None:
            console.print(f"Created [bold]{name}[/bold]")
            render_info(console, info)

        output.emit(info_dict(info), render)


@app.command("list")
def list_tables(home: HomeOption = None, format: FormatOption = Format.table) -> None:
    """List tables with their row counts and sizes."""
    output = Output(format)
    with open_lake(home, output) as lake:
        infos = [lake.tables.get(name) for name in lake.tables.list()]

        def render(console: Console) -> None:
            if not infos:
                console.print("No tables yet. Create one with `icehouse table create`.")
                return
            table = RichTable("table", "rows", "files", "bytes", "snapshots")
            for i in infos:
                table.add_row(
                    i.name,
                    f"{i.rows:,}",
                    f"{i.data_files:,}",
                    f"{i.total_bytes:,}",
                    str(i.snapshots),
                )
            console.print(table)

        output.emit([info_dict(i) for i in infos], render, columns=INFO_COLUMNS)


@app.command("show")
def show(name: str, home: HomeOption = None, format: FormatOption = Format.table) -> None:
    """Schema, partition specs, sort order, properties, snapshots, files, bytes, rows."""
    output = Output(format)
    with open_lake(home, output) as lake:
        info = lake.tables.get(name)
        history = [
            {
                "snapshot_id": s.snapshot_id,
                "timestamp": iso(s.timestamp_ms / 1000),
                "operation": s.operation,
            }
            for s in lake.tables.history(name)[-10:]
        ]
        output.emit(info_dict(info) | {"recent_snapshots": history}, lambda c: render_info(c, info))


@app.command("alter")
def alter(
    name: str,
    partition: Annotated[
        list[str],
        typer.Option(help="The new partition spec (all fields); old data keeps its spec."),
    ] = [],  # noqa: B006
    add_column: Annotated[
        list[str], typer.Option(help="NAME:TYPE, e.g. referrer:string. Repeat for more.")
    ] = [],  # noqa: B006
    widen: Annotated[
        list[str],
        typer.Option(
            help="COLUMN:TYPE, a type widening (int→long, float→double, decimal precision)."
        ),
    ] = [],  # noqa: B006
    sort: Annotated[
        str | None, typer.Option(help="A new sort order for data written from now on.")
    ] = None,
    property: Annotated[
        list[str], typer.Option("--property", help="Set a table property KEY=VALUE.")
    ] = [],  # noqa: B006
    home: HomeOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Evolve a table: partition spec, columns, types, sort order, properties."""
    output = Output(format)
    with open_lake(home, output) as lake:
        lake.tables.alter(
            name,
            partition=partition or None,
            add_columns=parse_pairs(add_column, "--add-column", ":"),
            widen=parse_pairs(widen, "--widen", ":"),
            sort=sort,
            properties=dict(parse_pairs(property, "--property")) or None,
        )
        info = lake.tables.get(name)

        def render(console: Console) -> None:
            console.print(f"Altered [bold]{name}[/bold]")
            render_info(console, info)

        output.emit(info_dict(info), render)


INFO_COLUMNS = (
    "name", "location", "schema", "partition_specs", "current_spec_id", "sort_order",
    "properties", "snapshots", "current_snapshot_id", "data_files", "bytes", "rows",
)  # fmt: skip
"""The keys of ``info_dict``: the CSV header of ``table list``, also with no tables."""


def info_dict(info: TableInfo) -> dict[str, object]:
    return {
        "name": info.name,
        "location": info.location,
        "schema": info.schema,
        "partition_specs": info.partition_specs,
        "current_spec_id": info.current_spec_id,
        "sort_order": info.sort_order,
        "properties": info.properties,
        "snapshots": info.snapshots,
        "current_snapshot_id": info.current_snapshot_id,
        "data_files": info.data_files,
        "bytes": info.total_bytes,
        "rows": info.rows,
    }


def render_info(console: Console, info: TableInfo) -> None:
    console.print(f"[bold]{info.name}[/bold]  {info.location}")
    columns = RichTable("id", "column", "type", "required", title="schema", title_justify="left")
    for f in info.schema:
        columns.add_row(
            str(f["id"]), str(f["name"]), str(f["type"]), "yes" if f["required"] else ""
        )
    console.print(columns)
    for spec in info.partition_specs:
        marker = " (current)" if spec["spec_id"] == info.current_spec_id else ""
        console.print(
            f"partition spec {spec['spec_id']}{marker}: {', '.join(spec['fields']) or 'unpartitioned'}"
        )
    console.print(f"sort order: {', '.join(info.sort_order) or 'none'}")
    console.print(
        f"rows: {info.rows:,}  data files: {info.data_files:,}  bytes: {info.total_bytes:,}  snapshots: {info.snapshots}"
    )
    console.print("properties: " + json.dumps(info.properties, sort_keys=True))


@app.command("history")
def history(name: str, home: HomeOption = None, format: FormatOption = Format.table) -> None:
    """Snapshots, oldest first: id, time, operation, summary."""
    output = Output(format)
    with open_lake(home, output) as lake:
        snapshots = lake.tables.history(name)
        data = [
            {
                "snapshot_id": s.snapshot_id,
                "parent_id": s.parent_id,
                "timestamp": iso(s.timestamp_ms / 1000),
                "operation": s.operation,
                "summary": s.summary,
                "current": s.is_current,
            }
            for s in snapshots
        ]

        def render(console: Console) -> None:
            table = RichTable(
                "snapshot", "time", "operation", "added rows", "total rows", "current"
            )
            table.columns[0].no_wrap = True  # an id is copied whole into rollback --to
            for s in snapshots:
                table.add_row(
                    str(s.snapshot_id),
                    iso(s.timestamp_ms / 1000) or "",
                    s.operation or "",
                    _thousands(s.summary.get("added-records", "")),
                    _thousands(s.summary.get("total-records", "")),
                    "✓" if s.is_current else "",
                )
            console.print(table)

        output.emit(data, render, columns=_HISTORY_COLUMNS)


def _thousands(count: str) -> str:
    """A count from a snapshot summary with thousands separators."""
    return f"{int(count):,}" if count.isdigit() else count


_HISTORY_COLUMNS = ("snapshot_id", "parent_id", "timestamp", "operation", "summary", "current")


@app.command("rollback")
def rollback(
    name: str,
    to: Annotated[int, typer.Option("--to", help="The snapshot id to make current again.")],
    home: HomeOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Make an earlier snapshot current again (no data is rewritten)."""
    output = Output(format)
    with open_lake(home, output) as lake:
        lake.tables.rollback(name, to)
        output.emit(
            {"table": name, "current_snapshot_id": to},
            lambda c: c.print(f"{name} is at snapshot {to} again."),
        )
