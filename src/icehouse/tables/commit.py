"""Commit data files as Iceberg snapshots that say what they committed.

Every ingestion commit carries in its snapshot summary:

- ``icehouse.batch-id``: the batch it committed;
- ``icehouse.watermarks``: a JSON map ``{writer id: highest batch sequence committed}``
  for *every* writer of the table, copied forward from the parent snapshot and raised
  for this writer (the Iceberg Kafka Connect sink does the same with its offsets).

So the current snapshot alone tells which batches are committed, even after older
snapshots are expired or files compacted (maintenance copies these keys onto its
``replace`` snapshots) or other engines commit (the catalog carries them onto every
snapshot that reaches ``main``, ``carry.py``).

A batch whose writer stalled past its lease is recovered by another writer, which first
*fences* it: a table property ``icehouse.fence.<writer id>`` raised to the batch's
sequence number. Setting it moves the table's metadata, so a commit the stalled writer
had prepared fails its compare-and-swap, reloads, sees the fence and gives up
(:class:`BatchFenced`): a batch is either committed before the fence or never.

The map is computed from the parent the commit is built on, so a commit must never be
replayed on a different parent with a stale map: each attempt reloads the table and
rebuilds the map, and ``fast_append`` asserts that ``main`` still points at that parent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from pyiceberg.manifest import DataFile
from pyiceberg.table import CommitTableResponse, Table

from icehouse.errors import BatchFenced, CommitConflict, CommitRaced, RewriteConflict
from icehouse.tables.append import fast_append
from icehouse.tables.carry import (
    BATCH_KEY,
    EVENT_HIGH_WATER_KEY,
    WATERMARKS_KEY,
    compact_json,
    parse_marks,
)
from icehouse.tables.retry import commit_races, retry_commit

BatchCommit = Callable[[Table, dict[str, str]], CommitTableResponse]
"""Commits a batch's files on a freshly loaded table, with the batch's summary."""
FENCE_PREFIX = "icehouse.fence."
MAX_ATTEMPTS = 20


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
        s.summary is not None and s.summary.get(BATCH_KEY) == batch_id
        for s in table.metadata.snapshots
    )


def is_committed(table: Table, *, batch_id: str, writer_id: str, seq: int) -> bool:
    """The exactly-once question asked on recovery."""
    return watermarks(table).get(writer_id, 0) >= seq or batch_in_history(table, batch_id)


def fenced_up_to(table: Table, writer_id: str) -> int:
    """The highest batch sequence of ``writer_id`` that may no longer commit."""
    return int(table.properties.get(FENCE_PREFIX + writer_id, 0) or 0)


def fence(load: Callable[[], Table], *, writer_id: str, seq: int) -> None:
    """Forbid batch ``seq`` (and earlier) of ``writer_id`` to commit from now on.

    Raises:
        CommitConflict: still losing the race after ``MAX_ATTEMPTS`` attempts.
    """

    def attempt(_: int) -> None:
        table = load()
        if fenced_up_to(table, writer_id) >= seq:
            return
        with commit_races(table), table.transaction() as transaction:
            transaction.set_properties({FENCE_PREFIX + writer_id: str(seq)})

    def gave_up() -> CommitConflict:
        return CommitConflict(
            f"could not fence writer {writer_id} after {MAX_ATTEMPTS} attempts",
            table=".".join(load().name()),
        )

    retry_commit(attempt, attempts=MAX_ATTEMPTS, gave_up=gave_up)


def append_files(
    load: Callable[[], Table],
    data_files: list[DataFile],
    *,
    batch_id: str,
    writer_id: str,
    seq: int,
    summary: dict[str, str] | None = None,
    newest_event: dict[str, int] | None = None,
    commit: BatchCommit | None = None,
) -> CommitResult:
    """Append ``data_files`` in one snapshot, retrying on concurrent commits.

    ``load`` returns a freshly loaded table; it is called once per attempt. ``commit``
    replaces the plain append (e.g. one that also replaces rows, ``tables/overwrite.py``);
    it gets the table and the summary properties of the batch.

    Raises:
        BatchFenced: another writer recovered this batch (it stalled past its lease).
        CommitConflict: still losing the race after ``MAX_ATTEMPTS`` attempts.
        CommitUncertain: a reported conflict that may have landed; not retried, so the
            batch stays open and recovery settles it from the table.
    """
    started = time.perf_counter()

    def attempt(number: int) -> CommitResult:
        table = load()
        if fenced_up_to(table, writer_id) >= seq:
            raise BatchFenced(
                f"batch {batch_id} was recovered by another writer after its lease ran "
                "out; it is not committed and its files are back in the queue",
                table=".".join(table.name()),
                batch_id=batch_id,
            )
        marks = watermarks(table)
        marks[writer_id] = max(marks.get(writer_id, 0), seq)
        high_water = event_high_water(table)
        for source, newest in (newest_event or {}).items():
            high_water[source] = max(high_water.get(source, newest), newest)
        properties = {
            **(summary or {}),
            **({EVENT_HIGH_WATER_KEY: compact_json(high_water)} if high_water else {}),
            BATCH_KEY: batch_id,
            WATERMARKS_KEY: compact_json(marks),
        }
        with commit_races(table):  # a custom ``commit`` may commit through PyIceberg
            if commit is None:
                response = fast_append(table, data_files, properties=properties)
            else:
                response = commit(table, properties)
        snapshot_id = response.metadata.current_snapshot_id
        assert snapshot_id is not None
        return CommitResult(snapshot_id, number, time.perf_counter() - started)

    def gave_up() -> CommitConflict:
        return CommitConflict(
            f"gave up committing batch {batch_id} after {MAX_ATTEMPTS} concurrent-commit retries",
            table=".".join(load().name()),
        )

    return retry_commit(
        attempt, attempts=MAX_ATTEMPTS, gave_up=gave_up, retry_on=(CommitRaced, RewriteConflict)
    )
