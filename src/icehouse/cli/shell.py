"""``icehouse sql`` without a query: a shell on a terminal, a script runner on a pipe.

Both split their input with ``split_statements`` and run it through one ``Shell``, so a
script behaves as the same lines typed at the prompt, except that a script stops at its
first error: a half-run script must not look like a success to whoever piped it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import Completer
from prompt_toolkit.history import FileHistory
from prompt_toolkit.input import Input
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.output import Output as TerminalOutput
from rich.console import Console
from rich.markup import escape

from icehouse.cli.grid import Column, Kind, print_grid
from icehouse.cli.remote import Queries
from icehouse.cli.render import render_arrow, render_plans
from icehouse.cli.tables import render_info
from icehouse.errors import CatalogUnavailable, IcehouseError, InvalidInput
from icehouse.govern.statements import parse_statement
from icehouse.lake import Lake

HISTORY_FILE = ".sql_history"
SERVER_HISTORY_FILE = ".icehouse_sql_history"
"""In the user's home folder: the history of shells over ``--server``, which have no
lake home to keep it in."""
HELP = """\
Statements end with ; and may span lines. Commands:
  \\d               list tables (rows, data files, snapshots), mounted ones as mount.db.t,
                   then the resource links to them
  \\d db.t          describe a table (mount.db.t: a mounted one): schema, partition spec,
                   sort order, properties
  \\explain on|off  show what each table had to read after every result
  \\timing on|off   show the elapsed time of every statement
  \\q               quit (also Ctrl-D); Ctrl-C drops the current input
  \\? or help       this text"""


@dataclass(frozen=True)
class Statement:
    text: str
    line: int
    """Where the statement starts (1-based), for error messages."""
    complete: bool
    """Ended by ``;``, or a meta-command (which ends with its line)."""

    @property
    def is_meta(self) -> bool:
        return self.text.startswith("\\") or _is_help(self.text)


def _is_help(line: str) -> bool:
    return line.strip().rstrip(";").strip().lower() == "help"


def split_statements(text: str) -> list[Statement]:
    """SQL statements split on ``;`` outside quotes, ``--`` comments dropped; between
    statements, ``\\`` up to the end of its line (or a line ``help``) is a meta-command."""
    found: list[Statement] = []
    buffer, quote, first = "", "", 0
    for number, line in enumerate(text.splitlines(), 1):
        if not buffer.strip() and _is_help(line):
            found.append(Statement(line.strip(), number, complete=True))
            continue
        for i, char in enumerate(line):
            if quote:
                quote = "" if char == quote else quote
            elif char in "'\"":
                quote = char
            elif line.startswith("--", i):
                break
            elif char == "\\" and not buffer.strip():
                found.append(Statement(line[i:].strip(), number, complete=True))
                buffer = ""
                break
            elif char == ";":
                if buffer.strip():
                    found.append(Statement(buffer.strip(), first, complete=True))
                buffer = ""
                continue
            if not buffer.strip() and not char.isspace():
                first = number
            buffer += char
        buffer += "\n"
    if buffer.strip():
        found.append(Statement(buffer.strip(), first, complete=False))
    return found


def _switch(command: str, argument: str, current: bool) -> bool:
    """``on``/``off``, or the opposite of ``current`` when no argument is given."""
    if argument in ("on", "off", ""):
        return argument == "on" if argument else not current
    raise InvalidInput(f"{command} takes on or off, not {argument!r}")


_TABLES_GRID = (
    Column("table", Kind.WHOLE),
    Column("rows", Kind.NUMBER),
    Column("data files", Kind.NUMBER),
    Column("snapshots", Kind.NUMBER),
)

_LINKS_GRID = (Column("link", Kind.WHOLE), Column("target", Kind.WHOLE))
"""``\\d``'s resource links, each to a table listed above it."""


