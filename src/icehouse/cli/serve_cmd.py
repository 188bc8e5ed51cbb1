"""``icehouse serve``: the lake as an Iceberg REST catalog, for PyIceberg, DuckDB, Spark
and Trino.

Identities and tokens are not served yet, so every client would act as the lake's
administrator: the server starts only with ``--allow-anonymous``, and only on a
loopback host, where nobody but this machine's users can reach it.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import sys
from typing import Annotated

import typer

from icehouse.cli.common import EXIT_USAGE, DocumentFormatOption, HomeOption, open_lake
from icehouse.cli.output import DocumentFormat, Output

DEFAULT_PORT = 8181


def serve(
    home: HomeOption = None,
    format: DocumentFormatOption = DocumentFormat.table,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = DEFAULT_PORT,
    allow_anonymous: Annotated[
        bool,
        typer.Option(
            "--allow-anonymous",
            help="Serve without authentication (every client is the lake's administrator); loopback hosts only.",
        ),
    ] = False,
) -> None:
    """Serve the lake's tables over the Iceberg REST catalog protocol."""
    output = Output(format)
    if not allow_anonymous:
        output.note(
            "[red]Error:[/red] icehouse serve has no identities or tokens yet, so every "
            "client would act as the lake's administrator. Re-run with --allow-anonymous "
            "to serve anyway (on a loopback host only)"
        )
        raise typer.Exit(EXIT_USAGE)
    if not is_loopback(host):
        output.note(
            f"[red]Error:[/red] --allow-anonymous serves without authentication, so only on "
            f"a loopback host (127.0.0.1, ::1 or localhost), not {host!r}"
        )
        raise typer.Exit(EXIT_USAGE)
    # Imported here, not at the top: every other command starts without loading a web stack.
    import uvicorn

    from icehouse.server import create_app

    with open_lake(home, output) as lake:
        url = f"http://{_url_host(host)}:{port}"
        connect = {"url": url, "anonymous": True, "pyiceberg": {"type": "rest", "uri": url}}
        output.emit(connect, lambda console: console.print(connect_text(url), markup=False))
        _log_requests_to_stderr()
        _stop_signals_exit_zero()
        uvicorn.run(create_app(lake), host=host, port=port, log_level="warning", access_log=False)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def connect_text(url: str) -> str:
    """What the terminal shows at start: the URL and how to connect PyIceberg."""
    return (
        f"Serving the Iceberg REST catalog at {url} (anonymous: no authentication)\n"
        "Connect with PyIceberg:\n\n"
        "    from pyiceberg.catalog import load_catalog\n"
        f'    catalog = load_catalog("icehouse", type="rest", uri="{url}")\n'
        "    print(catalog.list_namespaces())\n"
    )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _stop_signals_exit_zero() -> None:
    """uvicorn stops gracefully on SIGTERM and Ctrl-C, then raises the signal again
    against the handler it found: ignoring it there makes a requested stop exit 0, as
    every long-running icehouse command does."""
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, signal.SIG_IGN)


def _log_requests_to_stderr() -> None:
    """One line per request (method, route, status, milliseconds) on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
    logger = logging.getLogger("icehouse.server")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
