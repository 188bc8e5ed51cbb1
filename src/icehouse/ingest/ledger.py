"""The ingestion ledger and work queue, in the state database.

One row per (source, path, fingerprint) in ``ingest_files`` moves
``pending → claimed → committed | quarantined | duplicate | recopied | changed``.
Several ``icehouse ingest`` processes share the queue: claims are conditional updates
(``... WHERE state = 'pending'``), so two processes never claim one file, on SQLite and
PostgreSQL alike.

Content is ingested once per table, whatever its name and compression: a batch that
decoded a file claims its content hash in ``ingest_contents`` (a primary key, so the
database decides races). Another batch meeting the same content while the owner's batch
is open gives its file back to the queue for a while (it waits); once the owner
committed, the file is a duplicate; if the owner aborted, the claim is taken over.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from sqlalchemy import Engine, and_, delete, func, select, update
from sqlalchemy.exc import IntegrityError

from icehouse.ingest.landing import LandedFile
from icehouse.state.models import batches, contents, files, quarantine, writers
from icehouse.state.owners import owner_is_dead
from icehouse.state.text import storable_or_none, storable_text

PENDING, CLAIMED, COMMITTED = "pending", "claimed", "committed"
QUARANTINED, DUPLICATE, CHANGED = "quarantined", "duplicate", "changed"
RECOPIED = "recopied"
OPEN, ABORTED = "open", "aborted"
FINAL_STATES = (COMMITTED, DUPLICATE, RECOPIED, CHANGED, QUARANTINED)
REPLAY = "replay"
"""``delivery`` of a quarantined file queued again by ``quarantine replay``: taken as new
data, not compared with the path's earlier version again."""


class ContentClaim(Enum):
    """What a batch may do with a content it decoded (see ``Ledger.claim_content``)."""

    OWN = "own"
    DUPLICATE = "duplicate"
    WAIT = "wait"


@dataclass(frozen=True)
class FileRow:
    id: int
    source: str
    path: str
    size: int
    mtime: float
    replay_lines: frozenset[int] | None = None
    """Set for a replay of quarantined lines: only these lines are taken again."""
    delivery: str | None = None


