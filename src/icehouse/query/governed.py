"""A governed principal's SQL: it reads only what its grants show, and never a file.

Two DuckDB connections per thread take part (both the lake's ``QuerySession``'s). Each
table is planned as an administrator's query plans it, with the principal's access
ANDed into the pushed filter, and fed to the sandbox (``sql.open_sandbox``: no other
file, no extensions, no configuration changes, no Python variables) the cheapest way
that shows no more than the masked table (``masking.py``: rows no grant covers
dropped, cells no grant covers NULL, columns no grant covers absent), measured on the
CDN workload (``benchmarks/governed.py``), where a copy cost up to 7x the
administrator's query:

- unrestricted access to plain local files: the sandbox reads the planned files itself,
  allowed by path, as fast as the administrator, whatever the statement: a direct
  ``read_parquet`` of such a file shows nothing the principal may not read, whereas
  behind a filtering view it would bypass the filter (see the next case). The sandbox is
  opened for exactly those files, kept per thread by that set (a connect costs more
  than a small query) and reused by any principal whose statement needs exactly them:
  it holds nothing else between statements;
- a single cell set whose predicate reads only columns it shows: the planned files
  behind a view of only those columns whose WHERE is the predicate, read natively, as
  fast as the administrator, when DuckDB's parse of the statement shows it reads
  nothing but the tables fed to it (``tables.sql_reads``: no table function, no file,
  no catalog or settings function), so that the files the sandbox is then allowed are
  read only through the view; otherwise (and again after any error of a native run, so
  that no error computed from a row the filter hides is shown) a pyarrow dataset of the
  files with only those columns and the predicate as its filter, which allows no file
  and runs 1.3-1.6x slower on a selective query. A direct read of the files is never
  allowed to a statement that could make one;
- files another writer wrote with a column beyond the table's schema (by the field ids
  of their footers) are never allowed, since a direct read would show that column:
  unrestricted access then gets the masked copy, a single cell set the dataset;
- anything else (cells masked per cell, delete files, an evolved schema, remote files,
  time travel, a view's reads): the masked copy, computed on the trusted connection.

Each feed is registered as ``namespace.table``: reading the registered object by its
own name gives the same rows, and a table the principal may not read is not there at
all, so it is "not found or not permitted" in the same words as a table that does not
exist. A sandbox that ran a heavy query is closed, as the trusted connection is.
A statement that reads DuckDB's catalog (``SHOW TABLES``, ``information_schema``) also
finds an empty table of the visible columns for every other table and view the
principal may describe (``listing.py``), and nothing else.

Only one read statement runs (SELECT, SHOW, DESCRIBE, SUMMARIZE, which DuckDB parses as
SELECTs): ATTACH, COPY, INSTALL, LOAD, SET, PRAGMA, CALL, CREATE and the like are
refused by name before anything is read; inside a SELECT, the sandbox refuses table
functions that reach files (``read_parquet``, ``glob``, ``read_csv``, ``FROM 'file'``).

Time travel reads the snapshot with the same access, resolved against that snapshot's
schema by field id, so no older snapshot shows what a filter now hides. An Iceberg view
runs with its definer's rights (``as_definer``): the tables it reads are masked with
the access the policy gives on the view's behalf, on a sandbox of its own, and only the
view's result reaches the principal.

A principal's DELETE needs full read access to the table (no row filter, every column)
besides the DELETE privilege that ``delete`` checks: a delete through a filter could
otherwise remove rows the principal cannot see, and its count of deleted rows would
tell how many there were.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import NoReturn, Protocol

import duckdb
import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.expressions import AlwaysTrue, And, BooleanExpression
from pyiceberg.schema import Schema
from pyiceberg.table import FileScanTask, Table

from icehouse.errors import FilterNotTranslatable, MountedTableReadOnly, NotFound, QueryError
from icehouse.govern.access import TableAccess
from icehouse.query import time_travel
from icehouse.query.delete import DeleteStatement, parse_delete
from icehouse.query.feeds import (
    DataFiles,
    Feed,
    allowed_paths,
    feed,
    filtered_dataset,
    filtered_files,
    reads_files_natively,
)
from icehouse.query.listing import describable, describable_mounted, lists_tables, show_tables
from icehouse.query.masking import (
    SoleCellSet,
    access_description,
    access_expression,
    copied_columns,
    filter_columns,
    masked_columns,
    masked_select,
    predicate_columns,
    sole_cell_set,
    visible_columns,
)
from icehouse.query.messages import describe, not_permitted
from icehouse.query.mounted import (
    MountedTables,
    MountedWrite,
    as_schema_names,
    mounted_names,
    mounted_write,
    without_schema_names,
)
from icehouse.query.native import native_paths, native_select
from icehouse.query.sql import (
    HEAVY_QUERY_SECONDS,
    Defined,
    QueryResult,
    QuerySession,
    TablePlan,
    attach_scan,
    attach_snapshot,
    forget,
    known_tables,
    names_in,
    open_sandbox,
    plan_table,
    register_rows,
    release,
    table_plan,
)
from icehouse.query.views import views_in
from icehouse.tables.catalog import find_table
from icehouse.tables.catalog_views import view_sql
from icehouse.tables.filters import pushdown_filter, referenced_columns
from icehouse.tables.per_text import PerText
from icehouse.tables.row_filters import expression_sql
from icehouse.tables.sql_reads import reads_only


class ReadDecided(Protocol):
    """Told, for each table or view a statement names and that exists (also through time
    travel), and for each table or view read by a view it reads, the access it was read
    with (None: refused): the audit trail's per-table decisions."""

    def __call__(
        self,
        name: str,
        access: TableAccess | None,
        *,
        view: str | None = None,
        link: str | None = None,
    ) -> None:
        """``view``: the view on whose behalf ``name`` was read (its definer's rights);
        ``link``: the resource link the statement named ``name`` by."""
        ...


