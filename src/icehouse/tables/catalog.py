"""Open the PyIceberg catalog that lives in the state database.

Tables are registered in PyIceberg's SqlCatalog tables inside the one state database,
under the fixed catalog name ``icehouse`` (SqlCatalog keys rows by catalog name, so a
different name would silently show an empty catalog). Other engines open the same rows:
Spark through its JDBC catalog, anything through icehouse's REST server.

Every commit through this catalog object, icehouse's own or a plain PyIceberg
``table.append`` on a table loaded from it (and so, later, the REST server's), passes
one place: ``LakeCatalog`` carries the ingestion keys forward onto each new snapshot
(``carry.py``) and keeps recently current metadata files in the metadata log
(``grace.py``).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import IcebergTables, SqlCatalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.serializers import FromInputFile
from pyiceberg.table import StagedTable, Table
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.update import TableRequirement, TableUpdate
from pyiceberg.typedef import Identifier

from icehouse.errors import InvalidInput, NoSuchTable
from icehouse.state.clock import SYSTEM_CLOCK, Clock
from icehouse.state.home import warehouse_uri
from icehouse.tables.carry import carry_forward, is_icehouse_writer
from icehouse.tables.catalog_errors import dotted
from icehouse.tables.grace import graced_metadata_log
from icehouse.tables.metadata_reads import pointer

CATALOG_NAME = "icehouse"

# Defaults for every table icehouse creates: zstd Parquet, 128 MiB files,
# bounded metadata history and manifests merged on append, so that a table that takes
# a commit every few seconds does not grow its metadata without end.
TABLE_DEFAULTS: dict[str, str] = {
    "format-version": "2",
    "write.format.default": "parquet",
    "write.parquet.compression-codec": "zstd",
    "write.target-file-size-bytes": str(128 * 1024 * 1024),
    "write.metadata.delete-after-commit.enabled": "true",
    "write.metadata.previous-versions-max": "10",
    "commit.manifest-merge.enabled": "true",
    "commit.manifest.min-count-to-merge": "50",
}


def open_catalog(
    state_url: str, warehouse: str, storage: dict[str, str], *, clock: Clock = SYSTEM_CLOCK
) -> SqlCatalog:
    """``clock`` tells the catalog which metadata files are recent (tests move it)."""
    # Schema "v1" marks each row a table or a view (``iceberg_type``); a state database
    # made before PyIceberg knew views gets the column added on open.
    properties: dict[str, Any] = {
        "uri": state_url,
        "warehouse": warehouse_uri(warehouse),
        "schema_version": "v1",
    }
    if not state_url.startswith("sqlite"):
        # Test each pooled connection before use: after a PostgreSQL restart an idle
        # worker's pooled connections are dead, and the first commit would fail on one.
        properties["pool_pre_ping"] = "true"
    properties.update(storage)
    if warehouse.startswith("file:") or "://" not in warehouse:
        Path(warehouse.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
    return LakeCatalog(CATALOG_NAME, clock=clock, **properties)


PARSED_KEPT = 128
"""Parsed metadata files kept: one per table that writers commit to in turn (a file
evicted before its table's next commit is read back from storage by that commit)."""


class LakeCatalog(SqlCatalog):
    """PyIceberg's SQL catalog, parsing each table metadata file once per catalog (a
    ``Lake`` opens one: two lakes in a process never share parsed metadata).

    A metadata file never changes once written (every commit writes a new one), and that
    of a streaming table lists every snapshot since the last expiry: parsing one of 337
    snapshots took 8 ms of a 19 ms query. Loading a table still reads the catalog row,
    so it always sees the latest commit.

    Each commit is staged here before the catalog writes it: the summaries of the
    snapshots it adds get the ingestion keys carried forward (and a foreign client's
    ``icehouse.*`` keys dropped), and the metadata log keeps every file that was current
    within the table's reader grace."""

    def __init__(self, name: str, *, clock: Clock = SYSTEM_CLOCK, **properties: Any) -> None:
        self._parsed = _ParsedMetadata(kept=PARSED_KEPT)
        self._clock = clock
        super().__init__(name, **properties)

    def _update_and_stage_table(
        self,
        current_table: Table | None,
        table_identifier: Identifier,
        requirements: tuple[TableRequirement, ...],
        updates: tuple[TableUpdate, ...],
    ) -> StagedTable:
        base = current_table.metadata if current_table is not None else None
        carried = carry_forward(base, updates, trusted=is_icehouse_writer())
        staged = super()._update_and_stage_table(
            current_table, table_identifier, requirements, carried
        )
        if current_table is None or staged.metadata == current_table.metadata:
            return staged
        log = graced_metadata_log(
            current_table.metadata,
            current_table.metadata_location,
            staged.metadata,
            int(self._clock() * 1000),
        )
        return StagedTable(
            identifier=table_identifier,
            metadata=staged.metadata.model_copy(update={"metadata_log": log}),
            metadata_location=staged.metadata_location,
            io=staged.io,
            catalog=self,
        )

    def load_table(self, identifier: str | Identifier) -> Table:
        """As PyIceberg's, with the table's row read by one prepared query, not through
        an ORM session that cost ten times the query: every commit and every read
        starts with this. A name with no metadata file is left to PyIceberg's own
        lookup, which raises its own errors (NoSuchTableError)."""
        namespace = Catalog.namespace_from(identifier)
        name = Catalog.table_name_from(identifier)
        location = pointer(self, namespace, name)
        if location is None:
            return super().load_table(identifier)
        return self._table_at((*namespace, name), location)

    def remember(self, location: str, metadata: TableMetadata) -> None:
        """``metadata`` was just written at ``location`` (a commit that landed): the next
        load of the table, the next commit's first step, need not read it back."""
        self._parsed.put(location, metadata)

    def _convert_orm_to_iceberg(self, orm_table: IcebergTables) -> Table:
        location = orm_table.metadata_location
        if not (location and orm_table.table_namespace and orm_table.table_name):
            return super()._convert_orm_to_iceberg(orm_table)  # PyIceberg's own errors
        namespace = Catalog.identifier_to_tuple(orm_table.table_namespace)
        return self._table_at((*namespace, orm_table.table_name), location)

    def _table_at(self, identifier: Identifier, location: str) -> Table:
        """The table ``identifier`` whose current metadata file is ``location``."""
        metadata = self._parsed.get(location)
        if metadata is None:
            io = self._load_file_io(location=location)
            metadata = FromInputFile.table_metadata(io.new_input(location))
            self._parsed.put(location, metadata)
        return Table(
            identifier=identifier,
            metadata=metadata,
            metadata_location=location,
            io=self._load_file_io(metadata.properties, location),
            catalog=self,
        )


class _ParsedMetadata:
    """The most recently used parsed metadata files, by location (thread-safe)."""

    def __init__(self, kept: int) -> None:
        self._kept = kept
        self._entries: OrderedDict[str, TableMetadata] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, location: str) -> TableMetadata | None:
        with self._lock:
            metadata = self._entries.get(location)
            if metadata is not None:
                self._entries.move_to_end(location)
            return metadata

    def put(self, location: str, metadata: TableMetadata) -> None:
        with self._lock:
            self._entries[location] = metadata
            while len(self._entries) > self._kept:
                self._entries.popitem(last=False)


