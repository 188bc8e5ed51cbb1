"""``icehouse view ...``: list, show, create and drop Iceberg views (thin over
``lake.views``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

from icehouse.cli.common import FormatOption, HomeOption, YesOption, open_lake, parse_pairs
from icehouse.cli.confirm import confirm_or_stop
from icehouse.cli.output import Format, Output, counted
from icehouse.errors import InvalidInput

if TYPE_CHECKING:
    from icehouse.lake import Lake
    from icehouse.lake.views import ViewState

app = typer.Typer(
    help="Iceberg views: SQL over the lake's tables, shared with every engine.",
    no_args_is_help=True,
)

ViewArgument = Annotated[str, typer.Argument(help="namespace.view, e.g. logs.french")]
LIST_COLUMNS = ("view", "current_version", "dialects", "sql")


def _split(name: str) -> tuple[tuple[str], str]:
    """Raises: InvalidInput (not ``namespace.view``)."""
    parts = name.split(".")
    if len(parts) != 2 or not all(parts):
        raise InvalidInput(
            f"view names are written namespace.view (e.g. logs.french), got {name!r}"
        )
    return (parts[0],), parts[1]


def _summary(name: str, state: ViewState) -> dict[str, Any]:
    """The current version of a view, flat enough for a CSV row."""
    metadata = state.metadata
    current = next(
        v for v in metadata["versions"] if v["version-id"] == metadata["current-version-id"]
    )
    schema = next(s for s in metadata["schemas"] if s["schema-id"] == current["schema-id"])
    representations = current["representations"]
    return {
        "view": name,
        "current_version": current["version-id"],
        "dialects": ", ".join(r["dialect"] for r in representations),
        "sql": representations[0]["sql"] if representations else "",
        "columns": [f"{f['name']}: {f['type']}" for f in schema["fields"]],
        "versions": len(metadata["versions"]),
        "location": metadata["location"],
        "metadata_location": state.metadata_location,
        "properties": metadata.get("properties", {}),
    }


def _render(console: Console, record: dict[str, Any]) -> None:
    console.print(f"[bold]{record['view']}[/bold] (version {record['current_version']})")
    console.print(f"  {record['sql']}")
    console.print(f"  columns: {', '.join(record['columns'])}")
    console.print(f"  metadata: {record['metadata_location']}")


def _all_views(lake: Lake) -> list[str]:
    return [
        ".".join((*namespace, view))
        for namespace in lake.namespaces.list()
        for view in lake.views.list(namespace)
    ]


@app.command("list")
def list_views(home: HomeOption = None, format: FormatOption = Format.table) -> None:
    """List views with their current SQL."""
    output = Output(format)
    with open_lake(home, output) as lake:
        records = []
        for name in _all_views(lake):
            record = _summary(name, lake.views.load(*_split(name)))
            records.append({key: record[key] for key in LIST_COLUMNS})

        def render(console: Console) -> None:
            if not records:
                console.print("No views yet. Create one with `icehouse view create`.")
            for r in records:
                console.print(f"[bold]{r['view']}[/bold] (v{r['current_version']}): {r['sql']}")

        output.emit(records, render, columns=LIST_COLUMNS)


@app.command("show")
def show(name: ViewArgument, home: HomeOption = None, format: FormatOption = Format.table) -> None:
    """Show a view: its current SQL, columns, versions and metadata file."""
    output = Output(format)
    with open_lake(home, output) as lake:
        record = _summary(name, lake.views.load(*_split(name)))
        output.emit(record, lambda c: _render(c, record))


@app.command("create")
def create(
    name: ViewArgument,
    sql: Annotated[
        str, typer.Option("--sql", help="A DuckDB SELECT over the lake's tables (namespace.table).")
    ],
    property: Annotated[
        list[str], typer.Option("--property", help="View property KEY=VALUE. Repeat for more.")
    ] = [],  # noqa: B006
    home: HomeOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Create a view; its columns are what the SQL returns. Every engine reading the
    REST catalog sees it; `icehouse sql` queries it like a table."""
    output = Output(format)
    with open_lake(home, output) as lake:
        namespace, view = _split(name)
        properties = dict(parse_pairs(property, "--property"))
        record = _summary(
            name, lake.views.create_from_sql(namespace, view, sql, properties=properties)
        )

        def render(console: Console) -> None:
            console.print(
                f"Created view [bold]{name}[/bold] ({counted(len(record['columns']), 'column')})"
            )
            _render(console, record)

        output.emit(record, render)


@app.command("drop")
def drop(
    name: ViewArgument,
    yes: YesOption = False,
    home: HomeOption = None,
    format: FormatOption = Format.table,
) -> None:
    """Remove a view from the catalog (no table or data file is touched)."""
    output = Output(format)
    with open_lake(home, output) as lake:
        namespace, view = _split(name)
        state = lake.views.load(namespace, view)
        confirm_or_stop(
            output,
            f"Drop view {name}?",
            yes=yes,
            action=f"dropping view {name}",
            declined="Nothing dropped.",
        )
        lake.views.drop(namespace, view)
        output.emit(
            {"view": name, "dropped": True, "metadata_location": state.metadata_location},
            lambda c: c.print(f"Dropped view {name}."),
        )
