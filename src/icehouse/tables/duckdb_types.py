"""The DuckDB SQL type of each Iceberg type icehouse reads and writes.

Ingestion casts mapped values to it, and query pushdown casts a filter's constants to it
the way the query's own comparison does; both must agree, so there is one map.
"""

from __future__ import annotations

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
    StringType,
    TimestampType,
    TimestamptzType,
    TimeType,
    UUIDType,
)

_DUCKDB_TYPES: dict[type[IcebergType], str] = {
    BooleanType: "BOOLEAN",
    IntegerType: "INTEGER",
    LongType: "BIGINT",
    FloatType: "FLOAT",
    DoubleType: "DOUBLE",
    StringType: "VARCHAR",
    BinaryType: "BLOB",
    DateType: "DATE",
    TimeType: "TIME",
    TimestampType: "TIMESTAMP",
    TimestamptzType: "TIMESTAMPTZ",
    UUIDType: "UUID",
}


def duckdb_type(iceberg_type: IcebergType) -> str | None:
    """The DuckDB type name, None for a type icehouse does not name in DuckDB (nested
    types, ``timestamp_ns``...): callers decide whether that is an error."""
    if isinstance(iceberg_type, DecimalType):
        return f"DECIMAL({iceberg_type.precision}, {iceberg_type.scale})"
    return _DUCKDB_TYPES.get(type(iceberg_type))
