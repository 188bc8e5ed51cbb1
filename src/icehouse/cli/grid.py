"""Rows for people: a Rich table on a terminal, plain aligned text anywhere else.

Both layouts print every value whole. An id, a number, a timestamp or a path that a
person copies into the next command (``table rollback --to``, ``quarantine show``) is
useless with its tail replaced by "…", so no column here ever cuts a value:

* On a terminal, columns of ``WHOLE`` and ``NUMBER`` values are exactly as wide as their
  longest value (their header wraps instead), text columns wrap, and when the terminal
  is too narrow for that, the least important columns are left out, with a line saying
  which. Only a table too wide even then folds values onto a second line; nothing is cut.
* Piped or redirected (``icehouse status | cat``), the same rows print as plain text:
  a header line, then one line per row, columns separated by two spaces and padded to
  their widest value, numbers aligned right, no box characters and no colours, in the
  manner of ``psql``'s aligned output. A line break inside a value prints as ``\\n``,
  so that every row stays on one line for ``grep``, ``cut`` and ``sort``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from rich.cells import cell_len
from rich.console import Console
from rich.table import Table as RichTable
from rich.text import Text


class Kind(Enum):
    """How a column's values may be laid out."""

    TEXT = "text"
    """Prose (a reason, a summary): wraps onto more lines on a narrow terminal."""
    WHOLE = "whole"
    """An id, a name, a timestamp, a path: never wrapped or cut on a terminal."""
    NUMBER = "number"
    """A count or a size: whole, and aligned right."""


@dataclass(frozen=True)
class Column:
    header: str
    kind: Kind = Kind.TEXT
    optional: int = 0
    """0: always shown. Above 0: may be left out on a narrow terminal, the highest first."""


TEXT_MIN_WIDTH = 10
"""The narrowest a wrapping text column becomes before columns are left out instead."""

SEPARATOR = "  "


def print_grid(
    console: Console,
    columns: Sequence[Column],
    rows: Iterable[Sequence[str]],
    *,
    title: str | None = None,
) -> None:
    """Print ``rows`` (plain text cells, never Rich markup) under ``columns``: a Rich
    table when ``console`` is a terminal, plain aligned text otherwise."""
    if console.is_terminal:
        _print_rich(console, columns, [list(r) for r in rows], title)
    else:
        _print_plain(console, columns, [[_one_line(c) for c in r] for r in rows], title)


def _one_line(cell: str) -> str:
    return cell.replace("\n", "\\n").replace("\r", "\\r")


def _widest(header: str, values: Iterable[str]) -> int:
    return max([cell_len(header), *(cell_len(v) for v in values)])


def _print_plain(
    console: Console, columns: Sequence[Column], rows: list[list[str]], title: str | None
) -> None:
    widths = [_widest(c.header, (r[i] for r in rows)) for i, c in enumerate(columns)]

    def line(values: Sequence[str]) -> str:
        padded = (
            " " * (w - cell_len(v)) + v if c.kind is Kind.NUMBER else v + " " * (w - cell_len(v))
            for c, v, w in zip(columns, values, widths, strict=True)
        )
        return SEPARATOR.join(padded).rstrip()

    if title:
        console.out(title, highlight=False)
    console.out(line([c.header for c in columns]), highlight=False)
    for row in rows:
        console.out(line(row), highlight=False)


def _whole_width(column: Column, values: list[str]) -> int:
    """Wide enough for the longest value and the header's longest word (it wraps)."""
    longest_word = max((cell_len(w) for w in column.header.split()), default=0)
    return max([longest_word, *(cell_len(v) for v in values)])


def _least_width(column: Column, values: list[str]) -> int:
    if column.kind is not Kind.TEXT:
        return _whole_width(column, values)
    return min(_widest(column.header, values), TEXT_MIN_WIDTH)


def _shown(columns: Sequence[Column], rows: list[list[str]], width: int) -> list[int]:
    """The columns that fit ``width``: every column that is not optional, then each
    optional one that still fits, the most important (lowest ``optional``) first."""
    least = [_least_width(c, [r[i] for r in rows]) for i, c in enumerate(columns)]
    kept = [i for i, c in enumerate(columns) if c.optional == 0]
    # cells plus one space each side, plus a border between and around them
    used = sum(least[i] + 3 for i in kept) + 1
    for index in sorted(
        (i for i, c in enumerate(columns) if c.optional), key=lambda i: columns[i].optional
    ):
        if used + least[index] + 3 <= width:
            kept.append(index)
            used += least[index] + 3
    return sorted(kept)


def _print_rich(
    console: Console, columns: Sequence[Column], rows: list[list[str]], title: str | None
) -> None:
    kept = _shown(columns, rows, console.width)
    table = RichTable(title=title, title_justify="left")
    for i in kept:
        column = columns[i]
        whole = column.kind is not Kind.TEXT
        table.add_column(
            column.header,
            justify="right" if column.kind is Kind.NUMBER else "left",
            width=_whole_width(column, [r[i] for r in rows]) if whole else None,
            overflow="fold",
        )
    for row in rows:
        table.add_row(*(Text(row[i]) for i in kept))
    console.print(table)
    left_out = [columns[i].header for i in range(len(columns)) if i not in kept]
    if left_out:
        console.print(
            f"left out to fit {console.width} columns: {', '.join(left_out)} "
            "(a wider terminal, a pipe or --format shows them)",
            style="dim",
            markup=False,
            highlight=False,
            soft_wrap=False,
        )
