"""Source-field references in mapping expressions: ``${date}``, ``${edge.response.bytes}``.

A bare name in an ``expr`` means a mapped table column (``lower(country)``), as it always
has; a source field is named as ``${path}``, where ``path`` is the field's name as the
file spells it (``${cs(User-Agent)}`` in a W3C log) and dots walk into nested objects as
``path`` rules do. ``$`` followed by ``{`` is not SQL, so a reference can never be read as
a column name, and everything up to the closing ``}`` is the path: field names with
hyphens, parentheses or spaces need no quoting. Inside a string literal (``'${x}'``) or a
quoted identifier the text is left alone.

This module only finds and replaces references; :mod:`icehouse.ingest.mapping` decides
what each one is bound to.
"""

from __future__ import annotations

import re
from collections.abc import Callable

# One token at a time: a string literal, a quoted identifier, a reference, a bare word.
# Literals and quoted identifiers are matched so that their contents are skipped.
_TOKENS = re.compile(
    r"""'(?:[^']|'')*'"""  # 'string literal'
    r'''|"(?:[^"]|"")*"'''  # "quoted identifier"
    r"|\$\{(?P<ref>[^}]*)\}"  # ${source.path}
    r"|(?P<open>\$\{)"  # ${ never closed
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*)"
)


class BadReference(ValueError):
    """An expression's ``${...}`` cannot be read (empty, or never closed)."""


def _scan(sql: str, on_ref: Callable[[str], str]) -> str:
    def replace(match: re.Match[str]) -> str:
        if match.group("open") is not None:
            raise BadReference(f"'${{' at character {match.start() + 1} is never closed by '}}'")
        ref = match.group("ref")
        if ref is None:
            return match.group(0)
        if not ref.strip():
            raise BadReference("'${}' names no source field")
        return on_ref(ref.strip())

    return _TOKENS.sub(replace, sql)


def references(sql: str) -> list[str]:
    """The source paths ``sql`` names with ``${...}``, in order of first use.

    Raises:
        BadReference: a ``${`` is never closed, or ``${}`` is empty.
    """
    found: dict[str, None] = {}

    def note(path: str) -> str:
        found[path] = None
        return ""

    _scan(sql, note)
    return list(found)


def substitute(sql: str, names: dict[str, str]) -> str:
    """``sql`` with each ``${path}`` replaced by the SQL name ``names[path]``.

    Raises:
        BadReference: as :func:`references`; KeyError for a path missing from ``names``.
    """
    return _scan(sql, lambda path: names[path])


def bare_names(sql: str) -> set[str]:
    """The bare and quoted identifiers in ``sql``, lower-cased (DuckDB matches names
    without regard to case); function names and keywords included. Used only to say which
    column values an expression failed on, so including a keyword is harmless."""
    names: set[str] = set()
    for match in _TOKENS.finditer(sql):
        token = match.group(0)
        if match.group("word") is not None:
            names.add(token.lower())
        elif token.startswith('"'):
            names.add(token[1:-1].replace('""', '"').lower())
    return names
