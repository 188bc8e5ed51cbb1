"""The ingestion ledger and work queue, in the state database.

One row per (source, path, fingerprint) in ``ingest_files`` moves
``pending → claimed → committed | quarantined | duplicate``; a path whose content
changed after it was committed is recorded as ``changed`` (skipped unless the source
says ``reingest_changed``). Several ``icehouse ingest`` processes share the queue:
claims are conditional updates (``... WHERE state = 'pending'``), so two processes
never claim one file, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Engine, and_, delete, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from icehouse.ingest.landing import LandedFile
from icehouse.state.models import batches, files, quarantine, writers
from icehouse.state.owners import owner_is_dead
from icehouse.state.text import storable_or_none, storable_text

PENDING, CLAIMED, COMMITTED = "pending", "claimed", "committed"
QUARANTINED, DUPLICATE, CHANGED = "quarantined", "duplicate", "changed"
OPEN, ABORTED = "open", "aborted"


@dataclass(frozen=True)
class FileRow:
    id: int
    source: str
    path: str
    size: int
    mtime: float
    replay_lines: frozenset[int] | None = None
    """Set for a replay of quarantined lines: only these lines are taken again."""


@dataclass(frozen=True)
class Batch:
    id: str
    table_name: str
    writer_id: str
    seq: int


@dataclass(frozen=True)
class OpenBatch:
    id: str
    table_name: str
    writer_id: str
    seq: int
    owner: str | None
    lease_until: float
    data_files: list[str]


class Ledger:
    def __init__(self, engine: Engine, *, lease_seconds: float = 60.0) -> None:
        self._engine = engine
        self._lease = lease_seconds
        self._known_by_source: dict[str, dict[str, set[str]]] = {}
        self._known_up_to: dict[str, int] = {}

    # -- discovery ------------------------------------------------------------------

    def _known(self, source: str) -> dict[str, set[str]]:
        """{path: fingerprints} of the source's ledger rows, cached in this process and
        refreshed incrementally (rows are never re-keyed), so that a poll costs what is
        new, not the whole ledger. That a (path, fingerprint) is known never changes."""
        known = self._known_by_source.setdefault(source, {})
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(files.c.id, files.c.path, files.c.fingerprint).where(
                    and_(files.c.source == source, files.c.id > self._known_up_to.get(source, 0))
                )
            ).all()
        for row in rows:
            known.setdefault(row.path, set()).add(row.fingerprint)
            self._known_up_to[source] = max(self._known_up_to.get(source, 0), row.id)
        return known

    def _states(self, source: str, paths: Sequence[str]) -> dict[str, dict[str, str]]:
        """{path: {fingerprint: state}}, read fresh, for a few paths."""
        states: dict[str, dict[str, str]] = {}
        for start in range(0, len(paths), 500):
            with self._engine.connect() as conn:
                rows = conn.execute(
                    select(files.c.path, files.c.fingerprint, files.c.state).where(
                        and_(files.c.source == source, files.c.path.in_(paths[start : start + 500]))
                    )
                )
                for path, fingerprint, state in rows:
                    states.setdefault(path, {})[fingerprint] = state
        return states

    def register(
        self,
        source: str,
        landed: Sequence[LandedFile],
        *,
        reingest_changed: bool,
        report_committed: bool = False,
    ) -> tuple[int, list[str]]:
        """Queue new files. Returns how many were queued and, with ``report_committed``,
        the landed paths already committed (their ``on_success`` may not have run: a
        crash after the ledger update leaves them behind)."""
        known = self._known(source)
        new = [f for f in landed if f.fingerprint not in known.get(f.path, ())]
        committed: list[str] = []
        if report_committed:
            seen = self._states(source, [f.path for f in landed if f.path in known])
            committed = [
                f.path for f in landed if seen.get(f.path, {}).get(f.fingerprint) == COMMITTED
            ]
        changed = self._states(source, [f.path for f in new if f.path in known])
        now = time.time()
        queued = 0
        for f in new:
            # Only content that *committed* can be doubled by ingesting its new version.
            was_committed = COMMITTED in changed.get(f.path, {}).values()
            state = CHANGED if was_committed and not reingest_changed else PENDING
            try:
                with self._engine.begin() as conn:
                    conn.execute(
                        files.insert().values(
                            source=source,
                            path=f.path,
                            fingerprint=f.fingerprint,
                            size=f.size,
                            mtime=f.mtime,
                            state=state,
                            discovered_at=now,
                            updated_at=now,
                        )
                    )
            except IntegrityError:
                continue  # another process registered it first
            queued += state == PENDING
        return queued, committed

    # -- writer slots -----------------------------------------------------------------

    def acquire_writer(self, owner: str, *, prefer: str | None = None) -> tuple[str, int]:
        """Lease a writer slot: ``prefer`` if it is still ours or free, else a free or
        dead one, else a new one. An ingester that starts over after an outage prefers
        its last slot, so that it recovers the batch it left open there at once."""
        now = time.time()
        with self._engine.connect() as conn:
            slots = conn.execute(select(writers)).mappings().all()
        for slot in sorted(slots, key=lambda s: (s["id"] != prefer, s["id"])):
            free = slot["lease_until"] < now or owner_is_dead(slot["owner"])
            free = free or (slot["id"] == prefer and slot["owner"] == owner)
            if not free:
                continue
            with self._engine.begin() as conn:
                taken = conn.execute(
                    update(writers)
                    .where(
                        and_(
                            writers.c.id == slot["id"], writers.c.lease_until == slot["lease_until"]
                        )
                    )
                    .values(owner=owner, lease_until=now + self._lease)
                ).rowcount
            if taken:
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

    def renew_writer(self, writer_id: str, owner: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(writers)
                .where(and_(writers.c.id == writer_id, writers.c.owner == owner))
                .values(lease_until=time.time() + self._lease)
            )

    def release_writer(self, writer_id: str, owner: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(writers)
                .where(and_(writers.c.id == writer_id, writers.c.owner == owner))
                .values(lease_until=0.0, owner=None)
            )

    # -- batches ----------------------------------------------------------------------

    def open_batch(self, batch_id: str, table_name: str, writer_id: str) -> Batch:
        """Allocate the writer's next sequence number and record the open batch."""
        now = time.time()
        with self._engine.begin() as conn:
            seq = (
                conn.execute(
                    select(writers.c.last_seq).where(writers.c.id == writer_id)
                ).scalar_one()
                + 1
            )
            conn.execute(update(writers).where(writers.c.id == writer_id).values(last_seq=seq))
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

    def claim(self, batch_id: str, sources: Sequence[str], limit: int) -> list[FileRow]:
        """Claim up to ``limit`` pending files of ``sources`` for the batch, oldest first."""
        with self._engine.connect() as conn:
            candidates = conn.execute(
                select(
                    files.c.id,
                    files.c.source,
                    files.c.path,
                    files.c.size,
                    files.c.mtime,
                    files.c.replay_lines,
                )
                .where(and_(files.c.state == PENDING, files.c.source.in_(list(sources))))
                .order_by(files.c.mtime, files.c.id)
                .limit(limit)
            ).all()
        claimed = []
        for row in candidates:
            with self._engine.begin() as conn:
                won = conn.execute(
                    update(files)
                    .where(and_(files.c.id == row.id, files.c.state == PENDING))
                    .values(state=CLAIMED, batch_id=batch_id, updated_at=time.time())
                ).rowcount
            if won:
                lines = frozenset(json.loads(row.replay_lines)) if row.replay_lines else None
                claimed.append(FileRow(row.id, row.source, row.path, row.size, row.mtime, lines))
        return claimed

    def renew_batch(self, batch_id: str) -> None:
        with self._engine.begin() as conn:
            conn.execute(
                update(batches)
                .where(batches.c.id == batch_id)
                .values(lease_until=time.time() + self._lease)
            )

    def batch_is_open(self, batch_id: str) -> bool:
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
                .values(data_files=json.dumps(paths), lease_until=time.time() + self._lease)
            )

    def content_seen(self, source: str, content_hash: str) -> bool:
        with self._engine.connect() as conn:
            return (
                conn.execute(
                    select(files.c.id)
                    .where(
                        and_(
                            files.c.source == source,
                            files.c.content_hash == content_hash,
                            files.c.state == COMMITTED,
                        )
                    )
                    .limit(1)
                ).first()
                is not None
            )

    def finish_file(
        self,
        file_id: int,
        *,
        batch_id: str,
        state: str,
        content_hash: str | None = None,
        rows: int | None = None,
        bad_rows: int | None = None,
        error: str | None = None,
        quarantined: Sequence[tuple[str, int | None, str, str]] = (),
    ) -> bool:
        """Record a file's outcome and its quarantine records (kind, line, raw, reason)
        in one transaction, only if the file still belongs to ``batch_id``. Their text
        is stored escaped where a database cannot take it (NUL, see ``state/text.py``). False when
        a recovery took it back meanwhile (the batch must then be abandoned)."""
        now = time.time()
        with self._engine.begin() as conn:
            owned = conn.execute(
                update(files)
                .where(and_(files.c.id == file_id, files.c.batch_id == batch_id))
                .values(
                    state=state,
                    content_hash=content_hash,
                    rows=rows,
                    bad_rows=bad_rows,
                    error=storable_or_none(error),
                    updated_at=now,
                )
            ).rowcount
            if not owned:
                return False
            source_path = conn.execute(
                select(files.c.source, files.c.path).where(files.c.id == file_id)
            ).one()
            if quarantined:
                conn.execute(
                    quarantine.insert(),
                    [
                        {
                            "source": source_path.source,
                            "path": source_path.path,
                            "file_id": file_id,
                            "kind": kind,
                            "line": line,
                            "raw": storable_or_none(raw),
                            "reason": storable_text(reason),
                            "created_at": now,
                        }
                        for kind, line, raw, reason in quarantined
                    ],
                )
        return True

    def commit_batch(
        self,
        batch_id: str,
        *,
        snapshot_id: int | None,
        rows: int,
        late_rows: int,
        bytes_written: int,
    ) -> None:
        """Mark the batch and its claimed files committed, in one transaction."""
        now = time.time()
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
            committed = select(files.c.id).where(
                and_(files.c.batch_id == batch_id, files.c.state == CLAIMED)
            )
            conn.execute(
                update(quarantine)
                .where(quarantine.c.replayed_by.in_(committed))
                .values(replayed_at=now)
            )
            conn.execute(
                update(files)
                .where(and_(files.c.batch_id == batch_id, files.c.state == CLAIMED))
                .values(state=COMMITTED, updated_at=now)
            )

    def abort_batch(self, batch_id: str) -> None:
        """Give the batch's files back to the queue; quarantine records of the batch stay
        only for files that were quarantined (they are final)."""
        now = time.time()
        with self._engine.begin() as conn:
            conn.execute(update(batches).where(batches.c.id == batch_id).values(state=ABORTED))
            reopened = select(files.c.id).where(
                and_(files.c.batch_id == batch_id, files.c.state.in_([CLAIMED, DUPLICATE]))
            )
            conn.execute(
                delete(quarantine).where(
                    and_(quarantine.c.file_id.in_(reopened), quarantine.c.kind == "line")
                )
            )
            conn.execute(
                update(files)
                .where(and_(files.c.batch_id == batch_id, files.c.state.in_([CLAIMED, DUPLICATE])))
                .values(
                    state=PENDING,
                    batch_id=None,
                    content_hash=None,
                    rows=None,
                    bad_rows=None,
                    updated_at=now,
                )
            )

    def open_batches(self) -> list[OpenBatch]:
        with self._engine.connect() as conn:
            rows = (
                conn.execute(
                    select(batches, writers.c.owner)
                    .join(writers, writers.c.id == batches.c.writer_id)
                    .where(batches.c.state == OPEN)
                )
                .mappings()
                .all()
            )
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

    def batch_files(self, batch_id: str) -> list[tuple[int, str, str, str]]:
        with self._engine.connect() as conn:
            return [
                (r.id, r.source, r.path, r.state)
                for r in conn.execute(
                    select(files.c.id, files.c.source, files.c.path, files.c.state).where(
                        files.c.batch_id == batch_id
                    )
                )
            ]

    # -- quarantine ---------------------------------------------------------------

    def forget_older_than(self, seconds: float, *, ledger_sources: Sequence[str]) -> int:
        """Drop quarantine records, finished batches and the ledger rows of
        ``ledger_sources`` past the retention. Only sources whose files leave the landing
        zone (``on_success`` delete or archive) may forget their ledger: a kept file
        whose record is gone would be ingested again."""
        cutoff = time.time() - seconds
        with self._engine.begin() as conn:
            gone = conn.execute(delete(quarantine).where(quarantine.c.created_at < cutoff)).rowcount
            gone += conn.execute(
                delete(files).where(
                    and_(
                        files.c.updated_at < cutoff,
                        files.c.source.in_(list(ledger_sources)),
                        or_(
                            files.c.state == COMMITTED,
                            files.c.state == DUPLICATE,
                            files.c.state == CHANGED,
                            files.c.state == QUARANTINED,
                        ),
                    )
                )
            ).rowcount
            gone += conn.execute(
                delete(batches).where(and_(batches.c.created_at < cutoff, batches.c.state != OPEN))
            ).rowcount
        return gone


class Heartbeat:
    """Keeps a running batch's lease and its writer slot's lease fresh.

    Called often (per decoded chunk); it writes at most every quarter lease, so that a
    batch busy with one huge file is never mistaken for an abandoned one, and its writer
    id is never handed to another process while in use.
    """

    def __init__(
        self, ledger: Ledger, *, batch_id: str, writer_id: str, owner: str, interval: float
    ) -> None:
        self._ledger, self._batch_id = ledger, batch_id
        self._writer_id, self._owner = writer_id, owner
        self._interval = interval
        self._last = time.monotonic()

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._ledger.renew_batch(self._batch_id)
            self._ledger.renew_writer(self._writer_id, self._owner)
            self._last = now
