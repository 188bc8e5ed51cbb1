"""``icehouse sql``: DuckDB over the tables' current snapshots, one query or a shell."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from icehouse.cli.common import EXIT_ERROR, EXIT_USAGE, HomeOption, open_lake
from icehouse.cli.output import FileFormat, Format, Output, file_format_of, write_file
from icehouse.cli.remote import (
    CredentialFileOption,
    CredentialOption,
    Queries,
    ServerOption,
    open_server,
)
from icehouse.cli.render import render_arrow, render_plans


class SqlFormat(StrEnum):
    table = "table"
    csv = "csv"
    json = "json"
    jsonl = "jsonl"
    parquet = "parquet"


_EXTENSIONS = ", ".join(f".{f}" for f in FileFormat)


def _usage_error(output: Output, message: str) -> typer.Exit:
    output.note(f"[red]Error:[/red] {message}")
    return typer.Exit(EXIT_USAGE)


def _out_format(output: Output, out: Path, format: SqlFormat | None) -> FileFormat:
    """``--format`` when given, else the extension of ``--out``."""
    if format is None:
        chosen = file_format_of(out)
        if chosen is None:
            raise _usage_error(
                output,
                f"cannot tell the format of {out} from its extension; use one of {_EXTENSIONS} "
                "or give --format",
            )
        return chosen
    if format == SqlFormat.table:
        raise _usage_error(output, f"--format table is for the screen; --out writes {_EXTENSIONS}")
    return FileFormat(format.value)


@contextmanager
def _queries(
    home: Path | None,
    server: str | None,
    credential: str | None,
    credential_file: Path | None,
    output: Output,
) -> Iterator[Queries]:
    if server is None:
        if credential is not None or credential_file is not None:
            raise _usage_error(output, "--credential and --credential-file go with --server")
        with open_lake(home, output) as lake:
            yield lake
        return
    if home is not None:
        raise _usage_error(output, "--server runs the SQL on the server: leave out --home")
    with open_server(server, credential, credential_file, output) as remote:
        yield remote


def sql(
    ctx: typer.Context,
    query: Annotated[
        str | None,
        typer.Argument(help="SQL; name tables namespace.table. Leave out to start the shell."),
    ] = None,
    explain: Annotated[
        bool,
        typer.Option(
            "--explain",
            help="Also show, per table, the filter pushed into planning and the files and bytes read.",
        ),
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help=f"Write the rows to this file; its extension ({_EXTENSIONS}) or --format "
            "says how.",
            show_default=False,
        ),
    ] = None,
    home: HomeOption = None,
    format: Annotated[
        SqlFormat | None,
        typer.Option(
            "--format",
            "-f",
            help="table for people; json, jsonl (one row object per line) or csv for "
            "machines (stdout); with --out also parquet. Default: table, or the extension "
            "of --out.",
            show_default=False,
        ),
    ] = None,
    server: ServerOption = None,
    credential: CredentialOption = None,
    credential_file: CredentialFileOption = None,
) -> None:
    """Run SQL over the lake; with no query, start a SQL shell.

    One query prints a table, or with --format csv|json|jsonl CSV, a JSON array
    of row objects or one row object per line (with --explain: JSON has "plans"
    and "rows"; CSV and JSON lines have the rows, and the plans go to stderr);
    --out FILE writes the rows to a file (.parquet, .csv, .json, .jsonl):

        icehouse sql "SELECT country, count(*) AS n FROM logs.events GROUP BY 1"
        icehouse sql "SELECT * FROM logs.events" --out events.parquet

    Roles, grants, tags and data filters are SQL statements too (see
    docs/governance.md):

        icehouse sql "GRANT SELECT ON TABLE logs.events TO ROLE analysts"
        icehouse sql "SHOW GRANTS TO ROLE analysts"

    No query: a shell with history. Statements end with ; and may span lines;
    \\d lists tables, \\d logs.events describes one, \\? lists all commands.
    Piped, it runs each statement and stops at the first error (exit code 1):

        icehouse sql
        icehouse sql < report.sql

    --server URL runs the SQL on an `icehouse serve` as the principal of the
    credential ($ICEHOUSE_CREDENTIAL, or a file only you may read), with the
    same output:

        ICEHOUSE_CREDENTIAL=ID:SECRET icehouse sql --server http://127.0.0.1:8181 "SELECT 1"
    """
    if out is not None and _given_before_the_command(ctx, "format"):
        format = None  # `icehouse --format json sql ... --out x.parquet` writes Parquet
    on_screen: dict[SqlFormat | None, Format] = {
        SqlFormat.json: Format.json,
        SqlFormat.jsonl: Format.jsonl,
        SqlFormat.csv: Format.csv,
    }
    output = Output(on_screen.get(format, Format.table) if out is None else Format.table)
    if query is None:
        if out is not None or format is not None:
            raise _usage_error(output, "--out and --format need a query; the shell prints tables")
        with _queries(home, server, credential, credential_file, output) as queries:
            _shell(queries, output, explain=explain)
        return
    if out is None and format == SqlFormat.parquet:
        raise _usage_error(output, f"--format {format} needs --out FILE")
    out_format = _out_format(output, out, format) if out is not None else None
    with _queries(home, server, credential, credential_file, output) as queries:
        answer = queries.explain(query) if explain else None
        result = answer.table if answer is not None else queries.sql(query)
        if out is not None and out_format is not None:
            write_file(result, out, out_format)
            if answer is not None:
                render_plans(output.out, answer)
            rows = f"{result.num_rows:,} row{'' if result.num_rows == 1 else 's'}"
            output.note(f"Wrote {rows} to {out} ({out_format})")
            return
    if answer is not None:
        data: object = {"plans": [p.to_dict() for p in answer.plans], "rows": result.to_pylist()}
        if output.is_csv or output.format == Format.jsonl:
            # stdout holds only the rows, so that it parses line by line
            render_plans(output.err, answer)
            data = result.to_pylist()

        def render(console: Console) -> None:
            render_plans(console, answer)
            render_arrow(console, result)

        output.emit(data, render, rows=result)
        return
    # Python objects for JSON only: the table and CSV are drawn from the Arrow rows.
    objects = result.to_pylist() if output.is_json else None
    output.emit(objects, lambda c: render_arrow(c, result), rows=result)


def _given_before_the_command(ctx: typer.Context, name: str) -> bool:
    """Whether option ``name`` came from ``icehouse --name ...`` (see ``cli.root``)."""
    source = ctx.get_parameter_source(name)
    return source is not None and source.name == "DEFAULT_MAP"


def _shell(queries: Queries, output: Output, *, explain: bool) -> None:
    """A prompt on a terminal; a piped script is run statement by statement."""
    from icehouse.cli.shell import (  # prompt_toolkit: only the shell needs it
        Shell,
        history_file,
        prompt_session,
        run_interactive,
        run_script,
        table_columns,
    )
    from icehouse.cli.sql_complete import SqlCompleter

    shell = Shell(queries, output.out, output.err, explain=explain)
    if sys.stdin.isatty():
        completer = SqlCompleter(table_columns(queries))
        run_interactive(shell, prompt_session(history_file(queries), completer=completer))
    elif not run_script(shell, sys.stdin.read()):
        raise typer.Exit(EXIT_ERROR)
