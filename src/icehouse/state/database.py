"""Open the state database and bring its schema to this version of icehouse.

The schema is versioned from the first release. A new database is created at the
current schema (``models.py``) and stamped with the newest version; an older one is
brought forward by the migrations it lacks, each applied once, in order, inside a
transaction, and recorded in ``icehouse_schema_version``. Released migrations are
never edited; a schema change is a change to ``models.py`` plus a new migration.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sqlalchemy import Connection, Engine, create_engine, event, func, inspect, select, text
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.exc import OperationalError

from icehouse.errors import StateError
from icehouse.resilience import classify
from icehouse.state import models


def _v2_line_replay(conn: Connection) -> None:
    """Replaying quarantined lines: which lines a replay takes, which replay took a record."""
    conn.execute(text("ALTER TABLE ingest_files ADD COLUMN replay_lines TEXT"))
    conn.execute(text("ALTER TABLE quarantine ADD COLUMN replayed_by INTEGER"))


def _v3_maintenance(conn: Connection) -> None:
    """Maintenance history and leases (tables new in v3, created as ``models.py`` has them)."""
    models.maintenance_runs.create(conn)  # with its index
    models.maintenance_leases.create(conn)


def _v4_runs_and_home(conn: Connection) -> None:
    """Maintenance runs recorded before they change anything (``finished_at`` may be
    NULL, ``alive_until`` and ``committed`` added) and the home this database belongs to.

    SQLite cannot drop a NOT NULL constraint, so there the table is rebuilt (index
    dropped first: SQLite index names are per database, not per table); PostgreSQL
    alters the column in place, keeping the id sequence. Version 3 creates the table as
    ``models.py`` has it now, so columns this adds may already be there.
    """
    if conn.dialect.name == "sqlite":
        conn.execute(text("DROP INDEX IF EXISTS ix_maintenance_runs_table"))
        conn.execute(text("ALTER TABLE maintenance_runs RENAME TO maintenance_runs_v3"))
        models.maintenance_runs.create(conn)
        kept = (
            "id, table_name, action, started_at, finished_at, dry_run, status, owner, "
            "summary, error"
        )
        conn.execute(
            text(f"INSERT INTO maintenance_runs ({kept}) SELECT {kept} FROM maintenance_runs_v3")
        )
        conn.execute(text("DROP TABLE maintenance_runs_v3"))
    else:
        conn.execute(text("ALTER TABLE maintenance_runs ALTER COLUMN finished_at DROP NOT NULL"))
        have = {c["name"] for c in inspect(conn).get_columns("maintenance_runs")}
        for column, kind in (("alive_until", "FLOAT"), ("committed", "TEXT")):
            if column not in have:
                conn.execute(text(f"ALTER TABLE maintenance_runs ADD COLUMN {column} {kind}"))
    models.home_identity.create(conn)


def _v5_deliveries(conn: Connection) -> None:
    """Content claims across writers, and how each file version was delivered."""
    conn.execute(text("ALTER TABLE ingest_files ADD COLUMN delivery VARCHAR(20)"))
    conn.execute(text("ALTER TABLE ingest_files ADD COLUMN start_offset BIGINT"))
    models.contents.create(conn)  # with its index


def _v6_principals(conn: Connection) -> None:
    """Principals and their bearer tokens (tables new in v6, as ``models.py`` has them)."""
    models.principals.create(conn, checkfirst=True)
    models.tokens.create(conn, checkfirst=True)  # with its index


def _v7_rest_requests(conn: Connection) -> None:
    """The REST catalog's idempotency keys and metrics reports (new tables only, created
    if missing, so that this step stands on its own whatever steps come before it)."""
    for table in (models.idempotency_keys, models.catalog_metrics):
        table.create(conn, checkfirst=True)  # with its index


def _v8_governance(conn: Connection) -> None:
    """Roles, memberships, grants, tags, data filters, owners and the policy version
    (new tables only, created if missing, so this step stands on its own)."""
    for table in GOVERNANCE_TABLES:
        table.create(conn, checkfirst=True)  # with its indexes
    _start_policy_version(conn)


GOVERNANCE_TABLES = (
    models.roles,
    models.role_members,
    models.grants,
    models.tag_keys,
    models.tag_assignments,
    models.data_filters,
    models.owners,
    models.policy_version,
)


def _start_policy_version(conn: Connection) -> None:
    """The policy version's one row, which every governance change moves."""
    if conn.execute(select(models.policy_version.c.id)).first() is None:
        conn.execute(models.policy_version.insert().values(id=1, version=0))


