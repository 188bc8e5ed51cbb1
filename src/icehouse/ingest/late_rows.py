"""Late rows: rows whose time partition is older than what the table already holds.

Counted, never refused: late data is ingested like any other, and the count is
information (``late_rows`` in reports).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.table import Table
from pyiceberg.transforms import DayTransform, HourTransform, MonthTransform, YearTransform


@dataclass
class EventTime:
    """Time-partition values (transform results): ``committed`` is the table's high-water
    when the batch began; ``newest`` the highest seen so far, committed or in this batch.
    A row is late when its partition is older than ``committed`` or than the newest one in
    its own file; files of one batch do not make each other late (a backfill of many days
    in one batch is not late data)."""

    committed: int | None = None
    newest: int | None = None


def time_partition_column(table: Table) -> str | None:
    """The source column of the table's first time partition (for counting late rows)."""
    schema = table.schema()
    for pf in table.spec().fields:
        if isinstance(pf.transform, YearTransform | MonthTransform | DayTransform | HourTransform):
            return schema.find_column_name(pf.source_id)
    return None


class LateRows:
    """Counts a file's late rows against the batch's ``EventTime``, which it raises."""

    def __init__(self, table: Table, events: EventTime) -> None:
        self._events = events
        self._column = time_partition_column(table)
        self._transform: Any = None
        if self._column is not None:
            schema = table.schema()
            transform = next(
                pf.transform
                for pf in table.spec().fields
                if schema.find_column_name(pf.source_id) == self._column
            )
            field_type = schema.find_field(self._column).field_type
            self._transform = transform.pyarrow_transform(field_type)

    @property
    def events(self) -> EventTime:
        return self._events

    def count(self, chunks: list[pa.Table]) -> int:
        """Rows whose time partition is older than the newest in their file or than the
        table's committed high-water (see ``EventTime``)."""
        if self._column is None or self._transform is None:
            return 0
        partitions = [self._transform(c.column(self._column)) for c in chunks if c.num_rows]
        maxima = [m for p in partitions if (m := pc.max(p).as_py()) is not None]
        if not maxima:
            return 0
        committed = [] if self._events.committed is None else [self._events.committed]
        newest = max([*maxima, *committed])
        self._events.newest = max(newest, self._events.newest or newest)
        return sum(int(pc.sum(pc.less(p, newest)).as_py() or 0) for p in partitions)
