"""What one principal may read of one table: the cells its grants cover.

Access is a union of cell sets, each a row predicate and a set of columns: a plain
SELECT grant on the table is every row and every column; a grant on some columns is
every row and those columns; a grant on a data filter is the filter's rows and columns.
A cell is visible when one cell set covers both its row and its column; a row with no
visible cell is not returned. Taking the union of rows and the union of columns
separately would show one filter's columns on another filter's rows, which is why access
is kept per cell set and applied per cell.

Rows and columns are named by field id (``tables/row_filters.py`` stores predicates so),
so a rename or an older schema leaves access where it was granted.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CellSet:
    """Rows matching ``row_filter`` (None: every row) and the columns in ``field_ids``
    (None: every column, including those added later)."""

    row_filter: dict[str, Any] | None
    """A predicate as ``tables.row_filters.encode_row_filter`` stores it."""
    field_ids: frozenset[int] | None
    source: str
    """What granted it, for ``--explain`` and the audit: ``table ns.t``, ``data filter f``..."""


@dataclass(frozen=True)
class TableAccess:
    """A principal's SELECT access to one table (``table_uuid``)."""

    table_uuid: str
    cell_sets: tuple[CellSet, ...]

    @property
    def denied(self) -> bool:
        return not self.cell_sets

    @property
    def unrestricted(self) -> bool:
        """Every row and every column: read as the administrator reads it."""
        return any(c.row_filter is None and c.field_ids is None for c in self.cell_sets)

    def visible_fields(self, all_field_ids: Collection[int]) -> set[int]:
        """Field ids some cell set shows (the others are not columns of the table at all,
        for this principal)."""
        shown: set[int] = set()
        for cells in self.cell_sets:
            shown |= set(all_field_ids) if cells.field_ids is None else set(cells.field_ids)
        return shown & set(all_field_ids)
