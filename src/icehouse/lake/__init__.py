"""The Lake: the one facade that wires config, state database and catalog.

CLI commands, the demo and tests all receive a ``Lake`` and call one method each, so
that authorisation and audit can later be added here, once, rather than in every
command: the facade hands out icehouse types only, so no caller can go around it.

At the top: ``sql``, ``explain``, ``delete`` and ``ingest``; the rest is grouped, as
sqlite-utils groups ``db.table(...)``: ``lake.tables``, ``lake.sources``,
``lake.quarantine`` and ``lake.maintenance`` (``facades.py``); ``lake.namespaces`` and
``lake.iceberg`` give the Iceberg catalog as the REST protocol sees it (``iceberg.py``),
``lake.views`` its views (``views.py``), ``lake.principals`` manages who may use it
through the server (``principals.py``), and ``lake.governance`` what each of them may do:
roles, grants, tags and data filters (``governance.py``), ``lake.tenants`` the tenants
they may belong to (``tenants.py``), ``lake.catalogs`` the producer catalogs mounted
into it (``catalogs.py``); ``lake.table_access`` says
which cells of a table the acting principal may read;
``lake.storage_signing`` signs the S3 requests of engines that hold no storage keys
(``storage_signing.py``); and ``lake.audit`` exports the audit trail of every decision
and query into ``icehouse_system.audit`` (``audit.py``).

A lake acts as a principal. Opened locally it is the home's owner, an administrator;
``lake.as_principal(p)`` gives a view of the same lake acting as ``p``. Every public
method of the lake and of its groups is ``@governed`` (``governed.py``): it asks
``govern.authz.authorize`` for the acting principal before doing anything.
"""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine

from icehouse.config import LakeConfig, load_config, resolve_home
from icehouse.govern.authz import OWNER, Principal
from icehouse.govern.mounts import MountCache
from icehouse.govern.store import PolicyCache
from icehouse.ingest.faults import Faults, faults_from_env, no_faults
from icehouse.ingest.report import IngestProgress, IngestReport
from icehouse.lake.facades import LakeMaintenance, LakeQuarantine, LakeSources, LakeTables
from icehouse.lake.governed import governed
from icehouse.lake.setup import InitResult, init_home
from icehouse.resilience import keep_running, outages_as_errors
from icehouse.resilience import logger as outage_logger
from icehouse.state import home as home_mod
from icehouse.state.clock import SYSTEM_CLOCK, Clock
from icehouse.state.database import migrate, open_engine
from icehouse.state.home import warehouse_uri

if TYPE_CHECKING:
    import pyarrow as pa
    from pyiceberg.catalog.sql import SqlCatalog

    from icehouse.govern.access import TableAccess
    from icehouse.govern.audit import AuditTrail
    from icehouse.lake.audit import LakeAudit
    from icehouse.lake.catalog_requests import LakeIdempotency, LakeMetrics
    from icehouse.lake.catalogs import LakeCatalogs
    from icehouse.lake.governance import LakeGovernance
    from icehouse.lake.iceberg import LakeIceberg, LakeNamespaces
    from icehouse.lake.links import LakeLinks
    from icehouse.lake.principals import LakePrincipals
    from icehouse.lake.storage_signing import LakeStorageSigning
    from icehouse.lake.tenants import LakeTenants
    from icehouse.lake.views import LakeViews
    from icehouse.query.sql import QueryResult, QuerySession
    from icehouse.tables.federation import ProducerCatalog
    from icehouse.tables.identity import UuidIndex
    from icehouse.tables.manifest_cache import ManifestCache

GROUPS = (
    "tables",
    "sources",
    "quarantine",
    "maintenance",
    "namespaces",
    "iceberg",
    "views",
    "principals",
    "idempotency",
    "metrics",
    "governance",
    "tenants",
    "links",
    "catalogs",
    "audit",
    "storage_signing",
)
"""The lake's groups of methods, each bound to the lake (or view) it belongs to."""


