"""``lake.catalogs``: producer catalogs mounted into this lake (federation).

A mount makes a producer's namespaces and tables appear as ``NAME.ns.t`` without
copying data or metadata: the producer keeps its catalog and its storage, and this lake
reads them with the credential it keeps (sealed in the state database with the home's
key file, ``state/secrets.py``), which no consumer ever receives. Mount names and
top-level namespaces share one name space, so neither can shadow the other.

Only administrators mount and unmount; the producer is asked for its namespaces when it
is mounted, so a mount that could not be read is refused then, naming it and its URL.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TYPE_CHECKING, NoReturn, TypeVar

from icehouse.errors import InvalidInput, MountNameTaken, MountReadOnly
from icehouse.govern import mounts
from icehouse.govern.mounts import MOUNT_TYPES, MountInfo, MountType
from icehouse.govern.objects import SecurableKind
from icehouse.govern.records import ObjectPath
from icehouse.lake.governed import governed

if TYPE_CHECKING:
    from pyiceberg.table import Table

    from icehouse.lake import Lake
    from icehouse.tables.catalog_tables import TableState
    from icehouse.tables.federation import Producer, ProducerCatalog
    from icehouse.tables.identity import Identity
    from icehouse.tables.manage import TableInfo
    from icehouse.tables.producer_cache import KeptLoad

__all__ = ["LakeCatalogs", "MountInfo"]


class LakeCatalogs:
    """``lake.catalogs``: mount, list and unmount producer catalogs."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake

    @governed("catalog.mount", on="name")
    def mount(
        self,
        name: str,
        *,
        type: MountType,
        uri: str,
        credential: str | None = None,
        warehouse: str | None = None,
    ) -> MountInfo:
        """Mount a producer catalog as ``name``, after checking that it answers.

        Args: ``name``, what its namespaces appear under (``name.ns.t``); ``type``,
        ``rest`` (an Iceberg REST catalog: another icehouse server or any other) or
        ``sql`` (a PyIceberg SQL catalog in SQLite or PostgreSQL); ``uri``, the REST
        catalog's URL or the SQL database's URL; ``credential``, a REST catalog's
        ``CLIENT_ID:SECRET`` (a SQL URL carries its own password); ``warehouse``, the
        REST catalog's warehouse, or the catalog's name inside a SQL database that holds
        several.
        Returns: the mount as listed (never its credential).
        Raises: MountNameTaken (a mount or a top-level namespace has the name),
        InvalidInput (an unknown type, a name with a dot, a credential for a SQL
        catalog, a SQL database with no catalog), CatalogUnavailable (the producer does
        not answer), InvalidCredential (it refuses the credential)."""
        from icehouse.resilience import safe_url
        from icehouse.state.secrets import SecretBox
        from icehouse.tables.federation import Producer, close_producer, open_producer
        from icehouse.tables.namespaces import namespace_exists

        lake = self._lake
        _check_name(name)
        if type not in MOUNT_TYPES:
            raise InvalidInput(f"a mount's type is one of {', '.join(MOUNT_TYPES)}, not {type!r}")
        if type == "sql" and credential is not None:
            raise InvalidInput("a SQL catalog's URL carries its password: give no credential")
        if namespace_exists(lake._catalog, (name,)):
            raise MountNameTaken(
                f"namespace {name!r} exists in this catalog: mounts and top-level "
                "namespaces share names, so mount the catalog under another name",
                name=name,
            )
        shown = safe_url(uri) if type == "sql" else uri
        secret = credential if type == "rest" else (uri if shown != uri else None)
        producer = Producer(name, type, uri, shown, credential, warehouse)
        catalog = open_producer(producer, clock=lake._clock)
        sealed = None if secret is None else SecretBox(lake.home).seal(secret)
        try:
            info = mounts.create_mount(
                lake._engine,
                name=name,
                type=type,
                uri=shown,
                warehouse=warehouse,
                sealed_secret=sealed,
            )
        except BaseException:
            close_producer(catalog)
            raise
        lake._mounted[(name, info.created_at)] = catalog
        return info

    @governed("catalog.list")
    def list(self) -> list[MountInfo]:
        """Returns: the mounts by name, without their credentials: to a principal that is
        not an administrator, those it holds something in (a grant on the mount, or on
        one of its namespaces or tables)."""
        found = mounts.list_mounts(self._lake._engine)
        return [m for m in found if self._describes((m.name,))]

    @governed("catalog.list", on="name")
    def tables(self, name: str) -> builtins.list[str]:
        """The tables of the catalog mounted as ``name``, read from its producer: to a
        principal that is not an administrator, those it may describe (none when it
        holds nothing in the mount, whose producer is then not asked).

        Args: ``name``. Returns: their names as SQL reads them, ``name.namespace.table``,
        sorted. Raises: NoSuchMount, CatalogUnavailable (the producer does not answer)."""
        from icehouse.lake.authz_scope import visible
        from icehouse.tables.federation import producer_tables

        if not self._describes((name,)):
            return []
        found = producer_tables(*self._opened(name))
        return visible(self._lake, SecurableKind.TABLE, found)

    @governed("table.describe", on="table")
    def describe(self, table: str) -> TableInfo:
        """A mounted table as its producer has it now, described as ``lake.tables.get``
        describes a local one; to a principal that reads it through grants, only the
        columns they show (as ``DESCRIBE`` in its SQL), so that neither the schema nor
        the layout names a column it may not see.

        Args: ``table``, ``mount.namespace.table``. Returns: its schema, layout, rows,
        files and snapshots. Raises: NoSuchMount, NoSuchTable, CatalogUnavailable,
        Forbidden (not found or not permitted)."""
        from icehouse.lake.mounted_describe import shown_to
        from icehouse.tables.manage import describe_table

        if len(table.split(".")) != 3:
            raise InvalidInput(f"a mounted table is named mount.namespace.table, not {table!r}")
        opened = self._opened(table.split(".")[0])
        loaded = fetched(self._lake, opened, table).table
        info = describe_table(table, loaded)
        if self._lake.principal.admin:
            return info
        return shown_to(info, self._lake.table_access(table), loaded.schema())

    @governed("catalog.list", on="name")
    def get(self, name: str) -> MountInfo:
        """The mount ``name``, as listed (what ``GET /v1/config?warehouse=NAME`` checks
        before handing out the prefix).

        Args: ``name``. Returns: the mount. Raises: NoSuchMount (also to a principal
        that may not describe it: "not found or not permitted")."""
        found = self.list()
        for info in found:
            if info.name == name:
                return info
        raise mounts.no_such_mount(name)

    @governed("catalog.list", on="name")
    def namespaces(self, name: str) -> builtins.list[tuple[str, ...]]:
        """The top-level namespaces of the catalog mounted as ``name``, read from its
        producer; none for a principal that may not describe the mount.

        Args: ``name``. Returns: the namespaces, sorted.
        Raises: NoSuchMount, CatalogUnavailable."""
        from icehouse.tables.federation import producer_namespaces

        if not self._describes((name,)):
            return []
        found = producer_namespaces(*self._opened(name))
        return [n for n in found if self._describes((name, *n))]

    @governed("catalog.list", on=("name", "namespace"))
    def namespace_tables(self, name: str, namespace: tuple[str, ...]) -> builtins.list[str]:
        """The tables in ``namespace`` of the catalog mounted as ``name``; none for a
        principal that may not describe the mount.

        Args: ``name``; ``namespace``. Returns: the table names, sorted.
        Raises: NoSuchMount, NoSuchNamespace, CatalogUnavailable."""
        from icehouse.lake.authz_scope import visible
        from icehouse.tables.federation import producer_namespace_tables

        if not self._describes((name, *namespace)):
            return []
        catalog, producer = self._opened(name)
        found = producer_namespace_tables(catalog, producer, namespace)
        prefix = ".".join((name, *namespace))
        shown = set(visible(self._lake, SecurableKind.TABLE, [f"{prefix}.{t}" for t in found]))
        return [t for t in found if f"{prefix}.{t}" in shown]

    @governed("table.load", on=("name", "namespace", "table"))
    def load(self, name: str, namespace: tuple[str, ...], table: str) -> TableState:
        """A mounted table as the REST protocol hands it out (``loadTable`` on the
        mount's prefix): the producer's metadata location and metadata, unchanged, so
        only to a principal whose SELECT on it is unfiltered (the metadata names every
        file), or to a trusted engine whose access is one row filter and a set of
        columns, with those as the spec's read restrictions, as a local table's load
        hands them out.

        Args: ``name``, the mount; ``namespace``; ``table``. Returns: the table's state
        (with its read restrictions, for a trusted engine).
        Raises: NoSuchMount, NoSuchTable, CatalogUnavailable, Forbidden (filtered
        access to anyone but a trusted engine, pointing to the query API; per-cell
        access; no SELECT)."""
        from dataclasses import replace

        from icehouse.lake.rest_access import read_restrictions
        from icehouse.tables.federation import state_of_load

        dotted = ".".join((name, *namespace, table))
        state = state_of_load(fetched(self._lake, self._opened(name), dotted))
        restrictions = read_restrictions(
            self._lake, (name, *namespace), table, state.metadata, action="table.load"
        )
        return state if not restrictions else replace(state, read_restrictions=restrictions)

    @governed("catalog.commit", on=("name", "namespace", "table"))
    def commit(self, name: str, namespace: tuple[str, ...], table: str) -> NoReturn:
        """A commit to a mounted table, always refused: the central server serves a
        mount read-only, and the producer decides who changes its tables.

        Args: ``name``, the mount; ``namespace``; ``table``.
        Raises: MountReadOnly (for an administrator; anyone else is Forbidden)."""
        raise MountReadOnly(
            f"catalog {name} is mounted read-only here: commit to "
            f"{'.'.join((*namespace, table))} through its producer's catalog",
            mount=name,
        )

    @governed("catalog.unmount", on="name")
    def unmount(self, name: str) -> None:
        """Forget a mount: its tables are no longer read through this lake; the
        producer's catalog and files are left as they are.

        Args: ``name``. Raises: NoSuchMount."""
        from icehouse.tables.federation import close_producer

        mounts.drop_mount(self._lake._engine, name)
        for key in [k for k in self._lake._mounted if k[0] == name]:
            close_producer(self._lake._mounted.pop(key))

    def _describes(self, namespace: tuple[str, ...]) -> bool:
        """May the lake's principal see the mount (``(mount,)``) or the mounted
        namespace ``namespace``: does it hold something on it or inside it?"""
        from icehouse.lake.authz_scope import LakeScope

        lake = self._lake
        if lake.principal.admin:
            return True
        scope = LakeScope(lake)
        path = ObjectPath(
            namespace, name=".".join(namespace), kind=SecurableKind.NAMESPACE, catalog=namespace[0]
        )
        return scope.policy().may_describe(lake.principal.name, path, scope.namespace_of)

    def _opened(self, name: str) -> tuple[ProducerCatalog, Producer]:
        """Raises: NoSuchMount, CatalogUnavailable."""
        opened = producer_catalog(self._lake, name)
        if opened is None:
            raise mounts.no_such_mount(name)
        return opened


