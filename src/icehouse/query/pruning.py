"""Filters a query lets us push into Iceberg scan planning (partition and min/max pruning).

DuckDB parses the statement (``json_serialize_sql``); from a single-table ``SELECT``'s
``WHERE`` we keep the top-level ``AND`` terms of the form ``column <op> constant``
(``= < <= > >=``, ``IN``, ``IS NULL``) and turn them into a PyIceberg expression. The
pushed filter is implied by the query's own ``WHERE``, which DuckDB still applies, so
pruning can only skip files that hold no matching row: results never change. Anything
else (joins, ``OR``, functions of columns) is simply not pushed.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

import duckdb
from pyiceberg.expressions import (
    AlwaysTrue,
    And,
    BooleanExpression,
    EqualTo,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    IsNull,
    LessThan,
    LessThanOrEqual,
    NotNull,
)
from pyiceberg.schema import Schema

from icehouse.errors import InvalidMapping
from icehouse.ingest.mapping import duckdb_type

_COMPARISONS = {
    "COMPARE_EQUAL": (EqualTo, EqualTo),
    "COMPARE_GREATERTHAN": (GreaterThan, LessThan),
    "COMPARE_GREATERTHANOREQUALTO": (GreaterThanOrEqual, LessThanOrEqual),
    "COMPARE_LESSTHAN": (LessThan, GreaterThan),
    "COMPARE_LESSTHANOREQUALTO": (LessThanOrEqual, GreaterThanOrEqual),
}
"""DuckDB comparison → (expression for ``column op constant``, for ``constant op column``)."""


def single_table_where(
    sql: str, conn: duckdb.DuckDBPyConnection
) -> tuple[str, str | None, dict[str, Any]] | None:
    """(``namespace.table``, alias, WHERE node) of a single-table SELECT, else None."""
    parsed = json.loads(conn.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])
    if parsed.get("error") or len(parsed.get("statements", [])) != 1:
        return None
    node = parsed["statements"][0]["node"]
    source = node.get("from_table") or {}
    if node.get("type") != "SELECT_NODE" or source.get("type") != "BASE_TABLE":
        return None
    if not source.get("schema_name") or not node.get("where_clause"):
        return None
    name = f"{source['schema_name']}.{source['table_name']}"
    return name, source.get("alias") or None, node["where_clause"]


def convertible_terms(
    sql: str,
    table_name: str,
    schema: Schema,
    conn: duckdb.DuckDBPyConnection | None = None,
) -> tuple[list[BooleanExpression], list[str]]:
    """The AND-terms of a single-table query's WHERE as PyIceberg expressions, and a
    description of each term that could not be translated. ``conn`` (the query's own
    connection, if it has one) parses the query and casts every constant."""
    own = conn is None
    conn = conn or duckdb.connect()
    try:
        if own:
            conn.execute("SET TimeZone = 'UTC'")
        found = single_table_where(sql, conn)
        if found is None or found[0] != table_name:
            return [], ["not a single-table query with a WHERE clause"]
        _, alias, where = found
        translate = _Translator(schema, {None, alias, table_name.split(".")[1]}, conn)
        terms, refused = [], []
        for conjunct in _conjuncts(where):
            term = translate.term(conjunct)
            if term is None:
                refused.append(conjunct.get("type", "an expression").lower())
            else:
                terms.append(term)
        return terms, refused
    finally:
        if own:
            conn.close()


def pushdown_filter(
    sql: str,
    table_name: str,
    schema: Schema,
    conn: duckdb.DuckDBPyConnection | None = None,
) -> BooleanExpression:
    """The filter to plan ``table_name`` with for this query (``AlwaysTrue`` if none)."""
    if not re.search(r"\bWHERE\b", sql, re.IGNORECASE):
        return AlwaysTrue()
    terms, _ = convertible_terms(sql, table_name, schema, conn)
    if not terms:
        return AlwaysTrue()
    return terms[0] if len(terms) == 1 else And(*terms)


def referenced_columns(sql: str, conn: duckdb.DuckDBPyConnection) -> set[str] | None:
    """Lower-case names of every column the statement mentions, of any table; None when
    it reads whole rows (``*``, ``COLUMNS(...)``, ``NATURAL JOIN``, a table alias used
    as a value) or cannot be parsed. An over-estimate: a name counts for every table
    that has such a column."""
    parsed = json.loads(conn.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()[0])
    if parsed.get("error"):
        return None
    nodes = _nodes(parsed["statements"])
    columns: set[str] = set()
    single_names: set[str] = set()
    for node in nodes:
        if node.get("class") == "STAR" or node.get("ref_type") == "NATURAL":
            return None
        if node.get("class") == "COLUMN_REF":
            names = [name.lower() for name in node["column_names"]]
            columns.update(names)
            if len(names) == 1:
                single_names.add(names[0])
        columns.update(name.lower() for name in node.get("using_columns") or [])
    relations = {
        (node.get("alias") or node["table_name"]).lower()
        for node in nodes
        if node.get("type") == "BASE_TABLE"
    }
    return None if single_names & relations else columns


def _nodes(value: Any) -> list[dict[str, Any]]:
    """Every JSON object in a serialised statement, depth first."""
    found: list[dict[str, Any]] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _conjuncts(node: dict[str, Any]) -> list[dict[str, Any]]:
    if node.get("class") == "CONJUNCTION" and node.get("type") == "CONJUNCTION_AND":
        return [c for child in node["children"] for c in _conjuncts(child)]
    return [node]


_CASTS: dict[tuple[str, str | None, str, Any, str], Any] = {}
"""Constants already cast (column type, literal's type, literal, TimeZone → value):
queries run again and again (a dashboard, a shell session) repeat theirs, and each cast
is a DuckDB round trip."""
_CASTS_KEPT = 4_096
_UNCAST = object()

_PLAIN_TYPES = frozenset(
    {
        "BOOLEAN",
        "TINYINT",
        "SMALLINT",
        "INTEGER",
        "BIGINT",
        "FLOAT",
        "DOUBLE",
        "VARCHAR",
        "DATE",
        "TIME",
        "TIMESTAMP",
        "TIMESTAMP WITH TIME ZONE",
    }
)
"""Types a constant may be written in (or cast to) and still be pushed: those DuckDB's
parser hands over as a plain JSON value and whose name is valid SQL."""


def _literal(value: dict[str, Any]) -> Any:
    """A constant's value as DuckDB should read it back: decimals (serialised unscaled,
    ``1.5`` as 15) as their exact text, plain types as they are, None for the others
    (HUGEINT and the like, serialised as objects): such a term is not pushed."""
    kind = value["type"]["id"]
    if kind == "DECIMAL":
        if not isinstance(value["value"], int):  # wider than 18 digits: an object
            return None
        scale = int(value["type"]["type_info"]["scale"])
        return str(Decimal(value["value"]).scaleb(-scale))
    return value["value"] if kind in _PLAIN_TYPES else None


class _Translator:
    """Turns DuckDB expression nodes over one table into PyIceberg expressions."""

    def __init__(
        self, schema: Schema, qualifiers: set[str | None], conn: duckdb.DuckDBPyConnection
    ) -> None:
        self._schema, self._qualifiers, self._conn = schema, qualifiers, conn
        self._timezone: str | None = None

    def column(self, node: dict[str, Any]) -> str | None:
        if node.get("class") != "COLUMN_REF":
            return None
        *prefix, name = node["column_names"]
        if len(prefix) > 1 or (prefix and prefix[0] not in self._qualifiers):
            return None
        try:
            self._schema.find_field(name)
        except ValueError:
            return None
        return name

    def constant(self, node: dict[str, Any], column: str) -> tuple[bool, Any]:
        """(ok, value) of a constant node converted to the column's type by DuckDB, the way
        the query's own comparison converts it; not ok for anything less plain."""
        cast_to = None
        if node.get("class") == "CAST":  # a typed literal: DATE '2024-06-01', '5'::INT
            cast_to = (node.get("cast_type") or {}).get("id")
            if cast_to not in _PLAIN_TYPES:
                return False, None
            node = node["child"]
        if node.get("class") != "CONSTANT" or node["value"].get("is_null"):
            return False, None
        literal = _literal(node["value"])
        if literal is None:
            return False, None
        try:
            sql_type = duckdb_type(self._schema.find_field(column).field_type, column, "query")
        except InvalidMapping:  # a type icehouse cannot name in DuckDB: do not push
            return False, None
        zone = self.timezone() if "TIME" in f"{sql_type} {cast_to}" else ""
        key = (sql_type, cast_to, type(literal).__name__, literal, zone)
        value = _CASTS.get(key, _UNCAST)
        if value is _UNCAST:
            parameter = "?" if cast_to is None else f"CAST(? AS {cast_to})"
            cast = f"TRY_CAST({parameter} AS {sql_type})"
            if sql_type.startswith("TIMESTAMP"):  # microseconds: what Iceberg stores
                cast = f"epoch_us({cast})"
            try:
                value = self._conn.execute(f"SELECT {cast}", [literal]).fetchone()[0]
            except duckdb.Error:
                value = None
            if len(_CASTS) >= _CASTS_KEPT:
                _CASTS.clear()
            _CASTS[key] = value
        return value is not None, value

    def timezone(self) -> str:
        """The connection's TimeZone setting (the shell may change it), read once."""
        if self._timezone is None:
            row = self._conn.execute("SELECT current_setting('TimeZone')").fetchone()
            self._timezone = str(row[0]) if row else ""
        return self._timezone

    def term(self, node: dict[str, Any]) -> BooleanExpression | None:
        kind = node.get("type")
        if kind in _COMPARISONS:
            forward, backward = _COMPARISONS[kind]
            for column_node, constant_node, build in (
                (node["left"], node["right"], forward),
                (node["right"], node["left"], backward),
            ):
                column = self.column(column_node)
                if column is not None:
                    ok, value = self.constant(constant_node, column)
                    return build(column, value) if ok else None
            return None
        if kind == "COMPARE_IN":
            column = self.column(node["children"][0])
            if column is None:
                return None
            values = [self.constant(child, column) for child in node["children"][1:]]
            return In(column, [v for _, v in values]) if all(ok for ok, _ in values) else None
        if kind in ("OPERATOR_IS_NULL", "OPERATOR_IS_NOT_NULL"):
            column = self.column(node["children"][0])
            if column is None:
                return None
            return IsNull(column) if kind == "OPERATOR_IS_NULL" else NotNull(column)
        return None
