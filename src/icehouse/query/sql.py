"""SQL over the lake's tables in embedded DuckDB.

Tables are named ``namespace.table`` in SQL, exactly as in the catalog: each namespace a
query mentions becomes a DuckDB schema and each table a view over the files of its
current snapshot, planned (``tables/scan.py``: PyIceberg's evaluators, decoded manifests
cached) with the query's simple filters pushed down (``tables/filters.py``), so partitions and
files that cannot match are never opened. Tables with delete files or an evolved schema
are read through PyIceberg's Arrow reader, which applies deletes and maps columns by
field id. With ``explain``, each table's plan also counts the row groups and bytes its
files' footers say the query reads (``tables/row_groups.py``).
"""

from __future__ import annotations

import functools
import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.dataset as ds
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import AlwaysTrue, BooleanExpression
from pyiceberg.schema import Schema
from pyiceberg.table import Table

from icehouse.errors import MountedTableReadOnly, NotFound, QueryError
from icehouse.query import time_travel
from icehouse.query.delete import parse_delete, run_delete
from icehouse.query.file_fields import FileFields
from icehouse.query.filter_text import describe_filter
from icehouse.query.listing import every_object, is_show_tables
from icehouse.query.messages import describe
from icehouse.query.mounted import (
    Attached,
    MountedTables,
    attach_mounted,
    detach_mounted,
    mounted_write,
    without_three_part_names,
)
from icehouse.query.native import native_paths, native_select
from icehouse.query.views import views_in
from icehouse.tables.catalog import find_table, load_table
from icehouse.tables.filters import CastCache, pushdown_filter, referenced_columns
from icehouse.tables.manifest_cache import ManifestCache
from icehouse.tables.row_groups import scan_row_groups
from icehouse.tables.scan import PlannerCache, ScanPlan, plan_scan, read_tasks

_NAME = re.compile(r"\b([A-Za-z_][A-Za-z0-9_]*)\s*\.\s*([A-Za-z_][A-Za-z0-9_]*)\b")