def producer_catalog(lake: Lake, name: str) -> tuple[ProducerCatalog, Producer] | None:
    """The producer catalog mounted as ``name``, opened once per lake with the secret
    unsealed; None when nothing is mounted as ``name``.

    Raises: CatalogUnavailable (the producer does not answer), SealedSecretUnreadable."""
    from icehouse.lake.governed import call_memo

    memo = call_memo()
    if memo is None:
        return _producer_catalog(lake, name)
    key = ("mount", name)  # looked up once per governed call, as its tables are
    if key not in memo:
        memo[key] = _producer_catalog(lake, name)
    opened: tuple[ProducerCatalog, Producer] | None = memo[key]
    return opened


def _producer_catalog(lake: Lake, name: str) -> tuple[ProducerCatalog, Producer] | None:
    """The mount's row is read once per policy version (``MountCache``), at the version
    the running governed call decides at, which its check reads anyway for a governed
    principal: a load then reads the state database for its token and that version
    only. Outside a governed call, the row is read."""
    from icehouse.lake.governed import current_scope
    from icehouse.state.secrets import SecretBox
    from icehouse.tables.federation import Producer, open_producer

    checked = current_scope()
    if checked is not None and checked.serves(lake):
        info = lake._mount_rows.find(lake._engine, name, version=checked.version())
    else:
        info = mounts.find_mount(lake._engine, name)
    if info is None:
        return None
    key = (name, info.created_at)  # a mount made again under the name is opened anew
    catalog = lake._mounted.get(key)
    if catalog is not None:  # its secret was unsealed when it was opened
        return catalog, catalog.producer
    sealed = mounts.sealed_secret(lake._engine, name) if info.has_credential else None
    secret = None if sealed is None else SecretBox(lake.home).open(sealed)
    url = secret if info.type == "sql" and secret is not None else info.uri
    credential = secret if info.type == "rest" else None
    producer = Producer(name, info.type, url, info.uri, credential, info.warehouse)
    catalog = lake._mounted[key] = open_producer(producer, clock=lake._clock)
    return catalog, producer


