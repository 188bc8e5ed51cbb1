"""The batch log (``ingest_batches``): every batch, open, committed or aborted.

A batch is opened under a writer slot's next sequence number, leased while it works,
records the data files it wrote before it commits (so that recovery can delete them
should it never commit), and is then committed or aborted together with its files, in
one transaction each.
"""

from __future__ import annotations

import json

from sqlalchemy import Connection, Engine, and_, delete, func, select, update

from icehouse.ingest.ledger import claims, quarantine_log, queue, slots
from icehouse.ingest.ledger.records import ABORTED, COMMITTED, OPEN, Batch, OpenBatch
from icehouse.state.clock import SYSTEM_CLOCK, Clock
from icehouse.state.models import batches, files, writers


class BatchLog:
    """Owns ``ingest_batches``."""

    def __init__(
        self, engine: Engine, *, lease_seconds: float = 60.0, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        self._engine = engine
        self._lease = lease_seconds
        self._clock = clock

    def open(self, batch_id: str, table_name: str, writer_id: str) -> Batch:
        """Allocate the writer's next sequence number and record the open batch; the
        writer slot's lease is renewed with it."""
        now = self._clock()
        with self._engine.begin() as conn:
            seq = slots.next_seq(conn, writer_id, lease_until=now + self._lease)
            conn.execute(
                batches.insert().values(
                    id=batch_id,
                    table_name=table_name,
                    writer_id=writer_id,
                    seq=seq,
                    state=OPEN,
                    created_at=now,
                    lease_until=now + self._lease,
                )
            )
        return Batch(batch_id, table_name, writer_id, seq)

    def renew(self, batch_id: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(batches)
                .where(batches.c.id == batch_id)
                .values(lease_until=self._clock() + self._lease)
            )

    def is_open(self, batch_id: str) -> bool:
        """False once a recovery settled the batch (its lease had run out)."""
        with self._engine.connect() as conn:
            state = conn.execute(select(batches.c.state).where(batches.c.id == batch_id)).scalar()
        return state == OPEN

    def record_data_files(self, batch_id: str, paths: list[str]) -> None:
        """Written before the commit, so that recovery can delete uncommitted files."""
        with self._engine.begin() as conn:
            conn.execute(
                update(batches)
                .where(batches.c.id == batch_id)
                .values(data_files=json.dumps(paths), lease_until=self._clock() + self._lease)
            )

    def commit(
        self,
        batch_id: str,
        *,
        snapshot_id: int | None,
        rows: int,
        late_rows: int,
        bytes_written: int,
    ) -> None:
        """Mark the batch and its claimed files committed, in one transaction (replayed
        quarantine lines read as replayed in it too)."""
        now = self._clock()
        with self._engine.begin() as conn:
            conn.execute(
                update(batches)
                .where(batches.c.id == batch_id)
                .values(
                    state=COMMITTED,
                    committed_at=now,
                    snapshot_id=snapshot_id,
                    rows=rows,
                    late_rows=late_rows,
                    bytes_written=bytes_written,
                )
            )
            quarantine_log.mark_replayed_by(conn, queue.claimed_by(batch_id), now)
            queue.commit_claimed(conn, batch_id, now)

    def abort(self, batch_id: str) -> None:
        """Give the batch's files back to the queue; quarantine records of the batch stay
        only for files that were quarantined (they are final)."""
        now = self._clock()
        with self._engine.begin() as conn:
            conn.execute(update(batches).where(batches.c.id == batch_id).values(state=ABORTED))
            claims.release_batch(conn, batch_id)
            quarantine_log.drop_lines_of(conn, queue.reopened_by(batch_id))
            queue.reopen(conn, batch_id, now)

    def open_batches(
        self, *, table: str | None = None, source: str | None = None
    ) -> list[OpenBatch]:
        """Batches not yet settled, with their writer slot's owner; only those writing
        to ``table``, or holding files of ``source``, when given."""
        query = (
            select(batches, writers.c.owner)
            .join(writers, writers.c.id == batches.c.writer_id)
            .where(batches.c.state == OPEN)
        )
        if table is not None:
            query = query.where(batches.c.table_name == table)
        if source is not None:
            query = query.where(
                batches.c.id.in_(select(files.c.batch_id).where(files.c.source == source))
            )
        with self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            OpenBatch(
                id=r["id"],
                table_name=r["table_name"],
                writer_id=r["writer_id"],
                seq=r["seq"],
                owner=r["owner"],
                lease_until=r["lease_until"],
                data_files=json.loads(r["data_files"]) if r["data_files"] else [],
            )
            for r in rows
        ]

    def last_commit_at(self, source: str) -> float | None:
        """When a batch last committed files of ``source``."""
        with self._engine.connect() as conn:
            return conn.execute(
                select(func.max(batches.c.committed_at))
                .select_from(batches.join(files, files.c.batch_id == batches.c.id))
                .where(and_(files.c.source == source, files.c.state == COMMITTED))
            ).scalar()

    def forget_older_than(self, seconds: float, *, ledger_sources: list[str]) -> int:
        """Drop quarantine records, finished batches and the ledger rows of
        ``ledger_sources`` past the retention; returns how many rows went. Only sources
        whose files leave the landing zone (``on_success`` delete or archive) may forget
        their ledger: a kept file whose record is gone would be ingested again."""
        cutoff = self._clock() - seconds
        with self._engine.begin() as conn:
            gone = quarantine_log.forget(conn, cutoff)
            gone += queue.forget(conn, cutoff, ledger_sources)
            old_batches = and_(batches.c.created_at < cutoff, batches.c.state != OPEN)
            claims.forget(conn, select(batches.c.id).where(old_batches))
            gone += conn.execute(delete(batches).where(old_batches)).rowcount
        return gone


# -- within another owner's transaction ---------------------------------------------------


def forget_table(conn: Connection, table: str) -> int:
    """A dropped table's content claims go (see ``claims.forget_scope``); its batches stay
    with the files they took, as the ledger of the sources that fed it, until retention
    forgets them. Returns how many claims went."""
    return claims.forget_scope(conn, table)


def rename_table(conn: Connection, old: str, new: str) -> int:
    """Carry the batches and content claims of table ``old`` to its new name ``new``;
    returns how many rows moved."""
    moved = conn.execute(
        update(batches).where(batches.c.table_name == old).values(table_name=new)
    ).rowcount
    return moved + claims.move_scope(conn, old, new)
