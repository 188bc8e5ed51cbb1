"""The ``icehouse`` command: thin adapters over the ``Lake`` facade."""

from __future__ import annotations

import typer

from icehouse.cli import (
    catalog_cmd,
    demo_cmd,
    health_cmd,
    home_cmd,
    ingest_cmd,
    init_cmd,
    maintain_cmd,
    principal_cmd,
    quarantine_cmd,
    serve_cmd,
    sources,
    sql_cmd,
    tables,
    tenant_cmd,
    views_cmd,
)
from icehouse.cli.param_names import RootGroup
from icehouse.cli.root import root

app = typer.Typer(
    name="icehouse",
    cls=RootGroup,
    help="A streaming lakehouse: log files in, Apache Iceberg tables out, exactly once.\n\n"
    "--home and --format before a command apply to it unless it gives its own; "
    "the home is then $ICEHOUSE_HOME, else ./lake.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.callback()(root)
app.add_typer(tables.app, name="table")
app.add_typer(sources.app, name="source")
app.add_typer(quarantine_cmd.app, name="quarantine")
app.add_typer(maintain_cmd.app, name="maintain")
app.add_typer(home_cmd.app, name="home")
app.add_typer(views_cmd.app, name="view")
app.add_typer(principal_cmd.app, name="principal")
app.add_typer(tenant_cmd.app, name="tenant")
app.add_typer(catalog_cmd.app, name="catalog")
app.command("ingest")(ingest_cmd.ingest)
app.command("status")(ingest_cmd.status)
app.command("sql")(sql_cmd.sql)
app.command("demo")(demo_cmd.demo)
app.command("serve")(serve_cmd.serve)
app.command("init")(init_cmd.init)
app.command("health")(health_cmd.health)


def main() -> None:
    app()
