"""Where maintenance may delete: under the table's location as this home's catalog
records it, and under this home's warehouse, never anywhere else.

Expiry, orphan removal and metadata cleanup delete what the catalog says is no longer
needed. When the catalog is not this home's own (a home copied with ``cp -a`` carries
the original's state database, whose tables live in the original's warehouse), "no
longer needed here" is "still needed there": the copy's expiry deleted the original's
files and made it unreadable. So each deletion is checked against both roots, and a
table whose location is outside the warehouse is refused before anything runs.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from pyiceberg.table import Table

from icehouse.errors import OutsideWarehouse
from icehouse.state.home import warehouse_uri
from icehouse.tables.reachability import normalise_path


def is_under(path: str, root: str) -> bool:
    """``path`` is ``root`` or inside it, compared normalised (``file:`` spellings of one
    local path agree; ``/lake/warehouse2`` is not under ``/lake/warehouse``)."""
    path, root = normalise_path(path), normalise_path(root).rstrip("/")
    if "://" not in path:
        path = posixpath.normpath(path)
    return path == root or path.startswith(root + "/")


@dataclass(frozen=True)
class DeleteScope:
    table_location: str
    warehouse: str

    def allows(self, path: str) -> bool:
        return is_under(path, self.table_location) and is_under(path, self.warehouse)


def delete_scope(table: Table, warehouse: str) -> DeleteScope:
    """The scope for deleting ``table``'s files from a home whose warehouse is
    ``warehouse`` (as configured: a folder or a URI).

    Raises:
        OutsideWarehouse: the table's location is not under the warehouse.
    """
    name = ".".join(table.name())
    location, root = table.location(), warehouse_uri(warehouse)
    if not is_under(location, root):
        raise OutsideWarehouse(
            f"its files are at {location}, outside this home's warehouse {root}, so they "
            "may belong to another lake home (a home copied with cp shares the original's "
            "files); nothing was deleted. Maintain the table from the home whose warehouse "
            "holds it, or set `warehouse` in icehouse.toml if that folder really is this "
            "home's",
            table=name,
            location=location,
            warehouse=root,
        )
    return DeleteScope(location, root)
