"""Late rows: rows whose event time falls before what their source had already committed.

"Late" means what a person means by it: a provider delivering rows for a time it had
already moved past. So each source is compared with itself (a slow provider's normal
rows are not late because a fast one fed the same table), allowing ``late_after``
(default one hour: logs are never perfectly ordered), and rows of one batch are never
late relative to each other (a backfill of many days in one batch is not late data).

The event time is the column of the table's time partition (``day(ts)`` → ``ts``); a
table without one has no late rows. Late rows are ingested like any other: the count is
information (``late_rows`` in reports and in the snapshot summary).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
from pyiceberg.table import Table
from pyiceberg.transforms import DayTransform, HourTransform, MonthTransform, YearTransform

_MICROS_PER_DAY = 86_400_000_000


@dataclass
class EventTime:
    """Per source, event times in UNIX microseconds: ``committed`` is the newest its
    committed rows held when the batch began (fixed for the batch), ``newest`` the newest
    so far, this batch included (recorded with the batch's commit)."""

    committed: dict[str, int] = field(default_factory=dict)
    newest: dict[str, int] = field(default_factory=dict)


def time_partition_column(table: Table) -> str | None:
    """The source column of the table's first time partition (the event time)."""
    schema = table.schema()
    for pf in table.spec().fields:
        if isinstance(pf.transform, YearTransform | MonthTransform | DayTransform | HourTransform):
            return schema.find_column_name(pf.source_id)
    return None


def as_micros(values: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """Timestamps (any unit, any zone) and dates as UNIX microseconds."""
    kind = values.type
    if pa.types.is_date(kind):
        days = pc.cast(values, pa.date32()).cast(pa.int32()).cast(pa.int64())
        return pc.multiply(days, _MICROS_PER_DAY)
    return pc.cast(pc.cast(values, pa.timestamp("us", tz=getattr(kind, "tz", None))), pa.int64())


class LateRows:
    """Counts a file's late rows against the batch's ``EventTime``, raising its newest."""

    def __init__(self, table: Table, events: EventTime, allowances: dict[str, float]) -> None:
        """``allowances``: per source, its ``late_after`` in seconds."""
        self._events = events
        self._column = time_partition_column(table)
        self._allowances = allowances

    @property
    def events(self) -> EventTime:
        return self._events

    def count(self, source: str, chunks: list[pa.Table]) -> int:
        """Rows of ``source`` older than its committed newest minus its allowance."""
        if self._column is None:
            return 0
        times = [as_micros(c.column(self._column)) for c in chunks if c.num_rows]
        maxima = [m for t in times if (m := pc.max(t).as_py()) is not None]
        if not maxima:
            return 0
        newest = self._events.newest
        newest[source] = max([*maxima, *([newest[source]] if source in newest else [])])
        committed = self._events.committed.get(source)
        if committed is None:
            return 0
        cutoff = committed - int(self._allowances.get(source, 3600.0) * 1_000_000)
        return sum(int(pc.sum(pc.less(t, cutoff)).as_py() or 0) for t in times)
