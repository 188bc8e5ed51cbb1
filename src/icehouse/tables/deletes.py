"""Row-level deletes: the rows matching a filter leave the table in one snapshot.

PyIceberg rewrites the affected files (copy-on-write). The snapshot carries icehouse's
ingestion summary keys forward, so that exactly-once recovery still reads what is
committed from the current snapshot.
"""

from __future__ import annotations

from pyiceberg.expressions import BooleanExpression
from pyiceberg.table import Table

from icehouse.tables.commit import SUMMARY_KEYS
from icehouse.tables.retry import commit_races


def delete_rows(table: Table, row_filter: BooleanExpression) -> int:
    """Delete the rows ``row_filter`` matches; returns how many rows went.

    Raises:
        CommitRaced: another commit moved the table first (nothing was deleted).
    """
    before = _total_rows(table)
    current = table.current_snapshot()
    summary = current.summary if current is not None else None
    # Only the keys the snapshot has: a PyIceberg ``Summary`` answers None (not KeyError)
    # for a missing key, so ``key in summary`` always holds, and a null value in a
    # snapshot summary is not valid Iceberg metadata.
    carried = {
        key: value
        for key in SUMMARY_KEYS
        if summary is not None and (value := summary.get(key)) is not None
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
