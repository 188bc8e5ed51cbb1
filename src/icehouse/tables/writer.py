"""Write rows into a table's layout: partitioned, sorted, zstd Parquet, sized on disk.

PyIceberg's own writer ignores the table's sort order and sizes files by in-memory
Arrow bytes (a 128 MiB target gives ~20 MB files). This writer instead:

- splits rows by the table's current partition spec (hidden partitioning: the
  transform of the source column, e.g. ``day(requested_at)``);
- sorts each partition by the table's sort order before writing (and records the
  sort order id on the data file, so that planners may rely on it);
- writes row groups of ``write.parquet.row-group-limit`` rows (131,072 by default:
  a one-tenant query over data sorted by tenant read several times fewer bytes than
  with PyIceberg's ~1 M-row groups, which hold a whole file each) and rolls to
  a new file once the bytes *on disk* reach ``write.target-file-size-bytes``;
- buffers with a bounded memory budget, flushing the largest partitions first;
- places files through the table's location provider, so that
  ``write.object-storage.enabled`` is honoured;
- writes columns given as Arrow dictionaries (compaction reads few-valued strings so)
  straight from their dictionaries, without decoding and re-encoding them.

The caller commits the returned ``DataFile`` s; ``abort()`` deletes what was written.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
from pyiceberg.partitioning import PartitionFieldValue, PartitionKey, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.table import Table
from pyiceberg.table.sorting import NullOrder, SortDirection
from pyiceberg.typedef import Record

from icehouse.tables._compat import (
    compute_statistics_plan,
    data_file_statistics_from_parquet_metadata,
    parquet_path_to_id_mapping,
)
from icehouse.tables.dictionaries import decoded, keeping_dictionaries

DEFAULT_ROW_GROUP_ROWS = 131_072
DEFAULT_TARGET_FILE_BYTES = 128 * 1024 * 1024
DEFAULT_BUFFER_BYTES = 256 * 1024 * 1024

Ordering = Callable[[pa.Table], pa.Array | None]
"""Row order for one partition's rows: sort indices, or None to keep arrival order."""


def partition_values(partition: Record) -> tuple[Any, ...]:
    """A data file's partition as a tuple: a cheap key for sets and dicts (a ``Record``
    hashes its ``str``), built by index because ``Record`` iterates only through the old
    ``__getitem__`` protocol, which type checkers do not follow."""
    return tuple(partition[i] for i in range(len(partition)))


def keep_order(rows: pa.Table) -> None:
    """The ordering of a binpack rewrite: rows stay as they were read."""
    return None


@dataclass
class _PartitionBuffer:
    key: PartitionKey | None
    chunks: list[pa.Table] = field(default_factory=list)
    nbytes: int = 0


@dataclass(frozen=True)
class WriteStats:
    files: int
    rows: int
    bytes: int
    partitions: int


