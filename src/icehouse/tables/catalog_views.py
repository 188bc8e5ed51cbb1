"""Iceberg views in the catalog: list, create, load, replace, drop and rename.

A view is what the Iceberg view spec says: a metadata file in the warehouse (under the
view's location, like a table's) and a pointer to it in the catalog's ``iceberg_tables``
rows, marked ``iceberg_type = 'VIEW'`` as Iceberg's JDBC catalog marks them, so that
Spark's JDBC catalog sees the same views and PyIceberg's ``SqlCatalog`` never mistakes one
for a table. Tables and views share that table's key, so a name is a table's or a view's,
never both. A replace writes a new metadata file and swaps the pointer with a
compare-and-swap on the old location: of two concurrent replaces, one wins and the
other is refused with nothing changed.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import IcebergTables, SqlCatalog
from pyiceberg.io import load_file_io
from pyiceberg.view.metadata import ViewMetadata
from sqlalchemy import and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from icehouse.errors import (
    CommitRaced,
    InvalidInput,
    NamespaceNotEmpty,
    NoSuchNamespace,
    NoSuchView,
    ViewAlreadyExists,
)
from icehouse.tables._compat import table_location
from icehouse.tables.catalog_errors import dotted
from icehouse.tables.locations import checked_location
from icehouse.tables.namespaces import Namespace
from icehouse.tables.view_metadata import apply_updates, check_requirements, new_view_metadata

VIEW_TYPE = "VIEW"


@dataclass(frozen=True)
class ViewState:
    """A view as the REST protocol hands it out: its current metadata file and that
    file's content as Iceberg JSON."""

    metadata_location: str
    metadata: dict[str, Any]


@dataclass(frozen=True)
class NewView:
    """A creation request, still as Iceberg JSON (parsed here, where PyIceberg lives)."""

    schema: dict[str, Any]
    version: dict[str, Any]
    location: str | None = None
    properties: dict[str, str] | None = None


def list_views(catalog: SqlCatalog, namespace: Namespace) -> list[str]:
    """Returns: the names of the namespace's views, sorted. Raises: NoSuchNamespace."""
    _check_namespace(catalog, namespace)
    query = select(IcebergTables.table_name).where(_in_namespace(catalog, namespace))
    with catalog.engine.connect() as conn:
        return sorted(conn.execute(query).scalars())


def check_no_views(catalog: SqlCatalog, namespace: Namespace) -> None:
    """Raises: NoSuchNamespace, NamespaceNotEmpty (it holds views: the catalog's own
    check counts only tables, and dropping the namespace would orphan them)."""
    if views := list_views(catalog, namespace):
        ns = dotted(namespace)
        raise NamespaceNotEmpty(
            f"namespace {ns!r} still holds views ({', '.join(views)}); drop them first",
            namespace=ns,
        )


def create_view(catalog: SqlCatalog, namespace: Namespace, name: str, new: NewView) -> ViewState:
    """Write the view's first metadata file and enter its pointer.

    Raises: NoSuchNamespace, ViewAlreadyExists (a view or a table has the name),
    InvalidInput (a schema or version that does not parse; a relative location)."""
    checked_location(new.location)
    _check_namespace(catalog, namespace)
    _check_free(catalog, namespace, name)
    location = table_location(catalog, new.location, dotted(namespace), name)
    metadata = new_view_metadata(
        schema=new.schema, version=new.version, location=location, properties=new.properties or {}
    )
    written = _write(catalog, metadata, version=0)
    _enter(catalog, namespace, name, written)
    return _state(written, metadata)


def register_view(
    catalog: SqlCatalog, namespace: Namespace, name: str, metadata_location: str
) -> ViewState:
    """Enter an existing view metadata file into the catalog as a new view (read first:
    a pointer to a file no one can read would be a view no one can load).

    Raises: NoSuchNamespace, ViewAlreadyExists, InvalidInput (not a view metadata file)."""
    _check_namespace(catalog, namespace)
    _check_free(catalog, namespace, name)
    try:
        metadata = _read(catalog, metadata_location)
    except (OSError, ValueError) as exc:  # missing, or not view metadata (pydantic's too)
        raise InvalidInput(
            f"{metadata_location}: not a readable Iceberg view metadata file ({exc})"
        ) from exc
    _enter(catalog, namespace, name, metadata_location)
    return _state(metadata_location, metadata)


