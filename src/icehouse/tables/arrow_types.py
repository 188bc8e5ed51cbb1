"""Iceberg schemas from Arrow schemas of sample files (``table create --like``).

PyIceberg's converter for id-less Arrow schemas is private, so this small visitor does
the same for the types log files actually contain.
"""

from __future__ import annotations

import itertools

import pyarrow as pa
from pyiceberg.schema import Schema
from pyiceberg.types import (
    BinaryType,
    BooleanType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IcebergType,
    IntegerType,
    ListType,
    LongType,
    NestedField,
    StringType,
    StructType,
    TimestampType,
    TimestamptzType,
    TimeType,
)

from icehouse.errors import InvalidSchema


def schema_from_arrow(arrow_schema: pa.Schema) -> Schema:
    """Every column optional: a sample file cannot prove a field is always present."""
    ids = itertools.count(1)
    top = [(next(ids), f) for f in arrow_schema]
    return Schema(*[_field(field_id, f, ids) for field_id, f in top])


def _field(field_id: int, f: pa.Field, ids: itertools.count[int]) -> NestedField:
    return NestedField(field_id, f.name, _type(f.type, ids, f.name), required=False)


def _type(t: pa.DataType, ids: itertools.count[int], name: str) -> IcebergType:
    if pa.types.is_struct(t):
        children = [(next(ids), t.field(i)) for i in range(t.num_fields)]
        return StructType(*[_field(i, c, ids) for i, c in children])
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        element_id = next(ids)
        return ListType(element_id, _type(t.value_type, ids, name), element_required=False)
    if pa.types.is_boolean(t):
        return BooleanType()
    if pa.types.is_integer(t):
        return IntegerType() if t.bit_width <= 32 and t != pa.uint32() else LongType()
    if pa.types.is_float32(t) or pa.types.is_float16(t):
        return FloatType()
    if pa.types.is_float64(t):
        return DoubleType()
    if pa.types.is_decimal(t):
        return DecimalType(t.precision, t.scale)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_null(t):
        return StringType()
    if pa.types.is_binary(t) or pa.types.is_large_binary(t):
        return BinaryType()
    if pa.types.is_timestamp(t):
        return TimestamptzType() if t.tz else TimestampType()
    if pa.types.is_date(t):
        return DateType()
    if pa.types.is_time(t):
        return TimeType()
    raise InvalidSchema(f"column {name!r}: no Iceberg type for Arrow type {t}")
