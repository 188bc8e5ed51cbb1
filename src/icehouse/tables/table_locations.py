"""Which table a storage key belongs to, among every table and view of the catalog.

Locations are chosen by whoever creates a table (or moves it), so two of them may nest:
a table created at the parent prefix of another holds that other's files under its own
location. A key belongs to the table whose location is the most specific one holding
it; a tie (two tables at the same location) belongs to neither.
"""

from __future__ import annotations

from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import IcebergTables, SqlCatalog
from sqlalchemy import ColumnElement, Select, or_, select

from icehouse.tables.namespaces import Namespace

METADATA_FOLDER = "/metadata/"
"""Where a table's metadata files live under its location (Iceberg's default)."""


def owning_locations(
    catalog: SqlCatalog, bucket_key: str
) -> tuple[list[tuple[Namespace, str]], str | None]:
    """The tables (and views) whose location is the longest prefix of ``bucket_key``
    (``bucket/key``), and that location (as ``bucket/prefix``); ([], None) if none.

    A location is read off the current metadata file's path (``<location>/metadata/
    <file>``), and only the rows whose metadata file lies under a prefix of the key are
    read: a signed request asks this for every file an engine reads, and reading every
    row of the catalog made each one cost as much as the catalog is large. Nothing is
    kept between calls, so a table created, moved or dropped a moment ago (by this
    process or another sharing the catalog) counts at once."""
    return _owning(_read_locations(catalog, _under_prefixes(catalog, bucket_key)), bucket_key)


def owners_of(locations: Locations, key: str) -> list[tuple[Namespace, str]]:
    """The tables (and views) of ``locations`` (``catalog_locations``) that own ``key``
    (a path without its scheme: ``bucket/key``, or a local path): those whose location
    is its longest prefix; [] if none."""
    return _owning(locations, key)[0]


Locations = list[tuple[tuple[Namespace, str], str]]
"""Each table and view of a catalog with its location (without the scheme)."""


def catalog_locations(catalog: SqlCatalog) -> Locations:
    """Every table and view of ``catalog`` with its location, read off its current
    metadata file's path: one query of the catalog's rows."""
    return _read_locations(catalog, _rows_of(catalog))


def _rows_of(catalog: SqlCatalog) -> Select[str, str, str | None]:
    return select(
        IcebergTables.table_namespace, IcebergTables.table_name, IcebergTables.metadata_location
    ).where(IcebergTables.catalog_name == catalog.name)


def _under_prefixes(catalog: SqlCatalog, key: str) -> Select[str, str, str | None]:
    """The rows whose metadata file lies under a ``/``-bounded prefix of ``key`` (with
    any scheme, or none): every row whose location could own ``key``, and few others.
    ``LIKE`` patterns are escaped, so a ``%`` or ``_`` in a key matches only itself."""
    segments = key.split("/")
    prefixes = ["/".join(segments[:end]) + "/" for end in range(1, len(segments))]
    column = IcebergTables.metadata_location
    under: list[ColumnElement[bool]] = [column.startswith(p, autoescape=True) for p in prefixes]
    under += [column.contains(f"://{p}", autoescape=True) for p in prefixes]
    return _rows_of(catalog).where(or_(*under))


def _read_locations(catalog: SqlCatalog, query: Select[str, str, str | None]) -> Locations:
    with catalog.engine.connect() as connection:
        rows = connection.execute(query).all()
    found: Locations = []
    for namespace, name, metadata_location in rows:
        if not metadata_location or METADATA_FOLDER not in metadata_location:
            continue
        location = metadata_location.rsplit(METADATA_FOLDER, 1)[0].split("://", 1)[-1]
        found.append(((Catalog.identifier_to_tuple(namespace), str(name)), location))
    return found


def inside_a_table(catalog: SqlCatalog, location: str) -> bool:
    """Whether ``location`` is the location of a table or view of ``catalog``, or lies
    inside one: a table placed there would own the other's files (the most specific
    location owns a file)."""
    return bool(owning_locations(catalog, location.split("://", 1)[-1] + "/")[0])


def _owning(locations: Locations, key: str) -> tuple[list[tuple[Namespace, str]], str | None]:
    best: str | None = None
    owners: list[tuple[Namespace, str]] = []
    for owner, location in locations:
        if not key.startswith(location.rstrip("/") + "/"):
            continue
        if best is None or len(location) > len(best):
            best, owners = location, [owner]
        elif len(location) == len(best):
            owners.append(owner)
    return owners, best
