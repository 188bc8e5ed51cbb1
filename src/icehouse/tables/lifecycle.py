"""Removing a table from the catalog and moving it to another name.

Both touch the catalog row only: the table's data and metadata files stay where they
are (a renamed table keeps its location; a dropped one leaves its files for a purge or
for registering again). PyIceberg's errors become icehouse's at this boundary.
"""

from __future__ import annotations

import contextlib
import os

from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import NoSuchNamespaceError, NoSuchTableError, TableAlreadyExistsError

from icehouse.errors import NoSuchNamespace, TableAlreadyExists
from icehouse.tables.catalog import TableName, identifier_of, load_table
from icehouse.tables.catalog_errors import dotted
from icehouse.tables.reachability import normalise_path


def drop_table(catalog: SqlCatalog, name: TableName) -> None:
    """Remove ``name`` from the catalog, leaving its files.

    Raises:
        NoSuchTable: there is no such table (also when another drop got there first).
    """
    load_table(catalog, name)
    try:
        catalog.drop_table(identifier_of(name))
    except NoSuchTableError:
        load_table(catalog, name)  # raises NoSuchTable with the namespace's tables
        raise


def rename_table(catalog: SqlCatalog, old: TableName, new: TableName) -> None:
    """Give table ``old`` the name ``new`` (possibly in another, existing namespace).

    Raises:
        NoSuchTable: there is no table ``old``.
        NoSuchNamespace: ``new``'s namespace does not exist.
        TableAlreadyExists: a table ``new`` exists.
        InvalidInput: a name not written ``namespace.table``.
    """
    namespace = ".".join(identifier_of(new)[:-1])
    load_table(catalog, old)
    try:
        catalog.rename_table(identifier_of(old), identifier_of(new))
    except NoSuchNamespaceError:
        known = ", ".join(".".join(n) for n in catalog.list_namespaces()) or "none"
        raise NoSuchNamespace(
            f"no namespace {namespace!r} to move {dotted(old)} into (namespaces: {known}); "
            f"create a table in it first, or pick an existing one",
            namespace=namespace,
        ) from None
    except TableAlreadyExistsError:
        raise TableAlreadyExists(
            f"table {dotted(new)!r} already exists; drop it first or choose another name",
            table=dotted(new),
        ) from None
    except NoSuchTableError:
        load_table(catalog, old)  # a concurrent drop or rename: NoSuchTable, with hints
        raise


def remove_empty_folders(location: str) -> None:
    """Remove the folders under a local ``location`` (and it) that hold no file any more,
    so that a purged table leaves no trace in the warehouse. Object stores have no
    folders to remove; a folder that still holds something stays."""
    path = normalise_path(location)
    if "://" in path or not os.path.isdir(path):
        return
    for folder, _, _ in os.walk(path, topdown=False):
        with contextlib.suppress(OSError):  # not empty: another table's, or a new file
            os.rmdir(folder)
