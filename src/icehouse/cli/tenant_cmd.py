"""``icehouse tenant ...``: the tenants (accounts) a server hosts, for its administrators.

A tenant's principals are made with ``icehouse principal create NAME --tenant T``, its
administrators with ``GRANT ADMIN ON TENANT t TO PRINCIPAL p`` in ``icehouse sql``.
"""

from __future__ import annotations

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

app = typer.Typer(help="Create, list and drop tenants.", no_args_is_help=True)

NameArgument = Annotated[str, typer.Argument(help="The tenant's name.")]
_LIST_COLUMNS = ("name", "admins", "principals", "roles", "created_at")


@app.command("create")
def create(
    name: NameArgument, home: HomeOption = None, format: DocumentFormatOption = DocumentFormat.table
) -> None:
    """Create a tenant; then its first principal (`icehouse principal create NAME
    --tenant T`) and its administrator (GRANT ADMIN ON TENANT t TO PRINCIPAL p)."""
    output = Output(format)
    with open_lake(home, output) as lake:
        lake.tenants.create(name)
    message = (
        f"Created tenant {name}. Next: `icehouse principal create NAME --tenant {name}`, "
        f"then GRANT ADMIN ON TENANT {name} TO PRINCIPAL NAME in `icehouse sql`."
    )
    output.emit({"name": name, "created": True}, lambda c: c.print(message, markup=False))


@app.command("list")
def list_tenants(home: HomeOption = None, format: FormatOption = Format.table) -> None:
    """List the tenants, their administrators and how many principals and roles each has."""
    output = Output(format)
    with open_lake(home, output) as lake:
        found = lake.tenants.list()
    data = [
        {
            "name": t.name,
            "admins": list(t.admins),
            "principals": t.principals,
            "roles": t.roles,
            "created_at": iso(t.created_at),
        }
        for t in found
    ]

    def render(console: Console) -> None:
        if not found:
            console.print("No tenants yet: `icehouse tenant create NAME` makes one.")
            return
        rows = [
            [t.name, ", ".join(t.admins), str(t.principals), str(t.roles), iso(t.created_at) or ""]
            for t in found
        ]
        print_grid(console, [Column(c) for c in _LIST_COLUMNS], rows)

    output.emit(data, render, columns=_LIST_COLUMNS)


@app.command("drop")
def drop(
    name: NameArgument,
    yes: YesOption = False,
    home: HomeOption = None,
    format: DocumentFormatOption = DocumentFormat.table,
) -> None:
    """Drop an empty tenant; what was shared with it is revoked."""
    output = Output(format)
    with open_lake(home, output) as lake:
        confirm_or_stop(
            output,
            f"Drop tenant {name}?",
            yes=yes,
            action=f"dropping {name}",
            declined="Nothing dropped.",
        )
        lake.tenants.drop(name)
    output.emit({"name": name, "dropped": True}, lambda c: c.print(f"Dropped tenant {name}."))
