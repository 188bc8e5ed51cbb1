"""Producer catalogs mounted into this one (federation), as the state database keeps
them: a name, the kind of catalog, where it is, and the sealed secret the server
connects with. A mount's secret is never listed: ``MountInfo`` has no field for it, so
no listing, route or command can hand it out.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Engine, Row, delete, insert, select
from sqlalchemy.exc import IntegrityError

from icehouse.errors import MountNameTaken, NoSuchMount
from icehouse.govern import store
from icehouse.state import models

MountType = Literal["rest", "sql"]
MOUNT_TYPES: tuple[MountType, ...] = ("rest", "sql")
MOUNTS_KEPT = 1024
"""Names ``MountCache`` keeps the answer for at one version (most are no mount: every
``a.b.c`` a statement names is asked about)."""


@dataclass(frozen=True)
class MountInfo:
    """A mount as listed: everything but its secret (``uri`` is fit to print)."""

    name: str
    type: MountType
    uri: str
    warehouse: str | None
    has_credential: bool
    created_at: float


def create_mount(
    engine: Engine,
    *,
    name: str,
    type: MountType,
    uri: str,
    warehouse: str | None,
    sealed_secret: str | None,
) -> MountInfo:
    """Record a mount (its secret already sealed).

    Raises: MountNameTaken (a mount already has the name)."""
    created_at = time.time()
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(models.mounts).values(
                    name=name,
                    type=type,
                    uri=uri,
                    warehouse=warehouse,
                    secret=sealed_secret,
                    created_at=created_at,
                )
            )
            store.bump(conn)
    except IntegrityError:
        raise MountNameTaken(
            f"a catalog is already mounted as {name!r}: unmount it first "
            f"(icehouse catalog unmount {name})",
            name=name,
        ) from None
    return MountInfo(name, type, uri, warehouse, sealed_secret is not None, created_at)


def list_mounts(engine: Engine) -> list[MountInfo]:
    """Returns: every mount by name."""
    m = models.mounts
    with engine.connect() as conn:
        rows = conn.execute(select(m).order_by(m.c.name)).all()
    return [_info(row) for row in rows]


def find_mount(engine: Engine, name: str) -> MountInfo | None:
    """Returns: the mount named ``name``, None when there is none."""
    m = models.mounts
    with engine.connect() as conn:
        row = conn.execute(select(m).where(m.c.name == name)).first()
    return None if row is None else _info(row)


class MountCache:
    """Mounts by name, as read at the latest policy version a caller named; thread-safe.

    Every change to a mount moves the policy version in its own transaction
    (``create_mount``, ``drop_mount``), so a mount read after the version was V is
    what it was at V or later: handed only to a caller that read V, whose call began
    before any later change landed, it is never older than that caller may see. A
    caller that read a newer version reads the state database again."""

    def __init__(self) -> None:
        self._version = -1
        self._found: dict[str, MountInfo | None] = {}
        self._names: list[str] | None = None
        self._lock = threading.Lock()

    def names(self, engine: Engine, *, version: int) -> list[str]:
        """Returns: every mount's name at ``version``, the policy version the caller
        read just before; one read per version."""
        with self._lock:
            if version == self._version and self._names is not None:
                return self._names
        named = [m.name for m in list_mounts(engine)]
        with self._lock:
            self._move_to(version)
            if version == self._version:
                self._names = named
        return named

    def find(self, engine: Engine, name: str, *, version: int) -> MountInfo | None:
        """Returns: the mount named ``name`` (None: there is none) at ``version``, the
        policy version the caller read just before; one read per name and version."""
        with self._lock:
            if version == self._version and name in self._found:
                return self._found[name]
        found = find_mount(engine, name)
        with self._lock:
            self._move_to(version)
            if version == self._version:
                if len(self._found) >= MOUNTS_KEPT:
                    self._found.clear()  # names that are no mount, asked in bulk
                self._found[name] = found
        return found

    def _move_to(self, version: int) -> None:
        """Forget what was read at an older version than ``version`` (lock held)."""
        if version > self._version:
            self._version, self._found, self._names = version, {}, None


def sealed_secret(engine: Engine, name: str) -> str | None:
    """Returns: the mount's sealed secret (None: it has none).
    Raises: NoSuchMount."""
    m = models.mounts
    with engine.connect() as conn:
        row = conn.execute(select(m.c.secret).where(m.c.name == name)).first()
    if row is None:
        raise no_such_mount(name)
    secret: str | None = row.secret
    return secret


def drop_mount(engine: Engine, name: str) -> None:
    """Raises: NoSuchMount."""
    m = models.mounts
    with engine.begin() as conn:
        if not conn.execute(delete(m).where(m.c.name == name)).rowcount:
            raise no_such_mount(name)
        store.bump(conn)


def no_such_mount(name: str) -> NoSuchMount:
    """The error for a mount name nothing is mounted as."""
    return NoSuchMount(
        f"no catalog is mounted as {name!r}: `icehouse catalog list` shows the mounts "
        "(over REST, GET /v1/config names the prefix to use)",
        mount=name,
    )


def _info(row: Row[Any]) -> MountInfo:
    return MountInfo(
        name=row.name,
        type=row.type,
        uri=row.uri,
        warehouse=row.warehouse,
        has_credential=row.secret is not None,
        created_at=row.created_at,
    )
