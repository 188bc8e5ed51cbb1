"""The one translator from a SQL ``WHERE`` to a PyIceberg expression.

DuckDB parses the text (``json_serialize_sql``, through ``_compat.serialize_sql``); this
module turns its expression nodes over one table into PyIceberg expressions. Supported:
``AND``, ``OR``, ``NOT``, comparisons of a column with a constant (``= <> < <= > >=``,
either side), ``[NOT] IN (constants)`` and ``IS [NOT] NULL``. A constant is cast to its
column's type by DuckDB itself, the way the query's own comparison casts it.

SQL's three-valued logic is kept exactly: a row passes a ``WHERE`` only if it is TRUE,
and ``NOT p`` is TRUE only where ``p`` is FALSE, never where it is NULL. Iceberg has no
NULL truth value (``NotEqualTo`` holds for a null column), so negations are pushed down
to the leaves (De Morgan) and a negated comparison on a nullable column also requires
the column to be non-null. The translation is therefore exact, which lets three callers
share it:

- query pushdown (``pushdown_filter``): the translatable top-level ``AND`` terms, implied
  by the query's ``WHERE``, which DuckDB still applies: pruning never changes results;
- ``DELETE ... WHERE`` and ``maintain compact --where`` (``where_expression``): every
  term must translate, or ``FilterNotTranslatable`` names the first one that does not
  (dropping it would delete or rewrite other rows than asked).
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any, Protocol

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
    NotEqualTo,
    NotIn,
    NotNull,
    Or,
)
from pyiceberg.schema import Schema

from icehouse.errors import FilterNotTranslatable
from icehouse.tables._compat import render_expression, serialize_sql
from icehouse.tables.duckdb_types import duckdb_type
from icehouse.tables.per_text import PerText


class _Comparison(Protocol):
    """A PyIceberg comparison class, called as ``cls(term=column, value=constant)``."""

    def __call__(self, *, term: str, value: Any) -> BooleanExpression: ...


_TRUE: dict[str, _Comparison] = {
    "COMPARE_EQUAL": EqualTo,
    "COMPARE_NOTEQUAL": NotEqualTo,
    "COMPARE_GREATERTHAN": GreaterThan,
    "COMPARE_GREATERTHANOREQUALTO": GreaterThanOrEqual,
    "COMPARE_LESSTHAN": LessThan,
    "COMPARE_LESSTHANOREQUALTO": LessThanOrEqual,
}
"""DuckDB comparison ``column op constant`` → where it is TRUE."""
_FALSE: dict[str, _Comparison] = {
    "COMPARE_EQUAL": NotEqualTo,
    "COMPARE_NOTEQUAL": EqualTo,
    "COMPARE_GREATERTHAN": LessThanOrEqual,
    "COMPARE_GREATERTHANOREQUALTO": LessThan,
    "COMPARE_LESSTHAN": GreaterThanOrEqual,
    "COMPARE_LESSTHANOREQUALTO": GreaterThan,
}
"""… and where it is FALSE (a null column makes it neither)."""
_MIRRORED = {
    "COMPARE_EQUAL": "COMPARE_EQUAL",
    "COMPARE_NOTEQUAL": "COMPARE_NOTEQUAL",
    "COMPARE_GREATERTHAN": "COMPARE_LESSTHAN",
    "COMPARE_GREATERTHANOREQUALTO": "COMPARE_LESSTHANOREQUALTO",
    "COMPARE_LESSTHAN": "COMPARE_GREATERTHAN",
    "COMPARE_LESSTHANOREQUALTO": "COMPARE_GREATERTHANOREQUALTO",
}
"""``constant op column`` is ``column mirrored-op constant``."""

SUPPORTED = "column <op> constant, [NOT] IN (...), IS [NOT] NULL, joined by AND, OR and NOT"
"""What a filter may hold, for error messages."""


def single_table_where(
    sql: str, conn: duckdb.DuckDBPyConnection
) -> tuple[str, str | None, dict[str, Any]] | None:
    """(``namespace.table``, alias, WHERE node) of a single-table SELECT, else None; a
    mounted table's name keeps its three parts (``mount.namespace.table``)."""
    parsed = serialize_sql(conn, sql)
    if parsed.get("error") or len(parsed.get("statements", [])) != 1:
        return None
    node = parsed["statements"][0]["node"]
    source = node.get("from_table") or {}
    if node.get("type") != "SELECT_NODE" or source.get("type") != "BASE_TABLE":
        return None
    if not source.get("schema_name") or not node.get("where_clause"):
        return None
    parts = (source.get("catalog_name"), source["schema_name"], source["table_name"])
    return ".".join(p for p in parts if p), source.get("alias") or None, node["where_clause"]