Refused = Callable[[str, str, str, str], None]
"""Told of each refusal made here rather than by a table's access: (action, resource
kind, resource name, the refusal's message). A statement that is not a read and a
DELETE the read access does not cover are decisions too, and the audit trail records
each of them as a denial."""


class AccessPolicy(Protocol):
    """What a principal may read of a table (``Lake.table_access``)."""

    def __call__(self, name: str, *, as_definer: str | None = None) -> TableAccess:
        """``name``: ``namespace.table`` (or a view); ``as_definer``: the view on whose
        behalf the table is read (its definer's rights, limited to what they could grant).
        An access with no ``table_uuid`` means the reader may not even describe it; one
        with a UUID and no cell set, that it may describe it but read none of it."""
        ...


LinkTargets = Callable[[], Mapping[str, str]]
"""The lake's resource links: link name → ``namespace.table``, or
``mount.namespace.table`` for a table of a mounted catalog."""


READ_ONLY = {duckdb.StatementType.SELECT}
"""The statements a principal's SQL may be (SHOW, DESCRIBE and SUMMARIZE parse as SELECT)."""


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def _qualified(name: str) -> str:
    namespace, table = name.split(".", 1)  # a mounted table's: "mount"."namespace.table"
    return f"{_quote(namespace)}.{_quote(table)}"


def check_read_only(sql: str, on_refused: Refused | None = None) -> None:
    """``on_refused`` is told of a refusal (action ``query.statement``) before it is
    raised.

    Raises: QueryError naming the kind of statement refused (more than one statement,
    or anything but a read), or DuckDB's syntax error."""
    try:
        kinds = _kinds.get(sql, lambda: _statement_kinds(sql))
    except duckdb.Error as exc:  # nothing is read for a statement that does not parse
        raise QueryError(str(exc), sql=sql) from exc
    if len(kinds) != 1:
        message = f"one statement at a time: this text holds {len(kinds)}"
        _refuse(on_refused, ("statements", str(len(kinds))), message, sql)
    (kind,) = kinds
    if kind not in READ_ONLY:
        message = (
            f"{kind.name} is not permitted: a governed principal's SQL may only read "
            "(SELECT, SHOW, DESCRIBE)"
        )
        _refuse(on_refused, ("statement", kind.name), message, sql)


_kinds: PerText[tuple[duckdb.StatementType, ...]] = PerText()


