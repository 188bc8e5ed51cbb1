"""``icehouse health``: a probe for whatever supervises icehouse (Kubernetes, systemd).

An ingest worker takes no requests, so nothing can ask it whether it works; but it
renews its writer slot's lease in the state database on every poll and during every
batch. A worker that hangs stops renewing, and its host then holds no current lease:
that is what ``--ingest-worker`` checks, from a second process on the same host (a
Kubernetes exec probe runs in the worker's own container, whose host name is the pod's).
"""

from __future__ import annotations

import socket
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from icehouse.cli.common import EXIT_ERROR, DocumentFormatOption, HomeOption, open_lake
from icehouse.cli.output import DocumentFormat, Output, iso


def health(
    home: HomeOption = None,
    ingest_worker: Annotated[
        bool,
        typer.Option(
            "--ingest-worker",
            help="Also require an `icehouse ingest` on this host to hold a writer slot whose "
            "lease is current (renewed every poll and during each batch): a liveness probe "
            "for a worker.",
        ),
    ] = False,
    format: DocumentFormatOption = DocumentFormat.table,
) -> None:
    """Exit 0 when this home can be used: icehouse.toml reads and the state database
    answers (a readiness probe). With --ingest-worker, only when an ingest worker on this
    host also holds a current writer-slot lease (a liveness probe). Exit 1, with the
    reason on stderr, otherwise."""
    output = Output(format)
    host = socket.gethostname()
    with open_lake(home, output) as lake:
        leases = lake.sources.workers() if ingest_worker else []
    now = time.time()
    mine = [lease for lease in leases if lease.host == host and lease.lease_until > now]
    if ingest_worker and not mine:
        held = ", ".join(
            f"{lease.writer_id} by {lease.owner} until {iso(lease.lease_until)}" for lease in leases
        )
        output.note(
            f"[red]Error:[/red] no ingest worker on {escape(host)} holds a current writer "
            f"slot lease (slots: {escape(held) or 'none'}); is `icehouse ingest --follow` "
            "running here, and is it stuck?"
        )
        raise typer.Exit(EXIT_ERROR)
    data = {
        "healthy": True,
        "host": host,
        "workers": [lease.to_dict() | {"lease_until": iso(lease.lease_until)} for lease in mine],
    }

    def render(console: Console) -> None:
        console.print("ok: icehouse.toml reads and the state database answers")
        for lease in mine:
            console.print(
                f"ok: ingest worker {lease.owner} holds writer slot {lease.writer_id} until "
                f"{iso(lease.lease_until)}"
            )

    output.emit(data, render)
