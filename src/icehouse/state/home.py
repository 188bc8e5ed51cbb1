"""Which lake home a state database belongs to, so that a copied home is caught on open.

Iceberg metadata records absolute paths. ``cp -a lake lake2`` gives a second home whose
state database (and so its catalog) is the first one's: its tables are still read from
and written to ``lake``'s warehouse, and maintenance run from ``lake2`` deleted files
that ``lake`` still needed. The database therefore records the warehouse (as a URI) and
the home folder it was first opened with; a home that opens it with another warehouse
is told what happened and what to do, before anything runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from sqlalchemy import Engine, delete, insert, inspect, select, text

from icehouse.errors import CopiedHome
from icehouse.state.models import home_identity

ICEBERG_TABLES = "iceberg_tables"
"""PyIceberg's SqlCatalog table of table rows."""


@dataclass(frozen=True)
class HomeIdentity:
    home: str
    warehouse: str
    """A URI, as the catalog was given it (``file:///...``, ``s3://...``)."""


def warehouse_uri(warehouse: str) -> str:
    """The warehouse as PyIceberg wants it and the database records it: a URI, a local
    folder becoming ``file:///...``."""
    if "://" in warehouse:
        return warehouse
    return Path(warehouse).absolute().as_uri()


def recorded(engine: Engine) -> HomeIdentity | None:
    with engine.connect() as conn:
        row = conn.execute(select(home_identity)).mappings().first()
    return HomeIdentity(row["home"], row["warehouse"]) if row else None


def check_home(engine: Engine, *, home: Path, warehouse: str) -> None:
    """Record this home on first open; afterwards, insist that it is the same warehouse.

    Homes on several hosts sharing one PostgreSQL state database and one object-store
    warehouse agree on the warehouse, whatever their home folders are called. While the
    catalog has no table, a new warehouse (set after ``icehouse init``) is simply taken.

    Raises:
        CopiedHome: the database was recorded with another warehouse.
    """
    known = recorded(engine)
    if known is None or (known.warehouse != warehouse and not _has_tables(engine)):
        adopt_home(engine, home=home, warehouse=warehouse)  # nothing there to harm yet
        return
    if known.warehouse != warehouse:
        raise CopiedHome(
            _explain(known, home=home, warehouse=warehouse),
            home=str(home),
            recorded_home=known.home,
            warehouse=known.warehouse,
        )


def _has_tables(engine: Engine) -> bool:
    """Whether PyIceberg's catalog table (created on first use) lists any table."""
    if not inspect(engine).has_table(ICEBERG_TABLES):
        return False
    with engine.connect() as conn:
        return bool(conn.execute(text(f"SELECT count(*) FROM {ICEBERG_TABLES}")).scalar())


def adopt_home(engine: Engine, *, home: Path, warehouse: str) -> HomeIdentity | None:
    """Make ``home`` and ``warehouse`` this database's own; returns what was recorded."""
    known = recorded(engine)
    with engine.begin() as conn:
        conn.execute(delete(home_identity))
        conn.execute(
            insert(home_identity).values(
                id=1, home=str(home), warehouse=warehouse, recorded_at=time.time()
            )
        )
    return known


def _local_folder(uri: str) -> Path | None:
    parsed = urlparse(uri)
    return Path(parsed.path) if parsed.scheme == "file" else None


def _explain(known: HomeIdentity, *, home: Path, warehouse: str) -> str:
    adopt = f"`icehouse home adopt --home {home}`"
    folder = _local_folder(known.warehouse)
    if folder is not None and not folder.exists():
        return (
            f"the state database of {home} belongs to the lake home {known.home}, whose "
            f"warehouse {known.warehouse} no longer exists: the home was moved (or copied "
            "and the original deleted). Its tables' metadata records absolute paths under "
            f"the old folder, so move the home back to {known.home}. To use {home} anyway, "
            f"run {adopt}; tables created before the move stay unreadable"
        )
    return (
        f"{home} looks like a copy of the lake home {known.home} (cp -a or similar): its "
        f"state database is that home's, so its tables live under {known.warehouse}, not "
        f"under this home's warehouse {warehouse}, and working here would change (and "
        "maintenance delete) that home's files. Open the original instead "
        f"(--home {known.home}). A home cannot be duplicated by copying its folder, since "
        "Iceberg metadata records absolute paths; to back one up, copy it while nothing "
        "runs and restore it at the same path. If this home's warehouse was changed on "
        f"purpose, run {adopt}: maintenance then never deletes files outside the new "
        "warehouse"
    )
