"""Where a new table goes when its creator names no location, and whether a location
already holds files.

A table dropped without purge leaves its files at its location, ``<warehouse>/ns/name``;
a renamed table keeps its files where it was created. A table created later at that
same location would own those files (the most specific location owns a file): the
catalog would sign reads of them for it, and accept its snapshots naming them, paths its
creator may have learnt while it could still read the old table. So a new table whose
default location already holds a file goes beside it, at ``.../name-<8 hex digits>``;
in the normal case the lake's layout stays ``ns/name``.
"""

from __future__ import annotations

import uuid

import pyarrow.fs as pafs
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.io import load_file_io
from pyiceberg.io.pyarrow import PyArrowFileIO

from icehouse.tables._compat import table_location
from icehouse.tables.namespaces import Namespace


def default_location(catalog: SqlCatalog, namespace: Namespace, name: str) -> str:
    """Where ``catalog`` puts table ``namespace.name`` created with no location: its
    usual place (under the namespace's ``location`` property, else the warehouse), or,
    when files already lie there, a new folder beside it that no one has used.

    Raises: NoSuchNamespaceError (PyIceberg's: the caller translates it)."""
    location = table_location(catalog, None, ".".join(namespace), name)
    if not holds_files(catalog, location):
        return location
    return f"{location}-{uuid.uuid4().hex[:8]}"


def holds_files(catalog: SqlCatalog, location: str) -> bool:
    """Whether any file lies under ``location`` (or is ``location``), read with
    ``catalog``'s storage settings: folder by folder, stopping at the first that holds
    a file, so a dropped table's files cost a few listings, not one of every file.
    Empty folders (and S3's folder markers) hold none."""
    io = load_file_io(catalog.properties, location)
    arrow_io = io if isinstance(io, PyArrowFileIO) else PyArrowFileIO(io.properties)
    scheme, netloc, path = arrow_io.parse_location(location, arrow_io.properties)
    filesystem = arrow_io.fs_by_scheme(scheme, netloc)
    top = filesystem.get_file_info(path.rstrip("/"))
    if top.type == pafs.FileType.File:
        return True
    folders = [top.path] if top.type == pafs.FileType.Directory else []
    while folders:
        for info in filesystem.get_file_info(pafs.FileSelector(folders.pop())):
            if info.type == pafs.FileType.File:
                return True
            if info.type == pafs.FileType.Directory:
                folders.append(info.path)
    return False
