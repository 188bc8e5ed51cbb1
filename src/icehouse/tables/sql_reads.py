"""Whether a statement reads nothing but some named relations, from DuckDB's own parse.

A governed principal's statement may run on a sandbox whose views read data files
natively, with a row filter in the view (``query/feeds.py``). The sandbox must then be
allowed those files, and a direct read of one (``read_parquet('<file>')``, ``FROM
'<file>'``) would bypass the view's filter: DuckDB's allowed paths cannot tell the
view's read from the principal's. So such a sandbox runs only a statement that this
module finds reads nothing but the relations registered for it.

The check walks DuckDB's parse tree (``json_serialize_sql``, the parser that then runs
the same text) and accepts only what it knows: query nodes, joins, subqueries, constant
lists, modifiers and expressions; a table reference must name a registered relation
(``namespace.table``, no catalog, no time travel) or a CTE of the statement (a name
without a dot, which no file-reading replacement scan takes). Anything else refuses the
statement: a table function (``read_parquet``, ``glob``, ``query``, ``duckdb_views``),
a ``SHOW``/``DESCRIBE``/``PIVOT`` reference, a text DuckDB cannot serialise, and the
scalar functions that read the catalog or the settings (``current_setting``, which
would show the allowed paths, and the built-in macros that select from catalog table
functions, such as ``pg_get_viewdef``). A refused statement is not an error: it runs
where no file is allowed. What a text reads depends on the text alone, and is worked out
once per text (``per_text.py``).
"""

from __future__ import annotations

import functools
from collections.abc import Collection
from typing import Any

import duckdb

from icehouse.tables._compat import serialize_sql
from icehouse.tables.per_text import PerText

_NODES = frozenset(
    {
        "SELECT_NODE",
        "SET_OPERATION_NODE",
        "RECURSIVE_CTE_NODE",
        "CTE_NODE",
        "JOIN",
        "SUBQUERY",
        "EMPTY",
        "EXPRESSION_LIST",
        "ORDER_MODIFIER",
        "LIMIT_MODIFIER",
        "LIMIT_PERCENT_MODIFIER",
        "DISTINCT_MODIFIER",
        "ORDER_DEFAULT",
        "ASCENDING",
        "DESCENDING",
    }
)
"""Parse tree nodes that are not expressions and read nothing by themselves."""

_SETTINGS_FUNCTIONS = frozenset({"current_setting", "getvariable"})


@functools.cache
def _catalog_macros() -> frozenset[str]:
    """DuckDB's built-in scalar macros that select from a table function (the catalog's
    ``duckdb_views()`` and the like): the macro's body is not in the parse tree."""
    with duckdb.connect() as conn:
        rows = conn.execute(
            "SELECT DISTINCT lower(function_name) FROM duckdb_functions() "
            "WHERE function_type = 'macro' AND macro_definition ILIKE '%FROM%'"
        ).fetchall()
    return frozenset(name for (name,) in rows)


def reads_only(conn: duckdb.DuckDBPyConnection, sql: str, relations: Collection[str]) -> bool:
    """True when ``sql`` is one statement that reads no relation but ``relations``
    (``namespace.table`` names, matched as DuckDB matches identifiers, ignoring case)
    and its own CTEs, and calls no function that reads files, the catalog or the
    settings; False for anything else, including a text DuckDB cannot serialise."""
    needed = _needed.get(sql, lambda: _relations_read(serialize_sql(conn, sql)))
    if needed is None:
        return False
    allowed = {name.lower() for name in relations}
    return needed <= allowed


_needed: PerText[frozenset[str] | None] = PerText()


def _relations_read(parsed: dict[str, Any]) -> frozenset[str] | None:
    """The lower-case ``namespace.table`` names a parsed statement reads besides its own
    CTEs; None when it may read anything else (see ``reads_only``)."""
    statements = parsed.get("statements") or []
    if parsed.get("error") or len(statements) != 1:
        return None
    tables: list[dict[str, Any]] = []
    ctes: set[str] = set()
    pending: list[Any] = [statements[0]]
    while pending:  # one pass over the whole tree: a statement has hundreds of nodes
        node = pending.pop()
        if isinstance(node, list):
            pending.extend(node)
            continue
        if not isinstance(node, dict):
            continue
        kind = node.get("type")
        if isinstance(kind, str):
            if "class" in node:  # an expression: only some functions read beyond their inputs
                if "function_name" in node and not _callable(node):
                    return None
            elif kind == "BASE_TABLE":
                tables.append(node)
            elif kind not in _NODES and not kind.endswith("_TYPE_INFO"):
                return None  # a table function, SHOW, PIVOT, or a node this check does not know
        ctes |= _ctes_defined(node)
        pending.extend(v for v in node.values() if isinstance(v, dict | list))
    names = set()
    for table in tables:
        name = _relation(table, ctes)
        if name is None:
            return None
        if name:
            names.add(name)
    return frozenset(names)


def _ctes_defined(node: dict[str, Any]) -> set[str]:
    """The lower-case names of the CTEs ``node`` itself defines."""
    names = set()
    for entry in (node.get("cte_map") or {}).get("map") or []:
        if isinstance(entry, dict) and isinstance(entry.get("key"), str):
            names.add(entry["key"].lower())
    if node.get("type") == "RECURSIVE_CTE_NODE" and isinstance(node.get("cte_name"), str):
        names.add(node["cte_name"].lower())
    return names


def _callable(expression: dict[str, Any]) -> bool:
    name = expression.get("function_name")
    if expression.get("schema") not in ("", "main") or expression.get("catalog"):
        return False  # DuckDB's own functions, which the parser puts in ``main`` at most
    if not isinstance(name, str):
        return False
    lowered = name.lower()
    return lowered not in _SETTINGS_FUNCTIONS and lowered not in _catalog_macros()


def _relation(reference: dict[str, Any], ctes: set[str]) -> str | None:
    """The lower-case ``namespace.table`` a table reference reads; "" for one of the
    statement's CTEs; None for a reference no registered relation can answer (a catalog,
    time travel, a name that is neither)."""
    if reference.get("catalog_name") or reference.get("at_clause") is not None:
        return None
    schema, table = reference.get("schema_name"), reference.get("table_name")
    if not isinstance(schema, str) or not isinstance(table, str):
        return None
    if schema:
        return f"{schema}.{table}".lower()
    return "" if "." not in table and table.lower() in ctes else None
