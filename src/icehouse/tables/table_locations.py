"""Which table a storage key belongs to, among every table and view of the catalog.

Locations are chosen by whoever creates a table (or moves it), so two of them may nest:
a table created at the parent prefix of another holds that other's files under its own
location. A key belongs to the table whose location is the most specific one holding
it; a tie (two tables at the same location) belongs to neither.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyiceberg.catalog import Catalog
from pyiceberg.catalog.sql import IcebergTables, SqlCatalog
from sqlalchemy import Row, Select, bindparam, or_, select

from icehouse.tables.namespaces import Namespace
from icehouse.tables.prepared import PerCatalog

METADATA_FOLDER = "/metadata/"
"""Where a table's metadata files live under its location (Iceberg's default)."""


def owners_within(
    catalog: SqlCatalog, location: str, bucket_key: str
) -> list[tuple[Namespace, str]]:
    """The owners of ``bucket_key`` (as ``owners_of`` finds them) when a table at
    ``location`` (with or without its scheme) holds the key: only a table at that
    location or nested inside it can own the key before that one, so only their rows
    are read. A signed storage request asks this for each file an engine reads, and
    reading every row of the catalog made each request cost as much as the catalog is
    large. Nothing is kept between calls: a table created, moved or dropped a moment
    ago, by any process sharing the catalog, counts at once."""
    inside = _like_escaped(location.split("://", 1)[-1].rstrip("/"))
    bound = {"with_scheme": f"%://{inside}/%", "without_scheme": f"{inside}/%"}
    with catalog.engine.connect() as connection:
        rows = connection.execute(_within_queries(catalog), bound).all()
    return _owning(_locations(rows), bucket_key)[0]


def _within_query(catalog: SqlCatalog) -> Select[str, str, str | None]:
    column = IcebergTables.metadata_location
    return select(
        IcebergTables.table_namespace, IcebergTables.table_name, IcebergTables.metadata_location
    ).where(
        IcebergTables.catalog_name == catalog.name,
        or_(
            column.like(bindparam("with_scheme"), escape="\\"),
            column.like(bindparam("without_scheme"), escape="\\"),
        ),
    )


_within_queries = PerCatalog(_within_query)


def _like_escaped(text: str) -> str:
    """``text`` matched literally by ``LIKE ... ESCAPE '\\'``."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


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
    query = select(
        IcebergTables.table_namespace, IcebergTables.table_name, IcebergTables.metadata_location
    ).where(IcebergTables.catalog_name == catalog.name)
    with catalog.engine.connect() as connection:
        rows = connection.execute(query).all()
    return _locations(rows)


def _locations(rows: Sequence[Row[str, str, str | None]]) -> Locations:
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
    return bool(owners_of(catalog_locations(catalog), location.split("://", 1)[-1] + "/"))


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