def pushdown_filter(
    sql: str,
    table_name: str,
    schema: Schema,
    conn: duckdb.DuckDBPyConnection | None = None,
    *,
    casts: CastCache | None = None,
) -> BooleanExpression:
    """The filter to plan ``table_name`` with for the query ``sql``: its WHERE's top-level
    AND terms that translate (``AlwaysTrue`` if none or not a single-table query).
    ``conn`` (the query's own connection, if it has one) parses and casts constants, so
    that its TimeZone setting applies; ``casts`` keeps the constants cast between
    queries."""
    if not re.search(r"\bWHERE\b", sql, re.IGNORECASE):
        return AlwaysTrue()
    with _connection(conn) as own:
        found = single_table_where(sql, own)
        if found is None or found[0] != table_name:
            return AlwaysTrue()
        _, alias, where = found
        translate = _Translator(schema, {None, alias, table_name.rsplit(".")[-1]}, own, casts)
        terms = []
        for conjunct in _conjuncts(where):
            try:
                terms.append(translate.true_of(conjunct))
            except _Untranslatable:
                continue
    return _all_of(terms)


def where_expression(
    where: str,
    table_name: str,
    schema: Schema,
    conn: duckdb.DuckDBPyConnection | None = None,
) -> BooleanExpression:
    """``where`` (the text after ``WHERE``) over ``table_name`` as an exact PyIceberg
    expression.

    Raises:
        FilterNotTranslatable: a term has no exact translation (named, as SQL, in the
            message and in ``term``), or ``where`` does not parse as a filter.
    """
    with _connection(conn) as own:
        found = single_table_where(f"SELECT * FROM {table_name} WHERE {where}", own)
        if found is None or found[0] != table_name:
            raise FilterNotTranslatable(
                f"cannot read {where!r} as a filter; supported: {SUPPORTED}", term=where
            )
        _, alias, node = found
        translate = _Translator(schema, {None, alias, table_name.split(".")[1]}, own)
        try:
            return translate.true_of(node)
        except _Untranslatable as exc:
            term = render_expression(own, exc.node) or where
            raise FilterNotTranslatable(
                f"cannot translate the term `{term}` into an Iceberg filter; "
                f"supported: {SUPPORTED}",
                term=term,
            ) from None


def referenced_columns(sql: str, conn: duckdb.DuckDBPyConnection) -> set[str] | None:
    """Lower-case names of every column the statement mentions, of any table; None when
    it reads whole rows (``*``, ``COLUMNS(...)``, ``NATURAL JOIN``, a table alias used
    as a value) or cannot be parsed. An over-estimate: a name counts for every table
    that has such a column."""
    found = _referenced.get(sql, lambda: _columns_named(serialize_sql(conn, sql)))
    return None if found is None else set(found)


_referenced: PerText[frozenset[str] | None] = PerText()


def _columns_named(parsed: dict[str, Any]) -> frozenset[str] | None:
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
    return None if single_names & relations else frozenset(columns)


class _connection:
    """The caller's connection, or a new one in UTC closed on exit."""

    def __init__(self, conn: duckdb.DuckDBPyConnection | None) -> None:
        self._given = conn
        self._own: duckdb.DuckDBPyConnection | None = None

    def __enter__(self) -> duckdb.DuckDBPyConnection:
        if self._given is not None:
            return self._given
        self._own = duckdb.connect()
        self._own.execute("SET TimeZone = 'UTC'")
        return self._own

    def __exit__(self, *exc: object) -> None:
        if self._own is not None:
            self._own.close()


def _all_of(terms: list[BooleanExpression]) -> BooleanExpression:
    if not terms:
        return AlwaysTrue()
    return terms[0] if len(terms) == 1 else And(*terms)


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


CastCache = dict[tuple[str, str | None, str, Any, str], Any]
"""Constants already cast (column type, literal's type, literal, TimeZone → value):
queries run again and again (a dashboard, a shell session) repeat theirs, and each cast
is a DuckDB round trip. Its owner (a ``Lake``'s queries) passes it in."""
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
"""Types a constant may be written in (or cast to) and still be translated: those
DuckDB's parser hands over as a plain JSON value and whose name is valid SQL."""


def _literal(value: dict[str, Any]) -> Any:
    """A constant's value as DuckDB should read it back: decimals (serialised unscaled,
    ``1.5`` as 15) as their exact text, plain types as they are, None for the others
    (HUGEINT and the like, serialised as objects): such a term is not translated."""
    kind = value["type"]["id"]
    if kind == "DECIMAL":
        if not isinstance(value["value"], int):  # wider than 18 digits: an object
            return None
        scale = int(value["type"]["type_info"]["scale"])
        return str(Decimal(value["value"]).scaleb(-scale))
    return value["value"] if kind in _PLAIN_TYPES else None


class _Untranslatable(Exception):
    """A node with no exact PyIceberg expression (internal: callers get a message)."""

    def __init__(self, node: dict[str, Any]) -> None:
        super().__init__(node.get("type"))
        self.node = node


