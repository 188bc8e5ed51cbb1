"""``icehouse ingest`` and ``icehouse status``."""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.markup import escape

from icehouse.cli.common import (
    FormatOption,
    HomeOption,
    install_stop_handlers,
    open_lake,
    say_to,
)
from icehouse.cli.complete import source_names
from icehouse.cli.grid import Column, Kind, print_grid
from icehouse.cli.output import Format, Output, counted, iso, size_text
from icehouse.ingest.report import IngestReport, NoProgress

if TYPE_CHECKING:
    from icehouse.lake import Lake


class RichIngestProgress(NoProgress):
    """Files, rows and MB/s on a terminal (stderr). When stderr is not a terminal
    (systemd, a container, a pipe) and ``log_commits``, one plain line per commit instead,
    so that logs show progress."""

    def __init__(self, console: Console, *, log_commits: bool = False) -> None:
        from rich.progress import (  # rich.live and spinners: only when a command ingests
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self._console = console
        self._log_commits = log_commits and not console.is_terminal
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rows]:,} rows · {task.fields[mbs]:.1f} MB/s"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            disable=not console.is_terminal,
        )
        self._task = self._progress.add_task("ingest", total=None, rows=0, mbs=0.0)
        self._files = self._rows = self._bytes = 0

    def __enter__(self) -> RichIngestProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def file_started(self, source: str, path: str, size: int) -> None:
        self._bytes += size
        self._progress.update(self._task, description=source)

    def batch_committed(
        self, table: str, rows: int, files: int, seconds: float, lag: float | None
    ) -> None:
        if self._log_commits:
            behind = "" if lag is None else f", {lag:.1f} s after its oldest file landed"
            self._console.print(
                f"{iso(time.time())} committed {rows:,} rows to {table} in {files} data "
                f"file(s){behind}",
                markup=False,
                highlight=False,
            )

    def file_finished(self, source: str, path: str, rows: int, bad_rows: int, outcome: str) -> None:
        self._files += 1
        self._rows += rows
        elapsed = self._progress.tasks[0].elapsed or 1e-9
        self._progress.update(
            self._task, completed=self._files, rows=self._rows, mbs=self._bytes / 1e6 / elapsed
        )


