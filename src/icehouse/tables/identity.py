"""Tables and views by UUID: what governance keys them by, so that a rename by any client
leaves grants, tags and filters where they were given.

A name is resolved to its UUID when a grant is made or a decision asked (one catalog
read; the metadata file is parsed once per catalog). The way back, a UUID to the name it
has now, reads every catalog row once and remembers which UUID each metadata file holds:
a metadata file never changes, so the memory stays right while the names move. The same
memory answers a name with one row read (``UuidIndex.named``): a governed statement asks
for the identity of every table it reads, and loading the table for it cost a catalog
load and a walk of every schema (0.7 ms of a 25 ms query). Listings and decisions share
one memory of identities by metadata file, so a table a listing has met is decided on
without reading its metadata again, and the other way round.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, replace

from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import IcebergTables, SqlCatalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.io import load_file_io
from pyiceberg.schema import Schema, index_by_name
from pyiceberg.serializers import FromInputFile
from pyiceberg.table import Table
from pyiceberg.table.metadata import TableMetadata
from sqlalchemy import Select, bindparam, select

from icehouse.errors import NoSuchTable
from icehouse.tables.catalog_views import VIEW_TYPE, load_view
from icehouse.tables.namespaces import Namespace
from icehouse.tables.prepared import PerCatalog

KEPT = 4096
"""Identities kept by metadata file (least recently used dropped first), for listings
and decisions alike."""


@dataclass(frozen=True)
class Identity:
    """A table or view: its UUID, where it is now, and (tables) its columns."""

    uuid: str
    namespace: Namespace
    name: str
    view: bool
    columns: dict[str, int]
    """Current column name (dotted for nested fields) → field id."""
    all_field_ids: frozenset[int]
    """Every field id of every schema the table has had (time travel reads older ones)."""

    @property
    def dotted(self) -> str:
        return ".".join((*self.namespace, self.name))

    def column_name(self, field_id: int) -> str:
        """The column's current name, ``#<id>`` for one the current schema dropped."""
        for name, found in self.columns.items():
            if found == field_id:
                return name
        return f"#{field_id}"


def table_identity(catalog: SqlCatalog, namespace: Namespace, name: str) -> Identity:
    """Raises: NoSuchTable."""
    dotted = ".".join((*namespace, name))
    try:
        table = catalog.load_table((*namespace, name))
    except NoSuchTableError:
        raise NoSuchTable(f"no table {dotted!r}", table=dotted) from None
    return identity_of(table, namespace, name, str(table.metadata.table_uuid))


def identity_of(table: Table, namespace: Namespace, name: str, key: str) -> Identity:
    """``table``, loaded from any catalog, as governance keys it: by ``key`` (its UUID,
    or a mounted table's key, which also names the mount)."""
    return _metadata_identity(table.metadata, namespace, name, key)


def _metadata_identity(
    metadata: TableMetadata, namespace: Namespace, name: str, key: str
) -> Identity:
    return Identity(
        uuid=key,
        namespace=namespace,
        name=name,
        view=False,
        columns=_columns(metadata.schema()),
        all_field_ids=frozenset(
            field_id for schema in metadata.schemas for field_id in _columns(schema).values()
        ),
    )


def view_identity(catalog: SqlCatalog, namespace: Namespace, name: str) -> Identity:
    """Raises: NoSuchView."""
    state = load_view(catalog, namespace, name)
    return Identity(
        uuid=str(state.metadata["view-uuid"]),
        namespace=namespace,
        name=name,
        view=True,
        columns={},
        all_field_ids=frozenset(),
    )


def _row_query(catalog: SqlCatalog) -> Select[str | None, str | None]:
    return select(IcebergTables.metadata_location, IcebergTables.iceberg_type).where(
        IcebergTables.catalog_name == catalog.name,
        IcebergTables.table_namespace == bindparam("namespace"),
        IcebergTables.table_name == bindparam("name"),
    )


_row_queries = PerCatalog(_row_query)


