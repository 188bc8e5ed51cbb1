"""The rewrite proof: an order-independent per-column checksum (sum of DuckDB's ``hash``)
that is the same however it is computed, and that changes when a value changes."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from icehouse.maintain.proof import fingerprint, fingerprint_files


def rows(n: int = 200_000) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(n), pa.int64()),
            "country": [None if i % 97 == 0 else ["de", "fr", "us"][i % 3] for i in range(n)],
            "path": [f"/p/{i}" for i in range(n)],  # every value distinct
            "latency": pa.array([i / 7 for i in range(n)], pa.float64()),
        }
    )


def hash_sums(table: pa.Table) -> dict[str, int]:
    """The definition, computed the slow way: every row hashed by DuckDB."""
    conn = duckdb.connect()
    conn.register("t", table)
    names = table.column_names
    values = conn.execute(
        "SELECT " + ", ".join(f'sum(hash("{n}"))' for n in names) + " FROM t"
    ).fetchone()
    return {n: int(v) for n, v in zip(names, values, strict=True)}


def test_checksums_follow_the_definition_whatever_path_computes_them(tmp_path: Path) -> None:
    table = rows()
    expected = hash_sums(table)
    in_memory = fingerprint(table)
    assert in_memory.rows == table.num_rows
    assert dict(in_memory.checksums) == expected  # "country" goes through a dictionary

    path = tmp_path / "rows.parquet"
    pq.write_table(table.sort_by("path"), path, row_group_size=30_000)
    assert fingerprint_files([str(path)], table.schema) == in_memory
    assert fingerprint(table.take(list(range(table.num_rows))[::-1])) == in_memory


def test_a_changed_value_or_a_lost_row_is_named() -> None:
    table = rows(10_000)
    changed = table.set_column(1, "country", pa.array(["de"] * 10_000))
    assert fingerprint(table).differences(fingerprint(changed)) == [
        "column 'country' checksum differs"
    ]
    assert fingerprint(table).differences(fingerprint(table.slice(1)))[0] == "rows 10,000 → 9,999"
