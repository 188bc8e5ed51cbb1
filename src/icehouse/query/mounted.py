"""Tables of mounted producer catalogs in SQL, named ``mount.namespace.table``.

DuckDB reads a three-part name as ``catalog.schema.table``: each mount a query names
becomes an in-memory DuckDB catalog of that name, holding a view over the table's
files (the central server reads the producer's files on its trusted connection; a
governed consumer's SQL never does). Only the mounts a query names are asked for, so a
producer that is down fails only the queries that read it.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Protocol

import duckdb
from pyiceberg.table import Table

from icehouse.query.native import native_paths, native_select
from icehouse.tables.filters import CastCache, pushdown_filter
from icehouse.tables.manifest_cache import ManifestCache
from icehouse.tables.scan import plan_scan, read_tasks

_THREE_PART = re.compile(
    r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)\b"
)


class MountedTables(Protocol):
    """What a query needs of the mounts: their names, and a table of one loaded from
    its producer (raising CatalogUnavailable naming the mount when it does not
    answer, NoSuchTable when it has no such table)."""

    def names(self) -> Collection[str]: ...

    def load(self, name: str) -> Table: ...

    def tables(self, mount: str) -> Collection[str]:
        """The tables of ``mount`` that the reader may be shown exist, as
        ``mount.namespace.table`` (none when it holds nothing in the mount)."""
        ...


@dataclass
class Attached:
    """What ``attach_mounted`` defined on a connection, for ``detach_mounted``."""

    catalogs: list[str] = field(default_factory=list)
    relations: list[str] = field(default_factory=list)


def mounted_names(sql: str) -> list[str]:
    """Every ``a.b.c``-shaped name in ``sql``, first occurrences in order (whether ``a``
    is a mount is the caller's question)."""
    return list(dict.fromkeys(".".join(m.groups()) for m in _THREE_PART.finditer(sql)))


def as_schema_names(sql: str, names: Collection[str]) -> str:
    """``sql`` with each ``mount.namespace.table`` of ``names`` spelled
    ``"mount"."namespace.table"``: the view a governed principal's sandbox holds for it
    (a sandbox cannot attach a catalog, which is how DuckDB reads a three-part name)."""

    def spelled(match: re.Match[str]) -> str:
        mount, namespace, table = match.groups()
        if f"{mount}.{namespace}.{table}" not in names:
            return match.group(0)
        return f"{_quote(mount)}.{_quote(f'{namespace}.{table}')}"

    return _THREE_PART.sub(spelled, sql)


def attach_mounted(
    conn: duckdb.DuckDBPyConnection,
    sql: str,
    mounted: MountedTables,
    *,
    manifests: ManifestCache | None = None,
    casts: CastCache | None = None,
) -> Attached:
    """Attach, on ``conn``, each table of a mount ``sql`` names; returns what was
    defined, for ``detach_mounted``. Each is planned with the statement's simple
    filters, as a local table is, and its files are read by DuckDB itself where they
    are local and plain (``native_paths``; row groups pruned, only the columns needed),
    else by PyIceberg's reader, rows that cannot match dropped. ``casts`` keeps the
    filters' constants cast between queries.

    Raises: what ``mounted.load`` raises; EqualityDeletesUnsupported."""
    names = mounted_names(sql)
    mounts = set(mounted.names()) if names else set()
    attached = Attached()
    try:
        for name in names:
            mount, namespace, table_name = name.split(".")
            if mount not in mounts:
                continue
            table = mounted.load(name)
            row_filter = pushdown_filter(sql, name, table.schema(), conn, casts=casts)
            scan = plan_scan(table, row_filter, name=name, sql=sql, cache=manifests)
            paths = native_paths(table, scan.tasks)
            if paths is not None:
                select = native_select(table.schema(), paths)
            else:
                relation = f"__icehouse_mount_{mount}_{namespace}_{table_name}"
                conn.register(relation, read_tasks(table, scan.tasks, row_filter=row_filter))
                attached.relations.append(relation)
                select = f"SELECT * FROM temp.main.{_quote(relation)}"
            if mount not in attached.catalogs:
                conn.execute(f"ATTACH ':memory:' AS {_quote(mount)}")
                attached.catalogs.append(mount)
            schema = f"{_quote(mount)}.{_quote(namespace)}"
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            conn.execute(f"CREATE OR REPLACE VIEW {schema}.{_quote(table_name)} AS {select}")
    except BaseException:
        detach_mounted(conn, attached)
        raise
    return attached


def detach_mounted(conn: duckdb.DuckDBPyConnection, attached: Attached) -> None:
    """Drop what ``attach_mounted`` defined: the catalogs and the registered rows."""
    for mount in attached.catalogs:
        conn.execute(f"DETACH DATABASE IF EXISTS {_quote(mount)}")
    for relation in attached.relations:
        conn.unregister(relation)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