def load_view(catalog: SqlCatalog, namespace: Namespace, name: str) -> ViewState:
    """Raises: NoSuchView."""
    location = _pointer(catalog, namespace, name)
    return _state(location, _read(catalog, location))


def view_exists(catalog: SqlCatalog, namespace: Namespace, name: str) -> bool:
    with catalog.engine.connect() as conn:
        return conn.execute(select(1).where(_row(catalog, namespace, name))).first() is not None


def replace_view(
    catalog: SqlCatalog,
    namespace: Namespace,
    name: str,
    *,
    requirements: list[dict[str, Any]],
    updates: list[dict[str, Any]],
) -> ViewState:
    """Check the requirements on the current metadata, apply the updates, write the new
    metadata file and swap the pointer to it if no one else did first.

    Raises: NoSuchView, CommitRaced (a requirement failed or another replace won: nothing
    landed), InvalidInput (an update that does not parse or cannot apply)."""
    full = dotted((*namespace, name))
    current_location = _pointer(catalog, namespace, name)
    current = _read(catalog, current_location)
    check_requirements(current, requirements, view=full)
    changed = apply_updates(current, updates, view=full)
    if changed == current:
        return _state(current_location, current)
    written = _write(catalog, changed, version=_sequence(current_location) + 1)
    swap = (
        update(IcebergTables)
        .where(_row(catalog, namespace, name), IcebergTables.metadata_location == current_location)
        .values(metadata_location=written, previous_metadata_location=current_location)
    )
    with catalog.engine.begin() as conn:
        swapped = conn.execute(swap).rowcount
    if swapped != 1:
        raise CommitRaced(
            f"{full}: another commit replaced the view first; reload it and retry", table=full
        )
    return _state(written, changed)


def drop_view(catalog: SqlCatalog, namespace: Namespace, name: str) -> None:
    """Remove the view's pointer; its metadata files stay, as a dropped table's do
    without a purge. Raises: NoSuchView."""
    with catalog.engine.begin() as conn:
        dropped = conn.execute(delete(IcebergTables).where(_row(catalog, namespace, name)))
    if dropped.rowcount != 1:
        full = dotted((*namespace, name))
        raise NoSuchView(f"view {full!r} does not exist", view=full)


def rename_view(
    catalog: SqlCatalog, source: tuple[Namespace, str], destination: tuple[Namespace, str]
) -> None:
    """Move the pointer to the new name (the metadata files stay where they are).

    Raises: NoSuchView (source), NoSuchNamespace (destination's namespace),
    ViewAlreadyExists (a view or a table has the destination name)."""
    (src_ns, src), (dst_ns, dst) = source, destination
    _pointer(catalog, src_ns, src)
    _check_namespace(catalog, dst_ns)
    _check_free(catalog, dst_ns, dst)
    move = (
        update(IcebergTables)
        .where(_row(catalog, src_ns, src))
        .values(table_namespace=Catalog.namespace_to_string(dst_ns), table_name=dst)
    )
    full = dotted((*dst_ns, dst))
    try:
        with catalog.engine.begin() as conn:
            moved = conn.execute(move).rowcount
    except IntegrityError as exc:
        raise ViewAlreadyExists(f"{full!r} already exists", view=full) from exc
    if moved != 1:
        gone = dotted((*src_ns, src))
        raise NoSuchView(f"view {gone!r} does not exist", view=gone)


@dataclass(frozen=True)
class ViewSql:
    """The SQL of a view's current version, by dialect (lower case), and the catalog its
    engine named as the default (Spark writes its own name for the catalog, e.g.
    ``lake``, which the SQL may also spell out: ``lake.web.hits``)."""

    by_dialect: dict[str, str]
    default_catalog: str | None


