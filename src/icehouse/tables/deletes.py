"""Row-level deletes: the rows matching a filter leave the table in one snapshot.

PyIceberg rewrites the affected files (copy-on-write). The snapshot carries icehouse's
ingestion summary keys forward, so that exactly-once recovery still reads what is
committed from the current snapshot.
"""

from __future__ import annotations

from pyiceberg.expressions import BooleanExpression
from pyiceberg.table import Table

from icehouse.tables.carry import SUMMARY_KEYS
from icehouse.tables.retry import commit_races


def delete_rows(table: Table, row_filter: BooleanExpression) -> int:
    """Delete the rows ``row_filter`` matches; returns how many rows went.

    Raises:
        CommitRaced: another commit moved the table first (nothing was deleted).
    """
    before = _total_rows(table)
    current = table.current_snapshot()
    carried = {
        key: current.summary[key]
        for key in SUMMARY_KEYS
        if current is not None and current.summary and key in current.summary
    }
    with commit_races(table):
        table.delete(row_filter, snapshot_properties=carried)
    table.refresh()
    return before - _total_rows(table)


def _total_rows(table: Table) -> int:
    snapshot = table.current_snapshot()
    if snapshot is None or snapshot.summary is None:
        return 0
    return int(snapshot.summary.get("total-records", 0) or 0)
