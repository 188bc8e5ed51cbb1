"""The Spark session a rewrite runs on, and the catalog through which it reaches the lake.

Spark reaches the tables through the lake's REST catalog: one the configuration names
(``[maintain] spark-catalog-uri``, an ``icehouse serve`` started by hand), or else one
served in this process for the run alone (``SparkSettings.serve``), so that a laptop
needs no server to compact on Spark. A catalog served for a run gets a Spark catalog
name of its own: Spark keeps each catalog it has loaded for the session's life and
would otherwise go on calling the previous run's server, long stopped.

One Spark session serves the whole process (an autopilot round after round, or a
session the caller already started), because starting one takes 10-20 s.
"""

from __future__ import annotations

import secrets
import socket
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from icehouse.addresses import is_loopback
from icehouse.errors import SparkUnavailable

CATALOG = "icehouse"
"""The name of the lake's catalog inside the Spark session."""
RUNTIME_JAR = "iceberg-spark-runtime-3.5_2.12-1.10.2.jar"
INSTALL = (
    "Install it with pip install 'icehouse[spark]' (pyspark 3.5.9 and Iceberg's Spark "
    "runtime) and a Java 17 (apt-get install openjdk-17-jre-headless)"
)
CONNECT_PORT = 15002
"""Spark Connect's port when the ``sc://`` URL names none."""
CONNECT_PROBE_SECONDS = 5.0
"""How long to wait for a Spark Connect server to accept a connection: pyspark's own
client retries an unreachable server for minutes before it gives up."""


class CatalogAccess(Protocol):
    """A REST catalog of the lake that Spark can sign in to."""

    @property
    def uri(self) -> str: ...

    @property
    def credential(self) -> str:
        """``CLIENT_ID:CLIENT_SECRET`` of an administrator."""
        ...


CatalogServer = Callable[[], AbstractContextManager[CatalogAccess]]
"""Serves the lake's REST catalog while its block runs (``icehouse.server.run_catalog``)."""


@dataclass(frozen=True)
class SparkSettings:
    """Where Spark runs (``[maintain]`` of icehouse.toml) and how it reaches the lake:
    at ``catalog_uri`` when set, else through the catalog ``serve`` serves for the run."""

    master: str | None = None
    remote: str | None = None
    conf: dict[str, str] = field(default_factory=dict)
    catalog_uri: str | None = None
    credential: str | None = None
    serve: CatalogServer | None = None

    @property
    def where(self) -> str:
        """The master or Spark Connect URL, as messages name it."""
        return self.remote or self.master or "local[2]"


@dataclass(frozen=True)
class SparkCatalog:
    """The lake's catalog as one run's Spark SQL names it."""

    name: str
    uri: str
    credential: str | None

    def conf(self) -> dict[str, str]:
        """Spark's settings for this catalog; the cache is off because ingestion commits
        to the same tables outside Spark."""
        prefix = f"spark.sql.catalog.{self.name}"
        conf = {
            prefix: "org.apache.iceberg.spark.SparkCatalog",
            f"{prefix}.type": "rest",
            f"{prefix}.uri": self.uri,
            f"{prefix}.cache-enabled": "false",
        }
        if self.credential:
            conf |= {
                f"{prefix}.rest.auth.type": "oauth2",
                f"{prefix}.credential": self.credential,
                f"{prefix}.oauth2-server-uri": self.uri.rstrip("/") + "/v1/oauth/tokens",
            }
        return conf


@contextmanager
def lake_catalog(settings: SparkSettings) -> Iterator[SparkCatalog]:
    """The catalog Spark reaches the lake through, for the block's duration: the
    configured one, or one served in this process until the block ends (also when it
    fails).

    Raises:
        SparkUnavailable: no catalog configured and none can be served here, or a Spark
            Connect server on another host, which cannot reach a catalog served on
            this host's loopback address.
    """
    if settings.catalog_uri:
        yield SparkCatalog(CATALOG, settings.catalog_uri, settings.credential)
        return
    configure = (
        "Serve the lake (`icehouse serve`) and set [maintain] spark-catalog-uri in "
        "icehouse.toml to its URL, with spark-credential (or ICEHOUSE_SPARK_CREDENTIAL) "
        "set to CLIENT_ID:CLIENT_SECRET of an admin principal"
    )
    if settings.serve is None:
        raise SparkUnavailable(
            settings.where,
            detail="Spark has no catalog to reach the lake through",
            fix=configure + ", or run it with the CLI, which serves the catalog itself",
        )
    if settings.remote and not is_loopback(_connect_address(settings.remote)[0]):
        raise SparkUnavailable(
            settings.where,
            detail="a Spark Connect server on another host cannot reach the catalog this "
            "run would serve on 127.0.0.1",
            fix=configure + " where that server can reach it",
        )
    with settings.serve() as served:
        yield SparkCatalog(f"{CATALOG}_{secrets.token_hex(4)}", served.uri, served.credential)


