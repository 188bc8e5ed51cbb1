"""Leases in the state database, so that maintainers on any number of hosts never rewrite
the same table (or partition) at once.

A lease is a row keyed by what it protects; taking it is one conditional ``UPDATE`` (or
an ``INSERT`` for a key never leased), so the database decides races. A lease runs out
unless renewed, and one held by a process that died on this host is free at once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, and_, delete, insert, select, update
from sqlalchemy.exc import IntegrityError

from icehouse.errors import MaintenanceBusy
from icehouse.state.models import maintenance_leases as leases
from icehouse.state.owners import owner_is_dead, this_process

DEFAULT_LEASE_SECONDS = 300.0


class Leases:
    def __init__(self, engine: Engine, *, owner: str | None = None) -> None:
        self._engine = engine
        self.owner = owner or this_process()

    def try_acquire(self, key: str, seconds: float = DEFAULT_LEASE_SECONDS) -> bool:
        now = time.time()
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

    def holder(self, key: str) -> str | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(leases).where(leases.c.key == key)).mappings().first()
        if row is None or row["lease_until"] < time.time() or owner_is_dead(row["owner"]):
            return None
        return row["owner"]

    def release(self, key: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                delete(leases).where(and_(leases.c.key == key, leases.c.owner == self.owner))
            )

    @contextmanager
    def hold(
        self, key: str, *, table: str, seconds: float = DEFAULT_LEASE_SECONDS
    ) -> Iterator[None]:
        """Raises: MaintenanceBusy naming the holder when another maintainer has ``key``."""
        if not self.try_acquire(key, seconds):
            raise MaintenanceBusy(
                f"{key} is being maintained by {self.holder(key) or 'another maintainer'}; "
                "try again when it finishes",
                table=table,
                holder=self.holder(key) or "unknown",
            )
        try:
            yield
        finally:
            self.release(key)
