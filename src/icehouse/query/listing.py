"""What a governed principal's listing statements see: DuckDB's catalog on the sandbox.

``SHOW TABLES``, ``information_schema``, ``duckdb_tables()`` and the like list what is
registered on the connection, which is at first only what the statement named. So that
they list every table and view the principal may describe, and nothing else, each such
object the statement did not name is registered as an empty table of the columns the
principal may see: the catalog then shows its name and visible columns, and no row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping

import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.schema import Schema

from icehouse.errors import CatalogUnavailable, NotFound
from icehouse.govern.access import TableAccess
from icehouse.query.masking import visible_columns
from icehouse.query.mounted import MountedTables
from icehouse.tables.catalog import find_table
from icehouse.tables.catalog_views import list_views, load_view

_LISTS = re.compile(
    r"\b(information_schema|pg_catalog|duckdb_(tables|columns|views|constraints|indexes)"
    r"|pg_(tables|views|class|attribute)|sqlite_master|show)\b",
    re.IGNORECASE,
)
"""Words of a statement that reads DuckDB's catalog (``SHOW`` also covers ``SHOW
TABLES``, ``SHOW ALL TABLES``, ``SHOW ns.t``)."""


_SHOW_TABLES = re.compile(r"\s*show\s+tables\s*;?\s*", re.IGNORECASE)
SHOW_TABLES = (
    "SELECT table_schema || '.' || table_name AS name FROM information_schema.tables "
    "WHERE table_catalog <> 'temp' ORDER BY name"
)
"""``SHOW TABLES`` as a governed principal runs it: DuckDB's lists the current schema's
tables, where the lake has none (its tables are ``namespace.table``), so it lists the
lake's instead, by their names."""


def show_tables(sql: str) -> str:
    """``sql``, or ``SHOW_TABLES`` when it is ``SHOW TABLES``."""
    return SHOW_TABLES if is_show_tables(sql) else sql


def is_show_tables(sql: str) -> bool:
    """Whether ``sql`` is ``SHOW TABLES``."""
    return _SHOW_TABLES.fullmatch(sql) is not None


def every_object(
    catalog: SqlCatalog,
    links: Mapping[str, str] | None = None,
    mounted: MountedTables | None = None,
) -> pa.Table:
    """``SHOW TABLES`` for whoever may describe everything: every table and view of the
    lake by ``namespace.name``, and every link (``links``: name → target) whose target
    is there (a mounted target: in its producer, asked through ``mounted``), as a
    governed principal's lists what it may describe."""
    names = {name for name, _ in objects(catalog)}
    names |= {
        link
        for link, target in (links or {}).items()
        if target in names or (mounted is not None and _mounted_there(mounted, target))
    }
    return pa.table({"name": sorted(names)})


def _mounted_there(mounted: MountedTables, name: str) -> bool:
    """Whether ``name`` is a table its producer has now (one that does not answer has
    none to list)."""
    if name.count(".") != 2:
        return False
    try:
        mounted.load(name)
    except (CatalogUnavailable, NotFound):
        return False
    return True


def lists_tables(sql: str) -> bool:
    """Whether ``sql`` may read DuckDB's list of tables or columns (a false alarm only
    costs the empty tables)."""
    return _LISTS.search(sql) is not None


def objects(catalog: SqlCatalog) -> Iterator[tuple[str, bool]]:
    """Every table and view of the lake as ``(namespace.name, is_view)``."""
    for namespace in catalog.list_namespaces():
        for identifier in catalog.list_tables(namespace):
            yield ".".join(identifier), False
        for view in list_views(catalog, namespace):
            yield ".".join((*namespace, view)), True


def describable(
    catalog: SqlCatalog,
    access: Callable[[str], TableAccess],
    skip: set[str],
    links: Mapping[str, str] | None = None,
) -> Iterator[tuple[str, pa.Table]]:
    """An empty table of the visible columns of each table and view not in ``skip``
    that ``access`` shows the principal may describe (a table UUID, even with no cell:
    DESCRIBE alone shows every column, as ``icehouse table show`` does), and of each
    link (``links``: name → target table) as its target is described: a link whose
    target is gone or hidden is not listed."""
    for name, is_view, target in _with_links(objects(catalog), links or {}):
        if name in skip:
            continue
        granted = access(target)
        if not granted.table_uuid:
            continue
        schema = _view_schema(catalog, target) if is_view else _table_schema(catalog, target)
        if schema is None:
            continue
        columns = [f.name for f in schema.fields]
        if not granted.denied and not is_view:
            columns = visible_columns(granted, schema)
        if columns:
            yield name, schema.as_arrow().empty_table().select(columns)


def describable_mounted(
    mounted: MountedTables,
    access: Callable[[str], TableAccess],
    skip: set[str],
    links: Mapping[str, str] | None = None,
) -> Iterator[tuple[str, pa.Table]]:
    """``describable`` for the tables of mounted catalogs (``mount.namespace.table``),
    asking only the mounts the principal holds something in, and for each link to one
    (``links``: name → ``mount.namespace.table``) as its target is described; a
    producer that does not answer lists nothing (its tables are named when read)."""
    for mount in mounted.names():
        try:
            names = [n for n in mounted.tables(mount) if n not in skip]
        except CatalogUnavailable:
            continue
        for name in names:
            empty = _mounted_empty(mounted, access, name)
            if empty is not None:
                yield name, empty
    for link, target in (links or {}).items():
        empty = None if link in skip else _mounted_empty(mounted, access, target)
        if empty is not None:
            yield link, empty


def _mounted_empty(
    mounted: MountedTables, access: Callable[[str], TableAccess], name: str
) -> pa.Table | None:
    """An empty table of the columns of mounted table ``name`` the principal may see
    (every column with DESCRIBE alone); None when it may not describe it, or the
    table or its producer is not there."""
    try:
        granted = access(name)
        if not granted.table_uuid:
            return None
        schema = mounted.load(name).schema()
    except (CatalogUnavailable, NotFound):
        return None
    columns = [f.name for f in schema.fields]
    if not granted.denied:
        columns = visible_columns(granted, schema)
    return schema.as_arrow().empty_table().select(columns) if columns else None


def _with_links(
    found: Iterator[tuple[str, bool]], links: Mapping[str, str]
) -> Iterator[tuple[str, bool, str]]:
    """``(name, is_view, what it reads)``: each object as itself, then each link as its
    target table."""
    for name, is_view in found:
        yield name, is_view, name
    for link, target in links.items():
        yield link, False, target


def _table_schema(catalog: SqlCatalog, name: str) -> Schema | None:
    table = find_table(catalog, name)
    return None if table is None else table.schema()


def _view_schema(catalog: SqlCatalog, name: str) -> Schema:
    *namespace, view = name.split(".")
    metadata = load_view(catalog, tuple(namespace), view).metadata
    version = next(
        v for v in metadata["versions"] if v["version-id"] == metadata["current-version-id"]
    )
    found = next(s for s in metadata["schemas"] if s["schema-id"] == version["schema-id"])
    return Schema.model_validate(found)
