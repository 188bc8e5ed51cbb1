"""Shell completion of table and source names, read from the lake home being completed.

A completion runs on every Tab press, inside the user's shell: it must never print a
traceback there, so a home that cannot be opened simply completes nothing.
"""

from __future__ import annotations

from pathlib import Path

import typer

from icehouse.config import load_config, resolve_home
from icehouse.errors import IcehouseError


def _home(ctx: typer.Context) -> Path:
    """The home the command line names so far: the command's own ``--home``, else the
    one given before the subcommand, else ``$ICEHOUSE_HOME`` or ``./lake``."""
    given = ctx.params.get("home") or ctx.find_root().params.get("home")
    return resolve_home(given)


def table_names(ctx: typer.Context, incomplete: str) -> list[str]:
    """Tables of the home (namespace.table) starting with ``incomplete``."""
    from icehouse.lake import Lake  # opening a lake is only needed when completing

    try:
        with Lake.open(_home(ctx)) as lake:
            names = lake.tables.list()
    except IcehouseError:
        return []
    return [name for name in names if name.startswith(incomplete)]


def source_names(ctx: typer.Context, incomplete: str) -> list[str]:
    """Sources declared in the home's icehouse.toml starting with ``incomplete``."""
    try:
        sources = load_config(_home(ctx)).sources
    except IcehouseError:
        return []
    return [name for name in sources if name.startswith(incomplete)]
