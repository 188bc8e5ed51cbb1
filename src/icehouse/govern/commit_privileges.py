"""Which privileges an Iceberg commit needs, read from its updates.

A commit through the REST catalog can append rows, delete them, rewrite them, evolve
the schema or move a branch; one privilege for all of it would let a principal granted
INSERT delete every row. So each update asks for the privilege of what it does:

- ``add-snapshot``, by the snapshot summary's ``operation``: ``append`` needs INSERT,
  ``delete`` DELETE, ``overwrite`` INSERT and DELETE, and ``replace`` (a compaction:
  the same rows in new files) INSERT and DELETE too, as Lake Formation asks for
  rewrites: the server cannot tell from the commit that a ``replace`` keeps the rows,
  so it is decided as what it physically does, write files and remove files. A snapshot
  whose summary counts added or deleted rows or files needs INSERT or DELETE for them
  whatever its operation says, and an unknown operation needs both;
- ``set-snapshot-ref`` to a snapshot the same commit adds: nothing more (that is how an
  append lands on ``main``); to any other snapshot (a rollback, a new branch or tag):
  ALTER;
- everything else (schema, partition spec, sort order, properties, location, format
  version, statistics, snapshot and ref removals): ALTER.

Dropping a table is not a commit: DROP, asked by the drop itself.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from icehouse.govern.objects import Privilege

_BY_OPERATION: dict[str, frozenset[Privilege]] = {
    "append": frozenset({Privilege.INSERT}),
    "delete": frozenset({Privilege.DELETE}),
    "overwrite": frozenset({Privilege.INSERT, Privilege.DELETE}),
    "replace": frozenset({Privilege.INSERT, Privilege.DELETE}),
}
_ADDING = (
    "added-data-files",
    "added-records",
    "removed-delete-files",
    "removed-position-deletes",
    "removed-equality-deletes",
)
"""Summary counters that say a snapshot adds rows (removing a delete file brings back
the rows it hid)."""
_REMOVING = (
    "deleted-data-files",
    "deleted-records",
    "added-delete-files",
    "added-position-deletes",
    "added-equality-deletes",
)
"""Summary counters that say a snapshot removes rows (a delete file hides rows)."""
ORDER = (Privilege.INSERT, Privilege.DELETE, Privilege.ALTER)
"""The order a denial names missing privileges in: the first missing is named."""


def commit_privileges(updates: Iterable[Mapping[str, Any]]) -> list[Privilege]:
    """The privileges a commit of ``updates`` (Iceberg REST JSON) needs on its table, in
    ``ORDER``; empty for a commit that changes nothing."""
    updates = list(updates)
    added = {
        u["snapshot"].get("snapshot-id")
        for u in updates
        if u.get("action") == "add-snapshot" and isinstance(u.get("snapshot"), Mapping)
    }
    needed: set[Privilege] = set()
    for update in updates:
        needed |= _needs(update, added)
    return [p for p in ORDER if p in needed]


def _needs(update: Mapping[str, Any], added: set[Any]) -> set[Privilege]:
    action = update.get("action")
    if action == "add-snapshot":
        snapshot = update.get("snapshot")
        summary = snapshot.get("summary") if isinstance(snapshot, Mapping) else None
        return _snapshot_needs(summary if isinstance(summary, Mapping) else {})
    if action == "set-snapshot-ref" and update.get("snapshot-id") in added:
        return set()
    return {Privilege.ALTER}


def _snapshot_needs(summary: Mapping[str, Any]) -> set[Privilege]:
    operation = summary.get("operation")
    needed = set(_BY_OPERATION.get(str(operation), {Privilege.INSERT, Privilege.DELETE}))
    if any(_counted(summary.get(key)) for key in _ADDING):
        needed.add(Privilege.INSERT)
    if any(_counted(summary.get(key)) for key in _REMOVING):
        needed.add(Privilege.DELETE)
    return needed


def _counted(value: Any) -> bool:
    """Whether a summary counter (a string of digits, as Iceberg writes them) is above 0;
    a value that is not a count is taken as one, so that it cannot hide a change."""
    if value is None:
        return False
    try:
        return int(str(value)) > 0
    except ValueError:
        return True
