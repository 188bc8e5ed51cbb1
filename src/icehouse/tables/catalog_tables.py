"""Table operations of the Iceberg catalog in the shape the REST protocol speaks.

Engines send Iceberg JSON (schemas, partition specs, sort orders, commit requirements and
updates) and expect table metadata back as JSON. Everything here parses that JSON with
PyIceberg's own models and goes through the catalog's own methods, so that a commit over
the wire meets every rule a local commit meets: PyIceberg's requirement checks, the
compare-and-swap of the metadata pointer, and whatever ``LakeCatalog`` adds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlparse

from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import IcebergTables, SqlCatalog
from pyiceberg.exceptions import ValidationError as IcebergValidationError
from pyiceberg.io import load_file_io
from pyiceberg.partitioning import UNPARTITIONED_PARTITION_SPEC, PartitionSpec
from pyiceberg.schema import Schema
from pyiceberg.serializers import FromInputFile
from pyiceberg.table.metadata import TableMetadata, new_table_metadata
from pyiceberg.table.sorting import UNSORTED_SORT_ORDER, SortOrder
from sqlalchemy import Select, bindparam, select

from icehouse.errors import InvalidInput, NoSuchNamespace, TableAlreadyExists
from icehouse.tables._compat import table_location, tables_only
from icehouse.tables.catalog import TABLE_DEFAULTS
from icehouse.tables.catalog_errors import catalog_errors, dotted, parsed
from icehouse.tables.locations import checked_location
from icehouse.tables.metadata_reads import metadata_location, rendered_metadata
from icehouse.tables.namespaces import Namespace, namespace_exists
from icehouse.tables.new_locations import default_location
from icehouse.tables.prepared import PerCatalog

SnapshotsMode = Literal["all", "refs"]
T = TypeVar("T")


@dataclass(frozen=True)
class TableState:
    """A table as the REST protocol hands it out: its metadata file (None for a staged
    creation, which has none yet) and that file's content as Iceberg JSON."""

    metadata_location: str | None
    metadata: dict[str, Any]
    read_restrictions: dict[str, Any] | None = None
    """What the reader must apply (the REST spec's ``read-restrictions``): set only for
    a principal whose access is filtered and who is trusted to apply it."""


@dataclass(frozen=True)
class NewTable:
    """A creation request, still as Iceberg JSON (parsed here, where PyIceberg lives)."""

    schema: dict[str, Any]
    partition_spec: dict[str, Any] | None = None
    write_order: dict[str, Any] | None = None
    location: str | None = None
    properties: dict[str, str] | None = None


def list_tables(catalog: SqlCatalog, namespace: Namespace) -> list[str]:
    """Returns: the names of the namespace's tables, sorted.

    One plain query of the catalog's table rows (views excluded, as the catalog's own
    ``list_tables`` does), not the catalog's ORM sessions: listing is a hot path of the
    REST catalog, and building one ORM object per table cost several times the query.
    The namespace is looked up only when it lists nothing.

    Raises: NoSuchNamespace."""
    bound = {"namespace": Catalog.namespace_to_string(namespace)}
    with catalog.engine.connect() as connection:
        names = sorted(connection.execute(_listing_queries(catalog), bound).scalars().all())
    return _listed(catalog, namespace, names)


def list_table_rows(catalog: SqlCatalog, namespace: Namespace) -> list[tuple[str, str | None]]:
    """Returns: the namespace's tables as ``list_tables`` lists them, each with its
    metadata file's location (what a governed listing decides on), sorted by name.

    Raises: NoSuchNamespace."""
    bound = {"namespace": Catalog.namespace_to_string(namespace)}
    with catalog.engine.connect() as connection:
        found = connection.execute(_row_queries(catalog), bound).all()
    rows = sorted((name, location) for name, location in found)  # plain tuples: cheaper
    return _listed(catalog, namespace, rows)


def _listed(catalog: SqlCatalog, namespace: Namespace, found: list[T]) -> list[T]:
    """``found``, unless it is empty because the namespace does not exist.

    Raises: NoSuchNamespace."""
    if not found and not namespace_exists(catalog, namespace):
        raise NoSuchNamespace(
            f"namespace {dotted(namespace)!r} does not exist", namespace=dotted(namespace)
        )
    return found


def _listing_query(catalog: SqlCatalog) -> Select[str]:
    query = select(IcebergTables.table_name).where(
        IcebergTables.catalog_name == catalog.name,
        IcebergTables.table_namespace == bindparam("namespace"),
    )
    if (only_tables := tables_only(catalog)) is not None:
        query = query.where(only_tables)
    return query


def _row_query(catalog: SqlCatalog) -> Select[str, str | None]:
    return _listing_query(catalog).add_columns(IcebergTables.metadata_location)


_listing_queries = PerCatalog(_listing_query)
_row_queries = PerCatalog(_row_query)