@dataclass(frozen=True)
class TablePlan:
    """What a query had to read of one table (``icehouse sql --explain``).

    File counts follow planning's steps: the snapshot's data files, those whose
    partition may match the pushed filter, and those whose column metrics (min/max, null
    counts) may match too: ``files_planned``, read with ``bytes_planned`` bytes on disk.
    The row group figures come from the planned files' Parquet footers and are read only
    for ``explain`` (None otherwise): row groups whose statistics prove no row matches
    are skipped, and ``bytes_read`` counts the compressed chunks of the columns the
    query references in the row groups read.
    """

    table: str
    pushed_filter: str
    files_in_snapshot: int
    files_after_partition_pruning: int
    files_after_metrics_pruning: int
    files_planned: int
    bytes_planned: int
    planning_seconds: float
    row_groups_read: int | None = None
    row_groups_skipped: int | None = None
    bytes_read: int | None = None
    footer_seconds: float | None = None
    """Time spent reading footers for the row group figures (not part of planning)."""
    access_filter: str | None = None
    """For a principal whose access to the table is filtered: the rows its grants allow
    and what granted them (``region = 'eu' (data filter eu_only)``), ANDed into
    ``pushed_filter`` for planning. None: the table is read unfiltered."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class QueryResult:
    table: pa.Table
    plans: list[TablePlan]
    execution_seconds: float


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def names_in(sql: str) -> list[str]:
    """Every ``namespace.table``-shaped name in ``sql``, first occurrences in order."""
    return list(dict.fromkeys(f"{m.group(1)}.{m.group(2)}" for m in _NAME.finditer(sql)))


def local_names(sql: str) -> list[str]:
    """The ``namespace.table``-shaped names in ``sql`` that may be the lake's own
    tables, views or links: not the parts of a three-part name
    (``without_three_part_names``)."""
    return names_in(without_three_part_names(sql))


def referenced_tables(sql: str, known: Collection[str]) -> list[str]:
    return [name for name in names_in(sql) if name in known]


def known_tables(catalog: SqlCatalog) -> set[str]:
    return {
        ".".join(identifier)
        for namespace in catalog.list_namespaces()
        for identifier in catalog.list_tables(namespace)
    }


def _existing_tables(
    catalog: SqlCatalog,
    sql: str,
    links: Callable[[], Mapping[str, str]] | None = None,
    mounted: MountedTables | None = None,
) -> dict[str, Table]:
    """The ``namespace.table`` names in ``sql`` that are tables (a name may also be an
    alias and a column), loaded: looked up one by one, which costs less than listing the
    lake, and loaded once per query. A name that is no table but a resource link (of
    ``links``, read only then) is its target table, when that is there (a target
    ``mount.namespace.table`` loaded from its producer through ``mounted``).

    Raises: CatalogUnavailable (a link's producer does not answer)."""
    found: dict[str, Table] = {}
    targets: Mapping[str, str] | None = None
    for name in local_names(sql):
        table = find_table(catalog, name)
        if table is None and links is not None:
            targets = links() if targets is None else targets
            table = _link_target(catalog, targets.get(name), mounted)
        if table is not None:
            found[name] = table
    return found


def _link_target(
    catalog: SqlCatalog, target: str | None, mounted: MountedTables | None
) -> Table | None:
    """The table a link stands for, None when it is not there.

    Raises: CatalogUnavailable."""
    if target is None:
        return None
    if target.count(".") != 2:
        return find_table(catalog, target)
    if mounted is None:
        return None
    try:
        return mounted.load(target)
    except NotFound:
        return None


@dataclass
class Defined:
    """What the current query defined on its connection, for ``_forget`` to drop."""

    schemas: set[str] = field(default_factory=set)
    main_views: set[str] = field(default_factory=set)
    """Views in DuckDB's own ``main`` schema, which cannot be dropped: dropped one by one."""
    relations: list[str] = field(default_factory=list)
    """Arrow tables registered (read through PyIceberg)."""


SANDBOXES_PER_THREAD = 4
"""Sandboxes kept open per thread (successors of retired ones included), the least
recently used closed first: a sandbox that may read some data files natively is opened
for exactly those files, and one costs a connect (10-50 ms), more than a small governed
query."""


class _ThreadState(threading.local):
    conn: duckdb.DuckDBPyConnection | None = None
    successor: Future[duckdb.DuckDBPyConnection] | None = None
    """The connection opened, on a helper thread, in place of a retired one."""

    def __init__(self) -> None:
        self.defined = Defined()
        self.sandbox_defined = Defined()
        self.sandboxes: OrderedDict[frozenset[str], duckdb.DuckDBPyConnection] = OrderedDict()
        """Where a governed principal's SQL runs (``query/governed.py``), by the files
        each may read natively (most recently used last)."""
        self.sandbox_successors: dict[frozenset[str], Future[duckdb.DuckDBPyConnection]] = {}
        """Sandboxes opened, on the helper thread, in place of retired ones."""


class QuerySession:
    """What one lake's queries keep between them: each thread's DuckDB connection, the
    helper thread that replaces retired connections, decoded manifests, planners,
    constants cast and the field ids of data files' footers. A ``Lake`` owns one, so two
    lakes in one process share none of it."""

    def __init__(self, manifests: ManifestCache | None = None) -> None:
        self.local = _ThreadState()
        self.manifests = manifests if manifests is not None else ManifestCache()
        self.planners = PlannerCache()
        self.casts: CastCache = {}
        self.file_fields = FileFields()
        self._replacer: ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    def connection(self) -> duckdb.DuckDBPyConnection:
        """This thread's DuckDB connection: opening one costs more than most queries."""
        local = self.local
        if local.conn is None:
            successor, local.successor = local.successor, None
            local.conn = successor.result() if successor is not None else _open()
        return local.conn

    def sandbox(self, allowed: frozenset[str] = frozenset()) -> duckdb.DuckDBPyConnection:
        """This thread's sandboxed DuckDB connection that may read exactly the files
        ``allowed`` and nothing else: no other file, no configuration changes, no Python
        variables. It holds no principal's state between statements (``forget``), so a
        statement of any principal that may read exactly those files reuses it."""
        sandboxes = self.local.sandboxes
        conn = sandboxes.pop(allowed, None)
        if conn is None:
            successors = self.local.sandbox_successors
            successor = successors.pop(allowed, None)
            conn = successor.result() if successor is not None else open_sandbox(allowed)
            while len(sandboxes) + len(successors) >= SANDBOXES_PER_THREAD:
                if sandboxes:
                    oldest = sandboxes.popitem(last=False)[1]
                else:
                    oldest = successors.pop(next(iter(successors))).result()
                oldest.close()
        sandboxes[allowed] = conn
        return conn

    def retire_sandbox(self, conn: duckdb.DuckDBPyConnection) -> None:
        """Close ``conn``, one of this thread's sandboxes, on the helper thread, which
        opens its successor first: after a heavy query it holds memory, as a retired
        trusted connection does, and the next statement for the same files should not
        wait for a connect (~10 ms, a third of a short query) when the administrator's
        does not."""
        sandboxes = self.local.sandboxes
        retired = [allowed for allowed, opened in sandboxes.items() if opened is conn]
        for allowed in retired:
            del sandboxes[allowed]
        try:
            replacer = self.replacer()
            for allowed in retired:
                self.local.sandbox_successors[allowed] = replacer.submit(open_sandbox, allowed)
            replacer.submit(conn.close)
        except RuntimeError:  # the interpreter is shutting down: no helper thread any more
            conn.close()

    def replacer(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._replacer is None:
                self._replacer = ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="icehouse-duckdb"
                )
            return self._replacer

    def close(self) -> None:
        """Close this thread's connection and stop the helper thread (both come back on
        the next query)."""
        local = self.local
        conn, local.conn = local.conn, None
        successor, local.successor = local.successor, None
        sandboxes = list(local.sandboxes.values())
        local.sandboxes.clear()
        successors = list(local.sandbox_successors.values())
        local.sandbox_successors.clear()
        local.defined = Defined()
        local.sandbox_defined = Defined()
        for opened in (conn, *sandboxes):
            if opened is not None:
                opened.close()
        for pending in (successor, *successors):
            if pending is not None:
                pending.result().close()
        with self._lock:
            replacer, self._replacer = self._replacer, None
        if replacer is not None:
            replacer.shutdown(wait=False)


def _open() -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("SET enable_progress_bar = false")  # on by default; it costs time
    return conn


def open_sandbox(allowed: Collection[str] = ()) -> duckdb.DuckDBPyConnection:
    """A connection for SQL that must not reach past the data registered on it and the
    files ``allowed`` (local paths, read only): external access off (no other file, no
    URL, ATTACH, COPY, extension; a glob is refused even where it would match only
    allowed files), Python replacement scans off (no reading a Python variable by its
    name), and the configuration locked last, so that the statement cannot turn any of
    it back on. DuckDB takes the allowed paths only after the database has started and
    before external access is turned off, hence the order."""
    conn = duckdb.connect(
        config={"python_enable_replacements": False, "python_scan_all_frames": False}
    )
    try:
        conn.execute("SET TimeZone = 'UTC'")  # before the lock: ICU loads on this SET
        conn.execute("SET enable_progress_bar = false")
        if allowed:
            conn.execute("SET allowed_paths = $paths", {"paths": sorted(allowed)})
        conn.execute("SET enable_external_access = false")
        conn.execute("SET lock_configuration = true")
    except BaseException:
        conn.close()
        raise
    return conn


HEAVY_QUERY_SECONDS = 1.0
"""A connection that ran a query this long is closed afterwards: DuckDB keeps the memory
such a query used, and the next heavy query on it ran 15 % slower than on a new one."""


def _retire(session: QuerySession, conn: duckdb.DuckDBPyConnection) -> None:
    """Hand this thread's connection to a helper thread, which closes it and opens its
    successor: freeing a heavy query's memory took ~30 ms and a new connection ~10 ms,
    which neither the heavy query nor the next one should wait for."""
    local = session.local
    local.conn = None
    local.defined = Defined()  # dropped with the connection
    try:
        replacer = session.replacer()
        local.successor = replacer.submit(_open)
        replacer.submit(conn.close)  # after the successor: a query may be waiting for it
    except RuntimeError:  # the interpreter is shutting down: no helper thread any more
        conn.close()


def _forget(session: QuerySession, conn: duckdb.DuckDBPyConnection) -> None:
    """Drop what a query defined, so that the next query on this connection sees only
    the tables it names."""
    defined, session.local.defined = session.local.defined, Defined()
    forget(defined, conn)


def forget(defined: Defined, conn: duckdb.DuckDBPyConnection) -> None:
    """Drop from ``conn`` the schemas, views and registered data ``defined`` lists."""
    for schema in defined.schemas:
        conn.execute(f"DROP SCHEMA IF EXISTS {_quote(schema)} CASCADE")
    for view in defined.main_views:
        conn.execute(f"DROP VIEW IF EXISTS main.{_quote(view)}")
    for relation in defined.relations:
        conn.unregister(relation)


def _view_of(
    session: QuerySession, conn: duckdb.DuckDBPyConnection, namespace: str, table_name: str
) -> str:
    """The qualified name of a view for ``namespace.table_name``, its schema created and
    remembered so that ``_forget`` drops it."""
    return _view_in(session.local.defined, conn, namespace, table_name)


def _view_in(
    defined: Defined, conn: duckdb.DuckDBPyConnection, namespace: str, table_name: str
) -> str:
    if namespace == "main":
        defined.main_views.add(table_name)
    else:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(namespace)}")
        defined.schemas.add(namespace)
    return f"{_quote(namespace)}.{_quote(table_name)}"