class UuidIndex:
    """UUID → the table or view that has it now, a name → the identity it has now (see
    the module docstring); and a namespace's tables with their identities, for the
    decisions a listing makes."""

    def __init__(self) -> None:
        self._uuids: dict[str, str] = {}
        """Metadata location → the UUID in that file."""
        self._identities: OrderedDict[str, Identity] = OrderedDict()
        """Metadata location → the table it describes (under the name it had when first
        met: a caller puts its own name on it), the least recently used first."""
        self._lock = threading.Lock()

    def named(self, catalog: SqlCatalog, namespace: Namespace, name: str) -> Identity | None:
        """The table or view called ``namespace.name`` now, None when there is none: its
        catalog row is read each time, so a commit, a rename or a drop shows at once; a
        metadata file is read only the first time it is met."""
        bound = {"namespace": Catalog.namespace_to_string(namespace), "name": name}
        with catalog.engine.connect() as conn:
            row = conn.execute(_row_queries(catalog), bound).first()
        location, kind = (None, None) if row is None else row
        if not location:
            return None
        if kind == VIEW_TYPE:
            return self._identity(catalog, namespace, name, kind)
        try:
            return self._table_at(catalog, location, namespace, name)
        except FileNotFoundError:  # dropped and purged since its row was read
            return None

    def locate(self, catalog: SqlCatalog, uuid: str) -> Identity | None:
        """The table or view with ``uuid`` now, None when there is none (dropped)."""
        rows = _rows(catalog)
        for namespace, name, location, kind in rows:
            with self._lock:
                known = self._uuids.get(location)
            if known is None:
                found = self._identity(catalog, namespace, name, kind)
                if found is None:
                    continue
                with self._lock:
                    self._uuids[location] = found.uuid
                if found.uuid == uuid:
                    return found
            elif known == uuid:
                return self._identity(catalog, namespace, name, kind)
        return None

    def namespace_tables(
        self, catalog: SqlCatalog, namespace: Namespace, rows: Iterable[tuple[str, str | None]]
    ) -> dict[str, Identity]:
        """The tables ``rows`` (the namespace's names and metadata locations, as one read
        of the catalog found them) by dotted name, with their identities: a listing
        decides on each of its tables, and loading them one by one read every table's
        pointer and metadata file on every listing."""
        return {
            ".".join((*namespace, name)): self._table_at(catalog, location, namespace, name)
            for name, location in rows
            if location
        }

    def _table_at(
        self, catalog: SqlCatalog, location: str, namespace: Namespace, name: str
    ) -> Identity:
        """The table whose metadata file is ``location``, called ``namespace.name``: the
        file is read the first time it is met (it never changes; a rename keeps it)."""
        with self._lock:
            known = self._identities.get(location)
            if known is not None:
                self._identities.move_to_end(location)
        if known is None:
            io = load_file_io(catalog.properties, location)
            metadata = FromInputFile.table_metadata(io.new_input(location))
            known = _metadata_identity(metadata, namespace, name, str(metadata.table_uuid))
            with self._lock:
                self._identities[location] = known
                while len(self._identities) > KEPT:
                    self._identities.popitem(last=False)
        if known.namespace == namespace and known.name == name:
            return known
        return replace(known, namespace=namespace, name=name)

    def _identity(
        self, catalog: SqlCatalog, namespace: Namespace, name: str, kind: str | None
    ) -> Identity | None:
        try:
            if kind == VIEW_TYPE:
                return view_identity(catalog, namespace, name)
            return table_identity(catalog, namespace, name)
        except Exception:  # dropped or renamed since the rows were read: not this one
            return None


def _rows(catalog: SqlCatalog) -> list[tuple[Namespace, str, str, str | None]]:
    query = select(
        IcebergTables.table_namespace,
        IcebergTables.table_name,
        IcebergTables.metadata_location,
        IcebergTables.iceberg_type,
    ).where(IcebergTables.catalog_name == catalog.name)
    with catalog.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        (Catalog.identifier_to_tuple(ns), name, location, kind)
        for ns, name, location, kind in rows
        if location
    ]


def _columns(schema: Schema) -> dict[str, int]:
    return dict(index_by_name(schema))
