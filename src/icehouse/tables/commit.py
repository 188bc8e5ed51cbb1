"""Commit data files as Iceberg snapshots that say what they committed.

Every ingestion commit carries in its snapshot summary:

- ``icehouse.batch-ids``: the batches it committed (a table's committer commits every
  batch its workers wrote since its last commit in one snapshot), and
  ``icehouse.batch-id``, the last of them;
- ``icehouse.watermarks``: a JSON map ``{writer id: highest batch sequence committed}``
  for *every* writer of the table, copied forward from the parent snapshot and raised
  for the writers of these batches (the Iceberg Kafka Connect sink does the same with
  its offsets).

So the current snapshot alone tells which batches are committed, even after older
snapshots are expired or files compacted (maintenance copies these keys onto its
``replace`` snapshots) or other engines commit (the catalog carries them onto every
snapshot that reaches ``main``, ``carry.py``).

The map is computed from the parent the commit is built on, so a commit must never be
replayed on a different parent with a stale map: each attempt reloads the table,
leaves out the batches it already holds and rebuilds the map, and ``fast_append``
asserts that ``main`` still points at that parent. That is also what keeps a batch from
being committed twice when a stalled committer wakes up after another took its place:
its commit fails the assertion, and its next attempt finds the batches committed.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from pyiceberg.manifest import DataFile
from pyiceberg.table import CommitTableResponse, Table

from icehouse.errors import CommitConflict, CommitRaced, RewriteConflict
from icehouse.tables.append import fast_append
from icehouse.tables.carry import (
    BATCH_KEY,
    BATCHES_KEY,
    EVENT_HIGH_WATER_KEY,
    WATERMARKS_KEY,
    compact_json,
    parse_marks,
)
from icehouse.tables.retry import commit_races, retry_commit

BatchCommit = Callable[[Table, dict[str, str]], CommitTableResponse]
"""Commits a batch's files on a freshly loaded table, with the batch's summary."""
MAX_ATTEMPTS = 20
COMMITTER_KEY = "icehouse.committer"
"""Who made an ingestion snapshot (``host:pid term N``): one owner per term, terms in
order, is what one committer per table looks like in a table's history. Not carried
forward (it describes one snapshot)."""


@dataclass(frozen=True)
class CommitResult:
    snapshot_id: int
    attempts: int
    seconds: float


def watermarks(table: Table) -> dict[str, int]:
    """The per-writer high-water marks recorded in the current snapshot."""
    snapshot = table.current_snapshot()
    if snapshot is None or snapshot.summary is None:
        return {}
    return parse_marks(snapshot.summary.get(WATERMARKS_KEY))


def event_high_water(table: Table) -> dict[str, int]:
    """Per source, the newest event time (UNIX microseconds) it has committed: what its
    next rows are compared with to tell late ones. (A bare number, as earlier releases
    wrote, held a time-partition value for the whole table: it is not carried on.)"""
    snapshot = table.current_snapshot()
    if snapshot is None or snapshot.summary is None:
        return {}
    return parse_marks(snapshot.summary.get(EVENT_HIGH_WATER_KEY))


def batch_in_history(table: Table, batch_id: str) -> bool:
    """Whether a retained snapshot says it committed ``batch_id``."""
    return any(
        s.summary is not None
        and (
            s.summary.get(BATCH_KEY) == batch_id
            or batch_id in (s.summary.get(BATCHES_KEY) or "").split(",")
        )
        for s in table.metadata.snapshots
    )


def is_committed(table: Table, *, batch_id: str, writer_id: str, seq: int) -> bool:
    """The exactly-once question asked on recovery."""
    return watermarks(table).get(writer_id, 0) >= seq or batch_in_history(table, batch_id)


@dataclass(frozen=True)
class PendingBatch:
    """A batch as its commit needs it: who wrote it, under which sequence, its counts,
    its newest event per source and its data files."""

    batch_id: str
    writer_id: str
    seq: int
    data_files: list[DataFile]
    rows: int = 0
    late_rows: int = 0
    newest_event: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchesCommit:
    """What ``commit_batches`` did: the snapshot (None when the table already held every
    batch), the batches it holds, and those another commit had already committed."""

    snapshot_id: int | None
    committed: list[str]
    already: list[str]
    attempts: int
    seconds: float


def commit_batches(
    load: Callable[[], Table],
    batches: list[PendingBatch],
    *,
    commit: BatchCommit | None = None,
    summary: dict[str, str] | None = None,
) -> BatchesCommit:
    """Commit the data files of ``batches`` in one snapshot, retrying on concurrent
    commits; a batch the freshly loaded table already holds is left out (on every
    attempt).

    ``load`` returns a freshly loaded table; it is called once per attempt. ``commit``
    replaces the plain append (e.g. one that also replaces rows, ``tables/overwrite.py``);
    it gets the table and the summary properties of the batches. ``summary`` adds
    properties to the snapshot's summary.

    Raises:
        CommitConflict: still losing the race after ``MAX_ATTEMPTS`` attempts.
        CommitUncertain: a reported conflict that may have landed; not retried, so the
            batches stay written and the next commit settles them from the table.
    """
    started = time.perf_counter()

    def attempt(number: int) -> BatchesCommit:
        table = load()
        pending = [
            b
            for b in batches
            if not is_committed(table, batch_id=b.batch_id, writer_id=b.writer_id, seq=b.seq)
        ]
        already = [b.batch_id for b in batches if b not in pending]
        if not pending:
            return BatchesCommit(None, [], already, number, time.perf_counter() - started)
        marks = watermarks(table)
        high_water = event_high_water(table)
        for batch in pending:
            marks[batch.writer_id] = max(marks.get(batch.writer_id, 0), batch.seq)
            for source, newest in batch.newest_event.items():
                high_water[source] = max(high_water.get(source, newest), newest)
        properties = {
            **(summary or {}),
            "icehouse.rows": str(sum(b.rows for b in pending)),
            "icehouse.late-rows": str(sum(b.late_rows for b in pending)),
            **({EVENT_HIGH_WATER_KEY: compact_json(high_water)} if high_water else {}),
            BATCH_KEY: pending[-1].batch_id,
            BATCHES_KEY: ",".join(b.batch_id for b in pending),
            WATERMARKS_KEY: compact_json(marks),
        }
        data_files = [f for b in pending for f in b.data_files]
        with commit_races(table):  # a custom ``commit`` may commit through PyIceberg
            if commit is None:
                response = fast_append(table, data_files, properties=properties)
            else:
                response = commit(table, properties)
        snapshot_id = response.metadata.current_snapshot_id
        assert snapshot_id is not None
        committed = [b.batch_id for b in pending]
        return BatchesCommit(snapshot_id, committed, already, number, time.perf_counter() - started)

    def gave_up() -> CommitConflict:
        return CommitConflict(
            f"gave up committing {len(batches)} batches after {MAX_ATTEMPTS} "
            "concurrent-commit retries",
            table=".".join(load().name()),
        )

    return retry_commit(
        attempt, attempts=MAX_ATTEMPTS, gave_up=gave_up, retry_on=(CommitRaced, RewriteConflict)
    )


def append_files(
    load: Callable[[], Table],
    data_files: list[DataFile],
    *,
    batch_id: str,
    writer_id: str,
    seq: int,
    summary: dict[str, str] | None = None,
) -> CommitResult:
    """Append ``data_files`` as one batch in one snapshot, retrying on concurrent commits
    (what loaders outside ingestion use: benchmarks and test fixtures).

    Raises:
        CommitConflict: still losing the race after ``MAX_ATTEMPTS`` attempts, or the
            table already holds batch ``seq`` of ``writer_id`` (not committed twice).
        CommitUncertain: see ``commit_batches``.
    """
    rows = int((summary or {}).get("icehouse.rows", 0))
    done = commit_batches(load, [PendingBatch(batch_id, writer_id, seq, data_files, rows=rows)])
    if done.snapshot_id is None:
        raise CommitConflict(
            f"the table already holds batch {seq} of writer {writer_id}; not committed again",
            table=".".join(load().name()),
        )
    return CommitResult(done.snapshot_id, done.attempts, done.seconds)