def _attach_view(
    session: QuerySession, conn: duckdb.DuckDBPyConnection, name: str, view_sql: str, sql: str
) -> None:
    """A DuckDB view ``name`` of an Iceberg view's SQL.

    Raises: QueryError (SQL DuckDB cannot run, e.g. another dialect's syntax)."""
    namespace, view = name.split(".")
    try:
        conn.execute(
            f"CREATE OR REPLACE VIEW {_view_of(session, conn, namespace, view)} AS {view_sql}"
        )
    except duckdb.Error as exc:
        raise QueryError(f"view {name!r}: DuckDB cannot run its SQL: {exc}", sql=sql) from exc


def attach_table(
    session: QuerySession,
    conn: duckdb.DuckDBPyConnection,
    name: str,
    table: Table,
    row_filter: BooleanExpression | None = None,
    *,
    explain: bool = False,
    columns: set[str] | None = None,
    sql: str = "",
) -> TablePlan:
    """A view ``name`` over the files of ``table``'s current snapshot that may match.

    With ``explain``, the plan also counts row groups and the bytes of ``columns`` (the
    lower-case names the query references; None: all) read; all columns when the files
    are read through PyIceberg.

    Raises: EqualityDeletesUnsupported.
    """
    row_filter = row_filter if row_filter is not None else AlwaysTrue()
    scan, planned = plan_table(session, name, table, row_filter, sql=sql)
    if not attach_scan(session, conn, name, table, scan, row_filter):
        columns = None  # PyIceberg's reader reads every column
    return table_plan(name, table, row_filter, scan, planned, explain=explain, columns=columns)


