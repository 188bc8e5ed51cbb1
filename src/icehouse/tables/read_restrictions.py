"""Read restrictions as the Iceberg REST spec's ``LoadTableResult`` carries them: a
table handed to a trusted engine together with what that engine must apply to it.

The spec's ``read-restrictions`` object has two fields: ``required-row-filter``, an
Iceberg expression whose column references are field ids (``{"type": "reference",
"id": 3}``), and ``required-column-projections``, one action per field id. A principal
whose access is one row filter and a set of columns gets the filter as the first and,
for each top-level column it may not see, ``replace-with-null`` (or, for a required
column, which cannot be null, ``mask-to-fixed-value``) as the second. Both sides are
here: ``encode`` for the server, ``decode_row_filter`` and ``hidden_fields`` for a
reader, so that what one writes the other reads.

The stored row filter (``row_filters.py``) keeps literals as PyIceberg holds them
(dates in days, timestamps in microseconds); the spec writes them as Iceberg's JSON
single values (ISO text), which is what is converted on the way out and back.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pyiceberg.schema import Schema
from pyiceberg.types import (
    DateType,
    IcebergType,
    NestedField,
    TimestampType,
    TimestamptzType,
)

from icehouse.errors import InvalidInput

ROW_FILTER = "required-row-filter"
PROJECTIONS = "required-column-projections"
HIDING_ACTIONS = frozenset({"replace-with-null", "mask-to-fixed-value"})
"""The projections icehouse hands out: both leave nothing of the column's values."""

_SPEC_OPS = {
    "eq": "eq",
    "not_eq": "not-eq",
    "lt": "lt",
    "lt_eq": "lt-eq",
    "gt": "gt",
    "gt_eq": "gt-eq",
    "in": "in",
    "not_in": "not-in",
    "is_null": "is-null",
    "not_null": "not-null",
}
_STORED_OPS = {spec: stored for stored, spec in _SPEC_OPS.items()}
_EPOCH = datetime(1970, 1, 1)


def encode(
    row_filter: dict[str, Any] | None, visible: Collection[int] | None, schema: Schema
) -> dict[str, Any]:
    """The ``read-restrictions`` of access to the rows of ``row_filter`` (a stored
    predicate, None: every row) and the columns ``visible`` (field ids, None: every
    column), for a table whose current schema is ``schema``. Empty when that is the
    whole table."""
    restrictions: dict[str, Any] = {}
    if row_filter is not None:
        restrictions[ROW_FILTER] = _predicate(row_filter, schema)
    if visible is not None:
        hidden = [f for f in schema.fields if f.field_id not in visible]
        if hidden:
            restrictions[PROJECTIONS] = [
                {
                    "field-id": f.field_id,
                    "action": "mask-to-fixed-value" if f.required else "replace-with-null",
                }
                for f in hidden
            ]
    return restrictions


def hidden_fields(restrictions: dict[str, Any]) -> set[int]:
    """The field ids a reader must leave out (their values are masked away entirely).

    Raises: InvalidInput (an action this reader cannot apply: the spec says to refuse
    the read rather than return what the action was to hide)."""
    hidden: set[int] = set()
    for projection in restrictions.get(PROJECTIONS) or ():
        action = projection.get("action")
        if action not in HIDING_ACTIONS:
            raise InvalidInput(
                f"the table comes with the read restriction {action!r} on field "
                f"{projection.get('field-id')}, which this reader cannot apply; not reading it"
            )
        hidden.add(int(projection["field-id"]))
    return hidden


def decode_row_filter(restrictions: dict[str, Any], schema: Schema) -> dict[str, Any] | None:
    """The ``required-row-filter`` as a stored predicate (``row_filters.py``), which
    ``row_filter_expression`` turns into a scan filter; None when there is none.

    Raises: InvalidInput (an expression this reader cannot apply)."""
    predicate = restrictions.get(ROW_FILTER)
    if predicate is None or predicate is True or predicate == {"type": "true"}:
        return None
    return _stored(predicate, schema)


