"""``icehouse quarantine ...``: what was set aside, why, and replaying it."""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from icehouse.cli.common import FormatOption, HomeOption, open_lake
from icehouse.cli.complete import source_names
from icehouse.cli.grid import Column, Kind, print_grid
from icehouse.cli.output import Format, Output, iso

app = typer.Typer(help="Inspect and replay quarantined files and lines.", no_args_is_help=True)

_RECORD_COLUMNS = (
    "id", "source", "path", "kind", "line", "reason", "raw", "created_at", "replayed_at",
)  # fmt: skip
"""A quarantine record's keys: the CSV header of ``quarantine list``, also when empty."""


class RecordKind(StrEnum):
    file = "file"
    line = "line"


@app.command("list")
def list_records(
    source: Annotated[
        str | None, typer.Option(help="Only this source.", autocompletion=source_names)
    ] = None,
    kind: Annotated[
        RecordKind | None, typer.Option(help="Only whole files (file) or single lines (line).")
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Include replayed records.")] = False,
    limit: Annotated[int, typer.Option(help="At most this many records.")] = 100,
    home: HomeOption = None,
    format: FormatOption = Format.table,
) -> None:
    """List quarantined records: source file, line, reason."""
    output = Output(format)
    with open_lake(home, output) as lake:
        records = lake.quarantine.list(
            source=source, kind=kind.value if kind else None, include_replayed=all_, limit=limit
        )
        data = [
            r.to_dict() | {"created_at": iso(r.created_at), "replayed_at": iso(r.replayed_at)}
            for r in records
        ]

        def render(console: Console) -> None:
            if not records:
                filters = [f"{k} {v}" for k, v in (("source", source), ("kind", kind)) if v]
                console.print(
                    f"No quarantined records of {' and '.join(filters)}."
                    if filters
                    else "The quarantine is empty."
                )
                return
            rows = [
                [
                    str(r.id),
                    r.source,
                    r.kind,
                    r.path.rsplit("/", 1)[-1],
                    "" if r.line is None else str(r.line),
                    shorten(r.reason, 120),
                ]
                for r in records
            ]
            print_grid(console, _LIST_GRID, rows)

        output.emit(data, render, columns=_RECORD_COLUMNS)


_LIST_GRID = (
    Column("id", Kind.NUMBER),  # copied into quarantine show
    Column("source", Kind.WHOLE),
    Column("kind", Kind.WHOLE, optional=1),
    Column("file", Kind.WHOLE),
    Column("line", Kind.NUMBER),
    Column("reason"),
)


def shorten(text: str, width: int) -> str:
    """``text`` cut at a word boundary to at most ``width`` characters, with "…" when cut
    (``quarantine show`` has the whole reason)."""
    if len(text) <= width:
        return text
    cut = text[: width - 1].rsplit(" ", 1)[0] if " " in text[: width - 1] else text[: width - 1]
    return cut.rstrip(" ,;:") + "…"


@app.command("show")
def show(record_id: int, home: HomeOption = None, format: FormatOption = Format.table) -> None:
    """One record in full, with its raw text (NUL, control bytes and bytes that are not
    UTF-8 shown as \\xNN; `quarantine replay` reads the line from its file again)."""
    output = Output(format)
    with open_lake(home, output) as lake:
        r = lake.quarantine.show(record_id)
        data = r.to_dict() | {"created_at": iso(r.created_at), "replayed_at": iso(r.replayed_at)}
        output.emit(
            data,
            lambda c: c.print(
                f"[bold]#{r.id}[/bold] {r.kind} from source {escape(r.source)}\n"
                f"file: {escape(r.path)}\nline: {r.line}\nreason: {escape(r.reason)}\n"
                f"quarantined: {iso(r.created_at)}\nraw:\n{escape(r.raw or '')}"
            ),
        )


@app.command("replay")
def replay(
    source: Annotated[
        str | None, typer.Option(help="Only files of this source.", autocompletion=source_names)
    ] = None,
    path: Annotated[str | None, typer.Option(help="Only this file.")] = None,
    home: HomeOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Queue quarantined files and lines again (after fixing the mapping); run `icehouse ingest` next."""
    output = Output(format)
    with open_lake(home, output) as lake:
        queued = lake.quarantine.replay(source=source, path=path)
        output.emit(
            {"queued_files": queued.files, "queued_lines": queued.lines},
            lambda c: c.print(
                f"Queued {queued.files} file(s) and {queued.lines} line(s) again; "
                f"run `icehouse ingest --home {lake.home}` to ingest them."
            ),
        )