def _statement_kinds(sql: str) -> tuple[duckdb.StatementType, ...]:
    """The kind of each statement of ``sql``, as DuckDB parses it (kept per text: the
    parse costs up to a few tenths of a millisecond, on every run of the same text).

    Raises: duckdb.Error (a text that does not parse)."""
    probe = sql
    for match, name in reversed(time_travel.find(sql)):  # DuckDB does not parse these
        probe = f"{probe[: match.start()]}{name}{probe[match.end() :]}"
    return tuple(statement.type for statement in duckdb.extract_statements(probe))


def _refuse(
    on_refused: Refused | None, resource: tuple[str, str], message: str, sql: str
) -> NoReturn:
    """``resource``: (kind, name) of what was refused: ``statement ATTACH``, or
    ``statements 2`` for a text of two.

    Raises: QueryError(``message``), once ``on_refused`` is told of it."""
    if on_refused is not None:
        on_refused("query.statement", *resource, message)
    raise QueryError(message, sql=sql)


class _GovernedQuery:
    """One governed statement's reads: what is attached on the trusted connection and
    fed to the sandbox, and the plans of the tables the principal named."""

    def __init__(
        self,
        catalog: SqlCatalog,
        access: AccessPolicy,
        session: QuerySession,
        *,
        sql: str,
        prune: bool,
        explain: bool,
        on_read: ReadDecided | None = None,
        mounted: MountedTables | None = None,
        links: LinkTargets | None = None,
    ) -> None:
        self.catalog = catalog
        self.mounted = mounted
        self.links = links
        self._link_targets: Mapping[str, str] | None = None
        self.access = access
        self.on_read = on_read
        self.session = session
        self.original = sql
        self.prune = prune
        self.explain = explain
        self.trusted = session.connection()
        self.feeds: dict[str, Feed] = {}
        """What the sandbox reads, by ``namespace.table`` (``feed``)."""
        self.plans: list[TablePlan] = []
        self.readable: set[str] = set()
        self.columns = referenced_columns(sql, self.trusted)
        """Lower-case names of the columns the statement reads (None: whole rows)."""
        self.sandbox: duckdb.DuckDBPyConnection | None = None
        self.started = time.perf_counter()
        """When the statement began executing on the sandbox (``time.perf_counter``)."""

    def link_targets(self) -> Mapping[str, str]:
        """The lake's links (read once per statement, and only if it names something
        that is neither a table nor a view)."""
        if self._link_targets is None:
            self._link_targets = self.links() if self.links is not None else {}
        return self._link_targets

    def readable_access(
        self, name: str, table: Table | None, *, as_definer: str | None = None
    ) -> TableAccess | None:
        """The access to table ``name`` when it shows some cell, else None."""
        if table is None:
            return None
        access = self.access(name, as_definer=as_definer)
        if access.denied or not visible_columns(access, table.schema()):
            return None
        return access

    def masked(
        self,
        relation: str,
        access: TableAccess,
        schema: Schema,
        columns: list[str],
        pushed: BooleanExpression | None = None,
    ) -> pa.Table:
        """The masked copy of ``relation`` (attached on the trusted connection), of
        ``columns`` (``copied_columns``), without the rows ``pushed`` (the statement's
        own filter on unmasked columns) excludes when it renders as SQL."""
        narrowed = None
        if pushed is not None and not isinstance(pushed, AlwaysTrue):
            try:
                narrowed = expression_sql(pushed, schema)
            except FilterNotTranslatable:
                narrowed = None  # the statement's WHERE still applies, on the sandbox
        select = masked_select(relation, access, schema, columns=columns, narrowed=narrowed)
        return self.trusted.execute(select).to_arrow_table()

    def time_travel(self, sql: str) -> str:
        """``sql`` with each time-travel reference replaced by its masked snapshot.

        Raises: QueryError (not found or not permitted, or a snapshot that does not exist)."""
        for match, name in reversed(time_travel.find(sql)):
            table = self.travelled(name)
            access = self.readable_access(name, table)
            if table is not None:
                self._decided(name, access)
            if table is None or access is None:
                raise QueryError(not_permitted(name, self.readable), sql=self.original)
            snapshot_id = time_travel.resolve(table, name, match, self.original, self.trusted)
            schema = table.scan(snapshot_id=snapshot_id).projection()
            plan = attach_snapshot(
                self.session,
                self.trusted,
                table,
                name,
                snapshot_id,
                row_filter=access_expression(access, table.schema()),
                explain=self.explain,
                sql=self.original,
            )
            self.plans.append(replace(plan, access_filter=access_description(access, schema)))
            view = time_travel.view_name(name, snapshot_id)
            self.feeds[view] = self.masked(
                _qualified(view), access, schema, copied_columns(access, schema, self.columns)
            )
            self.readable.add(name)
            sql = f"{sql[: match.start()]}{_qualified(view)}{sql[match.end() :]}"
        return sql

    def travelled(self, name: str) -> Table | None:
        """The table a time-travel reference names: a local ``namespace.table``, or a
        mounted ``mount.namespace.table`` loaded from its producer when the principal
        may read some of it (None: not found, or not permitted, in the same words).

        Raises: CatalogUnavailable (the producer does not answer)."""
        if len(name.split(".")) != 3:
            return find_table(self.catalog, name)
        mounted = self.mounted
        if mounted is None or name.split(".")[0] not in mounted.names():
            return None
        if self.access(name).denied:
            return None
        return mounted.load(name)

    def mounts(self, sql: str) -> str:
        """``sql`` with each table of a mount it names fed to the sandbox, masked as a
        local table is, under the name it is rewritten to (``as_schema_names``). The
        sandbox never gets a producer's credential, and the principal's SQL never reads a
        producer's file itself: local plain files are read natively only through a view
        of them (``direct`` without ``whole_files``), anything else is copied.

        Raises: QueryError (a mounted table not found or not permitted, in the words
        used for a local one), CatalogUnavailable (its producer does not answer)."""
        names = mounted_names(sql) if self.mounted is not None else []
        mounts = set(self.mounted.names()) if self.mounted is not None and names else set()
        read = []
        for name in names:
            if self.mounted is None or name.split(".")[0] not in mounts:
                continue
            access = self.access(name)
            table = None if access.denied else self.mounted.load(name)
            if table is None or not visible_columns(access, table.schema()):
                if access.table_uuid:
                    self._decided(name, None)
                raise QueryError(not_permitted(name, self.readable), sql=self.original)
            self._decided(name, access)
            self.register(name, self.table(name, table, access, pushdown=sql, whole_files=False))
            read.append(name)
        return as_schema_names(sql, read) if read else sql

    def table(
        self,
        name: str,
        table: Table,
        access: TableAccess,
        *,
        pushdown: str | None,
        whole_files: bool = True,
    ) -> Feed:
        """The current snapshot of ``table`` as ``access`` shows it, planned with the
        access's filter and the simple filters of ``pushdown`` (the principal's statement,
        whose plan ``explain`` shows; None for a view's reads, which the principal does
        not see and which are always copied): the cheapest feed that shows no more
        (``feeds.py``), else the masked copy. Without ``whole_files`` (a mounted
        table) the sandbox never reads the files outside a view of them (``direct``)."""
        schema = table.schema()
        pushed: BooleanExpression = AlwaysTrue()
        if self.prune and pushdown is not None:
            pushed = pushdown_filter(pushdown, name, schema, self.trusted, casts=self.session.casts)
            if filter_columns(pushed) & masked_columns(access, schema):
                pushed = AlwaysTrue()  # the raw values are not what the principal compares
        only = None if pushdown is None else self.columns  # a view's SQL may read any column
        columns = copied_columns(access, schema, only)
        row_filter = And(pushed, access_expression(access, schema))
        scan, planned = plan_table(self.session, name, table, row_filter, sql=self.original)
        read: set[str] | None = {c.lower() for c in columns} | predicate_columns(access, schema)
        source = None
        if pushdown is not None:
            source = self.direct(table, access, scan.tasks, whole_files=whole_files)
        if source is None:
            if not attach_scan(self.session, self.trusted, name, table, scan, row_filter):
                read = None  # PyIceberg's reader read every column
            source = self.masked(_qualified(name), access, schema, columns, pushed)
        if pushdown is not None:
            plan = table_plan(
                name, table, row_filter, scan, planned, explain=self.explain, columns=read
            )
            self.plans.append(replace(plan, access_filter=access_description(access, schema)))
        return source

    def direct(
        self,
        table: Table,
        access: TableAccess,
        tasks: Sequence[FileScanTask],
        *,
        whole_files: bool = True,
    ) -> Feed | None:
        """The data files of ``tasks`` as the sandbox may read them without a copy: the
        files themselves for unrestricted access, filtered files for a single cell set
        (DuckDB pushes the statement's own filters into its scans; adding them to the
        filter measured no faster); None when the files are not readable as they are or
        the access masks cells. A file with a column the table's schema lacks (another
        writer's) is never read directly: unrestricted access then gets the copy, a
        single cell set the filtered dataset only. Without ``whole_files``, unrestricted
        access gets filtered files of every column and row too, which the sandbox reads
        natively only for a statement that reads nothing but its tables."""
        paths = native_paths(table, tasks)
        if paths is None:
            return None
        schema = table.schema()
        own = self.session.file_fields.within(paths, schema)
        if access.unrestricted and whole_files:
            return DataFiles(tuple(paths), native_select(schema, paths)) if own else None
        sole = sole_cell_set(access, schema)
        if access.unrestricted:
            sole = SoleCellSet([f.name for f in schema.fields], AlwaysTrue(), None)
        if sole is None:
            return None
        if not own:
            return filtered_dataset(paths, schema, sole.columns, sole.predicate)
        return filtered_files(paths, schema, sole.columns, sole.predicate, sole.predicate_sql)

    def view(self, name: str, view_sql: str, results: dict[str, pa.Table]) -> pa.Table:
        """The rows of Iceberg view ``name``, read with its definer's rights on a sandbox
        of its own; ``results`` holds the views it may read (computed before it).

        Raises: QueryError (SQL the view's sandbox cannot run; a table or view it reads
        that its definer may not, told as the view not found or not permitted, which
        names nothing behind it)."""
        scratch = open_sandbox()
        try:
            defined = Defined()
            refused = QueryError(not_permitted(name, set()), sql=self.original)
            for inner in names_in(view_sql):  # the definer's lost grants show as the view's
                if inner in results:
                    granted = self.access(inner, as_definer=name)
                    self._decided(inner, None if granted.denied else granted, view=name)
                    if granted.denied:
                        raise refused
                    register_rows(defined, scratch, inner, results[inner])
                    continue
                table = find_table(self.catalog, inner)
                if table is None:
                    continue  # an alias's column, or a name the view's SQL gets wrong
                access = self.readable_access(inner, table, as_definer=name)
                self._decided(inner, access, view=name)
                if access is None:
                    raise refused
                feed(defined, scratch, inner, self.table(inner, table, access, pushdown=None))
            try:
                return scratch.execute(f"SELECT * FROM ({view_sql})").to_arrow_table()
            except duckdb.Error as exc:
                raise QueryError(f"view {name}: {exc}", sql=self.original) from exc
        finally:
            scratch.close()

    def hints(self, exc: duckdb.Error) -> set[str]:
        """The tables an error about ``exc`` may name: for a missing table, every table
        of the lake the principal may read (the closest is suggested); otherwise those
        the statement read."""
        if not isinstance(exc, duckdb.CatalogException):
            return self.readable
        return self.readable | {
            name
            for name in known_tables(self.catalog)
            if self.readable_access(name, find_table(self.catalog, name)) is not None
        }

    def register(self, name: str, source: Feed) -> None:
        """``source`` as ``name`` on the sandbox, the only place the principal reads."""
        self.feeds[name] = source
        self.readable.add(name)

    def list_describable(self, sql: str) -> None:
        """When ``sql`` reads DuckDB's catalog, register an empty table of the visible
        columns for every other table and view the principal may describe
        (``listing.py``), so that the catalog lists those and nothing else."""
        if lists_tables(sql):
            links = self.link_targets() if self.links is not None else {}
            local = {name: target for name, target in links.items() if target.count(".") == 1}
            skip = set(self.readable)
            for name, empty in describable(self.catalog, self.access, skip, local):
                self.feeds[name] = empty
            if self.mounted is not None:
                to_mounts = {name: t for name, t in links.items() if name not in local}
                for name, empty in describable_mounted(self.mounted, self.access, skip, to_mounts):
                    self.feeds[name] = empty

    def natively(self, sql: str) -> bool:
        """Whether filtered files may be read natively for ``sql``: it reads nothing but
        the tables fed to it (``tables.sql_reads``), so the files the sandbox is then
        allowed are read only through their filtering views."""
        feeds = list(self.feeds.values())
        return reads_files_natively(feeds) and reads_only(self.trusted, sql, self.feeds)

    def open(self, *, native: bool) -> duckdb.DuckDBPyConnection:
        """The sandbox allowed to read exactly the data files fed to it (filtered files
        natively or not), with every table and view the statement reads on it; what an
        earlier attempt defined is dropped first."""
        self.close_sandbox(retire=False)
        feeds = list(self.feeds.values())
        self.sandbox = self.session.sandbox(allowed_paths(feeds, native=native))
        for name, source in self.feeds.items():
            feed(self.session.local.sandbox_defined, self.sandbox, name, source, native=native)
        self.started = time.perf_counter()
        return self.sandbox

    def execute(self, sql: str) -> pa.Table:
        """The rows of ``sql`` (read-only, its tables attached) on the sandbox. A native
        run that fails is run again with filtered files as datasets, and only that run's
        outcome is shown: an error never comes from a native read (``feeds.py``).

        Raises: QueryError (DuckDB's message in the principal's terms)."""
        for native in (True, False) if self.natively(sql) else (False,):
            try:
                return self.open(native=native).execute(sql).to_arrow_table()
            except duckdb.Error as exc:
                failure = exc
        message = describe(failure, self.original, self.hints(failure), governed=True)
        raise QueryError(message, sql=self.original) from failure

    def close_sandbox(self, *, retire: bool) -> None:
        """Drop what this statement defined on its sandbox, or close the sandbox when
        ``retire`` (after a heavy query: its registrations go with it)."""
        local = self.session.local
        defined, local.sandbox_defined = local.sandbox_defined, Defined()
        sandbox, self.sandbox = self.sandbox, None
        if sandbox is None:
            return
        if retire:
            self.session.retire_sandbox(sandbox)
        else:
            forget(defined, sandbox)

    def attach(self, sql: str) -> None:
        """Register on the sandbox every table and view ``sql`` names that the principal
        may read. Only the views it may read are computed (with the views they read).
        The mounted tables it names were registered by ``mounts``."""
        named = names_in(without_schema_names(sql))
        views = [
            name
            for name in named
            if view_sql(self.catalog, name) is not None and not self.access(name).denied
        ]
        results: dict[str, pa.Table] = {}
        reached = views_in(self.catalog, " ".join(views), names_in) if views else {}
        for view, sql_of_view in reached.items():  # innermost first
            results[view] = self.view(view, sql_of_view, results)
        for name in named:
            if name in views:
                self._decided(name, self.access(name))
                self.register(name, results[name])
                continue
            table = find_table(self.catalog, name)
            if table is None:
                self.through_link(name, sql)
                continue
            access = self.readable_access(name, table)
            self._decided(name, access)
            if access is not None:
                self.register(name, self.table(name, table, access, pushdown=sql))

    def through_link(self, name: str, sql: str) -> None:
        """Register link ``name`` as its target shows to the principal's own grants on
        the target: a link grants nothing, and one whose target is gone or not readable
        is not there at all, as a missing table is not. A target in a mount
        (``mount.namespace.table``) is read as the mounted table is (``mounts``)."""
        target = self.link_targets().get(name)
        if target is None:
            return
        mounted = target.count(".") == 2
        table = self.mounted_table(target) if mounted else find_table(self.catalog, target)
        if table is None:
            return
        access = self.readable_access(target, table)
        self._decided(target, access, link=name)
        if access is not None:
            source = self.table(name, table, access, pushdown=sql, whole_files=not mounted)
            self.register(name, source)

    def mounted_table(self, name: str) -> Table | None:
        """The mounted table ``name`` as its producer has it now; None when it has none
        (a link to it is then not there, as a missing table is not).

        Raises: CatalogUnavailable (its producer does not answer)."""
        if self.mounted is None:
            return None
        try:
            return self.mounted.load(name)
        except NotFound:
            return None

    def _decided(
        self,
        name: str,
        access: TableAccess | None,
        *,
        view: str | None = None,
        link: str | None = None,
    ) -> None:
        if self.on_read is not None:
            self.on_read(name, access, view=view, link=link)


