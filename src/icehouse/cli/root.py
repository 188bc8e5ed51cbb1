"""What ``icehouse`` itself takes before a subcommand.

``icehouse --home PATH --format json status`` gives ``--home`` and ``--format`` to the
subcommand as click defaults (its ``default_map``), so the precedence is click's own:
the subcommand's own option wins, then the one given before it, then ``$ICEHOUSE_HOME``
(for the home), then the built-in default. A ``--format`` the subcommand does not offer
is click's usage error naming its choices.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from icehouse import __version__
from icehouse.cli.output import Format


def _defaults_for(command: Any, given: dict[str, str]) -> dict[str, Any]:
    """A click ``default_map`` giving ``given`` to every command (of Typer's own copy of
    click) that has such options."""
    if isinstance(command, TyperGroup):
        return {name: _defaults_for(sub, given) for name, sub in command.commands.items()}
    names = {param.name for param in command.params}
    return {key: value for key, value in given.items() if key in names}


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"icehouse {__version__}")
        raise typer.Exit()


def root(
    ctx: typer.Context,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            help="Lake home folder for the command that follows; its own --home wins, and "
            "this one wins over $ICEHOUSE_HOME (else ./lake).",
            show_default=False,
        ),
    ] = None,
    format: Annotated[
        Format | None,
        typer.Option(
            "--format",
            "-f",
            help="Output format for the command that follows, unless it gives its own.",
            show_default=False,
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version."
        ),
    ] = False,
) -> None:
    """A streaming lakehouse: log files in, Apache Iceberg tables out, exactly once."""
    given = {"home": str(home)} if home is not None else {}
    if format is not None:
        given["format"] = format.value
    if given:
        ctx.default_map = _defaults_for(ctx.command, given)