def attach_scan(
    session: QuerySession,
    conn: duckdb.DuckDBPyConnection,
    name: str,
    table: Table,
    scan: ScanPlan,
    row_filter: BooleanExpression,
) -> bool:
    """A view ``name`` over the files ``scan`` planned; True when DuckDB reads them
    itself, False when PyIceberg's reader read them (rows ``row_filter`` cannot match
    dropped)."""
    paths = native_paths(table, scan.tasks)
    if paths is None:
        _register(session, conn, name, read_tasks(table, scan.tasks, row_filter=row_filter))
        return False
    define_view(session.local.defined, conn, name, native_select(table.schema(), paths))
    return True


def plan_table(
    session: QuerySession, name: str, table: Table, row_filter: BooleanExpression, *, sql: str
) -> tuple[ScanPlan, float]:
    """The plan of a read of ``table``'s current snapshot, and the seconds it took.

    Raises: EqualityDeletesUnsupported."""
    started = time.perf_counter()
    scan = plan_scan(
        table,
        row_filter,
        name=name,
        sql=sql,
        cache=session.manifests,
        planners=session.planners,
    )
    return scan, time.perf_counter() - started


def table_plan(
    name: str,
    table: Table,
    row_filter: BooleanExpression,
    scan: ScanPlan,
    planned: float,
    *,
    explain: bool,
    columns: set[str] | None,
) -> TablePlan:
    """What ``--explain`` shows of a read of ``table``; with ``explain``, the row group
    figures of the ``columns`` read (None: all)."""
    plan = _table_plan(name, row_filter, table.schema(), scan, planned)
    return _explained(plan, table, row_filter, scan, columns) if explain else plan


