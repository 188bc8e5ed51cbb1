"""``icehouse principal ...``: who may use the lake through ``icehouse serve``.

A principal's secret is printed once, by ``create`` and ``rotate``; the lake keeps only
its hash, so a lost secret is replaced (``rotate``), never shown again.
"""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

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
from icehouse.cli.output import DocumentFormat, Format, Output, counted, iso

if TYPE_CHECKING:
    from icehouse.lake.principals import Credentials

app = typer.Typer(help="Create and manage the principals the server serves.", no_args_is_help=True)

NameArgument = Annotated[str, typer.Argument(help="The principal's name.")]
_LIST_COLUMNS = ("name", "kind", "client_id", "admin", "created_at", "rotated_at", "tenant")


class Kind(StrEnum):
    service = "service"
    user = "user"


@app.command("create")
def create(
    name: NameArgument,
    admin: Annotated[
        bool, typer.Option("--admin", help="May do everything (for now the only grant).")
    ] = False,
    kind: Annotated[Kind, typer.Option(help="A service (a program) or a user.")] = Kind.service,
    tenant: Annotated[
        str | None,
        typer.Option(help="The tenant it belongs to (default: the server's own)."),
    ] = None,
    trusted_engine: Annotated[
        bool,
        typer.Option(
            "--trusted-engine",
            help="A service that applies the read restrictions a filtered table is handed "
            "with (kind engine): only for an engine that does, e.g. icehouse's own reader.",
        ),
    ] = False,
    home: HomeOption = None,
    format: DocumentFormatOption = DocumentFormat.table,
) -> None:
    """Create a principal and print its client id and secret (shown this once)."""
    output = Output(format)
    if trusted_engine and kind is not Kind.service:
        raise typer.BadParameter(
            "a trusted engine is a service: leave out --kind", param_hint="--trusted-engine"
        )
    with open_lake(home, output) as lake:
        kind_name = "engine" if trusted_engine else kind.value
        if tenant is None:
            credentials = lake.principals.create(name, admin=admin, kind=kind_name)
        elif admin:
            raise typer.BadParameter(
                f"a principal of tenant {tenant} cannot administer the server; make it the "
                f"tenant's administrator with GRANT ADMIN ON TENANT {tenant} TO PRINCIPAL {name}",
                param_hint="--admin",
            )
        else:
            credentials = lake.tenants.create_principal(tenant, name, kind=kind_name)
    _emit_credentials(output, credentials, done="Created")


@app.command("list")
def list_principals(home: HomeOption = None, format: FormatOption = Format.table) -> None:
    """List the principals (never their secrets)."""
    output = Output(format)
    with open_lake(home, output) as lake:
        found = lake.principals.list()
    data = [
        p.to_dict() | {"created_at": iso(p.created_at), "rotated_at": iso(p.rotated_at)}
        for p in found
    ]

    def render(console: Console) -> None:
        if not found:
            console.print("No principals yet: `icehouse principal create NAME` makes one.")
            return
        rows = [
            [
                p.name,
                p.kind,
                p.client_id,
                "yes" if p.admin else "no",
                p.tenant or "",
                iso(p.created_at) or "",
            ]
            for p in found
        ]
        names = ("name", "kind", "client_id", "admin", "tenant", "created_at")
        columns = [Column(c) for c in names]
        print_grid(console, columns, rows)

    output.emit(data, render, columns=_LIST_COLUMNS)


@app.command("rotate")
def rotate(
    name: NameArgument, home: HomeOption = None, format: DocumentFormatOption = DocumentFormat.table
) -> None:
    """Give a principal a new secret: the old one and every token it got stop working."""
    output = Output(format)
    with open_lake(home, output) as lake:
        credentials = lake.principals.rotate(name)
    _emit_credentials(output, credentials, done="Rotated the secret of")


@app.command("revoke")
def revoke(
    name: NameArgument, home: HomeOption = None, format: DocumentFormatOption = DocumentFormat.table
) -> None:
    """Revoke every bearer token of a principal (its secret still gets new ones)."""
    output = Output(format)
    with open_lake(home, output) as lake:
        revoked = lake.principals.revoke_tokens(name)
    message = f"Revoked {counted(revoked, 'token')} of {name}."
    output.emit({"name": name, "tokens_revoked": revoked}, lambda c: c.print(message))


@app.command("delete")
def delete(
    name: NameArgument,
    yes: YesOption = False,
    home: HomeOption = None,
    format: DocumentFormatOption = DocumentFormat.table,
) -> None:
    """Delete a principal; its tokens stop working at once."""
    output = Output(format)
    with open_lake(home, output) as lake:
        confirm_or_stop(
            output,
            f"Delete principal {name}?",
            yes=yes,
            action=f"deleting {name}",
            declined="Nothing deleted.",
        )
        tokens = lake.principals.delete(name)
    message = f"Deleted principal {name} and its {counted(tokens, 'token')}."
    output.emit({"name": name, "tokens_deleted": tokens}, lambda c: c.print(message))


def _emit_credentials(output: Output, credentials: Credentials, *, done: str) -> None:
    def render(console: Console) -> None:
        console.print(
            f"{done} principal {credentials.name}.\n"
            f"client_id:     {credentials.client_id}\n"
            f"client_secret: {credentials.client_secret}\n\n"
            "The secret is shown this once. Connect with "
            f'credential="{credentials.client_id}:{credentials.client_secret}".',
            markup=False,
        )

    output.emit(credentials.to_dict(), render)