def ingest(
    sources: Annotated[
        list[str] | None,
        typer.Argument(help="Sources to ingest (default: all).", autocompletion=source_names),
    ] = None,
    once: Annotated[
        bool,
        typer.Option(
            "--once/--follow",
            help="--once: ingest what has landed and exit (default). --follow: keep watching until SIGTERM/Ctrl-C.",
        ),
    ] = True,
    home: HomeOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Ingest landed files into their tables, exactly once.

    With --follow, a restart of the state database or an object store that does not
    answer pauses ingestion (one line on stderr when it starts, one when it ends) and
    it goes on, also when they are down as it starts; with --once it ends with exit
    status 1 and a one-line error.

    Exit status: 0 when done or stopped by SIGTERM/Ctrl-C (the current batch is
    committed or abandoned cleanly), 1 on an error, 3 without a lake home.
    """
    output = Output(format)
    stop = threading.Event()
    install_stop_handlers(stop, output, doing="the current batch")
    waiting = None if once else stop
    with (
        open_lake(home, output, waiting_until=waiting) as lake,
        RichIngestProgress(output.err, log_commits=not once) as progress,
    ):
        warn_missing_landings(lake, output, sources or None)
        if not once:
            say_watching(lake, output, sources or None)
        report = lake.ingest(
            sources or None, follow=not once, progress=progress, stop=stop, say=say_to(output)
        )
    output.emit(report.to_dict(), lambda c: render_report(c, report))


def render_report(console: Console, report: IngestReport) -> None:
    quarantined = (
        f" ({report.quarantined_files} quarantined whole)" if report.quarantined_files else ""
    )
    console.print(
        f"Ingested [bold]{report.rows:,}[/bold] {'row' if report.rows == 1 else 'rows'} from "
        f"{counted(report.files, 'file')}{quarantined} in {counted(report.batches, 'commit')}, "
        f"{report.seconds:.1f} s ({report.rows_per_second:,.0f} rows/s); "
        f"{counted(report.data_files, 'data file')}, {size_text(report.bytes_written)} written."
    )
    details = []
    if report.late_rows:
        details.append(
            f"{report.late_rows:,} late rows (event time before what their source had "
            "committed, minus its late_after)"
        )
    if report.bad_rows:
        details.append(f"{report.bad_rows:,} bad lines quarantined")
    if report.duplicate_files:
        details.append(f"{report.duplicate_files} duplicates (content already ingested) skipped")
    if report.recopied_files:
        details.append(f"{report.recopied_files} re-copies (same path, same content) skipped")
    if report.appended_files:
        details.append(f"{report.appended_files} grown files: only their new lines taken")
    if report.changed_files:
        details.append(
            f"{report.changed_files} changed files (same path, other content) handled per "
            "on_change; see `icehouse quarantine list`"
        )
    if report.columns_added:
        details.append(f"new columns from unknown fields: {', '.join(report.columns_added)}")
    if report.recovered_committed or report.recovered_aborted:
        details.append(
            f"recovered {report.recovered_committed} committed and "
            f"{report.recovered_aborted} abandoned batch(es) of an earlier run"
        )
    for line in details:
        console.print(f"  · {line}")


_STATUS_COLUMNS = (
    "source", "table", "files_pending", "oldest_pending_age_s", "files_committed",
    "rows_committed", "files_quarantined", "lines_quarantined", "files_duplicate",
    "files_recopied", "files_appended", "files_changed", "last_commit_at",
    "rows_last_hour", "batches_written", "committer",
)  # fmt: skip
"""A source status's keys: the CSV header of ``status``, also with no sources."""


def say_watching(lake: Lake, output: Output, names: list[str] | None) -> None:
    """``--follow`` says what it watches and how to stop it (on stderr)."""
    chosen = [lake.sources.get(n) for n in names] if names else lake.sources.list()
    for source in chosen:
        output.note(
            f"Watching {escape(source.location)} ({escape(source.glob)}, source "
            f"{escape(source.name)}) → {escape(source.table)}"
        )
    output.note("Ctrl-C or SIGTERM stops after the current batch.")


def warn_missing_landings(lake: Lake, output: Output, names: list[str] | None = None) -> None:
    """One stderr line per source whose landing folder does not exist: a typo there
    otherwise reads as "0 files" with exit 0."""
    for source in lake.sources.missing_landings(names):
        output.note(
            f"[yellow]Warning:[/yellow] source {escape(source.name)}: landing folder "
            f"{escape(str(source.local_location))} does not exist; nothing is ingested from it"
        )


_STATUS_GRID = (
    Column("source", Kind.WHOLE),
    Column("table", Kind.WHOLE, optional=1),
    Column("pending", Kind.NUMBER),
    Column("oldest pending", Kind.NUMBER, optional=3),
    Column("committed files", Kind.NUMBER, optional=4),
    Column("rows", Kind.NUMBER),
    Column("last commit", Kind.WHOLE, optional=2),
    Column("rows (last hour)", Kind.NUMBER, optional=5),
    Column("quarantined files/lines", Kind.NUMBER, optional=6),
    Column("dup/re-copy/append/change", Kind.NUMBER, optional=7),
    Column("written batches", Kind.NUMBER, optional=8),
    Column("committer", Kind.WHOLE, optional=9),
)
"""A narrow terminal keeps the source, what is pending and the rows committed; of the
rest it shows first the table (also in `source list`), then the last commit."""


def status(home: HomeOption = None, format: FormatOption = Format.table) -> None:
    """Per source: files pending, oldest pending age, last commit, rows/s, quarantined,
    and re-deliveries: duplicates (content already ingested), re-copies (same path, same
    content), appends (grown files) and changes (same path, other content); batches
    written and waiting for the table's committer, and which process commits it."""
    output = Output(format)
    with open_lake(home, output) as lake:
        warn_missing_landings(lake, output)
        rows = lake.sources.status()
        data = [r.to_dict() | {"last_commit_at": iso(r.last_commit_at)} for r in rows]

        def render(console: Console) -> None:
            if not rows:
                console.print("No sources yet. Add one with `icehouse source add`.")
                return
            cells = [
                [
                    r.source,
                    r.table,
                    str(r.files_pending),
                    f"{r.oldest_pending_age_s:.0f} s"
                    if r.oldest_pending_age_s is not None
                    else "-",
                    str(r.files_committed),
                    f"{r.rows_committed:,}",
                    iso(r.last_commit_at) or "-",
                    f"{r.rows_last_hour:,}",
                    f"{r.files_quarantined}/{r.lines_quarantined}",
                    f"{r.files_duplicate}/{r.files_recopied}/{r.files_appended}/{r.files_changed}",
                    str(r.batches_written),
                    r.committer or "-",
                ]
                for r in rows
            ]
            print_grid(console, _STATUS_GRID, cells)

        output.emit(data, render, columns=_STATUS_COLUMNS)