def run_governed_sql(
    catalog: SqlCatalog,
    sql: str,
    access: AccessPolicy,
    *,
    session: QuerySession,
    delete: Callable[[str, str], int],
    prune: bool = True,
    explain: bool = False,
    on_read: ReadDecided | None = None,
    on_refused: Refused | None = None,
    mounted: MountedTables | None = None,
    links: LinkTargets | None = None,
) -> QueryResult:
    """Run ``sql`` for a governed principal whose reads ``access`` decides (tables of
    ``mounted`` catalogs too, named ``mount.namespace.table``); a DELETE
    goes to ``delete(table, where)``, which checks the DELETE privilege; ``on_read`` is
    told what each table the statement names was read with, ``on_refused`` of a
    statement or a DELETE refused before anything is read; ``links`` are the resource
    links a name that is no table may be (read with the principal's access to the
    target).

    Raises: QueryError (a statement that is not a read, a table not found or not
    permitted, DuckDB's message in the principal's terms, a DELETE through filtered
    access), EqualityDeletesUnsupported, and what ``delete`` raises."""
    write = mounted_write(sql, mounted) if mounted is not None else None
    if write is not None:
        _refuse_mounted_write(write, access, sql, on_refused)
    statement = parse_delete(sql)
    if statement is not None:
        return _delete(catalog, statement, access, delete, sql, on_refused)
    check_read_only(sql, on_refused)
    query = _GovernedQuery(
        catalog,
        access,
        session,
        sql=sql,
        prune=prune,
        explain=explain,
        on_read=on_read,
        mounted=mounted,
        links=links,
    )
    try:
        rewritten = query.mounts(query.time_travel(sql))
        query.attach(rewritten)
        query.list_describable(rewritten)
        table = query.execute(show_tables(rewritten))
        return QueryResult(table, query.plans, time.perf_counter() - query.started)
    finally:
        query.close_sandbox(retire=time.perf_counter() - query.started > HEAVY_QUERY_SECONDS)
        release(session, query.trusted, query.started)


