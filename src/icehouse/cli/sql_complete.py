"""Tab completion in the SQL shell: keywords, table names (namespace.table), the columns
of the tables a statement names, and the shell's own backslash commands.

The words of governance statements (``GRANT SELECT ON TABLE ... TO ROLE ...``) are
offered in statements that begin like one, and their first words at the start of a
statement, so that they do not crowd a query's completions.

``candidates`` is a plain function of the text before the cursor, so that what Tab
offers can be read and tested without a terminal; ``SqlCompleter`` hands it to
prompt_toolkit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document

from icehouse.govern.objects import Privilege

KEYWORDS = (
    "SELECT", "FROM", "WHERE", "GROUP", "BY", "ORDER", "HAVING", "LIMIT", "OFFSET",
    "JOIN", "LEFT", "RIGHT", "FULL", "INNER", "OUTER", "CROSS", "ON", "USING", "AS",
    "AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "ILIKE", "BETWEEN", "CASE", "WHEN",
    "THEN", "ELSE", "END", "DISTINCT", "UNION", "ALL", "EXCEPT", "INTERSECT", "WITH",
    "ASC", "DESC", "NULLS", "FIRST", "LAST", "CAST", "COUNT", "SUM", "AVG", "MIN", "MAX",
    "TRUE", "FALSE", "EXPLAIN", "DESCRIBE", "SUMMARIZE", "QUALIFY", "INTERVAL",
)  # fmt: skip
GOVERNANCE_STARTS = ("GRANT", "REVOKE", "CREATE", "DROP", "ALTER", "SHOW")
GOVERNANCE_KEYWORDS = (
    "ROLE", "ROLES", "PRINCIPAL", "TO", "FROM", "ON", "CATALOG", "NAMESPACE", "TABLE",
    "VIEW", "TAG", "TAGS", "DATA", "FILTER", "FILTERS", "GRANTS", "ALL", "PRIVILEGES",
    "WITH", "GRANT", "OPTION", "VALUES", "SET", "UNSET", "COLUMN", "COLUMNS", "EXCLUDING",
    "WHERE", "IN", "AND", *(p.value for p in Privilege),
)  # fmt: skip
META_COMMANDS = ("\\d", "\\explain", "\\timing", "\\q", "\\?")

_WORD = re.compile(r"[\w.\\]*$")
_NAMED = re.compile(r"\b(\w+\.\w+)\b")
_FIRST = re.compile(r"\s*(\w*)")


def candidates(text: str, tables: Mapping[str, Sequence[str]]) -> list[str]:
    """What Tab may put in place of the word that ends ``text``.

    ``tables`` maps each table (namespace.table) to its columns. A word with a dot
    completes table names; a backslash at the start of the input, the shell's commands
    (``\\d`` then a table); any other word, the columns of the tables the input names
    (of every table when it names none), then table names, then keywords, in the case
    it was typed in."""
    word = _WORD.search(text)
    prefix = word.group(0) if word else ""
    stripped = text.lstrip()
    if stripped.startswith("\\"):
        if " " not in stripped:
            return _starting(META_COMMANDS, prefix)
        return _starting(tables, prefix) if stripped.startswith("\\d ") else []
    if "." in prefix:
        return _starting(tables, prefix)
    named = [t for t in _NAMED.findall(text) if t in tables] or list(tables)
    columns = dict.fromkeys(c for t in named for c in tables[t])
    keywords = (k if not prefix or prefix[0].isupper() else k.lower() for k in _keywords(text))
    found = [*_starting(columns, prefix), *_starting(tables, prefix), *_starting(keywords, prefix)]
    return list(dict.fromkeys(found))


def _keywords(text: str) -> Sequence[str]:
    """The governance words first in a statement that may be one; a statement's first
    word may begin one."""
    first = _FIRST.match(text)
    word = first.group(1).upper() if first else ""
    if len(word) == len(text.strip()):
        return (*KEYWORDS, *GOVERNANCE_STARTS)
    if word in GOVERNANCE_STARTS:
        return tuple(dict.fromkeys((*GOVERNANCE_KEYWORDS, *KEYWORDS)))
    return KEYWORDS


def _starting(words: Iterable[str], prefix: str) -> list[str]:
    folded = prefix.lower()
    return [w for w in words if w.lower().startswith(folded) and w != prefix]


class SqlCompleter(Completer):
    """``candidates`` for prompt_toolkit, over the tables and columns of the open lake as
    they were when the shell started."""

    def __init__(self, tables: Mapping[str, Sequence[str]]) -> None:
        self.tables = tables

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterable[Completion]:
        before = document.text_before_cursor
        word = _WORD.search(before)
        length = len(word.group(0)) if word else 0
        for candidate in candidates(before, self.tables):
            yield Completion(candidate, start_position=-length)
