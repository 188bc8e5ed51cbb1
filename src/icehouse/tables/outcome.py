"""Did a commit land? Asked before deleting anything a failed commit attempt wrote.

An exception can escape a catalog commit after the catalog accepted it: raised just
after ``commit_table`` returned (a second Ctrl-C, SIGTERM through the CLI's stop
handlers, a bug in a post-commit step), or by a connection that broke between the
catalog's write and its answer. The manifests and manifest list the attempt wrote are
then the current snapshot's, and deleting them makes the table unreadable for every
engine. PyIceberg's ``Transaction.commit_transaction`` keeps the files unless the
exception's type guarantees the commit did not land; here the question is answered by
evidence instead: the table is re-read from the catalog (a fresh load, not the object
the commit was built on) and the snapshot id the attempt tried to add is looked for.

- ``LANDED``: the snapshot is in the table, or a snapshot names it as its parent.
- ``NOT_LANDED``: it is absent, and no snapshot added since the attempt began has lost
  its parent; had the attempt landed, only an expiry could have removed its snapshot,
  and that expiry would have cut the lineage of whatever was committed on top of it
  (which may still read the attempt's manifests).
- ``UNKNOWN``: the table cannot be re-read, is another table by now, or its lineage was
  cut. Nothing is deleted on doubt: orphan removal reclaims unreferenced files once they
  are older than its safety age.
"""

from __future__ import annotations

from enum import Enum

from pyiceberg.table import Table
from pyiceberg.table.metadata import TableMetadata


class Outcome(Enum):
    LANDED = "landed"
    NOT_LANDED = "not landed"
    UNKNOWN = "unknown"


def commit_outcome(table: Table, snapshot_id: int) -> Outcome:
    """Whether the commit that tried to add ``snapshot_id`` to ``table`` (as loaded when
    the commit was built) landed, by re-reading the table from its catalog.

    Any ``Exception`` while re-reading means ``UNKNOWN``; an interrupt propagates (and
    the caller, not having decided, deletes nothing).
    """
    try:
        fresh = table.catalog.load_table(table.name())
    except Exception:
        return Outcome.UNKNOWN
    return outcome_in(table.metadata, fresh.metadata, snapshot_id)


def outcome_in(base: TableMetadata, now: TableMetadata, snapshot_id: int) -> Outcome:
    """The outcome of adding ``snapshot_id`` to ``base``, judged from ``now``."""
    if now.table_uuid != base.table_uuid:
        return Outcome.UNKNOWN
    if any(
        s.snapshot_id == snapshot_id or s.parent_snapshot_id == snapshot_id for s in now.snapshots
    ):
        return Outcome.LANDED
    return Outcome.UNKNOWN if _lineage_cut(base, now) else Outcome.NOT_LANDED


def _lineage_cut(base: TableMetadata, now: TableMetadata) -> bool:
    """Whether a snapshot added after ``base`` lost its parent to an expiry.

    Expiring a snapshot drops its id from its children (PyIceberg) or leaves a dangling
    id (Java). A snapshot with no parent is legitimate only as the first commit on a
    table that had none.
    """
    known = {s.snapshot_id for s in now.snapshots}
    before = {s.snapshot_id for s in base.snapshots}
    first = base.next_sequence_number()
    for snapshot in now.snapshots:
        if snapshot.snapshot_id in before:
            continue
        parent = snapshot.parent_snapshot_id
        if parent is None:
            if base.current_snapshot_id is not None or snapshot.sequence_number != first:
                return True
        elif parent not in known:
            return True
    return False