class Lake:
    """A lake home opened for work (``Lake.open``); close it, or use it in a ``with``."""

    def __init__(
        self, *, config: LakeConfig, faults: Faults = no_faults, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self.config = config
        self._faults = faults
        self._clock = clock
        self._state_engine: Engine | None = None
        self._iceberg_catalog: SqlCatalog | None = None
        self._opening = threading.Lock()  # the server's request threads share one lake
        self._views: dict[Principal, Lake] = {}
        """``as_principal``'s views, made once per principal: the server asks for one on
        every request, and making it costs more than answering most requests."""
        self.principal: Principal = OWNER
        """Who this lake acts as: every public method asks whether they may."""
        self._query_session: QuerySession | None = None
        self._query_session_lock = threading.Lock()
        self._audit_writes = threading.Lock()
        """Taken around each audit write, shared with this lake's views (``as_principal``):
        the server's request threads would otherwise meet on SQLite's write lock, whose
        busy handler sleeps for milliseconds where this waits for microseconds."""
        self._manifest_cache: ManifestCache | None = None
        self._policies = PolicyCache()
        """The policy decisions are made with, shared by every view of this lake."""
        self._uuid_index: UuidIndex | None = None
        self._mount_rows = MountCache()
        """The mounts' rows by policy version, shared by this lake's views."""
        self._mounted: dict[tuple[str, float], ProducerCatalog] = {}
        """Producer catalogs opened, by mount name and creation time, shared by this
        lake's views (``lake/catalogs.py``)."""
        self.tables = LakeTables(self)
        """Create, describe, alter, list and roll back tables."""
        self.sources = LakeSources(self)
        """The landing folders ingestion reads, and their status."""
        self.quarantine = LakeQuarantine(self)
        """Files and lines ingestion refused, and their replay."""
        self.maintenance = LakeMaintenance(self)
        """Compaction, expiry, orphan files, manifests, the autopilot, past runs."""

    @functools.cached_property
    def namespaces(self) -> LakeNamespaces:
        """The catalog's namespaces, with their properties."""
        from icehouse.lake.iceberg import LakeNamespaces

        return LakeNamespaces(self)

    @functools.cached_property
    def iceberg(self) -> LakeIceberg:
        """Tables as the Iceberg REST protocol handles them (metadata JSON, commits).
        Made on first use: it loads PyIceberg, which the CLI's light commands avoid."""
        from icehouse.lake.iceberg import LakeIceberg

        return LakeIceberg(self)

    @functools.cached_property
    def views(self) -> LakeViews:
        """Iceberg views: list, create, load, replace, drop, rename."""
        from icehouse.lake.views import LakeViews

        return LakeViews(self)

    @functools.cached_property
    def principals(self) -> LakePrincipals:
        """Who may use the lake through the server; their bearer tokens."""
        from icehouse.lake.principals import LakePrincipals

        return LakePrincipals(self)

    @functools.cached_property
    def idempotency(self) -> LakeIdempotency:
        """The REST catalog's final answers by ``Idempotency-Key``."""
        from icehouse.lake.catalog_requests import LakeIdempotency

        return LakeIdempotency(self)

    @functools.cached_property
    def metrics(self) -> LakeMetrics:
        """Scan and commit reports engines sent; ``icehouse.metrics`` in SQL."""
        from icehouse.lake.catalog_requests import LakeMetrics

        return LakeMetrics(self)

    @functools.cached_property
    def governance(self) -> LakeGovernance:
        """Roles, grants, tags and data filters."""
        from icehouse.lake.governance import LakeGovernance

        return LakeGovernance(self)

    @functools.cached_property
    def tenants(self) -> LakeTenants:
        """Tenants, their administrators, and the principals and roles inside them."""
        from icehouse.lake.tenants import LakeTenants

        return LakeTenants(self)

    @functools.cached_property
    def links(self) -> LakeLinks:
        """Resource links: names in one namespace standing for tables in another."""
        from icehouse.lake.links import LakeLinks

        return LakeLinks(self)

    @functools.cached_property
    def catalogs(self) -> LakeCatalogs:
        """Producer catalogs mounted into this lake: their tables read as ``NAME.ns.t``."""
        from icehouse.lake.catalogs import LakeCatalogs

        return LakeCatalogs(self)

    @functools.cached_property
    def audit(self) -> LakeAudit:
        """The audit trail: its export into ``icehouse_system.audit``."""
        from icehouse.lake.audit import LakeAudit

        return LakeAudit(self)

    @functools.cached_property
    def storage_signing(self) -> LakeStorageSigning:
        """S3 requests of engines without storage keys, signed with the lake's own."""
        from icehouse.lake.storage_signing import LakeStorageSigning

        return LakeStorageSigning(self)

    # -- opening ------------------------------------------------------------------------

    @classmethod
    def init(
        cls,
        home: str | Path | None = None,
        *,
        state_url: str | None = None,
        warehouse: str | None = None,
        storage: dict[str, str] | None = None,
    ) -> InitResult:
        """Create a lake home, checking that its state database and warehouse work; an
        existing home is left exactly as it is.

        Args: ``home``, the folder (default: ``ICEHOUSE_HOME``, else ``./lake``);
        ``state_url``, the state database (default: SQLite in the home);
        ``warehouse``, where table data lives (default: ``warehouse/`` in the home, or
        ``s3://bucket/prefix``, whose bucket is created if missing); ``storage``, the
        ``[storage]`` settings (``s3.endpoint``, keys...).
        Returns: what was made, and whether the home was created now.
        Raises: InvalidConfig (a setting that cannot be read), SetupFailed (the database
        or the warehouse cannot be used: nothing is kept but what the error names)."""
        return init_home(
            resolve_home(home), state_url=state_url, warehouse=warehouse, storage=storage
        )

    @classmethod
    def open(
        cls,
        home: str | Path | None = None,
        *,
        faults: Faults = no_faults,
        clock: Clock = SYSTEM_CLOCK,
    ) -> Lake:
        """Open a lake home for work (close it, or use it as a context manager).

        Args: ``home``, the folder holding ``icehouse.toml`` (default: ``ICEHOUSE_HOME``,
        else ``./lake``, as the CLI finds it); ``faults``, injected failures (tests);
        ``clock``, the time every lease and record is stamped with (tests move it).
        Returns: the open ``Lake``.
        Raises: HomeNotFound, InvalidConfig, StateError, StateDatabaseUnavailable,
        CopiedHome (the state database belongs to another home: see ``adopt``)."""
        lake = cls(config=load_config(resolve_home(home)), faults=faults, clock=clock)
        try:
            with lake.outages_as_errors():
                migrate(lake._engine)
                home_mod.check_home(lake._engine, home=lake.home, warehouse=lake.warehouse)
        except BaseException:
            lake.close()
            raise
        return lake

    @governed("principal.assume")
    def as_principal(self, principal: Principal) -> Lake:
        """This lake acting as ``principal``: the same connections, caches and
        configuration, every method checked against ``principal``'s rights. The view is
        not closed on its own; closing this lake closes it. It is made once per
        principal and kept until this lake is closed or reloads its configuration.

        Raises: Forbidden (only an administrator may act as someone else)."""
        view = self._views.get(principal)
        if view is not None:
            return view
        self._catalog  # noqa: B018 - opened here, so that the view shares it
        self._engine  # noqa: B018
        self._queries  # noqa: B018 - and the query caches (made on first use otherwise)
        self._uuids  # noqa: B018 - and which table each metadata file is
        view = copy.copy(self)
        view.principal = principal
        view._views = {}
        for group in GROUPS:
            setattr(view, group, type(getattr(self, group))(view))
        self._views[principal] = view
        return view

    @governed("lake.connect")
    def outages_as_errors(self) -> AbstractContextManager[None]:
        """Within it, an outage of the state database or the object store raises
        StateDatabaseUnavailable or StorageUnavailable, naming this lake's database URL
        (password masked) or S3 endpoint; one-shot commands run inside it."""
        storage = self.config.storage.get("s3.endpoint") or self.config.warehouse
        return outages_as_errors(state_url=self.config.state_url, storage=storage)

    @classmethod
    def adopt(cls, home: str | Path | None = None) -> home_mod.HomeIdentity | None:
        """Make the state database this home's own (after changing its warehouse on
        purpose, or to use a copied or moved home); returns the home it belonged to.
        Maintenance still deletes nothing outside this home's warehouse.

        Args: ``home`` as for ``open``.
        Returns: the identity the database held before, None if it held none.
        Raises: HomeNotFound, InvalidConfig, StateError, StateDatabaseUnavailable."""
        lake = cls(config=load_config(resolve_home(home)))
        try:
            migrate(lake._engine)
            return home_mod.adopt_home(lake._engine, home=lake.home, warehouse=lake.warehouse)
        finally:
            lake.close()

    @property
    def warehouse(self) -> str:
        """This home's warehouse as a URI (``file:///...`` or ``s3://...``)."""
        return warehouse_uri(self.config.warehouse)

    @property
    def home(self) -> Path:
        """This home's folder (absolute)."""
        return self.config.home

    @property
    def _engine(self) -> Engine:
        """The state database (SQLAlchemy): for the facade and its groups only."""
        if self._state_engine is None:
            self._state_engine = open_engine(self.config.state_url)
        return self._state_engine

    @property
    def _catalog(self) -> SqlCatalog:
        """The Iceberg catalog (PyIceberg): for the facade and its groups only."""
        with self._opening:
            if self._iceberg_catalog is None:
                from icehouse.tables.catalog import open_catalog

                self._iceberg_catalog = open_catalog(
                    self.config.state_url,
                    self.config.warehouse,
                    self.config.storage,
                    clock=self._clock,
                )
            return self._iceberg_catalog

    @property
    def _queries(self) -> QuerySession:
        """This lake's own query caches and DuckDB connections (no two lakes share them),
        made on the first query (of any thread): DuckDB and PyIceberg load only when a
        query runs."""
        with self._query_session_lock:
            if self._query_session is None:
                from icehouse.query.sql import QuerySession

                self._query_session = QuerySession(manifests=self._manifests)
            return self._query_session

    def _write_audit(self, trail: AuditTrail) -> None:
        """Write what ``trail`` recorded, one writer of this lake at a time."""
        with self._audit_writes:
            trail.write(self._engine)

    @property
    def _manifests(self) -> ManifestCache:
        """Decoded manifests, shared by this lake's queries and its maintenance."""
        with self._opening:
            if self._manifest_cache is None:
                from icehouse.tables.manifest_cache import ManifestCache

                self._manifest_cache = ManifestCache()
            return self._manifest_cache

    @property
    def _uuids(self) -> UuidIndex:
        """Which table or view each metadata file belongs to (UUID → current name)."""
        with self._opening:
            if self._uuid_index is None:
                from icehouse.tables.identity import UuidIndex

                self._uuid_index = UuidIndex()
            return self._uuid_index

    @governed("lake.reload_config")
    def reload_config(self) -> None:
        """Read ``icehouse.toml`` again (after it was edited).

        Raises: InvalidConfig, HomeNotFound."""
        self.config = load_config(self.config.home)
        self._views = {}  # they hold the old configuration

    @governed("lake.close")
    def close(self) -> None:
        """Release the state database's and the catalog's connections, this lake's
        query connections and the mounted producers'; using the lake again reopens them."""
        self._views = {}  # they hold the connections released here
        if self._state_engine is not None:
            self._state_engine.dispose()
            self._state_engine = None
        if self._iceberg_catalog is not None:
            self._iceberg_catalog.engine.dispose()
            self._iceberg_catalog = None
        if self._query_session is not None:
            self._query_session.close()
        if self._mounted:
            from icehouse.tables.federation import close_producer

            for catalog in self._mounted.values():
                close_producer(catalog)
            self._mounted.clear()

    def __enter__(self) -> Lake:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- ingestion ----------------------------------------------------------------------

    @governed("source.ingest", on="sources")
    def ingest(
        self,
        sources: list[str] | None = None,
        *,
        follow: bool = False,
        progress: IngestProgress | None = None,
        stop: threading.Event | None = None,
        say: Callable[[str], None] | None = None,
    ) -> IngestReport:
        """Ingest what has landed (``follow`` keeps watching until ``stop`` is set).

        With ``follow``, an outage of the state database or the object store pauses
        ingestion instead of ending it: the open batch is left to recovery, ``say`` is
        told once when the outage begins and once when it is over, and ingestion goes
        on (``resilience.keep_running``). The report then counts the files of an
        abandoned batch again when they are ingested after the outage.

        Args: ``sources``, the sources to ingest (default all); ``progress``, told of
        each file and batch; ``stop``, ends a ``follow``; ``say``, told of outages.
        Returns: the files, rows, bad rows, batches and columns added.
        Raises: NoSuchSource, NoSuchTable, StateDatabaseUnavailable, StorageUnavailable
        (without ``follow``), CommitUncertain."""
        from icehouse.ingest.ingester import Ingester

        stop = stop or threading.Event()
        ingester = Ingester(
            config=self.config,
            engine=self._engine,
            catalog=self._catalog,
            faults=self._faults,
            progress=progress,
            stop=stop,
            clock=self._clock,
        )
        if not follow:
            return ingester.run(sources)
        report = IngestReport()
        keep_running(
            lambda working: ingester.run(sources, follow=True, report=report, working=working),
            stop=stop,
            say=say or outage_logger.warning,
        )
        return report

    # -- query --------------------------------------------------------------------------

    @governed("query.run")
    def sql(self, text: str, *, prune: bool = True) -> pa.Table:
        """Run one SQL statement (DuckDB's dialect; tables named ``namespace.table``; a
        ``DELETE FROM t WHERE ...`` deletes rows and answers ``deleted_rows``), or one
        governance statement (``GRANT``, ``CREATE ROLE``, ``SHOW GRANTS``...), which
        DuckDB does not know: it is run here, by ``lake.governance``.

        Args: ``text``, the statement; ``prune`` (tests): plan with the WHERE pushed down
        (False reads every file, which must give the same rows).
        Returns: the rows as a pyarrow Table (a governance statement's: the rows of a
        SHOW, else one ``status`` row).
        Raises: QueryError (DuckDB's message, or an unsupported statement; for a governed
        principal also a table not found or not permitted, a statement that is not a
        read, a DELETE through filtered access), GovernanceSyntaxError (a governance
        statement that does not parse), EqualityDeletesUnsupported, NoSuchTable (a
        DELETE's table), Forbidden, and what ``lake.governance`` raises for a governance
        statement."""
        from icehouse.govern.statements import parse_statement
        from icehouse.lake.audit import audited_query

        statement = parse_statement(text)
        if statement is not None:  # recorded as a query too: the trail shows its text
            from icehouse.lake.governance_sql import run_statement
            from icehouse.query.sql import QueryResult

            change = functools.partial(run_statement, self, statement)
            return audited_query(self, text, lambda: QueryResult(change(), [], 0.0)).table
        return audited_query(self, text, lambda: self._run(text, prune=prune, explain=False)).table

    @governed("query.run")
    def explain(self, text: str, *, prune: bool = True) -> QueryResult:
        """Run a query and say what each table had to read.

        Args: ``text``, the query; ``prune`` as for ``sql``.
        Returns: the rows (``.table``) and one plan per table read (``.plans``): files in
        the snapshot, after partition and metrics pruning, bytes planned, planning time,
        row groups read and skipped and bytes read (from the Parquet footers).
        Raises: QueryError (also for a governance statement: it reads no table),
        EqualityDeletesUnsupported."""
        from icehouse.govern.statements import parse_statement
        from icehouse.lake.audit import audited_query

        parse_statement(text, explain=True)  # refuses GRANT..., passes anything else
        return audited_query(self, text, lambda: self._run(text, prune=prune, explain=True))

    def _run(self, text: str, *, prune: bool, explain: bool) -> QueryResult:
        """An administrator's statement runs on the lake's own connection; a governed
        principal's on a sandbox that holds only what its grants show
        (``query/governed.py``). The mounted tables it names are asked of their
        producers first, to travel while the rest is prepared."""
        from icehouse.lake.catalogs import MountedCatalogs

        mounted = MountedCatalogs(self)
        mounted.prefetch(text)
        if self.principal.admin:
            from icehouse.lake.links import link_targets
            from icehouse.query.sql import run_sql

            return run_sql(
                self._catalog,
                text,
                prune=prune,
                explain=explain,
                session=self._queries,
                system=self._system_tables(),
                mounted=mounted,
                links=functools.partial(link_targets, self),
            )
        from icehouse.lake.audit import record_read, record_refusal
        from icehouse.lake.links import link_targets
        from icehouse.query.governed import run_governed_sql

        return run_governed_sql(
            self._catalog,
            text,
            self._readable_access,
            session=self._queries,
            delete=self.delete,
            prune=prune,
            explain=explain,
            on_read=functools.partial(record_read, self.principal),
            on_refused=functools.partial(record_refusal, self.principal),
            mounted=mounted,
            links=functools.partial(link_targets, self),
        )

    def _readable_access(self, name: str, *, as_definer: str | None = None) -> TableAccess:
        """``table_access`` for the query engine, which asks it of every table and view it
        considers (those a statement names, and those an error's hint could suggest): a
        table the principal may not describe is one it cannot read, told apart from a
        missing one by nothing, so that neither a refusal nor a hint names it.

        ``as_definer`` is the view on whose behalf ``name`` is read: the engine knows the
        view, the policy wants the principal whose rights it runs with, its owner (an
        administrator for a view made before owners were kept)."""
        from icehouse.errors import Forbidden, NotFound
        from icehouse.govern.access import TableAccess

        try:
            definer = None if as_definer is None else self._view_definer(as_definer)
            return self.table_access(name, as_definer=definer)
        except (Forbidden, NotFound):
            return TableAccess("", ())

    def _view_definer(self, view: str) -> str:
        """The principal view ``view`` runs as. Raises: NoSuchView."""
        from icehouse.govern.store import view_owner
        from icehouse.tables.identity import view_identity

        *namespace, last = view.split(".")
        uuid = view_identity(self._catalog, tuple(namespace), last).uuid
        return view_owner(self._engine, uuid) or OWNER.name

    @governed("table.access", on="name")
    def table_access(self, name: str, *, as_definer: str | None = None) -> TableAccess:
        """What this lake's principal may SELECT of table or view ``name``, cell set by
        cell set (``govern/access.py``): what the query engine filters and masks the
        table with (of a view, only whether it may be read: its rows are its definer's).

        Args: ``name``, ``namespace.table`` or ``namespace.view``; ``as_definer``, a
        view's owner: the access that principal holds with grant option (a view runs
        with its definer's rights, limited to what the definer could grant).
        Returns: the access (``denied`` when none; ``unrestricted`` for an administrator
        or the owner).
        Raises: Forbidden (the principal, or the definer, may not describe the table or
        view, or there is none: "not found or not permitted"), NoSuchTable (an
        administrator asking)."""
        from icehouse.govern.access import CellSet, TableAccess
        from icehouse.govern.authz import Resource, authorize
        from icehouse.govern.objects import SecurableKind
        from icehouse.govern.records import ObjectPath
        from icehouse.lake.authz_scope import LakeScope, mounted_path
        from icehouse.lake.catalogs import mounted_identity
        from icehouse.tables.catalog import split_name
        from icehouse.tables.identity import table_identity

        reader = self.principal
        if as_definer is not None:
            reader = Principal(as_definer, admin=self._is_admin(as_definer))
        scope = LakeScope(self)
        mounted = mounted_identity(self, name)
        if mounted is not None:  # a producer's table, keyed by its mount and UUID
            scope.found[name] = mounted
            authorize(reader, "table.describe", Resource("table", name), scope)
            if reader.admin:
                return TableAccess(mounted.uuid, (CellSet(None, None, f"table {name}"),))
            return scope.policy().table_access(
                reader.name,
                mounted_path(mounted),
                mounted.all_field_ids,
                as_definer=as_definer is not None,
            )
        namespace, table = split_name(name)
        located = self._uuids.named(self._catalog, (namespace,), table)
        is_view = located is not None and located.view
        kind = SecurableKind.VIEW if is_view else SecurableKind.TABLE
        if located is not None:
            scope.found[name] = located  # the decision need not look it up again
        authorize(reader, f"{kind.value}.describe", Resource(kind.value, name), scope)
        found = located or table_identity(self._catalog, (namespace,), table)
        if reader.admin:
            return TableAccess(found.uuid, (CellSet(None, None, f"{kind.value} {name}"),))
        path = ObjectPath((namespace,), found.uuid, name, kind)
        return scope.policy().table_access(
            reader.name, path, found.all_field_ids, as_definer=as_definer is not None
        )

    def _is_admin(self, name: str) -> bool:
        """Whether ``name`` (a view's owner) is an administrator, now."""
        if name == OWNER.name:
            return True
        from icehouse.govern.principals import is_admin

        return is_admin(self._engine, name)

    def _system_tables(self) -> dict[str, Callable[[], pa.Table]]:
        """What SQL can read besides the tables: the state database's records, read
        only when a query names them."""
        from icehouse.lake.catalog_requests import METRICS_TABLE

        return {METRICS_TABLE: self.metrics.as_arrow}

    @governed("table.delete_rows", on="table")
    def delete(self, table: str, where: str) -> int:
        """Delete the rows matching ``where`` (e.g. one tenant's data) in one snapshot,
        keeping the ingestion bookkeeping.

        Args: ``table``, ``namespace.table``; ``where``, the filter as SQL (``column <op>
        constant``, ``IN``, ``IS [NOT] NULL``, joined by ``AND``, ``OR``, ``NOT``), read by
        the filter translator, never pasted into SQL.
        Returns: how many rows were deleted.
        Raises: NoSuchTable, FilterNotTranslatable (a term with no exact Iceberg filter,
        named in ``term``), CommitConflict (other commits kept winning the race).
        A commit that lands first (an ingestion) makes the delete start over on the new
        table."""
        from icehouse.tables.catalog import load_table
        from icehouse.tables.deletes import delete_rows
        from icehouse.tables.filters import where_expression

        load = functools.partial(load_table, self._catalog, table)
        return delete_rows(load, where_expression(where, table, load().schema()))


__all__ = ["GROUPS", "InitResult", "Lake", "faults_from_env"]
