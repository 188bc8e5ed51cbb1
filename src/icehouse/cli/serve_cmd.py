"""``icehouse serve``: the lake as an Iceberg REST catalog, for PyIceberg, DuckDB, Spark
and Trino.

Clients authenticate as principals (``icehouse principal create``): OAuth2 client
credentials at ``/v1/oauth/tokens`` give them a bearer token, and every request acts as
its principal. ``--allow-anonymous`` lets a request without a token act as the lake's
administrator, so it is refused on any host but a loopback one, where nobody but this
machine's users can reach the server.
"""

from __future__ import annotations

import os
import signal
from typing import Annotated, Any

import typer

from icehouse.addresses import is_loopback
from icehouse.cli.common import EXIT_USAGE, DocumentFormatOption, HomeOption, open_lake
from icehouse.cli.output import DocumentFormat, Output
from icehouse.durations import parse_duration
from icehouse.errors import InvalidDuration

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
            help="A request without a token acts as the lake's administrator; loopback hosts only.",
        ),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Worker processes answering requests (each opens the lake; all share its "
            "state database).",
        ),
    ] = 1,
    audit_export_every: Annotated[
        str,
        typer.Option(help="Time between exports of the audit trail into icehouse_system.audit."),
    ] = "10s",
) -> None:
    """Serve the lake's tables over the Iceberg REST catalog protocol."""
    output = Output(format)
    try:
        export_every = parse_duration(audit_export_every).total_seconds()
    except InvalidDuration as exc:
        output.note(f"[red]Error:[/red] --audit-export-every: {exc.message}")
        raise typer.Exit(EXIT_USAGE) from None
    if allow_anonymous and not is_loopback(host):
        output.note(
            f"[red]Error:[/red] --allow-anonymous serves without authentication, so only on "
            f"a loopback host (127.0.0.1, ::1 or localhost), not {host!r}"
        )
        raise typer.Exit(EXIT_USAGE)
    # Imported here, not at the top: every other command starts without loading a web stack.
    import uvicorn

    from icehouse.server.app import PREFIX
    from icehouse.server.factory import serve_environment

    with open_lake(home, output) as lake:  # checked here, where a bad home is reported
        served_home = str(lake.home)
    os.environ.update(
        serve_environment(
            served_home,
            prefix=PREFIX,
            allow_anonymous=allow_anonymous,
            audit_export_every=export_every,
        )
    )
    url = f"http://{_url_host(host)}:{port}"
    pyiceberg = {"type": "rest", "uri": url}
    if not allow_anonymous:
        pyiceberg["credential"] = "CLIENT_ID:CLIENT_SECRET"
        pyiceberg["oauth2-server-uri"] = f"{url}/v1/oauth/tokens"
    connect = {"url": url, "anonymous": allow_anonymous, "pyiceberg": pyiceberg}
    text = connect_text(url, anonymous=allow_anonymous)
    output.emit(connect, lambda console: console.print(text, markup=False))
    _stop_signals_exit_zero()
    uvicorn.run(
        "icehouse.server.factory:app",
        factory=True,
        workers=workers,
        host=host,
        port=port,
        log_config=LOG_CONFIG,
        access_log=False,
    )


def connect_text(url: str, *, anonymous: bool) -> str:
    """What the terminal shows at start: the URL and how to connect PyIceberg."""
    if anonymous:
        return (
            f"Serving the Iceberg REST catalog at {url} (anonymous: a request without a "
            "token acts as the administrator)\n"
            "Connect with PyIceberg:\n\n"
            "    from pyiceberg.catalog import load_catalog\n"
            f'    catalog = load_catalog("icehouse", type="rest", uri="{url}")\n'
            "    print(catalog.list_namespaces())\n"
        )
    return (
        f"Serving the Iceberg REST catalog at {url} (bearer tokens required)\n"
        "Create a principal with `icehouse principal create NAME --admin`, then connect "
        "with PyIceberg:\n\n"
        "    from pyiceberg.catalog import load_catalog\n"
        f'    catalog = load_catalog("icehouse", type="rest", uri="{url}",\n'
        '                           credential="CLIENT_ID:CLIENT_SECRET",\n'
        f'                           **{{"oauth2-server-uri": "{url}/v1/oauth/tokens"}})\n'
        "    print(catalog.list_namespaces())\n"
    )


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _stop_signals_exit_zero() -> None:
    """uvicorn stops gracefully on SIGTERM and Ctrl-C, then raises the signal again
    against the handler it found: ignoring it there makes a requested stop exit 0, as
    every long-running icehouse command does. (With several workers, uvicorn's
    supervisor handles both signals itself: it stops every worker and returns.)"""
    for stop in (signal.SIGTERM, signal.SIGINT):
        signal.signal(stop, signal.SIG_IGN)


LOG_CONFIG: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"request": {"format": "%(asctime)s %(message)s"}},
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "formatter": "request",
            "stream": "ext://sys.stderr",
        }
    },
    "loggers": {
        "icehouse.server": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
        "uvicorn": {"handlers": ["stderr"], "level": "WARNING", "propagate": False},
    },
}
"""Logging as uvicorn sets it up in every worker process: one line per request (the
principal, method, route, status, milliseconds) and uvicorn's own warnings, on stderr."""
