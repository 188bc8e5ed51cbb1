"""Reading a table's current metadata for the REST catalog's loads, fast.

A load is the hottest request a catalog serves: engines load a table before every read
and after every commit. A metadata file never changes once written (every commit writes
a new one and moves the table's pointer to it), so its Iceberg JSON, once rendered, is
kept by location: a repeated load costs one indexed lookup of the pointer, not a file
read, a parse and a re-serialisation. A changed table has a new location, so a cached
answer can never be stale.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from weakref import WeakKeyDictionary

from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import IcebergTables, SqlCatalog
from pyiceberg.io import load_file_io
from pyiceberg.serializers import FromInputFile
from pyiceberg.table.metadata import TableMetadata
from sqlalchemy import Select, bindparam, select

from icehouse.errors import NoSuchTable
from icehouse.tables._compat import tables_only
from icehouse.tables.catalog_errors import dotted
from icehouse.tables.namespaces import Namespace
from icehouse.tables.prepared import PerCatalog

RENDERED_KEPT = 512
"""Rendered metadata documents kept (least recently used dropped first): a few MB for
typical tables, and enough for every table a busy deployment loads in a minute."""


def _pointer_query(catalog: SqlCatalog) -> Select[str | None]:
    query = select(IcebergTables.metadata_location).where(
        IcebergTables.catalog_name == catalog.name,
        IcebergTables.table_namespace == bindparam("namespace"),
        IcebergTables.table_name == bindparam("name"),
    )
    if (only_tables := tables_only(catalog)) is not None:
        query = query.where(only_tables)
    return query


_pointer_queries = PerCatalog(_pointer_query)


def metadata_location(catalog: SqlCatalog, namespace: Namespace, name: str) -> str:
    """The table's current metadata file, from one plain query of the catalog's row.

    Raises: NoSuchTable."""
    location = pointer(catalog, namespace, name)
    if location is None:
        full = dotted((*namespace, name))
        raise NoSuchTable(f"table {full!r} does not exist", table=full)
    return str(location)


def pointer(catalog: SqlCatalog, namespace: Namespace, name: str) -> str | None:
    """The table's metadata file as its catalog row holds it (None: no such table, or a
    row without one)."""
    bound = {"namespace": Catalog.namespace_to_string(namespace), "name": name}
    with catalog.engine.connect() as connection:
        location = connection.execute(_pointer_queries(catalog), bound).scalar()
    return None if location is None else str(location)


class RenderedMetadata:
    """Rendered metadata documents by (metadata location, rendering); thread-safe.

    Callers share the documents it hands out and must not change them."""

    def __init__(self, kept: int = RENDERED_KEPT) -> None:
        self._kept = kept
        self._documents: OrderedDict[tuple[str, str], dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self,
        catalog: SqlCatalog,
        location: str,
        rendering: str,
        render: Callable[[TableMetadata], dict[str, Any]],
    ) -> dict[str, Any]:
        """The document ``render`` makes of the metadata at ``location``, read once."""
        key = (location, rendering)
        with self._lock:
            if (document := self._documents.get(key)) is not None:
                self._documents.move_to_end(key)
                return document
        io = load_file_io(properties=catalog.properties, location=location)
        document = render(FromInputFile.table_metadata(io.new_input(location)))
        with self._lock:
            self._documents[key] = document
            while len(self._documents) > self._kept:
                self._documents.popitem(last=False)
        return document


_CACHES: WeakKeyDictionary[SqlCatalog, RenderedMetadata] = WeakKeyDictionary()
_CACHES_LOCK = threading.Lock()


def rendered_metadata(catalog: SqlCatalog) -> RenderedMetadata:
    """The catalog's own cache (two lakes in a process never share one), made on first
    use and gone with the catalog."""
    with _CACHES_LOCK:
        cache = _CACHES.get(catalog)
        if cache is None:
            cache = _CACHES[catalog] = RenderedMetadata()
        return cache
