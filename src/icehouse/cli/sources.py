"""``icehouse source ...``: declare landing locations and test their mappings."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from icehouse.cli.common import (
    FormatOption,
    HomeOption,
    SourceArgument,
    YesOption,
    open_lake,
    parse_pairs,
)
from icehouse.cli.complete import table_names
from icehouse.cli.confirm import confirm_or_stop
from icehouse.cli.grid import Column, Kind, print_grid
from icehouse.cli.output import Format, Output
from icehouse.errors import InvalidConfig

if TYPE_CHECKING:  # pydantic's models: imported by the commands that run, not by --help
    from icehouse.config import ColumnMapping, SourceConfig

app = typer.Typer(
    help="Declare sources (landing locations) and test their mappings.", no_args_is_help=True
)


def build_mapping(
    map_: list[str],
    timestamp: list[str],
    expr: list[str],
    default: list[str],
    meta: list[str] = [],  # noqa: B006
) -> dict[str, ColumnMapping]:
    from icehouse.config import ColumnMapping

    rules: dict[str, dict[str, str]] = {}
    for option, key, values in (
        ("--map", "path", map_),
        ("--timestamp", "timestamp", timestamp),
        ("--expr", "expr", expr),
        ("--default", "default", default),
        ("--meta", "meta", meta),
    ):
        for column, value in parse_pairs(values, option):
            rules.setdefault(column, {})[key] = value
    return {column: ColumnMapping.model_validate(rule) for column, rule in rules.items()}


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Source name, e.g. the CDN provider.")],
    location: Annotated[str, typer.Option(help="Landing folder, or s3://bucket/prefix.")],
    table: Annotated[
        str,
        typer.Option(
            help="Target table, namespace.table (must exist).", autocompletion=table_names
        ),
    ],
    file_format: Annotated[
        str, typer.Option("--file-format", help="jsonl, csv, tsv, w3c or parquet.")
    ],
    glob: Annotated[str, typer.Option(help="Which file names to take.")] = "*",
    compression: Annotated[
        str, typer.Option(help="auto (by extension and magic bytes), none, gzip, zstd.")
    ] = "auto",
    delimiter: Annotated[str | None, typer.Option(help="csv/tsv field delimiter.")] = None,
    no_header: Annotated[
        bool,
        typer.Option(
            "--no-header", help="csv/tsv files have no header line; name fields with --field."
        ),
    ] = False,
    field: Annotated[
        list[str],
        typer.Option("--field", help="csv/tsv field names in order when there is no header."),
    ] = [],  # noqa: B006
    comment: Annotated[
        str | None, typer.Option(help="csv/tsv: skip lines starting with this prefix.")
    ] = None,
    map_: Annotated[
        list[str],
        typer.Option("--map", help="COLUMN=SOURCE.PATH, e.g. bytes_sent=edge.response.bytes."),
    ] = [],  # noqa: B006
    timestamp: Annotated[
        list[str],
        typer.Option(
            help="COLUMN=FORMAT: rfc3339, epoch_s, epoch_ms, epoch_us, epoch_ns or a strptime format."
        ),
    ] = [],  # noqa: B006
    expr: Annotated[
        list[str],
        typer.Option(
            help="COLUMN=SQL over the mapped row (bare names) and source fields (${path}), "
            "e.g. country=upper(country)."
        ),
    ] = [],  # noqa: B006
    derive: Annotated[
        list[str],
        typer.Option(
            help="NAME=SQL: a helper field over source fields, not a column, "
            "e.g. ts_text=\"${date} || ' ' || ${time}\"."
        ),
    ] = [],  # noqa: B006
    meta: Annotated[
        list[str],
        typer.Option(
            help="COLUMN=file (the file's path under the location) or COLUMN=line "
            "(the line number)."
        ),
    ] = [],  # noqa: B006
    default: Annotated[
        list[str], typer.Option(help="COLUMN=VALUE used when the field is missing.")
    ] = [],  # noqa: B006
    on_success: Annotated[
        str, typer.Option(help="keep, delete or archive committed files.")
    ] = "keep",
    archive: Annotated[
        str | None, typer.Option(help="Archive folder for on_success=archive.")
    ] = None,
    settle: Annotated[
        str, typer.Option(help="A local file must be unchanged this long before it is taken.")
    ] = "2s",
    listing: Annotated[
        str,
        typer.Option(
            help="full (list everything each poll) or ordered (keys sort by landing time, "
            "e.g. date folders: list only the keys after the last one seen)."
        ),
    ] = "full",
    full_listing_every: Annotated[
        str,
        typer.Option(
            help="With --listing ordered: how often to list everything anyway, to find "
            "keys that landed late."
        ),
    ] = "10m",
    create_location: Annotated[
        bool,
        typer.Option(
            "--create-location",
            help="Create the landing folder if it does not exist (else that is an error).",
        ),
    ] = False,
    home: HomeOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Add a source to icehouse.toml (edit the file for anything more).

    A relative --location is relative to the lake home (as in icehouse.toml), not to the
    current folder; a landing folder that does not exist is an error unless
    --create-location is given."""
    from pydantic import ValidationError

    from icehouse.config import SourceConfig
    from icehouse.config_check import describe

    output = Output(format)
    with open_lake(home, output) as lake:
        try:
            # Validated as icehouse.toml is: a bad value is an InvalidConfig (exit 1).
            source = SourceConfig.model_validate(
                {
                    "name": name,
                    "location": location,  # relative to the lake home, as in icehouse.toml
                    "table": table,
                    "format": file_format,
                    "glob": glob,
                    "compression": compression,
                    "delimiter": delimiter,
                    "header": not no_header,
                    "fields": field,
                    "comment": comment,
                    "columns": build_mapping(map_, timestamp, expr, default, meta),
                    "derive": dict(parse_pairs(derive, "--derive")),
                    "on_success": on_success,
                    "archive": archive,
                    "settle": settle,
                    "listing": listing,
                    "full_listing_every": full_listing_every,
                }
            )
        except ValidationError as exc:
            problems = describe(exc, model=SourceConfig, prefix=(), text="")
            raise InvalidConfig("; ".join(problems), where=f"source {name!r}") from None
        if create_location and source.local_location is not None:
            (lake.home / source.local_location).mkdir(parents=True, exist_ok=True)
        lake.sources.check_landing(source)
        added = lake.sources.add(source)
        output.emit(
            added.model_dump(),
            lambda c: c.print(
                f"Added source [bold]{name}[/bold] → {table} (in {lake.config.config_path})"
            ),
        )