def _refuse_mounted_write(
    write: MountedWrite, access: AccessPolicy, sql: str, on_refused: Refused | None
) -> NoReturn:
    """A principal's write to a mounted table: refused as read-only, or as not found or
    not permitted when it may not describe the table (which names nothing of it); the
    refusal is told to ``on_refused`` first.

    Raises: MountedTableReadOnly, or QueryError (not found or not permitted)."""
    refused: QueryError = MountedTableReadOnly(
        verb=write.verb, table=write.table, mount=write.mount, sql=sql
    )
    if not access(write.table).table_uuid:
        refused = QueryError(not_permitted(write.table, set()), sql=sql)
    if on_refused is not None:
        action = "table.delete_rows" if write.verb == "DELETE" else "table.commit"
        on_refused(action, "table", write.table, refused.message)
    raise refused


def _delete(
    catalog: SqlCatalog,
    statement: DeleteStatement,
    access: AccessPolicy,
    delete: Callable[[str, str], int],
    sql: str,
    on_refused: Refused | None,
) -> QueryResult:
    """``on_refused`` is told of a refusal (``table.delete_rows`` on the table) before it
    is raised.

    Raises: QueryError (the table is not found or not permitted, or read through a
    filter), and what ``delete`` raises."""
    started = time.perf_counter()
    name = statement.table
    granted = access(name) if find_table(catalog, name) is not None else None
    refusal = None
    if granted is None or granted.denied:
        refusal = not_permitted(name, set())
    elif not granted.unrestricted:
        refusal = (
            f"DELETE FROM {name} is refused: your read access to it is filtered, and a "
            "delete may only remove rows whose every cell you may read"
        )
    if refusal is not None:
        if on_refused is not None:
            on_refused("table.delete_rows", "table", name, refusal)
        raise QueryError(refusal, sql=sql)
    deleted = delete(name, statement.where)
    return QueryResult(pa.table({"deleted_rows": [deleted]}), [], time.perf_counter() - started)
