"""Asking before a command destroys something, and refusing when no one can answer."""

from __future__ import annotations

import sys

import typer

from icehouse.errors import ConfirmationRequired


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