class Shell:
    """One open lake (or server) and the session's switches; each statement goes through
    ``Lake.sql`` (``Lake.explain`` with the explain switch on, but for a governance
    statement, which reads no table and so has no plan to show)."""

    def __init__(self, lake: Queries, out: Console, err: Console, *, explain: bool = False) -> None:
        self.lake, self.out, self.err = lake, out, err
        self.explain, self.timing = explain, False

    def execute(self, statement: Statement) -> bool:
        """Run a statement or meta-command; False when it asks to quit.

        Raises:
            IcehouseError: the statement failed, or the meta-command is unknown.
        """
        if statement.is_meta:
            return self._meta(statement.text)
        started = time.perf_counter()
        if self.explain and parse_statement(statement.text) is None:
            answer = self.lake.explain(statement.text)
            render_arrow(self.out, answer.table)
            render_plans(self.out, answer)
        else:
            render_arrow(self.out, self.lake.sql(statement.text))
        if self.timing:
            self.out.print(f"Time: {(time.perf_counter() - started) * 1000:.1f} ms")
        return True

    def _meta(self, text: str) -> bool:
        command, _, argument = text.strip().rstrip(";").partition(" ")
        argument = argument.strip()
        if command == "\\q":
            return False
        if command in ("\\?", "help"):
            self.out.print(HELP, markup=False)
        elif command == "\\d":
            self._describe(argument)
        elif command == "\\explain":
            self.explain = _switch(command, argument, self.explain)
            self.out.print(f"explain is {'on' if self.explain else 'off'}")
        elif command == "\\timing":
            self.timing = _switch(command, argument, self.timing)
            self.out.print(f"timing is {'on' if self.timing else 'off'}")
        else:
            raise InvalidInput(f"unknown command {command}; \\? lists the commands")
        return True

    def _describe(self, table: str) -> None:
        """``\\d``: every table, those of mounted catalogs as ``mount.namespace.table``
        (a producer that does not answer is named, and its tables left out), or one
        table's schema and layout (local homes only)."""
        lake = self.lake
        if not isinstance(lake, Lake):
            raise InvalidInput(
                "\\d describes a local home's tables; over --server, ask "
                "information_schema.tables and information_schema.columns"
            )
        links = {link.name: link.target for link in lake.links.list()}
        if table:
            mounted = len(table.split(".")) == 3
            named = links.get(table, table)  # a link is described as its target
            render_info(
                self.out, lake.catalogs.describe(table) if mounted else lake.tables.get(named)
            )
            return
        infos = [lake.tables.get(name) for name in lake.tables.list()]
        for mount in lake.catalogs.list():
            try:
                infos += [lake.catalogs.describe(name) for name in lake.catalogs.tables(mount.name)]
            except CatalogUnavailable as exc:  # the other catalogs' tables are still listed
                self.err.print(f"[yellow]{escape(exc.message)}[/yellow]")
        if not infos:
            self.out.print("No tables yet.")
            return
        rows = [[i.name, f"{i.rows:,}", f"{i.data_files:,}", str(i.snapshots)] for i in infos]
        print_grid(self.out, _TABLES_GRID, rows)
        listed = {i.name for i in infos}
        shown = [[name, target] for name, target in links.items() if target in listed]
        if shown:
            print_grid(self.out, _LINKS_GRID, shown)


def run_script(shell: Shell, text: str) -> bool:
    """Run every statement in order; False after the first one that fails."""
    for number, statement in enumerate(split_statements(text), 1):
        try:
            if not shell.execute(statement):
                return True
        except IcehouseError as exc:
            shell.err.print(
                f"[red]Error in statement {number} (line {statement.line}):[/red] "
                + escape(exc.message)
            )
            return False
    return True


def prompt_session(
    history: Path,
    *,
    completer: Completer | None = None,
    input: Input | None = None,
    output: TerminalOutput | None = None,
) -> PromptSession[str]:
    """Enter runs the input once its last statement ends with ``;`` (or it is a
    meta-command); until then it starts a new line. Tab completes with ``completer``."""
    bindings = KeyBindings()

    @bindings.add("enter")
    def _enter(event: KeyPressEvent) -> None:
        buffer = event.current_buffer
        if all(s.complete for s in split_statements(buffer.text)):
            buffer.validate_and_handle()
        else:
            buffer.insert_text("\n")

    return PromptSession(
        "icehouse> ",
        multiline=True,
        prompt_continuation="      ... ",
        key_bindings=bindings,
        history=FileHistory(str(history)),
        completer=completer,
        complete_while_typing=False,
        input=input,
        output=output,
    )


def history_file(queries: Queries) -> Path:
    """The home's history file; over a server, the user's own."""
    if isinstance(queries, Lake):
        return queries.home / HISTORY_FILE
    return Path.home() / SERVER_HISTORY_FILE


def table_columns(lake: Queries) -> dict[str, list[str]]:
    """Every table of the lake with its column names: what Tab completes in the shell
    (over a server: none, only the SQL words)."""
    if not isinstance(lake, Lake):
        return {}
    return {
        name: [str(field["name"]) for field in lake.tables.get(name).schema]
        for name in lake.tables.list()
    }


def run_interactive(shell: Shell, session: PromptSession[str]) -> None:
    """Until ``\\q`` or Ctrl-D; an error is shown in red and the session goes on."""
    shell.out.print("Statements end with ;  \\? for help, \\q or Ctrl-D to quit.", markup=False)
    while True:
        try:
            text = session.prompt()
        except KeyboardInterrupt:
            continue
        except EOFError:
            return
        for statement in split_statements(text):
            try:
                if not shell.execute(statement):
                    return
            except IcehouseError as exc:
                shell.err.print(f"[red]{escape(exc.message)}[/red]")
            except KeyboardInterrupt:
                shell.err.print("[red]cancelled[/red]")
                break
