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
import pyarrow as pa
from pyiceberg.table import Table

from icehouse.query import time_travel
from icehouse.query.native import native_paths, native_select
from icehouse.tables.filters import CastCache, pushdown_filter
from icehouse.tables.manifest_cache import ManifestCache
from icehouse.tables.scan import PlannerCache, plan_scan, read_tasks

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


_WRITE = re.compile(
    r"^\s*(?P<verb>DELETE\s+FROM|INSERT\s+(?:OR\s+\w+\s+)?INTO|UPDATE|MERGE\s+INTO"
    r"|TRUNCATE(?:\s+TABLE)?|ALTER\s+TABLE|DROP\s+TABLE(?:\s+IF\s+EXISTS)?|COPY)\s+"
    + _THREE_PART.pattern,
    re.IGNORECASE,
)


@dataclass(frozen=True)
class MountedWrite:
    """A statement that would change a mounted table: its first word and the table."""

    verb: str
    table: str

    @property
    def mount(self) -> str:
        return self.table.split(".", 1)[0]


def mounted_write(sql: str, mounted: MountedTables) -> MountedWrite | None:
    """The write ``sql`` makes to a table of a mount (``DELETE FROM m.ns.t``, ``INSERT
    INTO``, ``UPDATE``, ``MERGE INTO``, ``TRUNCATE``, ``ALTER TABLE``, ``DROP TABLE``,
    ``COPY``); None for any other statement (the mounts are asked only when it names a
    three-part table)."""
    match = _WRITE.match(sql)
    if match is None:
        return None
    mount, namespace, table = match.group(2, 3, 4)
    if mount not in mounted.names():
        return None
    verb = match.group("verb").split()[0].upper()
    return MountedWrite(verb, f"{mount}.{namespace}.{table}")


@dataclass
class Attached:
    """What ``attach_mounted`` defined on a connection, for ``detach_mounted``."""

    catalogs: list[str] = field(default_factory=list)
    relations: list[str] = field(default_factory=list)


def mounted_names(sql: str) -> list[str]:
    """Every ``a.b.c``-shaped name in ``sql``, first occurrences in order (whether ``a``
    is a mount is the caller's question)."""
    return list(dict.fromkeys(".".join(m.groups()) for m in _THREE_PART.finditer(sql)))


def without_three_part_names(sql: str) -> str:
    """``sql`` with every ``a.b.c``-shaped name blanked out: where the lake looks for
    its own ``namespace.table`` names, ``a.b`` inside ``a.b.c`` is never one (a table
    of a mount, or a column qualified by a table that the statement also names alone),
    and looking it up costs a catalog read and the links'."""
    return _THREE_PART.sub(" ", sql)


_SPELLED = re.compile(r'"(?:[^"]|"")*"\s*\.\s*"(?:[^"]|"")*"')


