"""DuckDB's errors, told in icehouse's words.

A query runs on a connection where only the tables it names are attached, so DuckDB's own
hints mislead: a table that does not exist in a namespace that does reads as
``schema "demo" does not exist``, and an unknown bare name is matched against DuckDB's
catalog (``Did you mean "pg_enum"?``). Missing tables are therefore named from the query
itself, with the closest real tables; missing columns keep DuckDB's candidates, which are
right, in plain words. Anything else keeps DuckDB's message.

For a governed principal, ``tables`` are the tables it may read, and a table that is
missing reads exactly as one it may not read ("not found or not permitted"): an error
must not tell a principal what exists.
"""

from __future__ import annotations

import difflib
import re

import duckdb

_MISSING_COLUMN = re.compile(
    r'Referenced column "(?P<name>[^"]+)" not found in FROM clause!'
    r"(?:\s*Candidate bindings: (?P<candidates>[^\n]+))?"
)
_WHERE = re.compile(r"\n\s*\n(LINE \d+:.*)", re.DOTALL)


def describe(exc: duckdb.Error, sql: str, tables: set[str], *, governed: bool = False) -> str:
    """What went wrong with ``sql``, given the lake's ``tables`` (``namespace.name``;
    with ``governed``, those the principal may read)."""
    message = str(exc)
    pointer = _WHERE.search(message)
    where = f"\n{pointer.group(1)}" if pointer else ""
    if isinstance(exc, duckdb.CatalogException):
        missing = sorted(_named_tables(sql) - tables)
        if missing:
            say = not_permitted if governed else _no_table
            return "; ".join(say(name, tables) for name in missing) + where
    if isinstance(exc, duckdb.BinderException):
        found = _MISSING_COLUMN.search(message)
        if found:
            name = found.group("name")
            candidates = [
                c.split(".")[-1] for c in re.findall(r'"([^"]+)"', found.group("candidates") or "")
            ]
            close = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
            named = sorted(_named_tables(sql) & tables)
            if close:
                hint = f"; did you mean {close[0]!r}?"
            elif named:
                shows = " and ".join(f"`icehouse table show {t}`" for t in named)
                hint = f" in {', '.join(named)} (its columns: {shows})"
            else:
                hint = ""
            return f"no column {name!r}{hint}{where}"
    return f"{message}\n(tables: {', '.join(sorted(tables)) or 'none'})"


def _named_tables(sql: str) -> set[str]:
    try:
        return {name.lower() for name in duckdb.get_table_names(sql, qualified=True)}
    except duckdb.Error:  # icehouse syntax DuckDB does not parse (time travel)
        return set()


def _no_table(name: str, tables: set[str]) -> str:
    close = difflib.get_close_matches(name, sorted(tables), n=1, cutoff=0.5)
    if close:
        return f"no table {name}; did you mean {close[0]}?"
    listed = ", ".join(sorted(tables)) or "none yet (icehouse table create)"
    return f"no table {name} (tables: {listed})"


def not_permitted(name: str, tables: set[str]) -> str:
    """A table a principal named that does not exist or that it may not read: the same
    words for both, with the closest table it may read."""
    close = difflib.get_close_matches(name, sorted(tables), n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]}?" if close else ""
    return f"table {name} not found or not permitted{hint}"


__all__ = ["describe", "not_permitted"]
