"""Row groups and bytes a query reads from its planned files (``--explain`` only).

Parquet footers say, per row group, each column chunk's compressed size and min/max and
null count. A row group whose statistics prove that no row matches the pushed filter is
skipped, the same zone-map decision DuckDB makes when it scans the file; the others are
read, but only the chunks of the columns the query references. The decision reuses
PyIceberg's inclusive metrics evaluator on one row group's statistics, so it follows
the same Iceberg semantics (field ids, nulls, type promotion) as file pruning.

Reading footers costs an open and a read per file, which is why only ``--explain`` pays
it. Filters DuckDB applies that were not pushed (``OR``, functions of columns) may let
DuckDB skip more row groups than counted here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pyarrow.parquet as pq
from pyiceberg.expressions import BooleanExpression
from pyiceberg.expressions.visitors import bind, extract_field_ids
from pyiceberg.io import FileIO
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
from pyiceberg.schema import Schema
from pyiceberg.types import DecimalType, PrimitiveType
from pyiceberg.utils.concurrent import ExecutorFactory

from icehouse.tables._compat import InclusiveMetricsEvaluator, StatsAggregator

_FIELD_ID = b"PARQUET:field_id"


@dataclass(frozen=True)
class RowGroupScan:
    row_groups_read: int
    row_groups_skipped: int
    bytes_read: int
    """Compressed bytes of the referenced columns' chunks in the row groups read."""


def scan_row_groups(
    io: FileIO,
    schema: Schema,
    files: Iterable[DataFile],
    row_filter: BooleanExpression,
    columns: set[str] | None,
) -> RowGroupScan:
    """Count the row groups of ``files`` read and skipped for ``row_filter``.

    ``columns`` are the (lower-case) column names the query references; None means all.
    """
    counter = _FileCounter(schema, row_filter, columns)
    files = [f for f in files if f.file_format == FileFormat.PARQUET]
    if len(files) > 1:
        counts = list(ExecutorFactory.get_or_create().map(lambda f: counter.count(io, f), files))
    else:
        counts = [counter.count(io, f) for f in files]
    return RowGroupScan(
        row_groups_read=sum(c.row_groups_read for c in counts),
        row_groups_skipped=sum(c.row_groups_skipped for c in counts),
        bytes_read=sum(c.bytes_read for c in counts),
    )


class _FileCounter:
    def __init__(
        self, schema: Schema, row_filter: BooleanExpression, columns: set[str] | None
    ) -> None:
        self._schema = schema
        self._filter_ids = extract_field_ids(bind(schema, row_filter, case_sensitive=True))
        self._metrics = InclusiveMetricsEvaluator(
            schema, row_filter, case_sensitive=True, include_empty_files=True
        )
        self._projected = {
            f.field_id for f in schema.fields if columns is None or f.name.lower() in columns
        }

    def count(self, io: FileIO, data_file: DataFile) -> RowGroupScan:
        with io.new_input(data_file.file_path).open() as stream:
            metadata = pq.read_metadata(stream)
        ids = _top_level_field_ids(metadata, self._schema)
        read = skipped = bytes_read = 0
        for index in range(metadata.num_row_groups):
            row_group = metadata.row_group(index)
            if not self._metrics.eval(self._statistics(row_group, ids)):
                skipped += 1
                continue
            read += 1
            for position in range(row_group.num_columns):
                chunk = row_group.column(position)
                if ids.get(chunk.path_in_schema.split(".")[0]) in self._projected:
                    bytes_read += chunk.total_compressed_size
        return RowGroupScan(read, skipped, bytes_read)

    def _statistics(self, row_group: pq.RowGroupMetaData, ids: dict[str, int]) -> DataFile:
        """One row group's statistics as a data file's, for the filter's primitive columns."""
        value_counts, null_counts, lower, upper = {}, {}, {}, {}
        for position in range(row_group.num_columns):
            chunk = row_group.column(position)
            field_id = ids.get(chunk.path_in_schema)  # a top-level primitive column
            if field_id not in self._filter_ids:
                continue
            value_counts[field_id] = chunk.num_values
            if not chunk.is_stats_set:
                continue
            statistics = chunk.statistics
            if statistics.has_null_count:
                null_counts[field_id] = statistics.null_count
            bounds = _bounds(self._schema.find_type(field_id), statistics)
            if bounds is not None:
                lower[field_id], upper[field_id] = bounds
        return DataFile.from_args(
            content=DataFileContent.DATA,
            record_count=row_group.num_rows,
            value_counts=value_counts,
            null_value_counts=null_counts,
            nan_value_counts={},
            lower_bounds=lower,
            upper_bounds=upper,
        )


def _top_level_field_ids(metadata: pq.FileMetaData, schema: Schema) -> dict[str, int]:
    """Top-level column name in the file → Iceberg field id: the file's own field ids, or
    the current schema's by name for a file written without them."""
    ids = {}
    for field in metadata.schema.to_arrow_schema():
        stored = (field.metadata or {}).get(_FIELD_ID)
        if stored is not None:
            ids[field.name] = int(stored)
        else:
            try:
                ids[field.name] = schema.find_field(field.name).field_id
            except ValueError:
                continue
    return ids


def _bounds(iceberg_type: object, statistics: pq.Statistics) -> tuple[bytes, bytes] | None:
    """(lower, upper) as Iceberg serialises them, None when unknown or not comparable."""
    if not isinstance(iceberg_type, PrimitiveType) or isinstance(iceberg_type, DecimalType):
        return None
    if not statistics.has_min_max:
        return None
    try:
        aggregator = StatsAggregator(iceberg_type, statistics.physical_type)
    except ValueError:  # e.g. INT96 timestamps: no bounds rather than wrong ones
        return None
    aggregator.update_min(statistics.min)
    aggregator.update_max(statistics.max)
    lower, upper = aggregator.min_as_bytes(), aggregator.max_as_bytes()
    return None if lower is None or upper is None else (lower, upper)
