"""The file queue and ledger (``ingest_files``): one row per (source, path, fingerprint).

A row moves ``pending → claimed → committed | quarantined | duplicate | recopied |
changed``. Several ``icehouse ingest`` processes share the queue: a claim is one
conditional update (``... WHERE state = 'pending'``) of a few of the oldest files, so two
processes never claim one file, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import OrderedDict
from collections.abc import Collection, Iterable, Sequence
from operator import attrgetter
from typing import TYPE_CHECKING

from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Exists,
    and_,
    delete,
    exists,
    func,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.sql import Select

from icehouse.ingest.ledger import claims, known, quarantine_log
from icehouse.ingest.ledger.quarantine_log import QuarantineEntry
from icehouse.ingest.ledger.records import (
    CLAIMED,
    COMMITTED,
    DUPLICATE,
    FINAL_STATES,
    OPEN,
    PENDING,
    QUARANTINED,
    REPLAY,
    BatchFile,
    FileRow,
    PriorVersion,
    SourceTally,
)
from icehouse.state.clock import SYSTEM_CLOCK, Clock
from icehouse.state.models import batches, files
from icehouse.state.text import storable_or_none

if TYPE_CHECKING:  # landing lists object stores with pyarrow.fs; the ledger needs no pyarrow
    from icehouse.ingest.landing import LandedFile


CACHE_PATHS = 250_000
"""Paths of known files a process keeps in memory (about 100 MB at most), so that a
poll over files it has seen costs no query. A listing of more paths than this is checked
by ranges and kept out of the cache (it would evict every entry, its own included,
before the next poll came back to them): checking 1 M known paths took 446 s on SQLite
and 815 s on PostgreSQL through the cache, a query per 500 paths, and 4.3 s and 7.5 s
by ranges of 5 000."""


class FileQueue:
    """Owns ``ingest_files``: registering, claiming and finishing files."""

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Clock = SYSTEM_CLOCK,
        cache_paths: int = CACHE_PATHS,
        paths_per_range: int = known.PATHS_PER_RANGE,
    ) -> None:
        self._engine = engine
        self._clock = clock
        self._known_cache: OrderedDict[tuple[str, str], frozenset[str]] = OrderedDict()
        """(source, path) → the fingerprints the ledger holds, least recently seen first."""
        self._cache_paths = cache_paths
        self._paths_per_range = paths_per_range
        self._deferred: dict[int, float] = {}
        """File id → monotonic time until which this process leaves it in the queue: its
        content is claimed by another open batch. Monotonic: a wait inside this process,
        never stored nor compared with another process's time."""

    # -- discovery ------------------------------------------------------------------

    def _known(self, source: str, landed: Sequence[LandedFile]) -> set[str]:
        """The paths of ``landed`` (a listing the cache can hold) whose listed version
        the ledger holds.

        Kept in a bounded cache of recently seen paths and their fingerprints, so that
        a poll over files already queued costs no query and memory does not grow with
        the ledger: a path the cache lacks, or lacks this version of (another process
        may have queued it), is read fresh. That a (path, fingerprint) is known never
        changes."""
        cache = self._known_cache
        missing = [f for f in landed if f.fingerprint not in cache.get((source, f.path), ())]
        held = self._held(source, missing, dense=False)
        for f in missing:
            if f.path in held:
                self._remember(source, f.path, [f.fingerprint])
        found: set[str] = set()
        for f in landed:
            fingerprints = cache.get((source, f.path))
            if fingerprints is not None:
                cache.move_to_end((source, f.path))
                if f.fingerprint in fingerprints:
                    found.add(f.path)
        return found

    def _remember(self, source: str, path: str, fingerprints: Iterable[str]) -> None:
        key = (source, path)
        self._known_cache[key] = self._known_cache.get(key, frozenset()) | frozenset(fingerprints)
        self._known_cache.move_to_end(key)
        while len(self._known_cache) > self._cache_paths:
            self._known_cache.popitem(last=False)

    def _held(
        self, source: str, listed: Sequence[LandedFile], *, states: bool = False, dense: bool
    ) -> known.Held:
        """Which of ``listed`` the ledger holds in the version listed, read fresh. A
        ``dense`` listing (a whole location, whose paths are most of what the ledger
        holds between them) is read by ranges when more than one range holds; any other
        by name: a few paths spread over a large ledger (new files among millions of
        uuid-named ones) would make each range read every row between its ends. A
        listing is mostly in order already, which Python sorts in linear time."""
        if not dense:
            return known.held_by_name(self._engine, source, listed, states=states)
        return known.held(
            self._engine,
            source,
            sorted(listed, key=attrgetter("path")),
            per_range=self._paths_per_range,
            states=states,
        )

    def register(
        self,
        source: str,
        landed: Sequence[LandedFile],
        *,
        report_committed: bool = False,
    ) -> tuple[int, list[str]]:
        """Queue new files. Returns how many were queued and, with ``report_committed``,
        the landed paths already committed (their ``on_success`` may not have run: a
        crash after the ledger update leaves them behind).

        A listing larger than the cache is read fresh, by ranges, and what it found
        known is left out of the cache: it would evict every entry, its own included,
        before the next poll came back to them (the files it queues are remembered, as
        any queued file is)."""
        held: known.Held = {}
        if len(landed) > self._cache_paths:
            held = self._held(source, landed, states=report_committed, dense=True)
            found: Collection[str] = held
        else:
            found = self._known(source, landed)
            if report_committed:
                known_paths = [f for f in landed if f.path in found]
                held = self._held(source, known_paths, states=True, dense=False)
        new = [f for f in landed if f.path not in found]
        committed: list[str] = []
        if report_committed:
            committed = [f.path for f in landed if held.get(f.path) == COMMITTED]
        return self._insert(source, new), committed

    def register_notified(self, source: str, landed: Sequence[LandedFile]) -> int:
        """Queue the files a storage notification named; returns how many were new.

        Only these paths' rows are read, fresh: a notification names a few files, and
        checking them against this process's cache of the whole ledger would load the
        source's history into the server. The same file notified twice, or notified and
        listed, is one row (its path and fingerprint are the ledger's identity)."""
        seen = known.by_name(self._engine, source, sorted({f.path for f in landed}))
        new = {
            (f.path, f.fingerprint): f for f in landed if f.fingerprint not in seen.get(f.path, {})
        }
        return self._insert(source, list(new.values()))

    def _insert(self, source: str, new: Sequence[LandedFile]) -> int:
        """Insert pending rows for ``new``, each in its own transaction; a row another
        process inserted first is skipped. Returns how many this call inserted."""
        now = self._clock()
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
            finally:
                self._remember(source, f.path, [f.fingerprint])
            queued += 1
        return queued

    # -- claiming ---------------------------------------------------------------------

    def _deferred_ids(self) -> list[int]:
        now = time.monotonic()
        self._deferred = {i: until for i, until in self._deferred.items() if until > now}
        return list(self._deferred)

    def _pending(self, sources: Sequence[str]) -> ColumnElement[bool]:
        """Pending files of ``sources``, but for those waiting in this process."""
        condition = and_(files.c.state == PENDING, files.c.source.in_(list(sources)))
        deferred = self._deferred_ids()
        if deferred:
            condition = and_(condition, files.c.id.notin_(deferred))
        return condition

    def waiting(self) -> int:
        """Files this process left in the queue because another batch holds their content."""
        return len(self._deferred_ids())

    def has_pending(self, sources: Sequence[str]) -> bool:
        """Whether any file of ``sources`` is pending and not waiting in this process."""
        with self._engine.connect() as conn:
            found = conn.execute(select(files.c.id).where(self._pending(sources)).limit(1))
            return found.first() is not None

    def claim(
        self,
        batch_id: str,
        sources: Sequence[str],
        limit: int,
        *,
        byte_target: int | None = None,
        byte_room: int | None = None,
    ) -> list[FileRow]:
        """Claim up to ``limit`` pending files of ``sources`` for the batch, oldest first
        (files waiting for another batch's content claim are left for later), in one
        statement.

        ``byte_target`` keeps a claim small, so that workers sharing a backlog take
        turns at it: files are taken while their sizes add up to at most the target, but
        always at least one. ``byte_room`` is a hard bound (what the batch can still
        hold): no file past it is taken, the first included.

        On PostgreSQL the oldest files are locked with ``FOR UPDATE SKIP LOCKED``: a
        worker skips the head another worker is claiming instead of racing it for the
        same rows. SQLite runs the statement under its one write lock, so concurrent
        claims on one host take turns; the ``pending`` condition keeps any claim from
        taking a file twice either way.

        A batch a recovery settled (its worker stalled past its lease) claims nothing:
        recovery only looks at open batches, so a file claimed into a settled one would
        stay claimed for ever.
        """
        head = (
            select(files.c.id, files.c.size, files.c.mtime)
            .where(self._pending(sources))
            .order_by(files.c.mtime, files.c.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .subquery("head")
        )
        order = (head.c.mtime, head.c.id)
        running = func.sum(head.c.size).over(order_by=order)
        sized = select(
            head.c.id,
            running.label("running"),
            func.row_number().over(order_by=order).label("n"),
        ).subquery("sized")
        fits: list[ColumnElement[bool]] = []
        if byte_target is not None:
            fits.append(or_(sized.c.running <= byte_target, sized.c.n == 1))
        if byte_room is not None:
            fits.append(sized.c.running <= byte_room)
        chosen = select(sized.c.id).where(and_(true(), *fits))
        with self._engine.begin() as conn:
            won = conn.execute(
                update(files)
                .where(
                    and_(files.c.state == PENDING, files.c.id.in_(chosen), _still_open(batch_id))
                )
                .values(state=CLAIMED, batch_id=batch_id, updated_at=self._clock())
                .returning(
                    files.c.id,
                    files.c.source,
                    files.c.path,
                    files.c.size,
                    files.c.mtime,
                    files.c.replay_lines,
                    files.c.delivery,
                )
            ).all()
        return [
            FileRow(
                row.id,
                row.source,
                row.path,
                row.size,
                row.mtime,
                frozenset(json.loads(row.replay_lines)) if row.replay_lines else None,
                row.delivery,
            )
            for row in sorted(won, key=lambda r: (r.mtime, r.id))
        ]

    def defer(self, file_id: int, *, batch_id: str, seconds: float) -> bool:
        """Give a claimed file back to the queue, not to be claimed again by this process
        for ``seconds``: its content is being ingested by another open batch. False when a
        recovery took the file back meanwhile."""
        with self._engine.begin() as conn:
            given_back = conn.execute(
                update(files)
                .where(and_(files.c.id == file_id, files.c.batch_id == batch_id))
                .values(state=PENDING, batch_id=None, updated_at=self._clock())
            ).rowcount
        self._deferred[file_id] = time.monotonic() + seconds
        return bool(given_back)

    # -- a claimed file -----------------------------------------------------------------

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

    def finish(
        self,
        file_id: int,
        *,
        batch_id: str,
        state: str,
        content_hash: str | None = None,
        rows: int | None = None,
        bad_rows: int | None = None,
        error: str | None = None,
        quarantined: Sequence[QuarantineEntry] = (),
        size: int | None = None,
        delivery: str | None = None,
        start_offset: int | None = None,
    ) -> bool:
        """Record a file's outcome and its quarantine records in one transaction, only if
        the file still belongs to ``batch_id``. False when a recovery took it back
        meanwhile (the batch must then be abandoned).

        ``size`` is the content the outcome covers (a file may have grown since it was
        listed); a file whose rows will not go in gives up its content claim."""
        now = self._clock()
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
                claims.release_file(conn, file_id=file_id, batch_id=batch_id)
            if quarantined:
                where = conn.execute(
                    select(files.c.source, files.c.path).where(files.c.id == file_id)
                ).one()
                quarantine_log.add(
                    conn,
                    source=where.source,
                    path=where.path,
                    file_id=file_id,
                    entries=quarantined,
                    now=now,
                )
        return True

    # -- reading --------------------------------------------------------------------------

    def files_of(self, batch_id: str) -> list[BatchFile]:
        with self._engine.connect() as conn:
            return [
                BatchFile(r.id, r.source, r.path, r.state)
                for r in conn.execute(
                    select(files.c.id, files.c.source, files.c.path, files.c.state).where(
                        files.c.batch_id == batch_id
                    )
                )
            ]

    def tally(self, source: str, *, since: float) -> SourceTally:
        """The source's files counted by state and delivery, its oldest pending file's
        discovery time and its committed rows (all, and committed since ``since``)."""
        of_source = files.c.source == source
        committed = and_(of_source, files.c.state == COMMITTED)
        rows = func.coalesce(func.sum(files.c.rows), 0)
        with self._engine.connect() as conn:
            by_state = conn.execute(
                select(files.c.state, func.count()).where(of_source).group_by(files.c.state)
            ).all()
            by_delivery = conn.execute(
                select(files.c.delivery, func.count())
                .where(and_(of_source, files.c.delivery.in_(["append", "change"])))
                .group_by(files.c.delivery)
            ).all()
            oldest = conn.execute(
                select(func.min(files.c.discovered_at)).where(
                    and_(of_source, files.c.state == PENDING)
                )
            ).scalar()
            total = conn.execute(select(rows).where(committed)).scalar_one()
            recent = conn.execute(
                select(rows).where(and_(committed, files.c.updated_at >= since))
            ).scalar_one()
        return SourceTally(
            by_state={state: int(n) for state, n in by_state},
            by_delivery={delivery: int(n) for delivery, n in by_delivery},
            oldest_pending_at=oldest,
            rows_committed=int(total),
            rows_committed_since=int(recent),
        )

    # -- replay -------------------------------------------------------------------------

    def requeue_quarantined(self, *, source: str | None, path: str | None) -> int:
        """Queue quarantined files again, as new data (their quarantine records read as
        replayed); returns how many."""
        now = self._clock()
        condition = files.c.state == QUARANTINED
        if source:
            condition = and_(condition, files.c.source == source)
        if path:
            condition = and_(condition, files.c.path == path)
        with self._engine.begin() as conn:
            ids = [r.id for r in conn.execute(select(files.c.id).where(condition))]
            if not ids:
                return 0
            conn.execute(
                update(files)
                .where(files.c.id.in_(ids))
                .values(
                    state=PENDING,
                    batch_id=None,
                    content_hash=None,
                    error=None,
                    delivery=REPLAY,  # taken as new rows, not compared with the path's past
                    updated_at=now,
                )
            )
            quarantine_log.mark_files_replayed(conn, ids, now)
        return len(ids)


def _still_open(batch_id: str) -> Exists:
    """The batch is open, its row share-locked on PostgreSQL until the statement's
    transaction ends: an abort (which reopens the batch's claimed files) then waits
    for a claim under way, or the claim for the abort, and sees its outcome."""
    return exists(
        select(batches.c.id)
        .where(and_(batches.c.id == batch_id, batches.c.state == OPEN))
        .with_for_update(read=True)
    )


# -- within another owner's transaction ---------------------------------------------------


def claimed_by(batch_id: str) -> Select[tuple[int]]:
    """The ids of the batch's files whose rows go in with its commit."""
    return select(files.c.id).where(and_(files.c.batch_id == batch_id, files.c.state == CLAIMED))


def reopened_by(batch_id: str) -> Select[tuple[int]]:
    """The ids of the batch's files that go back to the queue when it aborts."""
    return select(files.c.id).where(
        and_(files.c.batch_id == batch_id, files.c.state.in_([CLAIMED, DUPLICATE]))
    )


def commit_claimed(conn: Connection, batch_id: str, now: float) -> None:
    conn.execute(
        update(files)
        .where(and_(files.c.batch_id == batch_id, files.c.state == CLAIMED))
        .values(state=COMMITTED, updated_at=now)
    )


def reopen(conn: Connection, batch_id: str, now: float) -> None:
    """Give the batch's claimed (and duplicate) files back to the queue."""
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


def enqueue_replay(
    conn: Connection, *, source: str, path: str, size: int, lines: Sequence[int], now: float
) -> int:
    """Queue a replay of ``lines`` of a committed file; returns the replay entry's id."""
    key = conn.execute(
        files.insert().values(
            source=source,
            path=path,
            fingerprint=f"replay:{uuid.uuid4().hex}",
            size=size,
            mtime=now,
            state=PENDING,
            discovered_at=now,
            updated_at=now,
            replay_lines=json.dumps(list(lines)),
        )
    ).inserted_primary_key
    assert key is not None  # a single-row insert always has one
    return int(key[0])


def forget(conn: Connection, cutoff: float, sources: Sequence[str]) -> int:
    """Drop final rows of ``sources`` last changed before ``cutoff``; returns how many."""
    return int(
        conn.execute(
            delete(files).where(
                and_(
                    files.c.updated_at < cutoff,
                    files.c.source.in_(list(sources)),
                    files.c.state.in_(FINAL_STATES),
                )
            )
        ).rowcount
    )
