"""Row-level deletes: the rows matching a filter leave the table in one snapshot.

PyIceberg rewrites the affected files (copy-on-write). The snapshot carries icehouse's
ingestion summary keys forward, so that exactly-once recovery still reads what is
committed from the current snapshot.

A delete races ingestion, which commits every few seconds. The keys carried, the files
rewritten and the rows counted all belong to the table the attempt loaded, so a lost
race is never replayed on a newer table: PyIceberg's own retry would reuse the stale
keys and count rows against the wrong table (or refuse, the rows it deletes having
changed). Its retry is switched off for the attempt, and each attempt reloads the table
and decides everything again.
"""

from __future__ import annotations

from collections.abc import Callable

from pyiceberg.expressions import BooleanExpression
from pyiceberg.table import Table

from icehouse.errors import CommitConflict
from icehouse.tables.carry import SUMMARY_KEYS, icehouse_writer
from icehouse.tables.retry import commit_races, retry_commit

MAX_ATTEMPTS = 20
PYICEBERG_RETRIES = "commit.retry.num-retries"


def delete_rows(load: Callable[[], Table], row_filter: BooleanExpression) -> int:
    """Delete the rows ``row_filter`` matches; returns how many rows went. ``load``
    returns the table freshly loaded; it is called once per attempt.

    Raises:
        CommitConflict: other commits kept winning the race for ``MAX_ATTEMPTS``
            attempts (nothing was deleted).
    """

    def attempt(_: int) -> int:
        table = _without_pyiceberg_retries(load())
        before = _total_rows(table)
        current = table.current_snapshot()
        summary = current.summary if current is not None else None
        # Only the keys the snapshot has: a PyIceberg ``Summary`` answers None (not
        # KeyError) for a missing key, so ``key in summary`` always holds, and a null
        # value in a snapshot summary is not valid Iceberg metadata.
        carried = {
            key: value
            for key in SUMMARY_KEYS
            if summary is not None and (value := summary.get(key)) is not None
        }
        with icehouse_writer(), commit_races(table):
            table.delete(row_filter, snapshot_properties=carried)
        return before - _total_rows(table)  # the table as this delete committed it

    def gave_up() -> CommitConflict:
        return CommitConflict(
            f"gave up deleting after {MAX_ATTEMPTS} attempts: other commits kept moving "
            "the table; nothing was deleted, retry when it is quieter",
            table=".".join(load().name()),
        )

    return retry_commit(attempt, attempts=MAX_ATTEMPTS, gave_up=gave_up)


def _without_pyiceberg_retries(table: Table) -> Table:
    """``table`` with PyIceberg's commit retries at 0, so that a lost race reaches
    icehouse's loop. Only this in-memory copy changes: the commit does not send it."""
    properties = {**table.metadata.properties, PYICEBERG_RETRIES: "0"}
    table.metadata = table.metadata.model_copy(update={"properties": properties})
    return table


def _total_rows(table: Table) -> int:
    snapshot = table.current_snapshot()
    if snapshot is None or snapshot.summary is None:
        return 0
    return int(snapshot.summary.get("total-records", 0) or 0)
