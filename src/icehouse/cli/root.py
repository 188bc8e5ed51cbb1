"""What ``icehouse`` itself takes before a subcommand, and how every command's help
names its values.

``icehouse --home PATH --format json status`` gives ``--home`` and ``--format`` to the
subcommand as click defaults (its ``default_map``), so the precedence is click's own:
the subcommand's own option wins, then the one given before it, then ``$ICEHOUSE_HOME``
(for the home), then the built-in default. A ``--format`` the subcommand does not offer
is click's usage error naming its choices.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import CompletionItem, TyperArgument, TyperCommand, TyperGroup, TyperOption

from icehouse.cli.complete import source_names, table_names
from icehouse.cli.output import Format

Completer = Callable[[typer.Context, str], list[str]]

_ARGUMENT_NAMES = {
    ("table", "name"): "TABLE",
    ("source", "name"): "SOURCE",
    ("maintain", "table"): "TABLE",
    ("maintain", "tables"): "TABLE",
    ("ingest", "sources"): "SOURCE",
    ("sql", "query"): "SQL",
    ("quarantine", "record_id"): "ID",
}
"""An argument's name in help and usage, by (first command word, parameter); any other
argument is its parameter name in capitals."""

_OPTION_VALUES = {
    "home": "PATH",
    "like": "FILE",
    "sample": "FILE",
    "out": "FILE",
    "path": "FILE",
    "archive": "FOLDER",
    "location": "FOLDER|S3_URL",
    "schema": "JSON|FILE",
    "table": "TABLE",
    "source": "SOURCE",
    "older_than": "DURATION",
    "interval": "DURATION",
    "settle": "DURATION",
    "partition": "FIELD",
    "sort": "ORDER",
    "zorder": "COLUMNS",
    "where": "PREDICATE",
    "property": "KEY=VALUE",
    "add_column": "NAME:TYPE",
    "widen": "COLUMN:TYPE",
    "map_": "COLUMN=PATH",
    "timestamp": "COLUMN=FORMAT",
    "expr": "COLUMN=SQL",
    "derive": "NAME=SQL",
    "meta": "COLUMN=file|line",
    "default": "COLUMN=VALUE",
    "field": "NAME",
    "file_format": "FORMAT",
    "compression": "CODEC",
    "on_success": "keep|delete|archive",
    "glob": "PATTERN",
    "delimiter": "CHAR",
    "comment": "PREFIX",
    "to": "SNAPSHOT_ID",
    "target_file_size": "BYTES",
    "min_file_ratio": "RATIO",
    "max_file_ratio": "RATIO",
    "limit": "N",
    "rows": "N",
    "days": "N",
    "tenants": "N",
    "retain_last": "N",
    "min_input_files": "N",
    "max_concurrent_groups": "N",
}
"""An option's value in help, by parameter name: one flag means one thing everywhere
(any other option's value is its name in capitals; a choice lists its choices)."""

_COMPLETERS: dict[str, Completer] = {"TABLE": table_names, "SOURCE": source_names}


class _Argument(TyperArgument):
    """An argument shown as click shows one (``NAME``, ``[NAME]``, ``NAME...``); its
    name already says what it takes, so no ``<str>`` follows it."""

    def _usage_display_name(self) -> str:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return name + ("..." if self.nargs != 1 else "")

    def display_type_rich(self, ctx: typer.Context) -> str | None:
        return None

    def shell_complete(self, ctx: typer.Context, incomplete: str) -> list[CompletionItem]:
        completer = _COMPLETERS.get(self.display_name_raw)
        if completer is None:
            return super().shell_complete(ctx, incomplete)
        return [CompletionItem(n) for n in completer(ctx, incomplete)]


class _Option(TyperOption):
    """An option whose value names a table or a source completes from the home; a flag
    takes no value, so none is shown after it."""

    def display_type_rich(self, ctx: typer.Context) -> str | None:
        return None if self.is_flag else super().display_type_rich(ctx)

    def shell_complete(self, ctx: typer.Context, incomplete: str) -> list[CompletionItem]:
        completer = _COMPLETERS.get(self.metavar or "")
        if completer is None:
            return super().shell_complete(ctx, incomplete)
        return [CompletionItem(n) for n in completer(ctx, incomplete)]


def _name_values(command: TyperCommand | TyperGroup, path: tuple[str, ...]) -> None:
    """Give every argument and option of ``command`` and below a readable name."""
    for param in command.params:
        if isinstance(param, TyperArgument) and param.name:
            key = (path[0] if path else "", param.name)
            param.metavar = param.metavar or _ARGUMENT_NAMES.get(key, param.name.upper())
            param.__class__ = _Argument
        elif isinstance(param, TyperOption) and param.name:
            if param.metavar is None and not param.is_flag and not param.type_descriptor.is_choice:
                param.metavar = _OPTION_VALUES.get(param.name, param.name.upper())
            param.__class__ = _Option
    if isinstance(command, TyperGroup):
        for name, sub in command.commands.items():
            _name_values(sub, (*path, name))


class RootGroup(TyperGroup):
    """The ``icehouse`` command. Typer builds the whole command tree before this group,
    so its constructor is the one place that sees every command: there each argument and
    option gets the name its help shows, instead of Typer's ``<list[str]>`` or
    ``{name}``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _name_values(self, ())


def _defaults_for(command: TyperCommand | TyperGroup, given: dict[str, str]) -> dict[str, Any]:
    """A click ``default_map`` giving ``given`` to every command that has such options."""
    if isinstance(command, TyperGroup):
        return {name: _defaults_for(sub, given) for name, sub in command.commands.items()}
    names = {param.name for param in command.params}
    return {key: value for key, value in given.items() if key in names}


def _print_version(asked: bool) -> None:
    if asked:
        from icehouse import __version__

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