def _predicate(encoded: dict[str, Any], schema: Schema) -> Any:
    kind = encoded["op"]
    if kind in ("true", "false"):
        return kind == "true"
    if kind in ("and", "or"):
        left, right = (_predicate(e, schema) for e in encoded["args"])
        return {"type": kind, "left": left, "right": right}
    if kind == "not":
        return {"type": "not", "child": _predicate(encoded["args"][0], schema)}
    reference = {"type": "reference", "id": encoded["field"]}
    field_type = _type(schema, encoded["field"])
    if kind in ("is_null", "not_null"):
        return {"type": _SPEC_OPS[kind], "child": reference}
    if kind in ("in", "not_in"):
        values = [_spec_value(v, field_type) for v in encoded["values"]]
        return {"type": _SPEC_OPS[kind], "child": reference, "values": values}
    literal = {"type": "literal", "value": _spec_value(encoded["value"], field_type)}
    return {"type": _SPEC_OPS[kind], "left": reference, "right": literal}


def _stored(predicate: Any, schema: Schema) -> dict[str, Any]:
    if isinstance(predicate, bool):
        return {"op": "true" if predicate else "false"}
    if not isinstance(predicate, dict):
        raise _unreadable(predicate)
    kind = predicate.get("type")
    if kind in ("true", "false"):
        return {"op": kind}
    if kind in ("and", "or"):
        return {"op": kind, "args": [_stored(predicate[s], schema) for s in ("left", "right")]}
    if kind == "not":
        return {"op": "not", "args": [_stored(predicate["child"], schema)]}
    if kind not in _STORED_OPS:
        raise _unreadable(predicate)
    operand = predicate.get("child", predicate.get("left"))
    if not isinstance(operand, dict) or operand.get("type") != "reference" or "id" not in operand:
        raise _unreadable(predicate)
    field_id = int(operand["id"])
    field_type = _type(schema, field_id)
    stored: dict[str, Any] = {"op": _STORED_OPS[kind], "field": field_id}
    if kind in ("in", "not-in"):
        stored["values"] = [_stored_value(_literal(v), field_type) for v in predicate["values"]]
    elif kind not in ("is-null", "not-null"):
        stored["value"] = _stored_value(_literal(predicate["right"]), field_type)
    return stored


def _literal(value: Any) -> Any:
    if isinstance(value, dict):
        if value.get("type") != "literal":
            raise _unreadable(value)
        return value["value"]
    return value


def _type(schema: Schema, field_id: int) -> IcebergType | None:
    """The field's type in ``schema``; None for a column it lacks (the predicate then
    reads it as null, as ``row_filters`` does)."""
    try:
        field: NestedField = schema.find_field(field_id)
    except ValueError:
        return None
    return field.field_type


def _spec_value(value: Any, field_type: IcebergType | None) -> Any:
    if isinstance(field_type, DateType):
        return (date(1970, 1, 1) + timedelta(days=value)).isoformat()
    if isinstance(field_type, TimestamptzType):
        return (datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=value)).isoformat()
    if isinstance(field_type, TimestampType):
        return (_EPOCH + timedelta(microseconds=value)).isoformat()
    return value


def _stored_value(value: Any, field_type: IcebergType | None) -> Any:
    if isinstance(field_type, DateType):
        return (date.fromisoformat(value) - date(1970, 1, 1)).days
    if isinstance(field_type, TimestamptzType):
        moment = datetime.fromisoformat(value)
        return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    if isinstance(field_type, TimestampType):
        return (datetime.fromisoformat(value) - _EPOCH) // timedelta(microseconds=1)
    return value


def _unreadable(predicate: Any) -> InvalidInput:
    return InvalidInput(
        f"the table comes with a required row filter this reader cannot apply "
        f"({str(predicate)[:200]}); not reading it"
    )


def for_metadata(
    metadata: dict[str, Any], row_filter: dict[str, Any] | None, visible: Collection[int] | None
) -> dict[str, Any]:
    """``encode`` for a table given as its metadata JSON (its current schema's fields)."""
    current = metadata.get("current-schema-id")
    document = next(s for s in metadata["schemas"] if s.get("schema-id") == current)
    return encode(row_filter, visible, Schema.model_validate(document))