class TableWriter:
    """Buffers rows of one table and writes them as laid-out Parquet files."""

    def __init__(
        self,
        table: Table,
        *,
        name_prefix: str | None = None,
        buffer_bytes: int = DEFAULT_BUFFER_BYTES,
        spec: PartitionSpec | None = None,
        ordering: Ordering | None = None,
    ) -> None:
        """``spec`` and ``ordering`` default to the table's current partition spec and
        sort order; compaction passes an older spec (rewriting files in their own layout)
        or another ordering (binpack, z-order, an explicit sort)."""
        self._table = table
        self._metadata = table.metadata
        self._schema: Schema = table.schema()
        self._spec: PartitionSpec = spec if spec is not None else table.spec()
        self._arrow_schema = self._schema.as_arrow()
        self._properties = dict(self._metadata.properties)
        self._prefix = name_prefix or uuid.uuid4().hex
        self._buffer_bytes = buffer_bytes
        self._buffers: dict[tuple[Any, ...], _PartitionBuffer] = {}
        self._buffered = 0
        self._counter = 0
        self._written: list[DataFile] = []
        self._sort_keys = self._sort_options()
        self._ordering: Ordering = ordering or self._table_order
        self._sort_order_id = table.sort_order().order_id if ordering is None else None
        self._locations = table.location_provider()
        self._target = int(
            self._properties.get("write.target-file-size-bytes", DEFAULT_TARGET_FILE_BYTES)
        )
        self._row_group = int(
            self._properties.get("write.parquet.row-group-limit", DEFAULT_ROW_GROUP_ROWS)
        )
        self._stats_plan = compute_statistics_plan(self._schema, self._properties)
        self._column_mapping = parquet_path_to_id_mapping(self._schema)

    @property
    def arrow_schema(self) -> pa.Schema:
        """The schema rows must have (``write`` casts by name to it)."""
        return self._arrow_schema

    @property
    def data_files(self) -> list[DataFile]:
        return list(self._written)

    def _sort_options(self) -> list[tuple[str, str, str]]:
        return [
            (
                self._schema.find_column_name(f.source_id) or "",
                "descending" if f.direction == SortDirection.DESC else "ascending",
                "at_start" if f.null_order == NullOrder.NULLS_FIRST else "at_end",
            )
            for f in self._table.sort_order().fields
        ]

    def _table_order(self, rows: pa.Table) -> pa.Array | None:
        if not self._sort_keys:
            return None
        keys = pa.table({name: decoded(rows.column(name)) for name, _, _ in self._sort_keys})
        return pc.sort_indices(keys, sort_keys=self._sort_keys)

    def write(self, rows: pa.Table) -> None:
        """Add rows; they are partitioned now and written when the buffer fills. Columns
        given as dictionaries of their type are written from the dictionary."""
        if rows.num_rows == 0:
            return
        rows = rows.select(self._arrow_schema.names)
        rows = rows.cast(keeping_dictionaries(self._arrow_schema, rows.schema))
        for key, part in self._split(rows):
            buffer = self._buffers.get(key)
            if buffer is None:
                buffer = self._buffers[key] = _PartitionBuffer(self._partition_key(part))
            buffer.chunks.append(part)
            buffer.nbytes += part.nbytes
            self._buffered += part.nbytes
        while self._buffered > self._buffer_bytes and self._buffers:
            largest = max(self._buffers, key=lambda k: self._buffers[k].nbytes)
            self._flush(self._buffers.pop(largest))

    def close(self) -> list[DataFile]:
        """Write everything still buffered; returns every data file written."""
        for key in list(self._buffers):
            self._flush(self._buffers.pop(key))
        return list(self._written)

    def abort(self) -> None:
        """Delete the files written so far (they were never committed)."""
        self._buffers.clear()
        self._buffered = 0
        for data_file in self._written:
            with contextlib.suppress(FileNotFoundError):
                self._table.io.delete(data_file.file_path)
        self._written.clear()

    def stats(self) -> WriteStats:
        return WriteStats(
            files=len(self._written),
            rows=sum(f.record_count for f in self._written),
            bytes=sum(f.file_size_in_bytes for f in self._written),
            partitions=len({partition_values(f.partition) for f in self._written}),
        )

    # -- partitioning -------------------------------------------------------------

    def _split(self, rows: pa.Table) -> list[tuple[tuple[Any, ...], pa.Table]]:
        if self._spec.is_unpartitioned():
            return [((), rows)]
        keys = []
        for pf in self._spec.fields:
            source = self._schema.find_field(pf.source_id)
            column = decoded(rows.column(source.name))
            keys.append(pf.transform.pyarrow_transform(source.field_type)(column))
        if all(_single_value(k) for k in keys):  # the common case: a file of one hour/day
            return [(tuple(k[0].as_py() for k in keys), rows)]
        names = [f"__p{i}" for i in range(len(keys))]
        keyed = pa.table(dict(zip(names, keys, strict=True)))
        order = pc.sort_indices(keyed, sort_keys=[(n, "ascending") for n in names])
        keyed = keyed.take(order)
        rows = rows.take(order)
        change = np.zeros(rows.num_rows, dtype=bool)
        change[0] = True
        for name in names:
            column = keyed.column(name).combine_chunks()
            previous, current = column.slice(0, len(column) - 1), column.slice(1)
            differs = pc.fill_null(pc.not_equal(previous, current), True)
            both_null = pc.and_(pc.is_null(previous), pc.is_null(current))
            differs = pc.and_(differs, pc.invert(both_null))
            change[1:] |= differs.to_numpy(zero_copy_only=False)
        starts = np.flatnonzero(change)
        ends = np.append(starts[1:], rows.num_rows)
        parts = []
        for start, end in zip(starts, ends, strict=True):
            key = tuple(keyed.column(n)[int(start)].as_py() for n in names)
            parts.append((key, rows.slice(int(start), int(end - start))))
        return parts

    def _partition_key(self, part: pa.Table) -> PartitionKey | None:
        if self._spec.is_unpartitioned():
            return None
        values = []
        for pf in self._spec.fields:
            source = self._schema.find_field(pf.source_id)
            transformed = pf.transform.pyarrow_transform(source.field_type)(
                decoded(part.column(source.name).slice(0, 1))
            )
            values.append(PartitionFieldValue(pf, transformed[0].as_py()))
        return PartitionKey(field_values=values, partition_spec=self._spec, schema=self._schema)

    # -- writing --------------------------------------------------------------------

    def _flush(self, buffer: _PartitionBuffer) -> None:
        self._buffered -= buffer.nbytes
        chunks = buffer.chunks
        if any(not chunk.schema.equals(chunks[0].schema) for chunk in chunks[1:]):
            chunks = [chunk.cast(self._arrow_schema) for chunk in chunks]  # dictionaries or not
        rows = pa.concat_tables(chunks)  # zero-copy: chunks side by side
        buffer.chunks.clear()
        if any(pa.types.is_dictionary(f.type) for f in rows.schema):
            # One dictionary per column, so that a row group spanning chunks (files read)
            # keeps Parquet's dictionary encoding instead of falling back to plain.
            rows = rows.unify_dictionaries()
        order = self._ordering(rows)
        offset = 0
        while offset < rows.num_rows:
            offset += self._write_file(rows, order, offset, buffer.key)

    def _write_file(
        self, rows: pa.Table, order: pa.Array | None, offset: int, key: PartitionKey | None
    ) -> int:
        """Write row groups from ``offset`` until the file reaches the target size on disk."""
        self._counter += 1
        name = f"{self._prefix}-{self._counter:05d}.parquet"
        path = self._locations.new_data_location(data_file_name=name, partition_key=key)
        output = self._table.io.new_output(path)
        written = 0
        with output.create(overwrite=True) as stream:
            writer = pq.ParquetWriter(
                stream,
                schema=rows.schema,
                # Iceberg types live in the Parquet schema (with field ids); an Arrow
                # schema copy would also tell pyarrow readers to return dictionaries.
                store_schema=False,
                compression=self._properties.get("write.parquet.compression-codec", "zstd"),
                compression_level=_int_or_none(
                    self._properties.get("write.parquet.compression-level")
                ),
                store_decimal_as_integer=True,
            )
            while offset + written < rows.num_rows:
                # Materialise one sorted row group at a time: the sorted copy of a
                # whole buffer would double the writer's peak memory.
                start = offset + written
                if order is None:
                    group = rows.slice(start, self._row_group)
                else:
                    group = rows.take(order.slice(start, self._row_group))
                writer.write_table(group, row_group_size=self._row_group)
                written += group.num_rows
                if stream.tell() >= self._target:
                    break
            writer.close()
            size = stream.tell()
        statistics = data_file_statistics_from_parquet_metadata(
            parquet_metadata=writer.writer.metadata,
            stats_columns=self._stats_plan,
            parquet_column_mapping=self._column_mapping,
        )
        data_file = DataFile.from_args(
            content=DataFileContent.DATA,
            file_path=path,
            file_format=FileFormat.PARQUET,
            partition=key.partition if key else Record(),
            file_size_in_bytes=size,
            sort_order_id=self._sort_order_id if self._sort_keys else None,
            equality_ids=None,
            key_metadata=None,
            **statistics.to_serialized_dict(),
        )
        data_file.spec_id = self._spec.spec_id  # not a stored field: from_args drops it
        self._written.append(data_file)
        return written


def _single_value(values: pa.Array | pa.ChunkedArray) -> bool:
    if values.null_count:
        return bool(values.null_count == len(values))
    bounds = pc.min_max(values)
    return bool(bounds["min"].as_py() == bounds["max"].as_py())


def _int_or_none(value: str | None) -> int | None:
    return int(value) if value not in (None, "") else None
