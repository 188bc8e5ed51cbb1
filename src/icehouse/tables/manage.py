"""Create, evolve and describe tables, through PyIceberg's transaction APIs only."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import (
    TableAlreadyExistsError,
    ValidationError,
)
from pyiceberg.partitioning import PartitionField as IcebergPartitionField
from pyiceberg.partitioning import PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.table.sorting import SortDirection, SortOrder
from pyiceberg.table.sorting import SortField as IcebergSortField
from pyiceberg.transforms import IdentityTransform
from pyiceberg.types import (
    DecimalType,
    DoubleType,
    FloatType,
    IcebergType,
    IntegerType,
    LongType,
)

from icehouse.errors import InvalidInput, InvalidPartitionSpec, InvalidSchema, TableAlreadyExists
from icehouse.tables.arrow_types import schema_from_arrow
from icehouse.tables.catalog import TABLE_DEFAULTS, split_name
from icehouse.tables.grammar import PartitionField, SortField, parse_type
from icehouse.tables.namespaces import ensure_namespace
from icehouse.tables.new_locations import default_location
from icehouse.tables.retry import commit_races


def build_partition_spec(schema: Schema, fields: list[PartitionField]) -> PartitionSpec:
    """Raises: InvalidPartitionSpec for an unknown column or a transform its type lacks."""
    built = []
    for position, spec in enumerate(fields):
        source = _find(schema, spec.source, InvalidPartitionSpec)
        if not spec.transform.can_transform(source.field_type):
            raise InvalidPartitionSpec(
                f"cannot partition by {spec.transform}({spec.source}): "
                f"{spec.source} is {source.field_type}"
            )
        built.append(
            IcebergPartitionField(
                source_id=source.field_id,
                field_id=1000 + position,
                transform=spec.transform,
                name=spec.name,
            )
        )
    return PartitionSpec(*built)


def build_sort_order(schema: Schema, fields: list[SortField]) -> SortOrder:
    if not fields:
        return SortOrder(order_id=0)
    return SortOrder(
        *[
            IcebergSortField(
                source_id=_find(schema, f.source, InvalidInput).field_id,
                transform=IdentityTransform(),
                direction=f.direction,
                null_order=f.null_order,
            )
            for f in fields
        ]
    )


def _find(schema: Schema, column: str, error: type[InvalidInput]) -> Any:
    try:
        return schema.find_field(column)
    except ValueError:
        names = ", ".join(f.name for f in schema.fields)
        raise error(f"no column {column!r} in the schema (columns: {names})") from None


def create_table(
    catalog: SqlCatalog,
    name: str,
    schema: Schema | pa.Schema,
    *,
    partition: list[PartitionField],
    sort: list[SortField],
    properties: dict[str, str],
) -> Table:
    """Create a table with icehouse's defaults (properties given win over defaults).

    Raises:
        TableAlreadyExists, InvalidPartitionSpec, InvalidSortOrder, InvalidSchema.
    """
    namespace, table_name = split_name(name)
    if isinstance(schema, pa.Schema):
        schema = schema_from_arrow(schema)
    spec = build_partition_spec(schema, partition)
    order = build_sort_order(schema, sort)
    ensure_namespace(catalog, namespace)
    try:
        return catalog.create_table(
            name,
            schema,
            location=default_location(catalog, (namespace,), table_name),
            partition_spec=spec,
            sort_order=order,
            properties={**TABLE_DEFAULTS, **properties},
        )
    except TableAlreadyExistsError:
        raise TableAlreadyExists(f"table {name!r} already exists", table=name) from None


_WIDENINGS: dict[type[IcebergType], tuple[type[IcebergType], ...]] = {
    IntegerType: (LongType,),
    FloatType: (DoubleType,),
}


def alter_table(
    table: Table,
    *,
    partition: list[PartitionField] | None = None,
    add_columns: Sequence[tuple[str, str]] = (),
    widen: Sequence[tuple[str, str]] = (),
    sort: list[SortField] | None = None,
    properties: dict[str, str] | None = None,
) -> Table:
    """Evolve a table in one transaction; old data files keep their old spec.

    Raises:
        InvalidSchema: an unknown column, or a type change Iceberg does not allow.
        InvalidPartitionSpec: a partition field that cannot apply.
    """
    try:
        _apply_alterations(table, partition, add_columns, widen, sort, properties)
    except ValueError as exc:  # PyIceberg's word for "not allowed on this schema"
        raise InvalidSchema(str(exc)) from exc
    return table


def _apply_alterations(
    table: Table,
    partition: list[PartitionField] | None,
    add_columns: Sequence[tuple[str, str]],
    widen: Sequence[tuple[str, str]],
    sort: list[SortField] | None,
    properties: dict[str, str] | None,
) -> None:
    with commit_races(table), table.transaction() as tx:
        if add_columns or widen:
            with tx.update_schema() as update:
                for column, type_text in add_columns:
                    update.add_column(column, parse_type(type_text))
                for column, type_text in widen:
                    current = _find(table.schema(), column, InvalidSchema).field_type
                    target = parse_type(type_text)
                    _check_widening(column, current, target)
                    update.update_column(column, field_type=target)
        if partition is not None:
            _replace_spec(tx, table, partition)
        if sort is not None:
            with tx.update_sort_order() as order:
                for f in sort:
                    add = order.desc if f.direction == SortDirection.DESC else order.asc
                    add(f.source, IdentityTransform(), f.null_order)
        if properties:
            tx.set_properties(properties)


def _check_widening(column: str, current: IcebergType, target: IcebergType) -> None:
    if current == target:
        return
    allowed = _WIDENINGS.get(type(current), ())
    decimal_ok = (
        isinstance(current, DecimalType)
        and isinstance(target, DecimalType)
        and target.scale == current.scale
        and target.precision >= current.precision
    )
    if not (isinstance(target, allowed) or decimal_ok):
        raise InvalidSchema(
            f"cannot change {column} from {current} to {target}: Iceberg allows only "
            "int→long, float→double and wider decimal precision"
        )


def _replace_spec(tx: Any, table: Table, fields: list[PartitionField]) -> None:
    schema = table.schema()
    build_partition_spec(schema, fields)  # same checks and messages as at creation
    wanted = {(f.source, str(f.transform)): f for f in fields}
    current = {
        (schema.find_column_name(pf.source_id), str(pf.transform)): pf for pf in table.spec().fields
    }
    try:
        with tx.update_spec() as update:
            for key, pf in current.items():
                if key not in wanted:
                    update.remove_field(pf.name)
            for key, f in wanted.items():
                if key not in current:
                    update.add_field(f.source, f.transform, f.name)
    except (ValueError, ValidationError) as exc:
        raise InvalidPartitionSpec(str(exc)) from exc


@dataclass(frozen=True)
class TableInfo:
    """What ``icehouse table show`` prints, as plain data."""

    name: str
    location: str
    schema: list[dict[str, Any]]
    partition_specs: list[dict[str, Any]]
    current_spec_id: int
    sort_order: list[str]
    properties: dict[str, str]
    snapshots: int
    current_snapshot_id: int | None
    data_files: int
    total_bytes: int
    rows: int
    history: list[dict[str, Any]] = field(default_factory=list)


def describe_table(name: str, table: Table) -> TableInfo:
    metadata = table.metadata
    schema = table.schema()
    snapshot = table.current_snapshot()
    summary = snapshot.summary if snapshot and snapshot.summary else None

    def total(key: str) -> int:
        value = summary.get(key) if summary is not None else None
        return int(value) if value else 0

    return TableInfo(
        name=name,
        location=metadata.location,
        schema=_columns(schema),
        partition_specs=[_spec(schema, spec) for spec in metadata.partition_specs],
        current_spec_id=metadata.default_spec_id,
        sort_order=[_describe_sort_field(schema, sf) for sf in table.sort_order().fields],
        properties=dict(metadata.properties),
        snapshots=len(metadata.snapshots),
        current_snapshot_id=snapshot.snapshot_id if snapshot else None,
        data_files=total("total-data-files"),
        total_bytes=total("total-files-size"),
        rows=total("total-records"),
    )


def plan_table(
    name: str,
    schema: Schema | pa.Schema,
    *,
    partition: list[PartitionField],
    sort: list[SortField],
    properties: dict[str, str],
) -> TableInfo:
    """The table ``create_table`` would create, described as ``describe_table`` does
    (no location, no snapshot), creating nothing: ``table create --dry-run``.

    Raises:
        InvalidPartitionSpec, InvalidSortOrder, InvalidSchema, InvalidInput (the name).
    """
    split_name(name)
    if isinstance(schema, pa.Schema):
        schema = schema_from_arrow(schema)
    spec = build_partition_spec(schema, partition)
    order = build_sort_order(schema, sort)
    return TableInfo(
        name=name,
        location="",
        schema=_columns(schema),
        partition_specs=[_spec(schema, spec)],
        current_spec_id=spec.spec_id,
        sort_order=[_describe_sort_field(schema, sf) for sf in order.fields],
        properties={**TABLE_DEFAULTS, **properties},
        snapshots=0,
        current_snapshot_id=None,
        data_files=0,
        total_bytes=0,
        rows=0,
    )


def _columns(schema: Schema) -> list[dict[str, Any]]:
    return [
        {"id": f.field_id, "name": f.name, "type": str(f.field_type), "required": f.required}
        for f in schema.fields
    ]


def _spec(schema: Schema, spec: PartitionSpec) -> dict[str, Any]:
    return {
        "spec_id": spec.spec_id,
        "fields": [
            f"{pf.transform}({schema.find_column_name(pf.source_id)})"
            if not isinstance(pf.transform, IdentityTransform)
            else str(schema.find_column_name(pf.source_id))
            for pf in spec.fields
        ],
    }


def _describe_sort_field(schema: Schema, field: IcebergSortField) -> str:
    nulls = field.null_order.name.replace("_", " ")
    return f"{schema.find_column_name(field.source_id)} {field.direction.name} {nulls}"


def add_columns_for(table: Table, fields: list[pa.Field]) -> None:
    """Add optional columns typed after Arrow fields seen in source files (schema
    evolution by ``unknown_fields = "evolve"``); existing columns are left alone."""
    existing = {f.name for f in table.schema().fields}
    inferred = schema_from_arrow(pa.schema([f for f in fields if f.name not in existing]))
    if not inferred.fields:
        return
    with commit_races(table), table.update_schema() as update:
        for column in inferred.fields:
            update.add_column(column.name, column.field_type)


@dataclass(frozen=True)
class SnapshotInfo:
    """One entry of ``icehouse table history``."""

    snapshot_id: int
    parent_id: int | None
    timestamp_ms: int
    operation: str | None
    summary: dict[str, str]
    is_current: bool


def snapshot_history(table: Table) -> list[SnapshotInfo]:
    """Retained snapshots, oldest first."""
    current = table.current_snapshot()
    return [
        SnapshotInfo(
            snapshot_id=s.snapshot_id,
            parent_id=s.parent_snapshot_id,
            timestamp_ms=s.timestamp_ms,
            operation=s.summary.operation.value if s.summary else None,
            summary={
                k: v for k, v in (s.summary.additional_properties if s.summary else {}).items()
            },
            is_current=current is not None and s.snapshot_id == current.snapshot_id,
        )
        for s in sorted(table.metadata.snapshots, key=lambda s: s.timestamp_ms)
    ]


def rollback(table: Table, snapshot_id: int) -> Table:
    """Make an earlier snapshot current again (a metadata change; no data is rewritten).

    Raises:
        InvalidInput: the snapshot is not one of the table's retained ancestors.
    """
    known = {s.snapshot_id for s in table.metadata.snapshots}
    if snapshot_id not in known:
        raise InvalidInput(
            f"table has no snapshot {snapshot_id}; list them with `icehouse table history`"
        )
    try:
        with commit_races(table):
            table.manage_snapshots().rollback_to_snapshot(snapshot_id).commit()
    except ValueError as exc:  # not an ancestor of the current snapshot
        raise InvalidInput(f"cannot roll back to {snapshot_id}: {exc}") from exc
    return table
