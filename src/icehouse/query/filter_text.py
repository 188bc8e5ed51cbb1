"""A pushed-down filter as people write it (``ts >= 2024-06-02T00:00:00+00:00 AND
customer_id = 42``), not as PyIceberg's ``repr`` shows it (``GreaterThanOrEqual(term=
Reference(name='ts'), literal=LongLiteral(1717286400000000))``)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

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
from pyiceberg.types import DateType, TimestampType, TimestamptzType

_OPERATORS: dict[type, str] = {
    EqualTo: "=",
    NotEqualTo: "<>",
    GreaterThan: ">",
    GreaterThanOrEqual: ">=",
    LessThan: "<",
    LessThanOrEqual: "<=",
}


def describe_filter(expression: BooleanExpression, schema: Schema) -> str:
    """``expression`` as SQL-like text; an ``OR`` inside an ``AND`` in parentheses."""
    if isinstance(expression, AlwaysTrue):
        return "none"
    if isinstance(expression, And):
        left, right = (_operand(e, schema) for e in (expression.left, expression.right))
        return f"{left} AND {right}"
    if isinstance(expression, Or):
        return (
            f"{describe_filter(expression.left, schema)} OR "
            f"{describe_filter(expression.right, schema)}"
        )
    name = getattr(getattr(expression, "term", None), "name", None)
    if name is None:
        return str(expression)
    if isinstance(expression, IsNull):
        return f"{name} IS NULL"
    if isinstance(expression, NotNull):
        return f"{name} IS NOT NULL"
    if isinstance(expression, In | NotIn):
        values = ", ".join(_value(schema, name, lit.value) for lit in expression.literals)
        return f"{name} {'IN' if isinstance(expression, In) else 'NOT IN'} ({values})"
    operator = _OPERATORS.get(type(expression))
    literal = getattr(expression, "literal", None)
    if operator is None or literal is None:
        return str(expression)
    return f"{name} {operator} {_value(schema, name, literal.value)}"


def _operand(expression: BooleanExpression, schema: Schema) -> str:
    text = describe_filter(expression, schema)
    return f"({text})" if isinstance(expression, Or) else text


def _value(schema: Schema, name: str, value: Any) -> str:
    field_type = schema.find_field(name).field_type
    if isinstance(field_type, TimestamptzType) and isinstance(value, int):
        return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=value)).isoformat()
    if isinstance(field_type, TimestampType) and isinstance(value, int):
        return (datetime(1970, 1, 1) + timedelta(microseconds=value)).isoformat()
    if isinstance(field_type, DateType) and isinstance(value, int):
        return (date(1970, 1, 1) + timedelta(days=value)).isoformat()
    return repr(value) if isinstance(value, str) else str(value)