def _v9_audit(conn: Connection) -> None:
    """The audit trail's records awaiting export (a new table only, created if missing,
    so that this step stands on its own whatever steps come before it)."""
    models.audit_events.create(conn, checkfirst=True)


def _v10_tenants(conn: Connection) -> None:
    """Tenants and their administrators (new tables, created if missing), the tenant of
    each principal, role and audit record (new columns, NULL: the server's own, which is
    what every existing row is)."""
    for table in (models.tenants, models.tenant_admins):
        table.create(conn, checkfirst=True)
    for table in (models.principals, models.roles, models.audit_events):
        have = {c["name"] for c in inspect(conn).get_columns(table.name)}
        if "tenant" not in have:
            conn.execute(text(f"ALTER TABLE {table.name} ADD COLUMN tenant VARCHAR(200)"))


def _v11_mounts(conn: Connection) -> None:
    """Producer catalogs mounted into this one (a new table only, created if missing,
    so that this step stands on its own whatever steps come before it)."""
    models.mounts.create(conn, checkfirst=True)


def _v12_links(conn: Connection) -> None:
    """Resource links (a new table only, created if missing, so that this step stands
    on its own whatever steps come before it)."""
    models.links.create(conn, checkfirst=True)


def _v13_committers(conn: Connection) -> None:
    """One committer per table: what a written batch's commit needs (new columns of
    ``ingest_batches``) and the committers' leases (a new table, created if missing)."""
    have = {c["name"] for c in inspect(conn).get_columns("ingest_batches")}
    for column, kind in (
        ("manifests", "TEXT"),
        ("written_at", "FLOAT"),
        ("newest_event", "TEXT"),
        ("replaced", "TEXT"),
        ("oldest_landed", "FLOAT"),
    ):
        if column not in have:
            conn.execute(text(f"ALTER TABLE ingest_batches ADD COLUMN {column} {kind}"))
    models.committers.create(conn, checkfirst=True)


MIGRATIONS: dict[int, Callable[[Connection], None]] = {
    2: _v2_line_replay,
    3: _v3_maintenance,
    4: _v4_runs_and_home,
    5: _v5_deliveries,
    6: _v6_principals,
    7: _v7_rest_requests,
    8: _v8_governance,
    9: _v9_audit,
    10: _v10_tenants,
    11: _v11_mounts,
    12: _v12_links,
    13: _v13_committers,
}
"""Version → the change from the version before; version 1 is the first release. A
version may be missing (steps developed side by side are numbered apart): the steps a
database lacks are those numbered above its version, applied in order."""
SCHEMA_VERSION = max(MIGRATIONS)


def open_engine(url: str) -> Engine:
    """An engine tuned for several processes sharing one database.

    SQLite gets WAL (readers never block the writer) and a generous busy timeout, so
    that concurrent ``icehouse ingest`` processes queue for the write lock instead of
    failing with "database is locked". A server's pool pings each connection before
    handing it out, so that one a server restart closed is replaced, not used.
    """
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 60})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: object) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=60000")
    cursor.close()


def current_version(engine: Engine) -> int:
    """0 for a database icehouse never touched."""
    try:
        with engine.connect() as conn:
            version = conn.execute(select(func.max(models.schema_version.c.version))).scalar()
    except OperationalError as exc:
        if classify(exc) is not None:
            raise  # the server is not answering: that says nothing about the schema
        return 0
    except Exception as exc:  # ProgrammingError on PostgreSQL for a missing table
        if "icehouse_schema_version" in str(exc):
            return 0
        raise
    return int(version or 0)


def migrate(engine: Engine) -> int:
    """Apply the migrations this database lacks; returns how many versions it moved
    forward.

    Raises:
        StateError: the database was written by a newer icehouse.
    """
    version = current_version(engine)
    if version > SCHEMA_VERSION:
        raise StateError(
            f"the state database is at schema version {version}, newer than this icehouse "
            f"understands ({SCHEMA_VERSION}); upgrade icehouse"
        )
    if version == 0:
        with engine.begin() as conn:
            models.metadata.create_all(conn)
            _start_policy_version(conn)
            _stamp(conn, SCHEMA_VERSION)
        return SCHEMA_VERSION
    for number in sorted(n for n in MIGRATIONS if n > version):
        with engine.begin() as conn:
            MIGRATIONS[number](conn)
            _stamp(conn, number)
    return SCHEMA_VERSION - version


def _stamp(conn: Connection, version: int) -> None:
    conn.execute(models.schema_version.insert().values(version=version, applied_at=time.time()))