def view_sql(catalog: SqlCatalog, name: str) -> ViewSql | None:
    """The SQL of the current version of view ``namespace.view``; None if ``name`` is
    not a view."""
    *namespace, view = name.split(".")
    if not namespace or not view_exists(catalog, tuple(namespace), view):
        return None
    metadata = _read(catalog, _pointer(catalog, tuple(namespace), view))
    current = next(v for v in metadata.versions if v.version_id == metadata.current_version_id)
    return ViewSql(
        by_dialect={r.root.dialect.casefold(): r.root.sql for r in current.representations},
        default_catalog=current.default_catalog,
    )


def _enter(catalog: SqlCatalog, namespace: Namespace, name: str, location: str) -> None:
    """Insert the view's pointer. Raises: ViewAlreadyExists (a view or a table took the
    name since the caller checked)."""
    row = {
        "catalog_name": catalog.name,
        "table_namespace": Catalog.namespace_to_string(namespace),
        "table_name": name,
        "metadata_location": location,
        "previous_metadata_location": None,
        "iceberg_type": VIEW_TYPE,
    }
    try:
        with catalog.engine.begin() as conn:
            conn.execute(insert(IcebergTables).values(**row))
    except IntegrityError as exc:
        full = dotted((*namespace, name))
        raise ViewAlreadyExists(f"{full!r} already exists", view=full) from exc


def _in_namespace(catalog: SqlCatalog, namespace: Namespace) -> Any:
    return and_(
        IcebergTables.catalog_name == catalog.name,
        IcebergTables.table_namespace == Catalog.namespace_to_string(namespace),
        IcebergTables.iceberg_type == VIEW_TYPE,
    )


def _row(catalog: SqlCatalog, namespace: Namespace, name: str) -> Any:
    return and_(_in_namespace(catalog, namespace), IcebergTables.table_name == name)


def _pointer(catalog: SqlCatalog, namespace: Namespace, name: str) -> str:
    query = select(IcebergTables.metadata_location).where(_row(catalog, namespace, name))
    with catalog.engine.connect() as conn:
        location = conn.execute(query).scalar()
    if not location:
        full = dotted((*namespace, name))
        raise NoSuchView(f"view {full!r} does not exist", view=full)
    return str(location)


def _check_namespace(catalog: SqlCatalog, namespace: Namespace) -> None:
    if not namespace or not catalog.namespace_exists(namespace):
        ns = dotted(namespace)
        raise NoSuchNamespace(f"namespace {ns!r} does not exist", namespace=ns)


def _check_free(catalog: SqlCatalog, namespace: Namespace, name: str) -> None:
    """Raises: ViewAlreadyExists, naming whether a view or a table has the name."""
    full = dotted((*namespace, name))
    if view_exists(catalog, namespace, name):
        raise ViewAlreadyExists(f"view {full!r} already exists", view=full)
    if catalog.table_exists((*namespace, name)):
        raise ViewAlreadyExists(
            f"{full!r} is a table; a view cannot have a table's name", view=full
        )


def _write(catalog: SqlCatalog, metadata: ViewMetadata, *, version: int) -> str:
    """Write ``metadata`` to a new file under the view's location; returns its path."""
    path = f"{metadata.location}/metadata/{version:05d}-{uuid.uuid4()}.metadata.json"
    io = load_file_io(catalog.properties, path)
    with io.new_output(path).create() as out:
        out.write(metadata.model_dump_json().encode())
    return path


def _read(catalog: SqlCatalog, location: str) -> ViewMetadata:
    io = load_file_io(catalog.properties, location)
    with io.new_input(location).open() as stream:
        return ViewMetadata.model_validate_json(stream.read())


def _sequence(location: str) -> int:
    """The version number a metadata file name starts with (``00003-<uuid>...``: 3)."""
    prefix = location.rsplit("/", 1)[-1].split("-", 1)[0]
    return int(prefix) if prefix.isdigit() else 0


def _state(location: str, metadata: ViewMetadata) -> ViewState:
    as_json: dict[str, Any] = json.loads(metadata.model_dump_json())
    return ViewState(metadata_location=location, metadata=as_json)


__all__ = [
    "NewView",
    "ViewSql",
    "ViewState",
    "check_no_views",
    "create_view",
    "drop_view",
    "list_views",
    "load_view",
    "register_view",
    "rename_view",
    "replace_view",
    "view_exists",
    "view_sql",
]