def attach_snapshot(
    session: QuerySession,
    conn: duckdb.DuckDBPyConnection,
    table: Table,
    name: str,
    snapshot_id: int,
    *,
    row_filter: BooleanExpression | None = None,
    explain: bool = False,
    sql: str = "",
) -> TablePlan:
    """A view of an older snapshot, read by PyIceberg with that snapshot's schema (every
    column of it, which is what ``explain`` counts); ``row_filter`` (over the current
    schema's names, which is what planning binds to) prunes files only.

    Raises: EqualityDeletesUnsupported.
    """
    started = time.perf_counter()
    row_filter = row_filter if row_filter is not None else AlwaysTrue()
    scan = plan_scan(
        table,
        row_filter,
        snapshot_id=snapshot_id,
        name=name,
        sql=sql,
        cache=session.manifests,
        planners=session.planners,
    )
    planned = time.perf_counter() - started
    schema = table.scan(snapshot_id=snapshot_id).projection()
    rows = read_tasks(table, scan.tasks, schema=schema)
    _register(session, conn, time_travel.view_name(name, snapshot_id), rows)
    plan = _table_plan(f"{name}@{snapshot_id}", row_filter, table.schema(), scan, planned)
    return _explained(plan, table, row_filter, scan, None) if explain else plan


def _register(
    session: QuerySession, conn: duckdb.DuckDBPyConnection, view: str, rows: pa.Table
) -> None:
    register_rows(session.local.defined, conn, view, rows)


def register_rows(
    defined: Defined, conn: duckdb.DuckDBPyConnection, view: str, rows: pa.Table | ds.Dataset
) -> None:
    """``rows`` (a table, or a dataset scanned anew by each read) registered on ``conn``
    and a view ``view`` (``namespace.table``) over them, both listed in ``defined`` for
    ``forget``; a mounted table's ``mount.namespace.table`` is the view ``namespace.table``
    in the schema ``mount``."""
    namespace, table_name = view.split(".", 1)
    relation = f"__icehouse_{namespace}_{table_name.replace('.', '__')}"
    conn.register(relation, rows)
    defined.relations.append(relation)
    define_view(defined, conn, view, f"SELECT * FROM {_quote(relation)}")


def define_view(defined: Defined, conn: duckdb.DuckDBPyConnection, view: str, select: str) -> None:
    """A view ``view`` (``namespace.table``) of ``select`` on ``conn``, listed in
    ``defined`` for ``forget`` (``mount.namespace.table``: as ``register_rows`` names it)."""
    namespace, table_name = view.split(".", 1)
    conn.execute(
        f"CREATE OR REPLACE VIEW {_view_in(defined, conn, namespace, table_name)} AS {select}"
    )


def _table_plan(
    label: str,
    row_filter: BooleanExpression,
    schema: Schema,
    scan: ScanPlan,
    planning_seconds: float,
) -> TablePlan:
    return TablePlan(
        table=label,
        pushed_filter=describe_filter(row_filter, schema),
        files_in_snapshot=scan.files_in_snapshot,
        files_after_partition_pruning=scan.files_after_partition_pruning,
        files_after_metrics_pruning=scan.files_after_metrics_pruning,
        files_planned=len(scan.tasks),
        bytes_planned=sum(t.file.file_size_in_bytes for t in scan.tasks),
        planning_seconds=planning_seconds,
    )


def _explained(
    plan: TablePlan,
    table: Table,
    row_filter: BooleanExpression,
    scan: ScanPlan,
    columns: set[str] | None,
) -> TablePlan:
    """``plan`` with the row group figures of its files' footers."""
    started = time.perf_counter()
    files = [task.file for task in scan.tasks]
    groups = scan_row_groups(table.io, table.schema(), files, row_filter, columns)
    return replace(
        plan,
        row_groups_read=groups.row_groups_read,
        row_groups_skipped=groups.row_groups_skipped,
        bytes_read=groups.bytes_read,
        footer_seconds=time.perf_counter() - started,
    )


def _rewrite_time_travel(
    session: QuerySession,
    conn: duckdb.DuckDBPyConnection,
    sql: str,
    known: dict[str, Table],
    *,
    explain: bool,
) -> tuple[str, list[TablePlan]]:
    plans = []
    for match, name in reversed(time_travel.find(sql)):  # right to left keeps offsets valid
        if name not in known:
            continue
        table = known[name]
        snapshot_id = time_travel.resolve(table, name, match, sql, conn)
        plans.append(
            attach_snapshot(session, conn, table, name, snapshot_id, explain=explain, sql=sql)
        )
        namespace, view = time_travel.view_name(name, snapshot_id).split(".")
        sql = f"{sql[: match.start()]}{_quote(namespace)}.{_quote(view)}{sql[match.end() :]}"
    return sql, plans


