"""``icehouse table ...``: create, list, show, evolve, rename and drop tables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from icehouse.cli.common import (
    FormatOption,
    HomeOption,
    TableArgument,
    YesOption,
    open_lake,
    parse_pairs,
)
from icehouse.cli.confirm import confirm_or_stop
from icehouse.cli.grid import Column, Kind, print_grid
from icehouse.cli.output import Format, Output, counted, iso
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
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Show the schema and partition spec that would be created; create nothing.",
        ),
    ] = False,
    home: HomeOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Create a table: zstd Parquet, 128 MiB files, bounded metadata, by default.

    With --like, timestamps with Z or an offset become timestamptz, without a zone
    timestamp, dates date, CSV numbers long or double; check them with --dry-run."""
    output = Output(format)
    with open_lake(home, output) as lake:
        if (schema is None) == (like is None):
            raise InvalidInput("give exactly one of --schema or --like")
        info = lake.tables.create(
            name,
            schema=_schema_argument(schema) if schema else None,
            like=like,
            partition=partition,
            sort=sort,
            properties=dict(parse_pairs(property, "--property")),
            dry_run=dry_run,
        )

        def render(console: Console) -> None:
            if dry_run:
                console.print(f"Would create [bold]{name}[/bold] (--dry-run: nothing created)")
                render_schema(console, info)
                return
            console.print(f"Created [bold]{name}[/bold]")
            render_info(console, info)

        output.emit(info_dict(info) | {"dry_run": dry_run}, render)


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
            rows = [
                [i.name, f"{i.rows:,}", f"{i.data_files:,}", f"{i.total_bytes:,}", str(i.snapshots)]
                for i in infos
            ]
            print_grid(console, _LIST_GRID, rows)

        output.emit([info_dict(i) for i in infos], render, columns=INFO_COLUMNS)


_LIST_GRID = (
    Column("table", Kind.WHOLE),
    Column("rows", Kind.NUMBER),
    Column("files", Kind.NUMBER),
    Column("bytes", Kind.NUMBER),
    Column("snapshots", Kind.NUMBER),
)


@app.command("show")
def show(name: TableArgument, home: HomeOption = None, format: FormatOption = Format.table) -> None:
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
    name: TableArgument,
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


_SCHEMA_GRID = (
    Column("id", Kind.NUMBER),
    Column("column", Kind.WHOLE),
    Column("type", Kind.TEXT),
    Column("required"),
)


def render_info(console: Console, info: TableInfo) -> None:
    console.print(f"[bold]{info.name}[/bold]  {info.location}")
    render_schema(console, info)
    console.print(
        f"rows: {info.rows:,}  data files: {info.data_files:,}  bytes: {info.total_bytes:,}  snapshots: {info.snapshots}"
    )
    console.print("properties: " + json.dumps(info.properties, sort_keys=True))


def render_schema(console: Console, info: TableInfo) -> None:
    """The columns, partition specs and sort order."""
    fields = [
        [str(f["id"]), str(f["name"]), str(f["type"]), "yes" if f["required"] else ""]
        for f in info.schema
    ]
    print_grid(console, _SCHEMA_GRID, fields, title="schema")
    for spec in info.partition_specs:
        marker = " (current)" if spec["spec_id"] == info.current_spec_id else ""
        console.print(
            f"partition spec {spec['spec_id']}{marker}: {', '.join(spec['fields']) or 'unpartitioned'}"
        )
    console.print(f"sort order: {', '.join(info.sort_order) or 'none'}")


@app.command("history")
def history(
    name: TableArgument, home: HomeOption = None, format: FormatOption = Format.table
) -> None:
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
            rows = [
                [
                    str(s.snapshot_id),
                    iso(s.timestamp_ms / 1000) or "",
                    s.operation or "",
                    _thousands(s.summary.get("added-records", "")),
                    _thousands(s.summary.get("total-records", "")),
                    "✓" if s.is_current else "",
                ]
                for s in snapshots
            ]
            print_grid(console, _HISTORY_GRID, rows)

        output.emit(data, render, columns=_HISTORY_COLUMNS)


def _thousands(count: str) -> str:
    """A count from a snapshot summary with thousands separators."""
    return f"{int(count):,}" if count.isdigit() else count


_HISTORY_GRID = (
    Column("snapshot", Kind.WHOLE),  # copied whole into rollback --to
    Column("time", Kind.WHOLE, optional=1),
    Column("operation", Kind.WHOLE),
    Column("added rows", Kind.NUMBER, optional=3),
    Column("total rows", Kind.NUMBER, optional=2),
    Column("current"),
)
_HISTORY_COLUMNS = ("snapshot_id", "parent_id", "timestamp", "operation", "summary", "current")


@app.command("rollback")
def rollback(
    name: TableArgument,
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


@app.command("drop")
def drop(
    name: TableArgument,
    purge: Annotated[
        bool,
        typer.Option(
            "--purge",
            help="Also delete every file under the table's location (under its maintenance lease).",
        ),
    ] = False,
    yes: YesOption = False,
    home: HomeOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Remove a table from the catalog; its files stay unless --purge.

    Refused while a source in icehouse.toml writes to the table or ingestion has a batch
    open on it (remove the sources first: `icehouse source remove NAME`), and while
    maintenance runs on it."""
    output = Output(format)
    with open_lake(home, output) as lake:
        lake.tables.check_drop(name, purge=purge)
        info = lake.tables.get(name)
        fate = "delete its files" if purge else "keep its files"
        question = f"Drop {name} ({info.rows:,} rows at {info.location}) and {fate}?"
        confirm_or_stop(
            output, question, yes=yes, action=f"dropping {name}", declined="Nothing dropped."
        )
        dropped = lake.tables.drop(name, purge=purge)

        def render(console: Console) -> None:
            if dropped.purged is None:
                console.print(
                    f"Dropped {name} from the catalog. Its files are kept at {dropped.location} "
                    f"(last metadata file: {dropped.metadata_location}); delete that "
                    "folder when you no longer need them."
                )
            else:
                console.print(
                    f"Dropped {name} and deleted its {dropped.purged.files_deleted:,} files "
                    f"({dropped.purged.bytes_freed:,} bytes) under {dropped.location}."
                )
            console.print(
                f"Forgot {counted(dropped.state_rows_removed, 'state row')} of it (content claims, "
                "maintenance history); the ledger of its sources' files is kept."
            )

        output.emit(dropped.to_dict(), render)


@app.command("rename")
def rename(
    old: Annotated[str, typer.Argument(help="The table's name, namespace.table.")],
    new: Annotated[
        str, typer.Argument(help="Its new name; the namespace may differ but must exist.")
    ],
    home: HomeOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Rename a table (no file moves). Refused while sources write to it: point their
    `table =` in icehouse.toml at the new name first, or remove them."""
    output = Output(format)
    with open_lake(home, output) as lake:
        renamed = lake.tables.rename(old, new)
        output.emit(
            renamed.to_dict(),
            lambda c: c.print(
                f"Renamed {old} to {new} (files stay at {renamed.location}; "
                f"{renamed.state_rows_moved:,} state rows carried over)."
            ),
        )