def spark_session(settings: SparkSettings, catalog: SparkCatalog) -> Any:
    """The process's Spark session (started on first use) with ``catalog`` set.

    Raises:
        SparkUnavailable: pyspark missing, the Spark Connect server not accepting
            connections, or Spark not starting or not answering; the message says how
            to fix it.
    """
    if settings.remote:
        check_connect_server(settings.remote)
    try:
        from py4j.protocol import Py4JError  # type: ignore[import-untyped]
        from pyspark.errors import PySparkException
        from pyspark.sql import SparkSession
    except ImportError as exc:
        raise SparkUnavailable(
            settings.where,
            detail=f"{(exc.name or 'pyspark').split('.')[0]} is not installed",
            fix=INSTALL,
        ) from exc
    try:
        session = SparkSession.getActiveSession() or _build(SparkSession, settings)
        for key, value in catalog.conf().items():
            session.conf.set(key, value)
        session.conf.set("spark.sql.session.timeZone", "UTC")
    except ImportError as exc:  # Spark Connect's client libraries (grpcio...)
        raise SparkUnavailable(
            settings.where,
            detail=f"{(exc.name or 'grpcio').split('.')[0]} is not installed",
            fix="Install Spark Connect's client with pip install 'icehouse[spark-connect]'",
        ) from exc
    except (PySparkException, Py4JError, OSError) as exc:
        raise SparkUnavailable(
            settings.where,
            detail=first_line(exc),
            fix="Check that the master or Spark Connect server is running and reachable "
            "([maintain] spark-master / spark-remote, or --spark-master / --spark-remote)",
        ) from exc
    return session


def forget_catalog(session: Any, catalog: SparkCatalog) -> None:
    """Drop a served catalog's settings (its credential among them) from the session
    once its run is over; the configured catalog stays for the next run."""
    if catalog.name == CATALOG:
        return
    for key in catalog.conf():
        session.conf.unset(key)


def check_connect_server(remote: str) -> None:
    """Fail at once when nothing accepts connections at a Spark Connect URL.

    Raises: SparkUnavailable naming the URL and what the connection attempt met."""
    host, port = _connect_address(remote)
    try:
        with socket.create_connection((host, port), timeout=CONNECT_PROBE_SECONDS):
            pass
    except OSError as exc:
        raise SparkUnavailable(
            remote,
            detail=f"no Spark Connect server accepts connections at {host}:{port} "
            f"({exc.strerror or type(exc).__name__})",
            fix="Start it (Spark's sbin/start-connect-server.sh, with Iceberg's Spark "
            "runtime on --jars) or correct [maintain] spark-remote / --spark-remote",
        ) from None  # a refused connection is Spark's, not the lake's storage outage


def _connect_address(remote: str) -> tuple[str, int]:
    """Host and port of ``sc://host:port/;param=value``."""
    parts = urlsplit(remote.split(";", 1)[0])
    return parts.hostname or "localhost", parts.port or CONNECT_PORT


def _build(spark_session_class: Any, settings: SparkSettings) -> Any:
    builder = spark_session_class.builder.appName("icehouse-maintain")
    if settings.remote:
        builder = builder.remote(settings.remote)
    else:
        builder = (
            builder.master(settings.master or "local[2]")
            .config("spark.jars", str(runtime_jar(settings.where)))
            .config(
                "spark.sql.extensions",
                "org.apache.iceberg.spark.extensions.IcebergSparkSessionExtensions",
            )
            .config("spark.ui.enabled", "false")
        )
    for key, value in settings.conf.items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def runtime_jar(where: str) -> Path:
    """Iceberg's Spark runtime, as ``snowpark-connect-deps-iceberg`` ships it.

    Raises: SparkUnavailable when the package or the jar is missing."""
    try:
        import snowpark_connect_deps_iceberg  # type: ignore[import-untyped]
    except ImportError as exc:
        raise SparkUnavailable(
            where, detail="snowpark-connect-deps-iceberg is not installed", fix=INSTALL
        ) from exc
    root = Path(snowpark_connect_deps_iceberg.__file__).parent
    found = sorted(root.rglob(RUNTIME_JAR))
    if not found:
        raise SparkUnavailable(where, detail=f"{RUNTIME_JAR} not found under {root}", fix=INSTALL)
    return found[0]


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message (Spark's run to pages of JVM trace)."""
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