@app.command("list")
def list_sources(home: HomeOption = None, format: FormatOption = Format.table) -> None:
    """List sources with their location, format and table."""
    from icehouse.config import SourceConfig

    output = Output(format)
    with open_lake(home, output) as lake:
        sources = list(lake.config.sources.values())

        def render(console: Console) -> None:
            if not sources:
                console.print(
                    "No sources yet. Add one with `icehouse source add` or in icehouse.toml."
                )
                return
            rows = [
                [s.name, s.location, s.glob, s.format, s.table, s.on_success, _listing(s)]
                for s in sources
            ]
            print_grid(console, _LIST_GRID, rows)

        output.emit(
            [s.model_dump() for s in sources], render, columns=list(SourceConfig.model_fields)
        )


_LIST_GRID = (
    Column("source", Kind.WHOLE),
    Column("location", Kind.WHOLE),
    Column("glob", Kind.WHOLE, optional=1),
    Column("format", Kind.WHOLE),
    Column("table", Kind.WHOLE),
    Column("on success", Kind.WHOLE, optional=2),
    Column("listing", Kind.WHOLE, optional=3),
)


def _listing(source: SourceConfig) -> str:
    """How a poll lists the source: ``full``, or ``ordered`` with its full-listing pace."""
    if source.listing == "ordered":
        return f"ordered, full every {source.full_listing_every}"
    return source.listing


@app.command("show")
def show(
    name: SourceArgument, home: HomeOption = None, format: FormatOption = Format.table
) -> None:
    """Show one source's settings and mapping."""
    output = Output(format)
    with open_lake(home, output) as lake:
        source = lake.sources.get(name)
        output.emit(
            source.model_dump(),
            lambda c: c.print(source_toml(source), markup=False, highlight=False),
        )


