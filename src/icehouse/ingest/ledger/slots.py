"""Writer slots (``ingest_writers``): who may write under a writer id, and its sequence.

A batch commits under a writer id and that writer's next sequence number, which the
table's snapshot summary carries as a high-water mark: that is how recovery tells a
committed batch from one that never landed. A slot is leased, so that two live
processes never write under one id; a slot whose lease ran out, or whose owner died on
this host, is free.
"""

from __future__ import annotations

from sqlalchemy import Connection, Engine, and_, func, select, update
from sqlalchemy.exc import IntegrityError

from icehouse.state.clock import SYSTEM_CLOCK, Clock
from icehouse.state.models import writers
from icehouse.state.owners import owner_is_dead


class WriterSlots:
    """Owns ``ingest_writers``."""

    def __init__(
        self, engine: Engine, *, lease_seconds: float = 60.0, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._engine = engine
        self._lease = lease_seconds
        self._clock = clock

    def acquire(self, owner: str, *, prefer: str | None = None) -> tuple[str, int]:
        """Lease a writer slot: ``prefer`` if it is still ours or free, else a free or
        dead one, else a new one; returns its id and last sequence number. An ingester
        that starts over after an outage prefers its last slot, so that it recovers the
        batch it left open there at once."""
        now = self._clock()
        with self._engine.connect() as conn:
            slots = conn.execute(select(writers)).mappings().all()
        for slot in sorted(slots, key=lambda s: (s["id"] != prefer, s["id"])):
            free = slot["lease_until"] < now or owner_is_dead(slot["owner"])
            free = free or (slot["id"] == prefer and slot["owner"] == owner)
            if free and self._take(slot["id"], slot["lease_until"], owner, now):
                return slot["id"], int(slot["last_seq"])
        for _ in range(100):
            with self._engine.connect() as conn:
                count = conn.execute(select(func.count()).select_from(writers)).scalar_one()
            slot_id = f"w{count + 1}"
            try:
                with self._engine.begin() as conn:
                    conn.execute(
                        writers.insert().values(
                            id=slot_id, owner=owner, lease_until=now + self._lease, last_seq=0
                        )
                    )
                return slot_id, 0
            except IntegrityError:
                continue
        raise RuntimeError("could not allocate a writer slot")

    def _take(self, slot_id: str, lease_until: float, owner: str, now: float) -> bool:
        """Take the slot if its lease is still the one we saw (the database decides)."""
        with self._engine.begin() as conn:
            taken = conn.execute(
                update(writers)
                .where(and_(writers.c.id == slot_id, writers.c.lease_until == lease_until))
                .values(owner=owner, lease_until=now + self._lease)
            ).rowcount
        return bool(taken)

    def holders(self) -> list[tuple[str, str, float]]:
        """``(writer id, owner, lease until)`` of every slot taken at least once (a
        released slot keeps no owner), for the health check of a host's workers."""
        with self._engine.connect() as conn:
            rows = conn.execute(select(writers.c.id, writers.c.owner, writers.c.lease_until))
            return [(str(r.id), str(r.owner), float(r.lease_until)) for r in rows if r.owner]

    def renew(self, writer_id: str, owner: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(writers)
                .where(and_(writers.c.id == writer_id, writers.c.owner == owner))
                .values(lease_until=self._clock() + self._lease)
            )

    def release(self, writer_id: str, owner: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(writers)
                .where(and_(writers.c.id == writer_id, writers.c.owner == owner))
                .values(lease_until=0.0, owner=None)
            )


# -- within another owner's transaction ---------------------------------------------------


def next_seq(conn: Connection, writer_id: str, *, lease_until: float) -> int:
    """Allocate the writer's next sequence number (for the batch opened with it), and
    extend the slot's lease to ``lease_until`` in the same update.

    A worker with files to take opens batch after batch, and each batch's heartbeat
    renews the slot only once it has run a quarter lease: batches shorter than that
    (the usual case with a commit interval below it) would never renew it, and a peer
    starting a lease later would take the busy worker's slot and recover its open
    batch as its own."""
    seq = int(
        conn.execute(select(writers.c.last_seq).where(writers.c.id == writer_id)).scalar_one()
    )
    seq += 1
    conn.execute(
        update(writers)
        .where(writers.c.id == writer_id)
        .values(last_seq=seq, lease_until=lease_until)
    )
    return seq
