"""A data filter's row predicate, kept by field id so that no rename moves it.

A predicate is written as SQL over a table's columns (``region = 'eu' AND status >=
500``), translated exactly into an Iceberg expression (``filters.where_expression``) and
stored as JSON whose column references are field ids, not names: a column renamed by any
client, a schema evolved, or a snapshot read with an older schema still gets the rows the
predicate meant. It is rendered back for one schema, as an Iceberg expression (planning
prunes files with it) or as DuckDB SQL (the trusted read applies it).

Both renderings keep Iceberg's semantics for a null or missing column, which are SQL's
``WHERE`` semantics for the predicates ``where_expression`` produces (negations there
already require the column to be non-null): a column the schema lacks reads as null.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pyarrow.compute as pc
from pyiceberg.expressions import (
    AlwaysFalse,
    AlwaysTrue,
    And,
    BooleanExpression,
    BoundPredicate,
    EqualTo,
    GreaterThan,
    GreaterThanOrEqual,
    In,
    IsNull,
    LessThan,
    LessThanOrEqual,
    Not,
    NotEqualTo,
    NotIn,
    NotNull,
    Or,
)
from pyiceberg.expressions.visitors import bind
from pyiceberg.io.pyarrow import expression_to_pyarrow
from pyiceberg.schema import Schema
from pyiceberg.types import (
    BooleanType,
    DateType,
    DecimalType,
    IcebergType,
    NestedField,
    StringType,
    TimestampType,
    TimestamptzType,
)

from icehouse.errors import FilterNotTranslatable
from icehouse.tables.filters import where_expression

_COMPARISONS: dict[str, tuple[Callable[..., BooleanExpression], str]] = {
    "eq": (EqualTo, "="),
    "not_eq": (NotEqualTo, "<>"),
    "lt": (LessThan, "<"),
    "lt_eq": (LessThanOrEqual, "<="),
    "gt": (GreaterThan, ">"),
    "gt_eq": (GreaterThanOrEqual, ">="),
}
_KIND_OF = {bound.__name__: kind for kind, (bound, _) in _COMPARISONS.items()}

_TRUE_FOR_NULL = {"not_eq", "not_in", "is_null"}
"""Leaves that Iceberg holds for a null column (``NotEqualTo`` does; SQL's ``<>`` does not)."""


def encode_row_filter(where: str, table_name: str, schema: Schema) -> dict[str, Any]:
    """``where`` (SQL over ``table_name``'s columns) as JSON with field ids.

    Raises: FilterNotTranslatable naming the term with no exact Iceberg translation."""
    expression = bind(schema, where_expression(where, table_name, schema), case_sensitive=False)
    return _encode(expression)


def row_filter_expression(encoded: dict[str, Any], schema: Schema) -> BooleanExpression:
    """The stored predicate as an unbound Iceberg expression over ``schema``'s names."""
    kind = encoded["op"]
    if kind == "true":
        return AlwaysTrue()
    if kind == "false":
        return AlwaysFalse()
    if kind in ("and", "or"):
        left, right = (row_filter_expression(e, schema) for e in encoded["args"])
        return And(left, right) if kind == "and" else Or(left, right)
    if kind == "not":
        return Not(row_filter_expression(encoded["args"][0], schema))
    field = _field(schema, encoded["field"])
    if field is None:  # a column this schema lacks: null in every row
        return AlwaysTrue() if kind in _TRUE_FOR_NULL else AlwaysFalse()
    if kind == "is_null":
        return IsNull(term=field.name)
    if kind == "not_null":
        return NotNull(term=field.name)
    if kind in ("in", "not_in"):
        values = [_from_json(v, field.field_type) for v in encoded["values"]]
        return (
            In(term=field.name, literals=values)
            if kind == "in"
            else NotIn(term=field.name, literals=values)
        )
    make, _ = _COMPARISONS[kind]
    return make(field.name, _from_json(encoded["value"], field.field_type))


def row_filter_sql(
    encoded: dict[str, Any], schema: Schema, *, qualifier: str = "", where: bool = False
) -> str:
    """The stored predicate as a DuckDB boolean expression that is never NULL, over
    ``schema``'s column names (each prefixed with ``qualifier.`` when given).

    ``where``: for a WHERE clause of its own, which keeps a row only where the expression
    is true. There a comparison outside any NOT stays plain, NULL for a null column:
    NULL and false drop the row alike through AND and OR, and DuckDB pushes a plain
    comparison into its Parquet scans (statistics, filtered decoding) where it cannot
    push ``coalesce``. Leaves that Iceberg holds true for a null column, and everything
    under NOT, keep the never-NULL form."""
    kind = encoded["op"]
    if kind in ("true", "false"):
        return str(kind)
    if kind in ("and", "or"):
        left, right = (
            row_filter_sql(e, schema, qualifier=qualifier, where=where) for e in encoded["args"]
        )
        return f"({left} {kind.upper()} {right})"
    if kind == "not":
        return f"(NOT {row_filter_sql(encoded['args'][0], schema, qualifier=qualifier)})"
    field = _field(schema, encoded["field"])
    if field is None:
        return "true" if kind in _TRUE_FOR_NULL else "false"
    column = _quote(field.name)
    if qualifier:
        column = f"{_quote(qualifier)}.{column}"
    if kind == "is_null":
        return f"({column} IS NULL)"
    if kind == "not_null":
        return f"({column} IS NOT NULL)"
    if kind in ("in", "not_in"):
        values = ", ".join(_sql_literal(v, field.field_type) for v in encoded["values"])
        test = f"{column} {'IN' if kind == 'in' else 'NOT IN'} ({values})"
    else:
        _, operator = _COMPARISONS[kind]
        test = f"{column} {operator} {_sql_literal(encoded['value'], field.field_type)}"
    if kind in _TRUE_FOR_NULL:
        return f"coalesce({test}, true)"
    return f"({test})" if where else f"coalesce({test}, false)"


def expression_sql(expression: BooleanExpression, schema: Schema) -> str:
    """An Iceberg expression over ``schema``'s names as DuckDB SQL, with the same
    semantics as ``row_filter_sql`` (never NULL, Iceberg's for a null column).

    Raises: FilterNotTranslatable (a predicate with no stored form, e.g. starts_with)."""
    return row_filter_sql(_encode(bind(schema, expression, case_sensitive=False)), schema)


def expression_arrow(expression: BooleanExpression, schema: Schema) -> pc.Expression:
    """An Iceberg expression over ``schema``'s names as a pyarrow dataset filter. A row
    is kept where SQL's ``WHERE`` keeps it (a comparison with a null drops it), which
    for the predicates ``where_expression`` produces is Iceberg's semantics too."""
    return expression_to_pyarrow(bind(schema, expression, case_sensitive=True))


def row_filter_fields(encoded: dict[str, Any]) -> set[int]:
    """The field ids the predicate reads."""
    if "field" in encoded:
        return {encoded["field"]}
    return set().union(*(row_filter_fields(e) for e in encoded.get("args", [])))


def _field(schema: Schema, field_id: int) -> NestedField | None:
    try:
        return schema.find_field(field_id)
    except ValueError:  # a column this schema lacks
        return None


def _encode(expression: BooleanExpression) -> dict[str, Any]:
    if isinstance(expression, AlwaysTrue):
        return {"op": "true"}
    if isinstance(expression, AlwaysFalse):
        return {"op": "false"}
    if isinstance(expression, And | Or):
        op = "and" if isinstance(expression, And) else "or"
        return {"op": op, "args": [_encode(expression.left), _encode(expression.right)]}
    if isinstance(expression, Not):
        return {"op": "not", "args": [_encode(expression.child)]}
    if not isinstance(expression, BoundPredicate):
        raise TypeError(f"not a bound predicate: {expression!r}")
    field = expression.term.ref().field
    name = type(expression).__name__.removeprefix("Bound")
    if name in ("IsNull", "NotNull"):
        return {"op": "is_null" if name == "IsNull" else "not_null", "field": field.field_id}
    if name in ("In", "NotIn"):
        values = sorted((_to_json(lit.value) for lit in expression.literals), key=repr)  # type: ignore[attr-defined]
        return {"op": "in" if name == "In" else "not_in", "field": field.field_id, "values": values}
    if name not in _KIND_OF:  # starts_with, NaN tests: no stored form
        raise FilterNotTranslatable(f"no stored form for {name}", term=str(expression))
    value = _to_json(expression.literal.value)  # type: ignore[attr-defined]
    return {"op": _KIND_OF[name], "field": field.field_id, "value": value}


def _to_json(value: Any) -> Any:
    """Literals as PyIceberg holds them (timestamps in microseconds, dates in days), with
    decimals as text so that no digit is lost."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return value.hex()
    return value


def _from_json(value: Any, field_type: IcebergType) -> Any:
    if isinstance(field_type, DecimalType):
        return Decimal(value)
    return value


def _sql_literal(value: Any, field_type: IcebergType) -> str:
    if isinstance(field_type, TimestamptzType):
        moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=value)
        return f"TIMESTAMPTZ '{moment.isoformat()}'"
    if isinstance(field_type, TimestampType):
        return f"TIMESTAMP '{(datetime(1970, 1, 1) + timedelta(microseconds=value)).isoformat()}'"
    if isinstance(field_type, DateType):
        return f"DATE '{(date(1970, 1, 1) + timedelta(days=value)).isoformat()}'"
    if isinstance(field_type, DecimalType):
        return f"CAST('{value}' AS DECIMAL({field_type.precision}, {field_type.scale}))"
    if isinstance(field_type, BooleanType):
        return "true" if value else "false"
    if isinstance(field_type, StringType) or isinstance(value, str):
        return "'" + str(value).replace("'", "''") + "'"
    return repr(value)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
