"""Read what people type for schemas, partition fields and sort orders.

Grammar (Iceberg names; Spark's plural aliases are accepted):

- partition field: ``identity(c)`` or ``c``, ``year(c)``, ``month(c)``, ``day(c)``,
  ``hour(c)``, ``bucket(N, c)``, ``truncate(W, c)``; aliases ``years``, ``months``,
  ``days``, ``hours``, ``date`` (day), ``date_hour`` (hour).
- sort order: ``customer_id, requested_at DESC NULLS LAST``.
- schema: an Iceberg schema JSON (``{"type": "struct", "fields": [...]}``) or a simple
  ``{"column": "type"}`` map, where a type ending in ``!`` or ``not null`` is required.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from pyiceberg.schema import Schema
from pyiceberg.table.sorting import NullOrder, SortDirection
from pyiceberg.transforms import (
    BucketTransform,
    DayTransform,
    HourTransform,
    IdentityTransform,
    MonthTransform,
    Transform,
    TruncateTransform,
    YearTransform,
)
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IcebergType,
    IntegerType,
    LongType,
    NestedField,
    StringType,
    TimestampType,
    TimestamptzType,
    TimeType,
    UUIDType,
)

from icehouse.errors import InvalidPartitionSpec, InvalidSchema, InvalidSortOrder

_PRIMITIVES: dict[str, IcebergType] = {
    "boolean": BooleanType(),
    "bool": BooleanType(),
    "int": IntegerType(),
    "integer": IntegerType(),
    "int32": IntegerType(),
    "long": LongType(),
    "bigint": LongType(),
    "int64": LongType(),
    "float": FloatType(),
    "float32": FloatType(),
    "double": DoubleType(),
    "float64": DoubleType(),
    "string": StringType(),
    "varchar": StringType(),
    "text": StringType(),
    "binary": BinaryType(),
    "bytes": BinaryType(),
    "date": DateType(),
    "time": TimeType(),
    "timestamp": TimestampType(),
    "timestamptz": TimestamptzType(),
    "timestamp_tz": TimestamptzType(),
    "uuid": UUIDType(),
}
_DECIMAL = re.compile(r"^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$")


def parse_type(text: str) -> IcebergType:
    """A primitive Iceberg type from its name (``long``, ``decimal(10, 2)``, ...).

    Raises:
        InvalidSchema: an unknown type name.
    """
    name = text.strip().lower()
    if name in _PRIMITIVES:
        return _PRIMITIVES[name]
    match = _DECIMAL.match(name)
    if match:
        return DecimalType(int(match.group(1)), int(match.group(2)))
    known = ", ".join(
        sorted(
            {
                "boolean",
                "int",
                "long",
                "float",
                "double",
                "string",
                "binary",
                "date",
                "time",
                "timestamp",
                "timestamptz",
                "uuid",
            }
        )
    )
    raise InvalidSchema(f"unknown type {text!r}; use one of {known} or decimal(P, S)")


def parse_schema(document: str | dict[str, Any]) -> Schema:
    """An Iceberg schema from Iceberg JSON or a ``{"column": "type"}`` map.

    Raises:
        InvalidSchema: not JSON, or neither form, or an unknown type.
    """
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except json.JSONDecodeError as exc:
            raise InvalidSchema(f"schema is not valid JSON: {exc}") from exc
    if not isinstance(document, dict) or not document:
        raise InvalidSchema("schema must be a JSON object")
    if document.get("type") == "struct" and "fields" in document:
        try:
            return Schema.model_validate(document)
        except ValueError as exc:
            raise InvalidSchema(f"not a valid Iceberg schema: {exc}") from exc
    fields = []
    for field_id, (name, spec) in enumerate(document.items(), start=1):
        if not isinstance(spec, str):
            raise InvalidSchema(f"column {name!r}: type must be a string, got {spec!r}")
        type_text, required = _strip_required(spec)
        fields.append(NestedField(field_id, name, parse_type(type_text), required=required))
    return Schema(*fields)


def _strip_required(spec: str) -> tuple[str, bool]:
    text = spec.strip()
    if text.endswith("!"):
        return text[:-1], True
    if text.lower().endswith("not null"):
        return text[: -len("not null")].strip(), True
    return text, False


@dataclass(frozen=True)
class PartitionField:
    """One parsed ``--partition`` argument."""

    source: str
    transform: Transform[Any, Any]

    @property
    def name(self) -> str:
        """Iceberg's conventional partition field name (``requested_at_day``)."""
        if isinstance(self.transform, IdentityTransform):
            return self.source
        if isinstance(self.transform, BucketTransform):
            return f"{self.source}_bucket"
        if isinstance(self.transform, TruncateTransform):
            return f"{self.source}_trunc"
        return f"{self.source}_{self.transform!s}"