def create_table(
    catalog: SqlCatalog, namespace: Namespace, name: str, new: NewTable, *, stage: bool = False
) -> TableState:
    """Create a table with icehouse's table defaults (the request's properties win).

    With ``stage``, nothing is written: the answer is the metadata the table would
    start with, and the engine's later commit (asserting the table does not exist yet)
    creates it.

    Raises: NoSuchNamespace, TableAlreadyExists, InvalidInput (a schema, spec or order
    that does not parse or does not fit the schema; a relative location)."""
    identifier = (*namespace, name)
    full = dotted(identifier)
    checked_location(new.location)
    schema = parsed(Schema, new.schema, subject=full)
    spec = (
        parsed(PartitionSpec, new.partition_spec, subject=full)
        if new.partition_spec
        else UNPARTITIONED_PARTITION_SPEC
    )
    order = (
        parsed(SortOrder, new.write_order, subject=full) if new.write_order else UNSORTED_SORT_ORDER
    )
    with catalog_errors(namespace=namespace, table=name):
        properties = {**TABLE_DEFAULTS, **(new.properties or {})}
        if not stage:
            location = new.location or default_location(catalog, namespace, name)
            table = fitting(
                lambda: catalog.create_table(identifier, schema, location, spec, order, properties)
            )
            return state_of(table.metadata_location, table.metadata, "all")
        if not catalog.namespace_exists(namespace):
            raise NoSuchNamespace(
                f"namespace {dotted(namespace)!r} does not exist", namespace=dotted(namespace)
            )
        if catalog.table_exists(identifier):
            raise TableAlreadyExists(f"table {full!r} already exists", table=full)
        location = (
            table_location(catalog, new.location, dotted(namespace), name)
            if new.location
            else default_location(catalog, namespace, name)
        )
        metadata = fitting(lambda: new_table_metadata(schema, spec, order, location, properties))
        _make_local_folders(location)
        return state_of(None, metadata, "all")


def load_table_state(
    catalog: SqlCatalog, namespace: Namespace, name: str, *, snapshots: SnapshotsMode = "all"
) -> TableState:
    """The table's current metadata; with ``snapshots="refs"``, only the snapshots a
    branch or tag points at (engines that only read the current state need no more).
    The rendered metadata is kept by location (see ``metadata_reads``); the returned
    document is shared and must not be changed.

    Raises: NoSuchTable."""
    location = metadata_location(catalog, namespace, name)
    with catalog_errors(namespace=namespace, table=name):
        document = rendered_metadata(catalog).get(
            catalog, location, snapshots, lambda metadata: _rendered(metadata, snapshots)
        )
    return TableState(metadata_location=location, metadata=document)


def table_exists(catalog: SqlCatalog, namespace: Namespace, name: str) -> bool:
    return catalog.table_exists((*namespace, name))


def check_renamable(
    catalog: SqlCatalog, source: tuple[Namespace, str], destination: tuple[Namespace, str]
) -> None:
    """Raises what a rename of ``source`` to ``destination`` would meet, before it starts:
    NoSuchTable (source), NoSuchNamespace (destination's namespace), TableAlreadyExists
    (destination)."""
    (src_ns, src), (dst_ns, dst) = source, destination
    with catalog_errors(namespace=src_ns, table=src):
        if not catalog.table_exists((*src_ns, src)):
            catalog.load_table((*src_ns, src))  # raises the catalog's own NoSuchTableError
    with catalog_errors(namespace=dst_ns, table=dst):
        catalog.load_namespace_properties(dst_ns)  # raises NoSuchNamespaceError
        if catalog.table_exists((*dst_ns, dst)):
            full = ".".join((*dst_ns, dst))
            raise TableAlreadyExists(f"table {full!r} already exists", table=full)


def register_table(
    catalog: SqlCatalog, namespace: Namespace, name: str, metadata_location: str
) -> TableState:
    """Enter an existing metadata file into the catalog as a new table. The file is read
    first: the catalog would enter the row before reading it, leaving a table that no
    one can load.

    Raises: NoSuchNamespace, TableAlreadyExists, InvalidInput (not a metadata file)."""
    with catalog_errors(namespace=namespace, table=name):
        try:
            io = load_file_io(catalog.properties, metadata_location)
            FromInputFile.table_metadata(io.new_input(metadata_location))
        except (OSError, ValueError, IcebergValidationError) as exc:  # missing, not metadata
            raise InvalidInput(
                f"{metadata_location}: not a readable Iceberg metadata file ({exc})"
            ) from exc
        table = catalog.register_table((*namespace, name), metadata_location)
    return state_of(table.metadata_location, table.metadata, "all")


def fitting(make: Callable[[], T]) -> T:
    """PyIceberg says ``ValueError`` when a spec, order or update does not fit the
    table (an unknown source column, a schema id that does not exist)."""
    try:
        return make()
    except ValueError as exc:
        raise InvalidInput(str(exc)) from exc


def _make_local_folders(location: str) -> None:
    """Make a staged table's metadata folder when its location is a local folder.

    An object store needs no folders, and engines write as if: DuckDB writes a staged
    table's first manifests under ``metadata/`` before the commit that creates it, and
    fails on a local warehouse where nothing has made that folder yet."""
    parsed = urlparse(location)
    if parsed.scheme in ("", "file"):
        (Path(parsed.path) / "metadata").mkdir(parents=True, exist_ok=True)


def state_of(location: str | None, metadata: TableMetadata, snapshots: SnapshotsMode) -> TableState:
    return TableState(metadata_location=location, metadata=_rendered(metadata, snapshots))


def _rendered(metadata: TableMetadata, snapshots: SnapshotsMode) -> dict[str, Any]:
    as_json: dict[str, Any] = json.loads(metadata.model_dump_json())
    if snapshots == "refs":
        referenced = {ref["snapshot-id"] for ref in as_json.get("refs", {}).values()}
        as_json["snapshots"] = [
            s for s in as_json.get("snapshots", []) if s["snapshot-id"] in referenced
        ]
    return as_json


__all__ = [
    "NewTable",
    "SnapshotsMode",
    "TableState",
    "check_renamable",
    "create_table",
    "fitting",
    "list_table_rows",
    "list_tables",
    "load_table_state",
    "register_table",
    "state_of",
    "table_exists",
]
