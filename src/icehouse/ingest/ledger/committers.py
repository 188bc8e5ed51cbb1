"""Committer leases (``ingest_committers``): which process commits a table's batches.

Workers only write batches; one process per table commits them, so that the commit rate
of a table does not grow with its workers and no two of them race for its snapshots. A
process takes a table's lease when nobody holds it, when it is its own, when it ran out
or when its owner died on this host; the take is a compare-and-swap on the row as it
was read, so two contenders never both win. Every takeover raises the lease's term.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine, and_, select, update
from sqlalchemy.exc import IntegrityError

from icehouse.state.clock import SYSTEM_CLOCK, Clock
from icehouse.state.models import committers
from icehouse.state.owners import owner_is_dead


@dataclass(frozen=True)
class CommitterLease:
    """A table's committer as the state database has it."""

    table_name: str
    owner: str
    lease_until: float
    term: int
    taken_over: bool = False
    """Set on the answer of ``take`` when this call started a new term."""


class CommitterLeases:
    """Owns ``ingest_committers``."""

    def __init__(
        self, engine: Engine, *, lease_seconds: float = 60.0, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._engine = engine
        self._lease = lease_seconds
        self._clock = clock

    def take(self, table: str, owner: str) -> CommitterLease | None:
        """Hold (or renew) ``table``'s committer lease for ``owner``; None while another
        live process holds it."""
        now = self._clock()
        held = self.holder(table)
        if held is None:
            try:
                with self._engine.begin() as conn:
                    conn.execute(
                        committers.insert().values(
                            table_name=table, owner=owner, lease_until=now + self._lease, term=1
                        )
                    )
            except IntegrityError:
                return None  # another process took it first
            return CommitterLease(table, owner, now + self._lease, 1, taken_over=True)
        ours = held.owner == owner
        if not (ours or held.lease_until < now or owner_is_dead(held.owner)):
            return None
        term = held.term if ours else held.term + 1
        with self._engine.begin() as conn:
            taken = conn.execute(
                update(committers)
                .where(
                    and_(
                        committers.c.table_name == table,
                        committers.c.owner == held.owner,
                        committers.c.term == held.term,
                    )
                )
                .values(owner=owner, lease_until=now + self._lease, term=term)
            ).rowcount
        if not taken:
            return None
        return CommitterLease(table, owner, now + self._lease, term, taken_over=not ours)

    def release(self, table: str, owner: str) -> None:
        """Let the lease run out now, if ``owner`` holds it: a process that stops
        ingesting hands its tables to the next committer at once (on any host)."""
        with self._engine.begin() as conn:
            conn.execute(
                update(committers)
                .where(and_(committers.c.table_name == table, committers.c.owner == owner))
                .values(lease_until=0.0)
            )

    def holder(self, table: str) -> CommitterLease | None:
        with self._engine.connect() as conn:
            row = conn.execute(select(committers).where(committers.c.table_name == table)).first()
        if row is None:
            return None
        return CommitterLease(row.table_name, row.owner, float(row.lease_until), int(row.term))

    def holders(self) -> list[CommitterLease]:
        """Every table's committer (a lease may have run out: see ``lease_until``)."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(committers).order_by(committers.c.table_name)).all()
        return [
            CommitterLease(r.table_name, r.owner, float(r.lease_until), int(r.term)) for r in rows
        ]