def source_toml(source: SourceConfig) -> str:
    """The source as its ``[sources.NAME]`` table in icehouse.toml would read (defaults
    included, so that every setting in force is shown)."""
    import tomlkit

    settings = source.model_dump(exclude={"name"}, exclude_none=True)
    columns = settings.pop("columns", {})
    derive = settings.pop("derive", {})
    document = tomlkit.document()
    table = tomlkit.table()
    for key, value in settings.items():
        table[key] = value
    if derive:
        table["derive"] = derive
    if columns:
        mapping = tomlkit.table()
        for column, rule in columns.items():
            inline = tomlkit.inline_table()
            inline.update({k: v for k, v in rule.items() if v is not None})
            mapping[column] = inline
        table["columns"] = mapping
    document["sources"] = {source.name: table}
    return tomlkit.dumps(document).strip()


@app.command("test")
def test(
    name: SourceArgument,
    sample: Annotated[Path, typer.Option(help="A sample file to decode and map.")],
    limit: Annotated[int, typer.Option(help="Mapped rows to show.")] = 20,
    home: HomeOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Show the mapped rows and every error for a sample file, and what `ingest` would do
    with it (take its rows, or quarantine it whole and why); writes nothing."""
    output = Output(format)
    with open_lake(home, output) as lake:
        result = lake.sources.test(name, sample, limit=limit)
        data = {
            "rows": result.rows.to_pylist(),
            "total_rows": result.total_rows,
            "errors": [{"line": b.line, "reason": b.reason, "raw": b.raw} for b in result.bad],
            "unreadable": result.unreadable,
            "quarantined_whole": result.quarantined_whole,
            "verdict": result.verdict,
        }

        def render(console: Console) -> None:
            print_grid(
                console,
                [Column(name) for name in result.rows.column_names],
                [
                    ["" if v is None else str(v) for v in r.values()]
                    for r in result.rows.to_pylist()
                ],
                title=f"{result.total_rows:,} rows mapped (first {result.rows.num_rows})",
            )
            if result.unreadable:
                console.print(f"[red]file unreadable:[/red] {result.unreadable}")
            for bad in result.bad:
                console.print(
                    f"[yellow]line {bad.line}:[/yellow] {bad.reason}\n    {bad.raw[:200]}"
                )
            if not result.bad and not result.unreadable:
                console.print("[green]no errors[/green]")
            whole = result.unreadable or result.quarantined_whole
            console.print(f"[{'red' if whole else 'green'}]{escape(result.verdict)}[/]")

        output.emit(data, render, rows=result.rows)
        if output.is_csv:
            if result.unreadable:
                output.note(f"file unreadable: {escape(result.unreadable)}")
            for bad in result.bad:
                output.note(f"line {bad.line}: {escape(bad.reason)}")
            output.note(escape(result.verdict))


@app.command("remove")
def remove(
    name: SourceArgument,
    yes: YesOption = False,
    home: HomeOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Remove a source from icehouse.toml (the rest of the file stays as it is).

    Its ingestion ledger is kept, so adding it again does not ingest its committed files
    again. Refused while a worker has a batch of its files open."""
    output = Output(format)
    with open_lake(home, output) as lake:
        source = lake.sources.get(name)
        question = f"Remove source {name} (→ {source.table}) from {lake.config.config_path}?"
        confirm_or_stop(
            output, question, yes=yes, action=f"removing source {name}", declined="Nothing removed."
        )
        removed = lake.sources.remove(name)
        output.emit(
            removed.to_dict(),
            lambda c: c.print(
                f"Removed source [bold]{name}[/bold] from {removed.config_path}. Its ledger "
                f"({removed.ledger_files_kept:,} file{'' if removed.ledger_files_kept == 1 else 's'}) is kept: added again, it takes only "
                "files it has not committed. A running `icehouse ingest --follow` reads "
                "icehouse.toml when it starts: restart it."
            ),
        )
