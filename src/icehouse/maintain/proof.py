"""The proof a rewrite owes before it commits: same rows, same values.

A rewrite that silently dropped or altered rows would be the worst bug a lake can have,
so every group compares its input (as read, deletes applied) with its output *as read
back from the written files*: the row count and, per column, an order-independent
checksum (the sum of DuckDB's 64-bit ``hash`` of every value, nulls included). Sorting
or re-partitioning changes the order of rows but not these sums.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import pyarrow as pa


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
        conn.register("rows", rows)
        return _aggregate(conn, "rows", rows.column_names)
    finally:
        conn.close()


def fingerprint_files(paths: list[str], columns: list[str]) -> Fingerprint:
    """The fingerprint of local Parquet files, read by DuckDB (in parallel, without
    materialising the rows in Python)."""
    conn = duckdb.connect()
    try:
        listed = ", ".join("'" + p.replace("'", "''") + "'" for p in paths)
        return _aggregate(conn, f"read_parquet([{listed}])", columns)
    finally:
        conn.close()


def _aggregate(conn: duckdb.DuckDBPyConnection, relation: str, names: list[str]) -> Fingerprint:
    quoted = ['"' + n.replace('"', '""') + '"' for n in names]
    sums = "".join(f", sum(hash({q}))" for q in quoted)
    count, *checksums = conn.execute(f"SELECT count(*){sums} FROM {relation}").fetchone() or (0,)
    pairs = zip(names, checksums, strict=True)
    return Fingerprint(int(count), tuple((n, int(c or 0)) for n, c in pairs))
