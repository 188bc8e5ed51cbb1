"""Leases in the state database, so that maintainers on any number of hosts never rewrite
the same table (or partition) at once.

A lease is a row keyed by what it protects; taking it is one conditional ``UPDATE`` (or
an ``INSERT`` for a key never leased), so the database decides races. A lease is short
(``DEFAULT_LEASE_SECONDS``) and renewed by a background thread every third of it while
its holder works, so a run of any length keeps it, while a holder that stopped renewing
(killed, or its host gone) frees it within one lease; one held by a process that died on
this host is free at once. ``break_lease`` frees one deliberately
(``icehouse maintain unlock``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import Engine, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from icehouse.errors import MaintenanceBusy
from icehouse.state.clock import SYSTEM_CLOCK, Clock
from icehouse.state.models import maintenance_leases as leases
from icehouse.state.owners import owner_is_dead, this_process

DEFAULT_LEASE_SECONDS = 60.0
"""Long enough that renewing every 20 s costs nothing, short enough that a holder on a
host that died blocks other maintainers for at most a minute."""


@dataclass(frozen=True)
class LeaseInfo:
    key: str
    owner: str | None
    until: float
    """UNIX seconds; the holder pushes it forward while it works."""

    def describe(self, now: float | None = None) -> str:
        """``host:pid until 14:03:07 (in 42 s)``, local time as the user's clock shows it."""
        left = max(0, round(self.until - (SYSTEM_CLOCK() if now is None else now)))
        clock = time.strftime("%H:%M:%S", time.localtime(self.until))
        return f"{self.owner or 'an unknown maintainer'} until {clock} (in {left} s)"


class Renewal:
    """Renews a held lease every third of its length on a daemon thread, calling
    ``on_renew`` after each renewal (the run's heartbeat); ``lost`` is set when the
    lease was taken from under it (broken with ``unlock`` or lapsed while the process
    was stopped)."""

    def __init__(
        self,
        owner: Leases,
        key: str,
        seconds: float,
        on_renew: Callable[[], None] | None,
    ) -> None:
        self.lost = threading.Event()
        self._leases, self._key, self._seconds, self._on_renew = owner, key, seconds, on_renew
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease {key}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _loop(self) -> None:
        while not self._stop.wait(self._seconds / 3):
            try:
                if not self._leases.renew(self._key, self._seconds):
                    self.lost.set()
                    return
                if self._on_renew is not None:
                    self._on_renew()
            except SQLAlchemyError:
                # A database blip: the lease still runs for two more renewal periods, so
                # keep trying rather than let the thread die and the lease lapse.
                continue


class Leases:
    def __init__(
        self,
        engine: Engine,
        *,
        owner: str | None = None,
        seconds: float = DEFAULT_LEASE_SECONDS,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self.owner = owner or this_process()
        self.seconds = seconds

    def try_acquire(self, key: str, seconds: float | None = None) -> bool:
        seconds = self.seconds if seconds is None else seconds
        now = self._clock()
        with self._engine.begin() as conn:
            row = conn.execute(select(leases).where(leases.c.key == key)).mappings().first()
            if row is None:
                try:
                    with conn.begin_nested():
                        conn.execute(
                            insert(leases).values(
                                key=key, owner=self.owner, lease_until=now + seconds
                            )
                        )
                    return True
                except IntegrityError:
                    return False
            free = (
                row["owner"] == self.owner
                or row["lease_until"] < now
                or owner_is_dead(row["owner"])
            )
            if not free:
                return False
            taken = conn.execute(
                update(leases)
                .where(and_(leases.c.key == key, leases.c.lease_until == row["lease_until"]))
                .values(owner=self.owner, lease_until=now + seconds)
            )
            return taken.rowcount == 1

    def renew(self, key: str, seconds: float | None = None) -> bool:
        """Push this owner's lease forward; False when it is no longer this owner's."""
        seconds = self.seconds if seconds is None else seconds
        with self._engine.begin() as conn:
            renewed = conn.execute(
                update(leases)
                .where(and_(leases.c.key == key, leases.c.owner == self.owner))
                .values(lease_until=self._clock() + seconds)
            )
        return renewed.rowcount == 1

    def lease(self, key: str) -> LeaseInfo | None:
        """The lease on ``key`` while it binds (not run out, holder not dead here)."""
        with self._engine.connect() as conn:
            row = conn.execute(select(leases).where(leases.c.key == key)).mappings().first()
        if row is None or row["lease_until"] < self._clock() or owner_is_dead(row["owner"]):
            return None
        return LeaseInfo(key, row["owner"], row["lease_until"])

    def holder(self, key: str) -> str | None:
        info = self.lease(key)
        return info.owner if info else None

    def release(self, key: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                delete(leases).where(and_(leases.c.key == key, leases.c.owner == self.owner))
            )

    def break_lease(self, key: str) -> LeaseInfo | None:
        """Delete the lease whoever holds it; returns what it was (None: no row)."""
        with self._engine.begin() as conn:
            row = conn.execute(select(leases).where(leases.c.key == key)).mappings().first()
            if row is None:
                return None
            conn.execute(delete(leases).where(leases.c.key == key))
        return LeaseInfo(key, row["owner"], row["lease_until"])

    @contextmanager
    def renewing(self, key: str, on_renew: Callable[[], None] | None = None) -> Iterator[Renewal]:
        """Keep renewing ``key`` (already held) until the block ends."""
        renewal = Renewal(self, key, self.seconds, on_renew)
        renewal.start()
        try:
            yield renewal
        finally:
            renewal.stop()

    @contextmanager
    def hold(
        self, key: str, *, table: str, on_renew: Callable[[], None] | None = None
    ) -> Iterator[Renewal]:
        """Take ``key``, renew it while the block runs, release it after.

        Raises:
            MaintenanceBusy: another maintainer has ``key``; the message names it, says
                when its lease ends and how to break it.
        """
        if not self.try_acquire(key):
            raise busy(self.lease(key), table=table, now=self._clock())
        try:
            with self.renewing(key, on_renew) as renewal:
                yield renewal
        finally:
            self.release(key)


def busy(info: LeaseInfo | None, *, table: str, now: float | None = None) -> MaintenanceBusy:
    if info is None:  # released between our attempt and the look
        return MaintenanceBusy(
            f"{table} was being maintained by another maintainer that has just finished; try again",
            table=table,
            holder="unknown",
        )
    return MaintenanceBusy(
        f"{table} is being maintained by {info.describe(now)}; its holder renews the lease "
        f"while it works. Try again when it finishes. If {info.owner} is gone for good "
        f"(its host died), `icehouse maintain unlock {table}` breaks the lease at once",
        table=table,
        holder=info.owner or "unknown",
    )
