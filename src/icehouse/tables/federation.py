"""Producer catalogs mounted into this one: opened with PyIceberg, read directly.

A mount is another Iceberg REST catalog (an icehouse server or any other) or a SQL
catalog (PyIceberg's ``SqlCatalog`` tables in SQLite or PostgreSQL, an icehouse home's
state database among them). The central server opens it with the credential it keeps,
and reads the producer's metadata and data files itself: a consumer never meets the
producer, nor its credential.

Every call to a producer goes through ``producer_errors``, so that a producer that does
not answer fails with an error naming the mount and its URL, and only what reads it.
A REST producer's tables are loaded with ``If-None-Match`` over pooled connections
(``producer_cache.py``): every load asks the producer (concurrent loads of a table share
one request, ``coalesced.py``), and an unchanged table costs little on either side.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from pyiceberg.catalog import Catalog
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import (
    ForbiddenError,
    NoSuchNamespaceError,
    NoSuchTableError,
    OAuthError,
    RESTError,
    ServerError,
    ServiceUnavailableError,
    UnauthorizedError,
)
from pyiceberg.table import Table
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from icehouse.errors import (
    CatalogUnavailable,
    InvalidCredential,
    InvalidInput,
    NoSuchNamespace,
    NoSuchTable,
)
from icehouse.state.clock import SYSTEM_CLOCK, Clock
from icehouse.tables._compat import load_rest_table, tune_rest_session
from icehouse.tables.catalog_tables import TableState, state_of
from icehouse.tables.coalesced import Coalesced
from icehouse.tables.producer_cache import KeptLoad, KeptLoads, UuidIndex

CONNECTIONS = 64
"""Open connections kept to a REST producer: one per concurrent request up to this."""


class ProducerCatalog:
    """A producer's catalog as PyIceberg opened it, with what the central lake keeps of
    it between requests (``producer_cache.py``): held by the lake, used here only."""

    def __init__(self, catalog: Catalog, producer: Producer, clock: Clock) -> None:
        self.catalog = catalog
        self.producer = producer
        self.loads = KeptLoads()
        self.revalidations: Coalesced[KeptLoad] = Coalesced()
        self.uuids = UuidIndex(clock)


@dataclass(frozen=True)
class Producer:
    """Where a mounted catalog is and how to connect to it.

    ``url`` is what the server connects to (a SQL URL with its password); ``shown`` is
    the URL fit to print (the password masked); ``credential`` is a REST catalog's
    ``CLIENT_ID:SECRET``; ``warehouse`` is the REST catalog's warehouse, or the catalog
    name inside a SQL database that holds several."""

    mount: str
    type: str
    url: str
    shown: str
    credential: str | None = None
    warehouse: str | None = None

    @property
    def where(self) -> str:
        return f"{self.mount} at {self.shown}"


@contextmanager
def producer_errors(producer: Producer) -> Iterator[None]:
    """Translate what a producer's client raises into icehouse's errors, naming it.

    Raises: CatalogUnavailable (it does not answer, or answers with a server error),
    InvalidCredential (it refuses the credential), InvalidInput (it refuses the
    request otherwise)."""
    try:
        yield
    except (
        requests.ConnectionError,
        requests.Timeout,
        SQLAlchemyError,
        ServerError,
        ServiceUnavailableError,
    ) as exc:
        raise CatalogUnavailable(producer.where, detail=_first_line(exc)) from exc
    except (UnauthorizedError, ForbiddenError, OAuthError) as exc:
        raise InvalidCredential(
            f"the producer refused the credential ({_first_line(exc)}); mount it again "
            "with a credential it accepts",
            where=f"catalog {producer.where}",
        ) from exc
    except RESTError as exc:
        raise InvalidInput(f"catalog {producer.where} refused: {_first_line(exc)}") from exc


def open_producer(producer: Producer, *, clock: Clock = SYSTEM_CLOCK) -> ProducerCatalog:
    """Open the producer's catalog and ask it for its namespaces, so that a mount that
    could not be read is refused when it is made, not on its first query. ``clock``
    dates what is kept of it (``producer_cache.UuidIndex``).

    Raises: what ``producer_errors`` raises; InvalidInput (a SQL database that holds no
    Iceberg catalog, or several when no ``warehouse`` names one)."""
    with producer_errors(producer):
        catalog = _rest(producer) if producer.type == "rest" else _sql(producer)
        catalog.list_namespaces()
    return ProducerCatalog(catalog, producer, clock)


def _rest(producer: Producer) -> Catalog:
    properties = {"uri": producer.url}
    if producer.credential is not None:
        properties["credential"] = producer.credential
        properties["oauth2-server-uri"] = f"{producer.url.rstrip('/')}/v1/oauth/tokens"
    if producer.warehouse is not None:
        properties["warehouse"] = producer.warehouse
    catalog = RestCatalog(producer.mount, **properties)
    tune_rest_session(catalog, CONNECTIONS)
    return catalog


def _sql(producer: Producer) -> Catalog:
    """A SQL catalog, opened without creating its tables: the mount only reads it."""
    if producer.url.startswith("sqlite:///"):
        path = Path(producer.url.removeprefix("sqlite:///"))
        if not path.is_file():
            raise CatalogUnavailable(producer.where, detail=f"no database file {path}")
    name = producer.warehouse or _only_catalog_name(producer)
    return SqlCatalog(name, uri=producer.url, init_catalog_tables="false")


def _only_catalog_name(producer: Producer) -> str:
    """The one catalog a SQL database holds (PyIceberg keys its rows by catalog name)."""
    engine = create_engine(producer.url)
    try:
        with engine.connect() as conn:
            names = sorted(
                conn.execute(
                    text(
                        "SELECT catalog_name FROM iceberg_tables UNION "
                        "SELECT catalog_name FROM iceberg_namespace_properties"
                    )
                ).scalars()
            )
    except SQLAlchemyError as exc:
        if "iceberg_tables" in str(exc):
            raise InvalidInput(
                f"catalog {producer.where} holds no Iceberg SQL catalog (no iceberg_tables)"
            ) from None
        raise
    finally:
        engine.dispose()
    if len(names) != 1:
        raise InvalidInput(
            f"catalog {producer.where} holds {len(names)} catalogs "
            f"({', '.join(names) or 'none'}): name one with --warehouse"
        )
    return str(names[0])


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]


def load_producer_table(catalog: ProducerCatalog, producer: Producer, name: str) -> Table:
    """The table ``name`` (``mount.namespace.table``) as the producer has it now.

    Raises: NoSuchTable (the producer has no such table), and what ``producer_errors``
    raises."""
    return fetch_producer_table(catalog, producer, name).table


def fetch_producer_table(catalog: ProducerCatalog, producer: Producer, name: str) -> KeptLoad:
    """The table ``name`` (``mount.namespace.table``) as the producer answers now: a REST
    producer is asked whether the table changed since its last answer, which is reused
    when it did not, and concurrent loads of the table share one such request that left
    after each of them began (``coalesced.py``).

    Raises: NoSuchTable, and what ``producer_errors`` raises."""
    _, namespace, table = name.split(".")
    identifier = (namespace, table)
    if not isinstance(catalog.catalog, RestCatalog):
        with _table_errors(catalog, producer, name):
            return KeptLoad("", catalog.catalog.load_table(identifier))
    return catalog.revalidations.ask(
        identifier, lambda: _revalidated(catalog, producer, name, identifier)
    )


def _revalidated(
    catalog: ProducerCatalog, producer: Producer, name: str, identifier: tuple[str, str]
) -> KeptLoad:
    """The REST producer's answer for ``identifier`` now: the kept one if it answers that
    the table is unchanged.

    Raises: NoSuchTable, and what ``producer_errors`` raises."""
    assert isinstance(catalog.catalog, RestCatalog)  # only REST answers carry ETags
    kept = catalog.loads.get(identifier)
    with _table_errors(catalog, producer, name):
        loaded, etag = load_rest_table(
            catalog.catalog, identifier, None if kept is None else kept.etag
        )
    if loaded is None and kept is not None:
        return kept
    assert loaded is not None  # a 304 answers only a load that sent an ETag
    fresh = KeptLoad(etag or "", loaded)
    if etag is not None:
        catalog.loads.put(identifier, fresh)
    return fresh


@contextmanager
def _table_errors(catalog: ProducerCatalog, producer: Producer, name: str) -> Iterator[None]:
    """``producer_errors``, and a table the producer does not have as NoSuchTable (its
    kept answer forgotten)."""
    with producer_errors(producer):
        try:
            yield
        except (NoSuchTableError, NoSuchNamespaceError):
            _, namespace, table = name.split(".")
            catalog.loads.forget((namespace, table))
            raise NoSuchTable(
                f"catalog {producer.mount} has no table {namespace}.{table}", table=name
            ) from None


def close_producer(catalog: ProducerCatalog) -> None:
    """Release what an opened producer catalog holds (a SQL catalog's pooled
    connections: a PostgreSQL producer would otherwise keep them open; a REST
    catalog's HTTP connections)."""
    opened = catalog.catalog
    if isinstance(opened, SqlCatalog):
        opened.engine.dispose()
    elif isinstance(opened, RestCatalog):
        opened.close()


def producer_tables(catalog: ProducerCatalog, producer: Producer) -> list[str]:
    """The producer's tables in its top-level namespaces, as ``mount.namespace.table``
    (the names SQL reads them by), sorted.

    Raises: what ``producer_errors`` raises."""
    return sorted(
        ".".join((producer.mount, *namespace, table))
        for namespace in producer_namespaces(catalog, producer)
        for table in producer_namespace_tables(catalog, producer, namespace)
    )


def producer_namespaces(catalog: ProducerCatalog, producer: Producer) -> list[tuple[str, ...]]:
    """The producer's top-level namespaces, sorted. Raises: what ``producer_errors``
    raises."""
    with producer_errors(producer):
        return sorted(tuple(n) for n in catalog.catalog.list_namespaces())


def producer_namespace_tables(
    catalog: ProducerCatalog, producer: Producer, namespace: tuple[str, ...]
) -> list[str]:
    """The names of the tables in the producer's ``namespace``, sorted.

    Raises: NoSuchNamespace, and what ``producer_errors`` raises."""
    with producer_errors(producer):
        try:
            return sorted(identifier[-1] for identifier in catalog.catalog.list_tables(namespace))
        except NoSuchNamespaceError:
            shown = ".".join(namespace)
            raise NoSuchNamespace(
                f"catalog {producer.mount} has no namespace {shown}", namespace=shown
            ) from None


def producer_table_state(catalog: ProducerCatalog, producer: Producer, name: str) -> TableState:
    """The table ``name`` (``mount.namespace.table``) as the REST protocol hands it out:
    the producer's metadata location and metadata, unchanged.

    Raises: NoSuchTable, and what ``producer_errors`` raises."""
    return state_of_load(fetch_producer_table(catalog, producer, name))


def state_of_load(kept: KeptLoad) -> TableState:
    """A producer's answer as the REST protocol hands it out: its metadata location and
    metadata, unchanged; made once per answer the producer gives."""
    if kept.state is None:
        kept.state = state_of(kept.table.metadata_location, kept.table.metadata, "all")
    return kept.state