_ALIASES = {
    "years": "year",
    "months": "month",
    "days": "day",
    "date": "day",
    "hours": "hour",
    "date_hour": "hour",
}
_CALL = re.compile(r"^\s*([A-Za-z_]+)\s*\((.*)\)\s*$")
_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")


def parse_partition_field(text: str) -> PartitionField:
    """``day(requested_at)``, ``bucket(16, customer_id)``, ``country`` ...

    Raises:
        InvalidPartitionSpec: not one of the transforms, or bad arguments.
    """
    match = _CALL.match(text)
    if match is None:
        column = text.strip()
        if not _IDENT.match(column):
            raise InvalidPartitionSpec(_partition_help(text))
        return PartitionField(column, IdentityTransform())
    name = _ALIASES.get(match.group(1).lower(), match.group(1).lower())
    args = [a.strip() for a in match.group(2).split(",")]
    simple = {
        "identity": IdentityTransform,
        "year": YearTransform,
        "month": MonthTransform,
        "day": DayTransform,
        "hour": HourTransform,
    }
    if name in simple and len(args) == 1 and _IDENT.match(args[0]):
        return PartitionField(args[0], simple[name]())
    if name in ("bucket", "truncate") and len(args) == 2 and args[0].isdigit() and int(args[0]):
        if not _IDENT.match(args[1]):
            raise InvalidPartitionSpec(_partition_help(text))
        width = int(args[0])
        transform: Transform[Any, Any] = (
            BucketTransform(width) if name == "bucket" else TruncateTransform(width)
        )
        return PartitionField(args[1], transform)
    raise InvalidPartitionSpec(_partition_help(text))


def _partition_help(text: str) -> str:
    return (
        f"cannot read partition field {text!r}: use a column name or identity(c), year(c), "
        "month(c), day(c), hour(c), bucket(N, c) or truncate(W, c)"
    )


@dataclass(frozen=True)
class SortField:
    source: str
    direction: SortDirection
    null_order: NullOrder


_SORT = re.compile(
    r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*(ASC|DESC)?\s*(NULLS\s+(?:FIRST|LAST))?\s*$",
    re.IGNORECASE,
)


def parse_sort_order(text: str) -> list[SortField]:
    """``customer_id, requested_at DESC NULLS LAST``; nulls default as in SQL/Iceberg
    (first for ascending, last for descending).

    Raises:
        InvalidSortOrder: a term that is not ``column [ASC|DESC] [NULLS FIRST|LAST]``.
    """
    fields = []
    for term in text.split(","):
        if not term.strip():
            continue
        match = _SORT.match(term)
        if match is None:
            raise InvalidSortOrder(
                f"cannot read sort term {term.strip()!r}: "
                "use 'column [ASC|DESC] [NULLS FIRST|NULLS LAST]'"
            )
        column, direction, nulls = match.groups()
        desc = bool(direction) and direction.upper() == "DESC"
        nulls_first = nulls.upper().split()[-1] == "FIRST" if nulls else not desc
        fields.append(
            SortField(
                column,
                SortDirection.DESC if desc else SortDirection.ASC,
                NullOrder.NULLS_FIRST if nulls_first else NullOrder.NULLS_LAST,
            )
        )
    if not fields:
        raise InvalidSortOrder("empty sort order: name at least one column")
    return fields