@dataclass(frozen=True)
class PriorVersion:
    """The newest committed version of a path: what a new version is compared with."""

    id: int
    content_hash: str
    size: int
    """Bytes of (decompressed) content it covered, from the start of the file."""


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
        self._deferred: dict[int, float] = {}
        """File id → monotonic time until which this process leaves it in the queue: its
        content is claimed by another open batch."""

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
        now = time.time()
        queued = 0
        for f in new:
            # A new version of a known path is compared with its committed version when
            # it is ingested (re-copy, append or change): the queue takes it as any file.
            try:
                with self._engine.begin() as conn:
                    conn.execute(
                        files.insert().values(
                            source=source,
                            path=f.path,
                            fingerprint=f.fingerprint,
                            size=f.size,
                            mtime=f.mtime,
                            state=PENDING,
                            discovered_at=now,
                            updated_at=now,
                        )
                    )
            except IntegrityError:
                continue  # another process registered it first
            queued += 1
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

    def _deferred_ids(self) -> list[int]:
        now = time.monotonic()
        self._deferred = {i: until for i, until in self._deferred.items() if until > now}
        return list(self._deferred)

    def waiting(self) -> int:
        """Files this process left in the queue because another batch holds their content."""
        return len(self._deferred_ids())

    def has_pending(self, sources: Sequence[str]) -> bool:
        """Whether any file of ``sources`` is pending and not waiting in this process."""
        condition = and_(files.c.state == PENDING, files.c.source.in_(list(sources)))
        deferred = self._deferred_ids()
        if deferred:
            condition = and_(condition, files.c.id.notin_(deferred))
        with self._engine.connect() as conn:
            return conn.execute(select(files.c.id).where(condition).limit(1)).first() is not None

    def claim(self, batch_id: str, sources: Sequence[str], limit: int) -> list[FileRow]:
        """Claim up to ``limit`` pending files of ``sources`` for the batch, oldest first
        (files waiting for another batch's content claim are left for later)."""
        condition = and_(files.c.state == PENDING, files.c.source.in_(list(sources)))
        deferred = self._deferred_ids()
        if deferred:
            condition = and_(condition, files.c.id.notin_(deferred))
        with self._engine.connect() as conn:
            candidates = conn.execute(
                select(
                    files.c.id,
                    files.c.source,
                    files.c.path,
                    files.c.size,
                    files.c.mtime,
                    files.c.replay_lines,
                    files.c.delivery,
                )
                .where(condition)
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
                claimed.append(
                    FileRow(row.id, row.source, row.path, row.size, row.mtime, lines, row.delivery)
                )
        return claimed

    def defer(self, file_id: int, *, batch_id: str, seconds: float) -> bool:
        """Give a claimed file back to the queue, not to be claimed again by this process
        for ``seconds``: its content is being ingested by another open batch. False when a
        recovery took the file back meanwhile."""
        with self._engine.begin() as conn:
            given_back = conn.execute(
                update(files)
                .where(and_(files.c.id == file_id, files.c.batch_id == batch_id))
                .values(state=PENDING, batch_id=None, updated_at=time.time())
            ).rowcount
        self._deferred[file_id] = time.monotonic() + seconds
        return bool(given_back)

    def claim_content(
        self, scope: str, content_hash: str, *, file_id: int, batch_id: str, sources: Sequence[str]
    ) -> ContentClaim:
        """Claim ``content_hash`` for the batch, once per ``scope`` (the table).

        ``sources`` are the sources feeding the table: a file of theirs committed with
        this content before content claims existed also makes it a duplicate.
        """
        while True:
            with self._engine.begin() as conn:
                committed = conn.execute(
                    select(files.c.id)
                    .where(
                        and_(
                            files.c.source.in_(list(sources)),
                            files.c.content_hash == content_hash,
                            files.c.state == COMMITTED,
                        )
                    )
                    .limit(1)
                ).first()
                if committed is not None:
                    return ContentClaim.DUPLICATE
                holder = conn.execute(
                    select(contents.c.batch_id, contents.c.file_id, batches.c.state)
                    .select_from(contents.outerjoin(batches, batches.c.id == contents.c.batch_id))
                    .where(and_(contents.c.scope == scope, contents.c.content_hash == content_hash))
                ).first()
            if holder is None:
                try:
                    with self._engine.begin() as conn:
                        conn.execute(
                            contents.insert().values(
                                scope=scope,
                                content_hash=content_hash,
                                file_id=file_id,
                                batch_id=batch_id,
                                claimed_at=time.time(),
                            )
                        )
                    return ContentClaim.OWN
                except IntegrityError:
                    continue  # another batch claimed it first: look again
            if holder.batch_id == batch_id:
                return ContentClaim.OWN if holder.file_id == file_id else ContentClaim.DUPLICATE
            if holder.state == COMMITTED:
                return ContentClaim.DUPLICATE
            if holder.state == OPEN:
                return ContentClaim.WAIT
            # The holder's batch aborted (or was forgotten): take the claim over.
            with self._engine.begin() as conn:
                taken = conn.execute(
                    update(contents)
                    .where(
                        and_(
                            contents.c.scope == scope,
                            contents.c.content_hash == content_hash,
                            contents.c.batch_id == holder.batch_id,
                        )
                    )
                    .values(file_id=file_id, batch_id=batch_id, claimed_at=time.time())
                ).rowcount
            if taken:
                return ContentClaim.OWN

    def settle_cut_line(self, source: str, path: str, *, line: int, by_file: int) -> bool:
        """Whether line ``line`` of ``path`` is in the quarantine (unsettled); if so, it is
        marked as taken again by file ``by_file`` (settled when that file commits)."""
        with self._engine.begin() as conn:
            return bool(
                conn.execute(
                    update(quarantine)
                    .where(
                        and_(
                            quarantine.c.source == source,
                            quarantine.c.path == path,
                            quarantine.c.kind == "line",
                            quarantine.c.line == line,
                            quarantine.c.replayed_at.is_(None),
                        )
                    )
                    .values(replayed_by=by_file)
                ).rowcount
            )

    def prior_version(self, source: str, path: str, before_id: int) -> PriorVersion | None:
        """The newest committed version of ``path`` registered before file ``before_id``."""
        with self._engine.connect() as conn:
            row = conn.execute(
                select(files.c.id, files.c.content_hash, files.c.size)
                .where(
                    and_(
                        files.c.source == source,
                        files.c.path == path,
                        files.c.state == COMMITTED,
                        files.c.id < before_id,
                        files.c.content_hash.is_not(None),
                    )
                )
                .order_by(files.c.id.desc())
                .limit(1)
            ).first()
        if row is None:
            return None
        return PriorVersion(row.id, row.content_hash, int(row.size))

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
        size: int | None = None,
        delivery: str | None = None,
        start_offset: int | None = None,
    ) -> bool:
        """Record a file's outcome and its quarantine records (kind, line, raw, reason)
        in one transaction, only if the file still belongs to ``batch_id``. Their text
        is stored escaped where a database cannot take it (NUL, see ``state/text.py``).
        False when a recovery took it back meanwhile (the batch must then be abandoned).

        ``size`` is the content the outcome covers (a file may have grown since it was
        listed); a file whose rows will not go in gives up its content claim."""
        now = time.time()
        extra: dict[str, object] = {}
        if size is not None:
            extra["size"] = size
        if delivery is not None:
            extra["delivery"] = delivery
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
                    start_offset=start_offset,
                    updated_at=now,
                    **extra,
                )
            ).rowcount
            if not owned:
                return False
            if state != CLAIMED:
                conn.execute(
                    delete(contents).where(
                        and_(contents.c.file_id == file_id, contents.c.batch_id == batch_id)
                    )
                )
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
            conn.execute(delete(contents).where(contents.c.batch_id == batch_id))
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
                    start_offset=None,
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
                        files.c.state.in_(FINAL_STATES),
                    )
                )
            ).rowcount
            old_batches = and_(batches.c.created_at < cutoff, batches.c.state != OPEN)
            conn.execute(
                delete(contents).where(
                    and_(
                        contents.c.batch_id.in_(select(batches.c.id).where(old_batches)),
                        contents.c.file_id.notin_(select(files.c.id)),
                    )
                )
            )
            gone += conn.execute(delete(batches).where(old_batches)).rowcount
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