def run_sql(
    catalog: SqlCatalog,
    sql: str,
    *,
    prune: bool = True,
    explain: bool = False,
    session: QuerySession | None = None,
    system: Mapping[str, Callable[[], pa.Table]] | None = None,
    mounted: MountedTables | None = None,
    links: Callable[[], Mapping[str, str]] | None = None,
) -> QueryResult:
    """Run ``sql``; with ``explain``, each plan also counts row groups and bytes read.
    ``session`` is what the lake's queries keep between them (without one, this query
    opens and closes its own). ``system``: tables that are not Iceberg tables (records
    of the state database) by ``namespace.table`` name, each read only if ``sql`` names
    it and no Iceberg table has that name. ``mounted``: the mounted producer catalogs,
    whose tables ``sql`` names as ``mount.namespace.table`` (``query/mounted.py``).
    ``links``: the resource links (name → target, ``mount.namespace.table`` for a table
    of a mount), read only when ``sql`` names something that is no table, or lists the
    tables.

    Raises: QueryError naming what is wrong (a missing table or column with the closest
    real one, else DuckDB's message and the lake's tables); EqualityDeletesUnsupported (a
    QueryError) naming the delete file.
    """
    if session is None:
        own = QuerySession()
        try:
            return run_sql(
                catalog,
                sql,
                prune=prune,
                explain=explain,
                session=own,
                system=system,
                mounted=mounted,
                links=links,
            )
        finally:
            own.close()
    write = mounted_write(sql, mounted) if mounted is not None else None
    if write is not None:
        raise MountedTableReadOnly(verb=write.verb, table=write.table, mount=write.mount, sql=sql)
    statement = parse_delete(sql)
    if statement is not None:
        started = time.perf_counter()
        load = functools.partial(load_table, catalog, statement.table)
        deleted = run_delete(load, statement, sql)
        return QueryResult(pa.table({"deleted_rows": [deleted]}), [], time.perf_counter() - started)
    if is_show_tables(sql):  # DuckDB's lists its current schema, where the lake has none
        started = time.perf_counter()
        listed = every_object(catalog, links() if links is not None else None, mounted)
        return QueryResult(listed, [], time.perf_counter() - started)
    views = views_in(catalog, sql, local_names)
    behind_views = " ".join(views.values())
    known = _existing_tables(catalog, f"{sql} {behind_views}", links, mounted)
    conn = session.connection()
    original = sql
    started = time.perf_counter()
    attached = Attached()
    try:
        if mounted is not None:
            sql, attached = attach_mounted(
                conn,
                sql,
                mounted,
                manifests=session.manifests,
                planners=session.planners,
                casts=session.casts,
            )
        columns = referenced_columns(sql, conn) if explain else None
        sql, plans = _rewrite_time_travel(session, conn, sql, known, explain=explain)
        others = system or {}
        for name in referenced_tables(sql, others.keys() - known.keys()):
            _register(session, conn, name, others[name]())
        unfiltered = set(referenced_tables(behind_views, known))  # a view reads all rows
        for name in referenced_tables(f"{sql} {behind_views}", known):
            iceberg_table = known[name]
            schema = iceberg_table.schema()
            row_filter = (
                pushdown_filter(sql, name, schema, conn, casts=session.casts)
                if prune and name not in unfiltered
                else AlwaysTrue()
            )
            plans.append(
                attach_table(
                    session,
                    conn,
                    name,
                    iceberg_table,
                    row_filter,
                    explain=explain,
                    columns=columns,
                    sql=original,
                )
            )
        for name, view_sql in views.items():
            _attach_view(session, conn, name, view_sql, original)
        started = time.perf_counter()
        try:
            ran = conn.execute(sql)
            if ran is None:  # DuckDB's answer to text with no statement (";", a comment)
                raise QueryError("no SQL statement to run", sql=original)
            table = ran.to_arrow_table()
        except duckdb.Error as exc:
            raise QueryError(describe(exc, original, known_tables(catalog)), sql=original) from exc
        return QueryResult(table, plans, time.perf_counter() - started)
    finally:
        detach_mounted(conn, attached)
        release(session, conn, started)


def release(session: QuerySession, conn: duckdb.DuckDBPyConnection, started: float) -> None:
    """After a query that began executing at ``started`` (``time.perf_counter``): drop
    what it defined on ``conn``, this thread's connection, or retire the connection
    after a heavy query."""
    if time.perf_counter() - started > HEAVY_QUERY_SECONDS:
        _retire(session, conn)
    else:
        _forget(session, conn)