class MountedCatalogs:
    """The mounts as the query engine asks for them (``query.mounted.MountedTables``):
    their names, read per query, and their tables loaded from the producers."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake

    def names(self) -> list[str]:
        """The mounts' names, asked once per governed call, and read once per policy
        version (``MountCache``) at the version the call decides at."""
        from icehouse.lake.governed import call_memo, current_scope

        memo = call_memo()
        if memo is not None and MOUNT_NAMES in memo:
            kept: list[str] = memo[MOUNT_NAMES]
            return kept
        lake, checked = self._lake, current_scope()
        if checked is not None and checked.serves(lake):
            named = lake._mount_rows.names(lake._engine, version=checked.version())
        else:
            named = [m.name for m in mounts.list_mounts(lake._engine)]
        if memo is not None:
            memo[MOUNT_NAMES] = named
        return named

    def prefetch(self, sql: str) -> None:
        """For an administrator's statement, send the producer requests for the first
        few mounted tables ``sql`` names now, each on a thread of its own, so that they
        travel while the statement is prepared; its loads (``fetched``) then wait only
        for what is left of them. Each request still leaves after the statement began,
        so it is answered with nothing older than a load made later would be
        (``tables/coalesced.py``).

        Only the tables the statement would load anyway are asked for: an
        administrator's statement loads every mounted table it names, while a governed
        principal's asks a producer only for what it may describe (and its first load
        comes too soon for a request sent here to gain anything). Only producers this
        lake has opened already are asked, so opening one (and failing to) stays the
        statement's own work. Outside a governed call, where no answer could be kept
        for the loads, nothing is sent."""
        from icehouse.errors import IcehouseError
        from icehouse.lake.governed import call_memo
        from icehouse.query.mounted import mounted_names
        from icehouse.tables.federation import fetch_producer_table

        memo = call_memo()
        if memo is None or not self._lake.principal.admin:
            return
        opened_already = {mount for mount, _ in list(self._lake._mounted)}
        for name in mounted_names(sql)[:PREFETCHED_TABLES]:
            mount = name.split(".", 1)[0]
            if mount not in opened_already or mount not in self.names():
                continue
            try:
                opened = producer_catalog(self._lake, mount)
            except IcehouseError:
                continue
            if opened is not None and _fetched_key(opened, name) not in memo:
                memo[_fetched_key(opened, name)] = _in_background(
                    fetch_producer_table, opened[0], opened[1], name
                )

    def tables(self, mount: str) -> list[str]:
        """The tables of ``mount``, when the lake's principal holds something in it.

        Raises: CatalogUnavailable."""
        from icehouse.tables.federation import producer_tables

        opened = producer_catalog(self._lake, mount)
        if opened is None or not LakeCatalogs(self._lake)._describes((mount,)):
            return []
        return producer_tables(*opened)

    def load(self, name: str) -> Table:
        """Raises: NoSuchTable, CatalogUnavailable (naming the mount and its URL)."""
        from icehouse.errors import NoSuchTable

        opened = producer_catalog(self._lake, name.split(".", 1)[0])
        if opened is None:
            raise NoSuchTable(f"no table {name}: its catalog is not mounted", table=name)
        return fetched(self._lake, opened, name).table


def fetched(lake: Lake, opened: tuple[ProducerCatalog, Producer], name: str) -> KeptLoad:
    """The mounted table ``name`` as its producer answers now, asked once per governed
    call (``governed.call_memo``): the call's check, its access decision and its answer
    are made of one version of the table, for one request to the producer (a request
    ``prefetch`` sent that failed is not kept: the load asks again, and fails or not on
    its own).

    Raises: NoSuchTable, CatalogUnavailable."""
    from icehouse.lake.governed import call_memo
    from icehouse.tables.federation import fetch_producer_table

    memo = call_memo()
    key = _fetched_key(opened, name)
    held: KeptLoad | Future[KeptLoad] | None = None if memo is None else memo.pop(key, None)
    kept = held if not isinstance(held, Future) else None
    if isinstance(held, Future) and not held.cancel():  # sent by ``prefetch``, not queued
        kept = held.result()  # a failure is not kept: a later load asks afresh
    if kept is None:
        kept = fetch_producer_table(*opened, name)
    if memo is not None:
        memo[key] = kept
    return kept


def _fetched_key(opened: tuple[ProducerCatalog, Producer], name: str) -> tuple[str, int, str]:
    return ("mounted table", id(opened[0]), name)


MOUNT_NAMES = ("mount names",)
"""The call memo's key for the mounts' names."""

PREFETCHED_TABLES = 4
"""At most this many mounted tables of one statement are asked for ahead of it."""

T = TypeVar("T")


def _in_background(work: Callable[..., T], *args: object) -> Future[T]:
    """``work(*args)`` on a daemon thread of its own: a producer that hangs never keeps
    the process from exiting (a pool's threads are joined at exit), and nothing waits
    for a free thread. A future cancelled before the thread starts runs nothing."""
    done: Future[T] = Future()

    def run() -> None:
        if not done.set_running_or_notify_cancel():
            return
        try:
            done.set_result(work(*args))
        except BaseException as exc:  # handed to the load that waits for it
            done.set_exception(exc)

    threading.Thread(target=run, name="icehouse-mount-prefetch", daemon=True).start()
    return done


def mounted_identity(lake: Lake, name: str) -> Identity | None:
    """The mounted table ``name`` (``mount.namespace.table``) as governance keys it (by
    the mount and the producer's table UUID); None when ``name`` is not in a mount.

    Raises: NoSuchTable, CatalogUnavailable."""
    from icehouse.govern.records import mounted_key
    from icehouse.tables.identity import identity_of

    parts = name.split(".")
    if len(parts) != 3:
        return None
    opened = producer_catalog(lake, parts[0])
    if opened is None:
        return None
    kept = fetched(lake, opened, name)
    if kept.identity is None:  # made once per answer of the producer
        key = mounted_key(parts[0], str(kept.table.metadata.table_uuid))
        kept.identity = identity_of(kept.table, (parts[0], parts[1]), parts[2], key)
    return kept.identity


def locate_mounted(lake: Lake, key: str) -> Identity | None:
    """The mounted table whose key is ``key``; None when the mount or the table is gone.

    A UUID is not an index at a producer, so its tables are listed and each loaded; the
    listing is kept (``producer_cache.UuidIndex``): a name found there is checked by
    loading that table, and that a key is nowhere is believed for ``UUID_TTL`` seconds
    after the listing, so a table dropped, re-created or renamed at the producer is
    never placed where it was.

    Raises: CatalogUnavailable (the producer does not answer)."""
    from icehouse.govern.records import mount_of

    mount = mount_of(key)
    opened = None if mount is None else producer_catalog(lake, mount)
    if opened is None:
        return None
    name, believed = opened[0].uuids.name_of(key)
    if name is not None:
        found = _identity_if_any(lake, name)
        if found is not None and found.uuid == key:
            return found
    elif believed:
        return None
    return _list_keys(lake, *opened).get(key)


def _list_keys(lake: Lake, catalog: ProducerCatalog, producer: Producer) -> dict[str, Identity]:
    """Every table of the producer by its key, kept in its ``UuidIndex``.

    Raises: CatalogUnavailable."""
    from icehouse.tables.federation import producer_tables

    found: dict[str, Identity] = {}
    for name in producer_tables(catalog, producer):
        identity = _identity_if_any(lake, name)
        if identity is not None:
            found[identity.uuid] = identity
    catalog.uuids.listed({key: identity.dotted for key, identity in found.items()})
    return found


def _identity_if_any(lake: Lake, name: str) -> Identity | None:
    """``mounted_identity``, None for a table the producer no longer has.

    Raises: CatalogUnavailable."""
    from icehouse.errors import NotFound

    try:
        return mounted_identity(lake, name)
    except NotFound:
        return None  # dropped since it was listed


def refuse_mount_name(lake: Lake, namespace: tuple[str, ...]) -> None:
    """Raises: MountNameTaken, when ``namespace`` would be a top-level namespace named
    like a mount (mounts and top-level namespaces share names)."""
    if namespace and mounts.find_mount(lake._engine, namespace[0]) is not None:
        raise MountNameTaken(
            f"a catalog is mounted as {namespace[0]!r}: mounts and top-level namespaces "
            "share names, so name the namespace otherwise",
            name=namespace[0],
        )


RESERVED = frozenset(
    {"main", "memory", "system", "temp", "icehouse_system", "icehouse", "mounted", "oauth"}
)
"""Names SQL already gives a meaning to (DuckDB's own catalogs, icehouse's records),
and the REST catalog to a prefix (the lake's own, a mount's routes, tokens)."""


def _check_name(name: str) -> None:
    if name.lower() in RESERVED:
        raise InvalidInput(f"{name!r} already means something in SQL: mount it as another name")
    if not name.isidentifier():
        raise InvalidInput(
            f"a mount's name is one word of letters, digits and underscores (the first "
            f"part of name.ns.table in SQL), not {name!r}"
        )
