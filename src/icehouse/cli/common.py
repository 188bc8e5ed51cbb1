"""Shared CLI plumbing: finding the home, opening the Lake, turning errors into exits.

Exit codes (for supervisors such as systemd or Kubernetes):

====  ==============================================================
0     success, including ``ingest --follow`` stopped by SIGTERM/Ctrl-C
1     a user-facing error (bad input, missing table, query error, the state
      database or object store unreachable by a one-shot command ...)
2     command-line usage error
3     no lake home where one was expected
4     the state database is newer than this icehouse
86    a crash injected with ICEHOUSE_FAULT (tests only)
====  ==============================================================
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from icehouse.cli.complete import source_names, table_names
from icehouse.cli.output import DocumentFormat, Format, Output
from icehouse.errors import HomeNotFound, IcehouseError, InvalidInput, StateError
from icehouse.ingest.faults import faults_from_env

if TYPE_CHECKING:
    from icehouse.lake import Lake

EXIT_ERROR, EXIT_USAGE, EXIT_NO_HOME, EXIT_STATE = 1, 2, 3, 4

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        help="Lake home folder (wins over `icehouse --home`; default: $ICEHOUSE_HOME, "
        "else ./lake).",
        show_default=False,
    ),
]
TableArgument = Annotated[
    str,
    typer.Argument(help="namespace.table, e.g. logs.requests", autocompletion=table_names),
]
SourceArgument = Annotated[
    str, typer.Argument(help="The source's name.", autocompletion=source_names)
]
YesOption = Annotated[
    bool, typer.Option("--yes", "-y", help="Do not ask for confirmation (needed in scripts).")
]
"""The confirmation of a command that destroys something (see ``cli.confirm``)."""

FormatOption = Annotated[
    Format,
    typer.Option(
        "--format",
        "-f",
        help="table for people; json, jsonl (one object per line) or csv (header and rows) "
        "for machines.",
    ),
]
DocumentFormatOption = Annotated[
    DocumentFormat,
    typer.Option(
        "--format",
        "-f",
        help="table for people; json or jsonl (one document per line) for machines (stdout).",
    ),
]


def fail(output: Output, exc: IcehouseError) -> typer.Exit:
    output.note(f"[red]Error:[/red] {escape(exc.message)}")  # a message may hold [brackets]
    if isinstance(exc, HomeNotFound):
        return typer.Exit(EXIT_NO_HOME)
    if isinstance(exc, StateError):
        return typer.Exit(EXIT_STATE)
    return typer.Exit(EXIT_ERROR)


@contextmanager
def open_lake(
    home: Path | None, output: Output, *, waiting_until: threading.Event | None = None
) -> Iterator[Lake]:
    """Open the lake and report IcehouseErrors as ``Error: ...`` on stderr with an exit
    code; any other exception is a bug and keeps its traceback.

    Long-running commands pass ``waiting_until`` (their stop event): a state database or
    object store that does not answer yet is waited for, as an outage later would be,
    instead of ending the command (stopping meanwhile exits 0)."""
    from icehouse.config import resolve_home  # pydantic and SQLAlchemy: not for --help
    from icehouse.lake import Lake
    from icehouse.resilience import keep_running

    try:
        if waiting_until is None:
            lake = Lake.open(resolve_home(home), faults=faults_from_env())
        else:
            opened = keep_running(
                lambda _working: Lake.open(resolve_home(home), faults=faults_from_env()),
                stop=waiting_until,
                say=say_to(output),
            )
            if opened is None:  # stopped before the services came back
                raise typer.Exit(0)
            lake = opened
    except IcehouseError as exc:
        raise fail(output, exc) from None
    try:
        with lake.outages_as_errors():
            yield lake
    except IcehouseError as exc:
        raise fail(output, exc) from None
    finally:
        lake.close()


def say_to(output: Output) -> Callable[[str], None]:
    """Where long-running commands say that they pause for an outage: one stderr line."""
    return lambda message: output.note(f"[yellow]{escape(message)}[/yellow]")


@contextmanager
def errors_to_exit(output: Output) -> Iterator[None]:
    try:
        yield
    except IcehouseError as exc:
        raise fail(output, exc) from None


def install_stop_handlers(stop: threading.Event, output: Output, *, doing: str) -> None:
    """SIGTERM and Ctrl-C set ``stop`` so that long work finishes ``doing`` cleanly and
    exits 0; a second signal gives up at once (nothing is half-committed either way)."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        output.note(f"received {signal.Signals(signum).name}: finishing {doing}…")
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def parse_pairs(values: list[str], what: str, sep: str = "=") -> list[tuple[str, str]]:
    """``KEY=VALUE`` (or ``NAME:TYPE``) option values as pairs.

    Raises:
        InvalidInput: a value without the separator or with an empty key.
    """
    pairs = []
    for value in values:
        key, found, rest = value.partition(sep)
        if not found or not key.strip():
            raise InvalidInput(f"{what} must be written KEY{sep}VALUE, got {value!r}")
        pairs.append((key.strip(), rest.strip()))
    return pairs
