"""``icehouse home ...``: what to do with a lake home as a whole."""

from __future__ import annotations

import typer
from rich.console import Console

from icehouse.cli.common import FormatOption, HomeOption, errors_to_exit
from icehouse.cli.output import Format, Output

app = typer.Typer(help="Look after the lake home itself.", no_args_is_help=True)


@app.command("adopt")
def adopt(home: HomeOption = None, format: FormatOption = Format.table) -> None:
    """Make the state database this home's own, with this home's warehouse.

    A home copied with `cp -a` (or moved, or whose warehouse setting changed) is refused
    on open, because its catalog's tables live in another warehouse and working here
    could delete that home's files. Adopt only when that warehouse is no longer another
    home's (you changed `warehouse` on purpose, or the original is gone): tables created
    under the old warehouse are still read from there, and maintenance never deletes
    files outside this home's warehouse."""
    from icehouse.config import resolve_home
    from icehouse.lake import Lake

    output = Output(format)
    target = resolve_home(home)
    with errors_to_exit(output):
        previous = Lake.adopt(target)
    data = {
        "home": str(target),
        "previous_home": previous.home if previous else None,
        "previous_warehouse": previous.warehouse if previous else None,
    }

    def render(console: Console) -> None:
        if previous is None:
            console.print(f"{target}: adopted its state database.")
        else:
            console.print(
                f"{target}: adopted the state database of {previous.home} "
                f"(warehouse {previous.warehouse}); maintenance here deletes nothing "
                "outside this home's warehouse."
            )

    output.emit(data, render)
