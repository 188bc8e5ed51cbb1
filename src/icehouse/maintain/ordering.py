"""Row orderings a rewrite can lay a partition out in: a sort, or a z-order curve.

Z-order interleaves the bits of several columns so that rows close in *any* of them land
in the same files and row groups, which makes min/max pruning work for filters on either
column (a plain sort only helps its leading column). Each column is first mapped to its
dense rank among the partition's rows (ascending, nulls last), scaled to ``64 // k`` bits
for ``k`` columns. Ranks make every type comparable the same way (strings by byte order,
timestamps by time, numbers by value) and spread skewed values evenly over the curve,
where Spark's byte-prefix mapping would crowd strings sharing a prefix into one cell.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.table.sorting import NullOrder, SortDirection

from icehouse.tables.dictionaries import decoded
from icehouse.tables.grammar import SortField
from icehouse.tables.writer import Ordering


def sort_ordering(fields: Sequence[SortField]) -> Ordering:
    keys = [
        (
            f.source,
            "descending" if f.direction == SortDirection.DESC else "ascending",
            "at_start" if f.null_order == NullOrder.NULLS_FIRST else "at_end",
        )
        for f in fields
    ]

    def order(rows: pa.Table) -> pa.Array:
        columns = {name: decoded(rows.column(name)) for name, _, _ in keys}
        return pc.sort_indices(pa.table(columns), sort_keys=keys)

    return order


def zorder_ordering(columns: Sequence[str]) -> Ordering:
    if len(columns) == 1:
        return sort_ordering([SortField(columns[0], SortDirection.ASC, NullOrder.NULLS_LAST)])

    def order(rows: pa.Table) -> pa.Array:
        values = z_values(rows, columns)
        return pa.array(np.argsort(values, kind="stable"))

    return order


def z_values(rows: pa.Table, columns: Sequence[str]) -> np.ndarray:
    """The z-order key of each row (unsigned 64-bit, most significant bits first)."""
    bits = 64 // len(columns)
    scaled = [_scaled_rank(decoded(rows.column(c)), bits) for c in columns]
    z = np.zeros(rows.num_rows, dtype=np.uint64)
    one = np.uint64(1)
    for bit in range(bits - 1, -1, -1):
        shift = np.uint64(bit)
        for column in scaled:
            z = (z << one) | ((column >> shift) & one)
    return z


def _scaled_rank(values: pa.ChunkedArray, bits: int) -> np.ndarray:
    dense = pc.rank(values, sort_keys="ascending", tiebreaker="dense")  # nulls last
    ranks: np.ndarray = dense.to_numpy().astype(np.uint64) - np.uint64(1)
    distinct = int(ranks.max()) + 1 if len(ranks) else 1
    if distinct <= 1 << bits:  # spread the ranks over the column's share of the key
        return (ranks << np.uint64(bits)) // np.uint64(distinct)
    return ranks >> np.uint64(max(distinct.bit_length() - bits, 0))
