"""The batch log (``ingest_batches``): every batch, open, written, committed or aborted.

A batch is opened under a writer slot's next sequence number and leased while its
worker fills it. The worker then records it written, with everything its commit needs
(data files, their manifests, counts), only if it is still open; its table's committer
later commits it and records it committed together with its files. An open batch is
never in the table, so a recovery aborts it (only if it is still open) and its files go
back to the queue. Each move is one conditional transaction.
"""

from __future__ import annotations

import json

from sqlalchemy import Connection, Engine, and_, delete, func, select, update

from icehouse.ingest.ledger import claims, quarantine_log, queue, slots
from icehouse.ingest.ledger.records import (
    ABORTED,
    COMMITTED,
    OPEN,
    UNSETTLED,
    WRITTEN,
    Batch,
    BatchWrite,
    OpenBatch,
    WrittenBatch,
)
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

    def write(self, batch_id: str, written: BatchWrite) -> bool:
        """Record the batch written (its data files stored, their manifests too) and
        waiting for its table's committer, only if it is still open; False when a
        recovery took it from us meanwhile (its lease ran out): then it is not ours to
        commit, and its files are back in the queue."""
        now = self._clock()
        with self._engine.begin() as conn:
            moved = conn.execute(
                update(batches)
                .where(and_(batches.c.id == batch_id, batches.c.state == OPEN))
                .values(
                    state=WRITTEN,
                    written_at=now,
                    data_files=json.dumps(written.data_files),
                    manifests=json.dumps(written.manifests),
                    rows=written.rows,
                    late_rows=written.late_rows,
                    bytes_written=written.bytes_written,
                    newest_event=json.dumps(written.newest_event),
                    replaced=json.dumps(written.replaced),
                    oldest_landed=written.oldest_landed,
                )
            ).rowcount
        return bool(moved)

    def has_written(self, table: str) -> bool:
        """Whether a batch of ``table`` waits for its committer (one cheap query)."""
        with self._engine.connect() as conn:
            found = conn.execute(
                select(batches.c.id)
                .where(and_(batches.c.table_name == table, batches.c.state == WRITTEN))
                .limit(1)
            ).first()
        return found is not None

    def written(self, table: str) -> list[WrittenBatch]:
        """The batches of ``table`` waiting for its committer, oldest written first."""
        query = (
            select(batches, writers.c.owner)
            .join(writers, writers.c.id == batches.c.writer_id)
            .where(and_(batches.c.table_name == table, batches.c.state == WRITTEN))
            .order_by(batches.c.written_at, batches.c.id)
        )
        with self._engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [
            WrittenBatch(
                id=r["id"],
                table_name=r["table_name"],
                writer_id=r["writer_id"],
                seq=int(r["seq"]),
                written_at=float(r["written_at"]),
                owner=r["owner"],
                write=BatchWrite(
                    data_files=json.loads(r["data_files"] or "[]"),
                    manifests=json.loads(r["manifests"] or "[]"),
                    rows=int(r["rows"] or 0),
                    late_rows=int(r["late_rows"] or 0),
                    bytes_written=int(r["bytes_written"] or 0),
                    newest_event={
                        k: int(v) for k, v in json.loads(r["newest_event"] or "{}").items()
                    },
                    replaced=json.loads(r["replaced"] or "{}"),
                    oldest_landed=r["oldest_landed"],
                ),
            )
            for r in rows
        ]

    def still_written(self, batch_ids: set[str]) -> set[str]:
        """Those of ``batch_ids`` still waiting for their committer."""
        if not batch_ids:
            return set()
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(batches.c.id).where(
                    and_(batches.c.id.in_(sorted(batch_ids)), batches.c.state == WRITTEN)
                )
            )
            return {r.id for r in rows}

    def commit(self, snapshots: dict[str, int | None]) -> list[str]:
        """Mark written batches (id → the snapshot that holds them, None for a batch with
        nothing to add) and their claimed files committed, in one transaction (replayed
        quarantine lines read as replayed in it too); returns the ids it moved (a batch
        another committer recorded meanwhile is left as it is)."""
        return self._commit(snapshots, WRITTEN)

    def settle_earlier(self, batch_id: str) -> bool:
        """Mark committed an open batch that an earlier release's worker committed to the
        table itself before it died (its recovery found it there)."""
        return bool(self._commit({batch_id: None}, OPEN))

    def _commit(self, snapshots: dict[str, int | None], state: str) -> list[str]:
        now = self._clock()
        moved = []
        with self._engine.begin() as conn:
            for batch_id, snapshot_id in snapshots.items():
                done = conn.execute(
                    update(batches)
                    .where(and_(batches.c.id == batch_id, batches.c.state == state))
                    .values(state=COMMITTED, committed_at=now, snapshot_id=snapshot_id)
                ).rowcount
                if not done:
                    continue
                quarantine_log.mark_replayed_by(conn, queue.claimed_by(batch_id), now)
                queue.commit_claimed(conn, batch_id, now)
                moved.append(batch_id)
        return moved

    def abort(self, batch_id: str) -> bool:
        """Give an open batch's files back to the queue; quarantine records of the batch
        stay only for files that were quarantined (they are final). False when the batch
        was no longer open (its worker recorded it written first, or another process
        settled it): a written batch is its committer's."""
        now = self._clock()
        with self._engine.begin() as conn:
            aborted = conn.execute(
                update(batches)
                .where(and_(batches.c.id == batch_id, batches.c.state == OPEN))
                .values(state=ABORTED)
            ).rowcount
            if not aborted:
                return False
            claims.release_batch(conn, batch_id)
            quarantine_log.drop_lines_of(conn, queue.reopened_by(batch_id))
            queue.reopen(conn, batch_id, now)
        return True

    def open_batches(
        self, *, table: str | None = None, source: str | None = None
    ) -> list[OpenBatch]:
        """Batches not yet settled (open, or written and waiting for their committer),
        with their writer slot's owner; only those writing to ``table``, or holding files
        of ``source``, when given."""
        query = (
            select(batches, writers.c.owner)
            .join(writers, writers.c.id == batches.c.writer_id)
            .where(batches.c.state.in_(UNSETTLED))
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
                state=r["state"],
                manifests=json.loads(r["manifests"]) if r["manifests"] else [],
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
            old_batches = and_(batches.c.created_at < cutoff, batches.c.state.not_in(UNSETTLED))
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
