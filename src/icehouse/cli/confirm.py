"""Asking before a command destroys something, and refusing when no one can answer."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import typer

from icehouse.errors import ConfirmationRequired

if TYPE_CHECKING:
    from icehouse.cli.output import Output


def confirm(question: str, *, yes: bool, action: str) -> bool:
    """True when ``--yes`` was given or the person at the terminal agrees.

    Raises:
        ConfirmationRequired: no ``--yes`` and stdin is not a terminal (a script, a pipe,
            a CI job): guessing either way would be wrong, so the message says to pass
            ``--yes``.
    """
    if yes:
        return True
    if not sys.stdin.isatty():
        raise ConfirmationRequired(
            f"{action} needs confirmation and there is no terminal to ask on; "
            "pass --yes to confirm",
            action=action,
        )
    return typer.confirm(question, default=False)


def confirm_or_stop(
    output: Output, question: str, *, yes: bool, action: str, declined: str
) -> None:
    """Go on when ``confirm`` agrees; else say ``declined`` ("Nothing dropped.") and exit
    1, so that a script can tell that nothing happened.

    Raises:
        typer.Exit: declined. ConfirmationRequired: as ``confirm``.
    """
    if not confirm(question, yes=yes, action=action):
        output.note(declined)
        raise typer.Exit(1)