def without_schema_names(sql: str) -> str:
    """``sql`` with every ``"a"."b"`` spelling blanked out, those of ``as_schema_names``
    among them: ``"namespace.table"`` inside one reads as a local ``namespace.table`` to
    a scan for the lake's names, which would look it up in the catalog and the links
    (a lake's own tables are spelled unquoted)."""
    return _SPELLED.sub(" ", sql)


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
    planners: PlannerCache | None = None,
    casts: CastCache | None = None,
) -> tuple[str, Attached]:
    """Attach, on ``conn``, each table of a mount ``sql`` names, and each snapshot it
    reads ``FOR VERSION|TIMESTAMP AS OF`` (as the view ``mount.namespace.table__at_<id>``,
    read with that snapshot's schema); returns ``sql`` with those references rewritten
    to their views, and what was defined, for ``detach_mounted``. A table's current
    version is planned with the statement's simple filters, as a local table is (with
    the caller's ``manifests`` and ``planners`` kept between queries), and
    its files are read by DuckDB itself where they are local and plain
    (``native_paths``; row groups pruned, only the columns needed), else by PyIceberg's
    reader, rows that cannot match dropped. ``casts`` keeps the filters' constants cast
    between queries.

    Raises: what ``mounted.load`` raises; QueryError (a snapshot, tag or timestamp the
    table does not have); EqualityDeletesUnsupported."""
    names = mounted_names(sql)
    mounts = set(mounted.names()) if names else set()
    attached = Attached()
    try:
        sql = _attach_snapshots(conn, sql, mounted, mounts, attached, manifests)
        for name in mounted_names(sql):
            if name.split(".")[0] not in mounts:
                continue
            table = mounted.load(name)
            row_filter = pushdown_filter(sql, name, table.schema(), conn, casts=casts)
            scan = plan_scan(
                table, row_filter, name=name, sql=sql, cache=manifests, planners=planners
            )
            paths = native_paths(table, scan.tasks)
            if paths is not None:
                _define_view(conn, attached, name, native_select(table.schema(), paths))
            else:
                rows = read_tasks(table, scan.tasks, row_filter=row_filter)
                _define(conn, attached, name, rows)
    except BaseException:
        detach_mounted(conn, attached)
        raise
    return sql, attached


def _attach_snapshots(
    conn: duckdb.DuckDBPyConnection,
    sql: str,
    mounted: MountedTables,
    mounts: Collection[str],
    attached: Attached,
    manifests: ManifestCache | None,
) -> str:
    """``sql`` with each time-travel reference to a mounted table replaced by the view
    of its snapshot, defined on ``conn`` (right to left, which keeps offsets valid).

    Raises: what ``mounted.load`` raises; QueryError; EqualityDeletesUnsupported."""
    for match, name in reversed(time_travel.find(sql)):
        if len(name.split(".")) != 3 or name.split(".")[0] not in mounts:
            continue
        table = mounted.load(name)
        snapshot_id = time_travel.resolve(table, name, match, sql, conn)
        scan = plan_scan(table, snapshot_id=snapshot_id, name=name, sql=sql, cache=manifests)
        schema = table.scan(snapshot_id=snapshot_id).projection()
        view = time_travel.view_name(name, snapshot_id)
        _define(conn, attached, view, read_tasks(table, scan.tasks, schema=schema))
        spelled = ".".join(_quote(part) for part in view.split("."))
        sql = f"{sql[: match.start()]}{spelled}{sql[match.end() :]}"
    return sql


def _define(conn: duckdb.DuckDBPyConnection, attached: Attached, name: str, rows: pa.Table) -> None:
    """``rows``, registered on ``conn``, as the view ``name`` (``mount.namespace.table``)."""
    mount, namespace, table_name = name.split(".")
    relation = f"__icehouse_mount_{mount}_{namespace}_{table_name}"
    conn.register(relation, rows)
    attached.relations.append(relation)
    _define_view(conn, attached, name, f"SELECT * FROM temp.main.{_quote(relation)}")


def _define_view(
    conn: duckdb.DuckDBPyConnection, attached: Attached, name: str, select: str
) -> None:
    """``select`` as the view ``name`` (``mount.namespace.table``) in the mount's
    catalog, attached on ``conn`` the first time."""
    mount, namespace, table_name = name.split(".")
    if mount not in attached.catalogs:
        conn.execute(f"ATTACH ':memory:' AS {_quote(mount)}")
        attached.catalogs.append(mount)
    schema = f"{_quote(mount)}.{_quote(namespace)}"
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    conn.execute(f"CREATE OR REPLACE VIEW {schema}.{_quote(table_name)} AS {select}")


def detach_mounted(conn: duckdb.DuckDBPyConnection, attached: Attached) -> None:
    """Drop what ``attach_mounted`` defined: the catalogs and the registered rows."""
    for mount in attached.catalogs:
        conn.execute(f"DETACH DATABASE IF EXISTS {_quote(mount)}")
    for relation in attached.relations:
        conn.unregister(relation)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