def split_name(name: str) -> tuple[str, str]:
    """``db.table`` → (``db``, ``table``).

    Raises:
        InvalidInput: not of the form ``namespace.table``.
    """
    parts = name.split(".")
    if len(parts) != 2 or not all(parts):
        raise InvalidInput(
            f"table names are written namespace.table (e.g. logs.requests), got {name!r}"
        )
    return parts[0], parts[1]


def find_table(catalog: SqlCatalog, name: str) -> Table | None:
    """The table called ``name``, None if there is none (e.g. a name that is an alias)."""
    try:
        return catalog.load_table(name)
    except NoSuchTableError:
        return None


TableName = str | tuple[str, ...]
"""A table as icehouse's commands write it (``namespace.table``), or as the REST catalog
receives it: the namespace's levels and then the name, which may itself hold a dot."""


def identifier_of(name: TableName) -> tuple[str, ...]:
    """Raises: InvalidInput (a string not written ``namespace.table``)."""
    return split_name(name) if isinstance(name, str) else name


def load_table(catalog: SqlCatalog, name: TableName) -> Table:
    """Raises: NoSuchTable, with the tables that do exist in the namespace;
    InvalidInput (a string not written ``namespace.table``)."""
    identifier = identifier_of(name)
    try:
        return catalog.load_table(identifier)
    except NoSuchTableError:
        try:
            known = [".".join(t) for t in catalog.list_tables(identifier[:-1])]
        except Exception:  # the namespace itself may be missing
            known = []
        namespace = ".".join(identifier[:-1])
        hint = f"; tables in {namespace!r}: {', '.join(known)}" if known else ""
        raise NoSuchTable(
            f"no table {dotted(name)!r}{hint}. Create it with "
            f"`icehouse table create {dotted(name)} ...`",
            table=dotted(name),
        ) from None
