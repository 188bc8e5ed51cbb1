"""How every command's help names its values.

Typer shows ``<list[str]>``, ``<str>`` and ``{name}`` where a person wants to read what
to type: ``TABLE``, ``PATH``, ``DURATION``, ``KEY=VALUE``. The names live here, keyed by
parameter name, so that one flag reads the same in every command.
"""

from __future__ import annotations

from typing import Any

from typer.core import TyperArgument, TyperGroup, TyperOption

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
    "server": "URL",
    "credential": "ID:SECRET",
    "credential_file": "FILE",
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


class _Argument(TyperArgument):
    """An argument shown as click shows one (``NAME``, ``[NAME]``, ``NAME...``); its
    name already says what it takes, so no ``<str>`` follows it."""

    def get_usage_pieces(self, ctx: Any) -> list[str]:
        name = self.display_name_raw if self.required else f"[{self.display_name_raw}]"
        return [name + ("..." if self.nargs != 1 else "")]

    def display_type_rich(self, ctx: Any) -> str | None:
        return None


class _Option(TyperOption):
    """A flag takes no value, so none is shown after it."""

    def display_type_rich(self, ctx: Any) -> str | None:
        return None if self.is_flag else super().display_type_rich(ctx)


def _name_values(command: Any, path: tuple[str, ...]) -> None:
    """Give every argument and option of ``command`` (a command of Typer's own copy of
    click) and below a readable name.

    Typer builds its parameters itself and has no hook to choose their class, so each
    becomes the subclass above, which only overrides how its help is drawn."""
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
