"""The proof a rewrite owes before it commits: same rows, same values.

A rewrite that silently dropped or altered rows would be the worst bug a lake can have,
so every group compares its input (as read, deletes applied) with its output *as read
back from the written files*: the row count and, per column, an order-independent
checksum, the sum of DuckDB's 64-bit ``hash`` of every value (nulls included). Sorting or
re-partitioning changes the order of rows but not these sums.

The sums are exact (no wrap-around), so they may be computed in pieces. Log columns are
mostly strings with few distinct values (country, cache status, user agent): for those,
each distinct value is hashed once and weighted by how often it occurs, which gives the
same sum at a fraction of the cost of hashing every row.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from icehouse.tables.dictionaries import FEW_DISTINCT, is_string

_SAMPLE = 65_536
"""Rows of a plain string column sampled: one with fewer than ``FEW_DISTINCT`` of them
distinct is checksummed through a dictionary."""


@dataclass(frozen=True)
class Fingerprint:
    rows: int
    checksums: tuple[tuple[str, int], ...]

    def differences(self, other: Fingerprint) -> list[str]:
        """What differs, in words (empty when the two match)."""
        found = []
        if self.rows != other.rows:
            found.append(f"rows {self.rows:,} → {other.rows:,}")
        theirs = dict(other.checksums)
        for column, checksum in self.checksums:
            if theirs.get(column) != checksum:
                found.append(f"column {column!r} checksum differs")
        return found


def fingerprint(rows: pa.Table) -> Fingerprint:
    """The fingerprint of rows in memory."""
    conn = duckdb.connect()
    try:
        checksums: dict[str, int] = {}
        plain = []
        for name in rows.column_names:
            encoded = _dictionary(rows.column(name))
            if encoded is None:
                plain.append(name)
            else:
                checksums[name] = _dictionary_checksum(conn, encoded)
        if plain:
            conn.register("rows", rows.select(plain))
            quoted = ['"' + n.replace('"', '""') + '"' for n in plain]
            sums = ", ".join(f"sum(hash({q}))" for q in quoted)
            values = conn.execute(f"SELECT {sums} FROM rows").fetchone() or ()
            checksums.update((n, int(v or 0)) for n, v in zip(plain, values, strict=True))
    finally:
        conn.close()
    ordered = tuple((n, checksums[n]) for n in rows.column_names)
    return Fingerprint(rows.num_rows, ordered)


def fingerprint_files(paths: list[str], schema: pa.Schema) -> Fingerprint:
    """The fingerprint of local Parquet files as stored; the columns ``schema`` holds as
    dictionaries (as they were written) are read as dictionaries, never expanded."""
    dictionaries = [f.name for f in schema if pa.types.is_dictionary(f.type)]
    parts = [pq.read_table(path, read_dictionary=dictionaries) for path in paths]
    if not parts:
        return fingerprint(schema.empty_table())
    return _combine([fingerprint(part) for part in parts])


def _combine(parts: list[Fingerprint]) -> Fingerprint:
    names = [n for n, _ in parts[0].checksums]
    totals = dict.fromkeys(names, 0)
    for part in parts:
        for name, checksum in part.checksums:
            totals[name] += checksum
    return Fingerprint(sum(p.rows for p in parts), tuple((n, totals[n]) for n in names))


def _dictionary(column: pa.ChunkedArray) -> pa.ChunkedArray | None:
    """``column`` dictionary-encoded when it is a string column with few distinct values."""
    value_type = column.type.value_type if pa.types.is_dictionary(column.type) else column.type
    if not is_string(value_type):
        return None
    if pa.types.is_dictionary(column.type):
        return column
    sample = column.slice(0, _SAMPLE)
    if len(sample) and len(pc.unique(sample)) > FEW_DISTINCT * len(sample):
        return None
    return pc.dictionary_encode(column)


def _dictionary_checksum(conn: duckdb.DuckDBPyConnection, column: pa.ChunkedArray) -> int:
    """Sum of ``hash(value)`` over the rows: the distinct values hashed once and weighted
    by their counts; nulls weighted by ``hash(NULL)``."""
    null_hash = conn.execute("SELECT hash(NULL::VARCHAR)").fetchone()
    total = int(column.null_count) * int(null_hash[0] if null_hash else 0)
    column = column.unify_dictionaries()  # one dictionary for every chunk (row group, file)
    if not column.num_chunks or not len(column.chunk(0).dictionary):
        return total
    dictionary = column.chunk(0).dictionary
    counts = np.zeros(len(dictionary), dtype=np.int64)
    for chunk in column.chunks:
        indices = chunk.indices.drop_null().to_numpy(zero_copy_only=False)
        counts += np.bincount(indices, minlength=len(dictionary))
    weighted = pa.table({"v": dictionary.cast(pa.large_string()), "c": counts})
    conn.register("weighted", weighted)
    result = conn.execute("SELECT sum(hash(v)::HUGEINT * c) FROM weighted").fetchone()
    return total + (int(result[0] or 0) if result else 0)