class _Translator:
    """Turns DuckDB expression nodes over one table into PyIceberg expressions: for each
    node, where it is TRUE (``true_of``) and where it is FALSE (``false_of``)."""

    def __init__(
        self,
        schema: Schema,
        qualifiers: set[str | None],
        conn: duckdb.DuckDBPyConnection,
        casts: CastCache | None = None,
    ) -> None:
        self._schema, self._qualifiers, self._conn = schema, qualifiers, conn
        self._casts: CastCache = casts if casts is not None else {}
        self._timezone: str | None = None

    def true_of(self, node: dict[str, Any]) -> BooleanExpression:
        return self._translate(node, negated=False)

    def false_of(self, node: dict[str, Any]) -> BooleanExpression:
        return self._translate(node, negated=True)

    def _translate(self, node: dict[str, Any], *, negated: bool) -> BooleanExpression:
        kind = node.get("type")
        if kind in ("CONJUNCTION_AND", "CONJUNCTION_OR"):
            parts = [self._translate(child, negated=negated) for child in node["children"]]
            # NOT (a AND b) is FALSE-of-a OR FALSE-of-b; NOT (a OR b) needs both FALSE.
            conjunctive = (kind == "CONJUNCTION_AND") != negated
            return And(*parts) if conjunctive else Or(*parts)
        if kind == "OPERATOR_NOT":
            return self._translate(node["children"][0], negated=not negated)
        if kind in ("OPERATOR_IS_NULL", "OPERATOR_IS_NOT_NULL"):
            column = self._column_or_raise(node["children"][0], node)
            return (
                IsNull(term=column)
                if (kind == "OPERATOR_IS_NULL") != negated
                else NotNull(term=column)
            )
        if kind in _TRUE:
            return self._comparison(node, negated)
        if kind in ("COMPARE_IN", "COMPARE_NOT_IN"):
            column = self._column_or_raise(node["children"][0], node)
            values = [self._constant_or_raise(c, column, node) for c in node["children"][1:]]
            inside = (kind == "COMPARE_IN") != negated
            if inside:
                return In(term=column, literals=values)
            return self._known(column, NotIn(term=column, literals=values))
        raise _Untranslatable(node)

    def _comparison(self, node: dict[str, Any], negated: bool) -> BooleanExpression:
        kind, column, constant = node["type"], self._column(node["left"]), node["right"]
        if column is None:
            kind, column, constant = _MIRRORED[kind], self._column(node["right"]), node["left"]
        if column is None:
            raise _Untranslatable(node)
        value = self._constant_or_raise(constant, column, node)
        build = (_FALSE if negated else _TRUE)[kind]
        expression = build(term=column, value=value)
        return self._known(column, expression) if isinstance(expression, NotEqualTo) else expression

    def _known(self, column: str, expression: BooleanExpression) -> BooleanExpression:
        """``expression`` and ``column IS NOT NULL``: where SQL's comparison is NULL
        (a null column), Iceberg's negated one would hold."""
        if self._schema.find_field(column).required:
            return expression
        return And(NotNull(term=column), expression)

    def _column(self, node: dict[str, Any]) -> str | None:
        if node.get("class") != "COLUMN_REF":
            return None
        *prefix, name = node["column_names"]
        if len(prefix) > 1 or (prefix and prefix[0] not in self._qualifiers):
            return None
        try:
            self._schema.find_field(name)
        except ValueError:
            return None
        return str(name)

    def _column_or_raise(self, node: dict[str, Any], term: dict[str, Any]) -> str:
        column = self._column(node)
        if column is None:
            raise _Untranslatable(term)
        return column

    def _constant_or_raise(self, node: dict[str, Any], column: str, term: dict[str, Any]) -> Any:
        ok, value = self._constant(node, column)
        if not ok:
            raise _Untranslatable(term)
        return value

    def _constant(self, node: dict[str, Any], column: str) -> tuple[bool, Any]:
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
        sql_type = duckdb_type(self._schema.find_field(column).field_type)
        if sql_type is None:  # a type icehouse cannot name in DuckDB
            return False, None
        zone = self._timezone_setting() if "TIME" in f"{sql_type} {cast_to}" else ""
        key = (sql_type, cast_to, type(literal).__name__, literal, zone)
        value = self._casts.get(key, _UNCAST)
        if value is _UNCAST:
            parameter = "?" if cast_to is None else f"CAST(? AS {cast_to})"
            cast = f"TRY_CAST({parameter} AS {sql_type})"
            if sql_type.startswith("TIMESTAMP"):  # microseconds: what Iceberg stores
                cast = f"epoch_us({cast})"
            try:
                row = self._conn.execute(f"SELECT {cast}", [literal]).fetchone()
                value = row[0] if row else None
            except duckdb.Error:
                value = None
            if len(self._casts) >= _CASTS_KEPT:
                self._casts.clear()
            self._casts[key] = value
        return value is not None, value

    def _timezone_setting(self) -> str:
        """The connection's TimeZone setting (the shell may change it), read once."""
        if self._timezone is None:
            row = self._conn.execute("SELECT current_setting('TimeZone')").fetchone()
            self._timezone = str(row[0]) if row else ""
        return self._timezone
