"""Deleting every file of a dropped table (``icehouse table drop --purge``).

Once the catalog no longer lists the table, nothing can read its files, so all of them
go: data, delete files, manifests and metadata, referenced or not. Only within the
table's location and this home's warehouse (``DeleteScope``), and never under the
location of another table: a table created with a location inside this one's folder
keeps its files.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pyiceberg.table import Table

from icehouse.maintain.scope import DeleteScope, is_under
from icehouse.tables.lifecycle import remove_empty_folders
from icehouse.tables.reachability import list_files, remove


@dataclass(frozen=True)
class PurgeResult:
    files_deleted: int
    bytes_freed: int
    kept_for_other_tables: int
    """Files under the location that belong to another table's location."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "files_deleted": self.files_deleted,
            "bytes_freed": self.bytes_freed,
            "kept_for_other_tables": self.kept_for_other_tables,
        }


def purge_files(table: Table, scope: DeleteScope, *, other_locations: list[str]) -> PurgeResult:
    """Delete the files stored under ``table``'s location that ``scope`` allows and no
    location in ``other_locations`` holds, then the folders left empty (local storage).
    Call it after the table left the catalog: a reader that loaded the table before may
    still be reading, and will fail, which is what dropping means."""
    stored = list_files(table.io, table.location())
    ours = [
        f
        for f in stored
        if scope.allows(f.path) and not any(is_under(f.path, o) for o in other_locations)
    ]
    deleted = [f for f in ours if remove(table.io, f.path)]
    remove_empty_folders(table.location())
    return PurgeResult(
        files_deleted=len(deleted),
        bytes_freed=sum(f.size for f in deleted),
        kept_for_other_tables=len(stored) - len(ours),
    )
