"""Few-valued string columns kept as Arrow dictionaries from Parquet to Parquet.

Log tables are full of strings with a handful of distinct values (country, cache status,
user agent, provider). Parquet already stores them as a dictionary plus small indices;
decoding them into plain strings only to sort, checksum and dictionary-encode them again
costs more than the rest of a rewrite. Read as Arrow dictionaries they are taken
(sorted) as 4-byte indices, checksummed per distinct value, and written straight back as
dictionary pages: the files come out the same (row group statistics count only the
values a row group uses).

Kernels that cannot take dictionaries (sorting, ranking, partition transforms) get the
few columns they need ``decoded``.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq

FEW_DISTINCT = 0.05
"""A string column whose first row group has fewer distinct values than this share of its
rows travels as a dictionary."""


def is_string(data_type: pa.DataType) -> bool:
    return bool(pa.types.is_string(data_type) or pa.types.is_large_string(data_type))


def decoded(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """``values`` with dictionaries expanded into their value type."""
    if pa.types.is_dictionary(values.type):
        return values.cast(values.type.value_type)
    return values


def keeping_dictionaries(target: pa.Schema, incoming: pa.Schema) -> pa.Schema:
    """``target`` (field ids and all), except that a column ``incoming`` holds as a
    dictionary of the target's own type stays a dictionary."""
    fields = []
    for field in target:
        index = incoming.get_field_index(field.name)
        source = incoming.field(index).type if index >= 0 else None
        if (
            source is not None
            and pa.types.is_dictionary(source)
            and _same_values(source.value_type, field.type)
        ):
            field = field.with_type(source)
        fields.append(field)
    return pa.schema(fields, metadata=target.metadata)


def _same_values(a: pa.DataType, b: pa.DataType) -> bool:
    """Parquet stores ``string`` and ``large_string`` alike (pyarrow reads dictionaries
    of ``string`` whichever the schema says)."""
    return a == b or (is_string(a) and is_string(b))


def few_valued_strings(sample: str, schema: pa.Schema) -> list[str]:
    """The string columns of ``schema`` that the local Parquet file ``sample`` (the
    largest of those to be read, say) stores with few distinct values, judged by the
    dictionaries of its first row group."""
    stored = set(pq.read_schema(sample).names)
    strings = [f.name for f in schema if is_string(f.type) and f.name in stored]
    if not strings:
        return []
    parquet = pq.ParquetFile(sample, read_dictionary=strings)
    if parquet.metadata.num_row_groups == 0:
        return []
    rows = parquet.read_row_group(0, columns=strings)
    few = []
    for name in strings:
        chunks = rows.column(name).chunks
        distinct = sum(len(chunk.dictionary) for chunk in chunks)
        if distinct <= FEW_DISTINCT * max(rows.num_rows, 1):
            few.append(name)
    return few
