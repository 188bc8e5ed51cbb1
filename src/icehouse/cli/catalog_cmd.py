"""``icehouse catalog ...``: producer catalogs mounted into this one (federation), for
the server's administrators.

A mounted catalog's tables read as ``NAME.ns.table`` in ``icehouse sql``; the
producer's credential stays in this home (sealed: ``icehouse catalog list`` shows only
whether there is one).
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from icehouse.cli.common import (
    DocumentFormatOption,
    FormatOption,
    HomeOption,
    YesOption,
    open_lake,
)
from icehouse.cli.confirm import confirm_or_stop
from icehouse.cli.grid import Column, print_grid
from icehouse.cli.output import DocumentFormat, Format, Output, iso
from icehouse.client.credentials import parse_credential, read_credential_file
from icehouse.errors import InvalidInput

app = typer.Typer(help="Mount, list and unmount producer catalogs.", no_args_is_help=True)


class MountTypeChoice(StrEnum):
    rest = "rest"
    sql = "sql"


NameArgument = Annotated[
    str, typer.Argument(help="The mount's name: its tables read as NAME.namespace.table.")
]
_LIST_COLUMNS = ("name", "type", "uri", "warehouse", "credential", "created_at")


@app.command("mount")
def mount(
    name: NameArgument,
    type: Annotated[
        MountTypeChoice,
        typer.Option("--type", help="rest: an Iceberg REST catalog; sql: a PyIceberg SQL catalog."),
    ],
    uri: Annotated[
        str,
        typer.Option(
            "--uri",
            help="The REST catalog's URL, or the SQL database's URL (sqlite:///PATH, "
            "postgresql+psycopg://...).",
        ),
    ],
    credential: Annotated[
        str | None,
        typer.Option(
            "--credential",
            help="CLIENT_ID:SECRET the REST catalog knows this server by. Other users see "
            "it in `ps`: prefer --credential-file.",
            show_default=False,
        ),
    ] = None,
    credential_file: Annotated[
        Path | None,
        typer.Option(
            "--credential-file",
            help="A file holding the REST catalog's CLIENT_ID:SECRET, readable by you only.",
            show_default=False,
        ),
    ] = None,
    warehouse: Annotated[
        str | None,
        typer.Option(
            "--warehouse",
            help="The REST catalog's warehouse; for a SQL database holding several "
            "catalogs, the catalog's name.",
            show_default=False,
        ),
    ] = None,
    home: HomeOption = None,
    format: DocumentFormatOption = DocumentFormat.table,
) -> None:
    """Mount a producer catalog as NAME, after checking that it answers."""
    output = Output(format)
    with open_lake(home, output) as lake:
        if credential is not None and credential_file is not None:
            raise InvalidInput("give --credential or --credential-file, not both")
        found = None
        if credential is not None:
            found = parse_credential(credential, where="--credential")
        elif credential_file is not None:
            found = read_credential_file(credential_file)
        secret = None if found is None else f"{found.client_id}:{found.client_secret}"
        info = lake.catalogs.mount(
            name, type=type.value, uri=uri, credential=secret, warehouse=warehouse
        )
    message = (
        f"Mounted {info.type} catalog {info.uri} as {name}: its tables read as "
        f"{name}.namespace.table."
    )
    output.emit(
        {"name": name, "type": info.type, "uri": info.uri, "mounted": True},
        lambda c: c.print(message, markup=False),
    )


@app.command("list")
def list_mounts(home: HomeOption = None, format: FormatOption = Format.table) -> None:
    """List the mounted catalogs (never their credentials: only whether there is one)."""
    output = Output(format)
    with open_lake(home, output) as lake:
        found = lake.catalogs.list()
    data = [
        {
            "name": m.name,
            "type": m.type,
            "uri": m.uri,
            "warehouse": m.warehouse,
            "credential": "yes" if m.has_credential else "no",
            "created_at": iso(m.created_at),
        }
        for m in found
    ]

    def render(console: Console) -> None:
        if not found:
            console.print(
                "No catalogs mounted: `icehouse catalog mount NAME --type rest --uri URL` "
                "mounts one."
            )
            return
        rows = [[str(d[c] or "") for c in _LIST_COLUMNS] for d in data]
        print_grid(console, [Column(c) for c in _LIST_COLUMNS], rows)

    output.emit(data, render, columns=_LIST_COLUMNS)


@app.command("unmount")
def unmount(
    name: NameArgument,
    yes: YesOption = False,
    home: HomeOption = None,
    format: DocumentFormatOption = DocumentFormat.table,
) -> None:
    """Unmount a catalog: its tables are no longer read here; the producer keeps them."""
    output = Output(format)
    with open_lake(home, output) as lake:
        confirm_or_stop(
            output,
            f"Unmount catalog {name}?",
            yes=yes,
            action=f"unmounting {name}",
            declined="Nothing unmounted.",
        )
        lake.catalogs.unmount(name)
    output.emit({"name": name, "unmounted": True}, lambda c: c.print(f"Unmounted catalog {name}."))
