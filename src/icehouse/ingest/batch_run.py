"""Filling one batch: claim files of its sources, ingest each, until it is due.

A batch is due when it holds ``batch_rows`` rows or ``batch_files`` files, when the next
pending file would take it past ``batch_rows`` (``claim_size.py``), when nothing is
pending (``ingest --once``), or, with ``--follow``, when it has been open for the commit
interval or holds a file that landed longer ago than that (the interval bounds
landing-to-visible latency) and no pending file is left to claim. It claims a few files
at a time, so that workers sharing a backlog take turns at it; a backlog that is already
late still fills the batch up to its limits (claims return at once), rather than making
one small commit per claim.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from icehouse.config import IngestConfig
from icehouse.ingest.batch import WAITING, FileIngest, FileOutcome
from icehouse.ingest.batch_context import BatchContext
from icehouse.ingest.claim_size import RowDensity, next_claim
from icehouse.ingest.faults import Faults
from icehouse.ingest.ledger import CLAIMED, DUPLICATE, QUARANTINED, RECOPIED, FileRow
from icehouse.ingest.report import IngestProgress, IngestReport
from icehouse.state.clock import Clock


@dataclass
class BatchTally:
    """What a filled batch holds: what its commit records and what follows it."""

    rows: int = 0
    late: int = 0
    files: int = 0
    """Files claimed and kept in the batch (those given back to the queue leave it)."""
    oldest_landed: float | None = None
    """The mtime of the oldest file claimed: how far behind landing the commit is."""
    done: list[tuple[str, str]] = field(default_factory=list)
    """(source, path) of files consumed by the commit: ``on_success`` applies to them."""
    replaced: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    """File column → earlier versions whose rows the commit replaces."""


@dataclass(frozen=True)
class BatchPace:
    """When a batch is due (see the module docstring)."""

    follow: bool
    limits: IngestConfig
    clock: Clock
    stop: threading.Event

    @property
    def interval(self) -> float:
        return self.limits.commit_interval_time.total_seconds()

    @property
    def poll(self) -> float:
        return self.limits.poll_interval_time.total_seconds()


class BatchRun:
    """Claims and ingests files into one open batch until it is due.

    Raises (from ``fill``): BatchAbandoned, SchemaMustEvolve (see ``batch.py``); the
    caller aborts the batch.
    """

    def __init__(
        self,
        batch: BatchContext,
        *,
        pace: BatchPace,
        discover: Callable[[], object],
        faults: Faults,
        progress: IngestProgress,
        density: RowDensity,
        between: Callable[[], None] = lambda: None,
    ) -> None:
        self._batch = batch
        self._between = between
        """Called between claims: the table's committer's turn in this process, so that
        a worker busy filling its batch still commits its peers' batches."""
        self._density = density
        self._pace = pace
        self._discover = discover
        self._faults = faults
        self._progress = progress
        self.tally = BatchTally()

    def fill(self) -> BatchTally:
        pace, limits, tally = self._pace, self._pace.limits, self.tally
        deadline = pace.clock() + pace.interval
        ledger, batch = self._batch.ledger, self._batch.batch
        sources = list(self._batch.sources)
        while not pace.stop.is_set():
            size = next_claim(
                self._density,
                sources,
                files_left=limits.batch_files - tally.files,
                rows_left=limits.batch_rows - tally.rows,
                empty=tally.files == 0,
            )
            claimed = ledger.queue.claim(
                batch.id,
                sources,
                size.files,
                byte_target=size.byte_target,
                byte_room=size.byte_room,
            )
            if tally.files == 0:
                self._faults("batch.claimed")
            held = tally.files
            tally.files += len(claimed)
            if claimed:
                oldest = min(r.mtime for r in claimed)
                deadline = min(deadline, oldest + pace.interval)
                tally.oldest_landed = min(oldest, tally.oldest_landed or oldest)
            for row in claimed:
                self._ingest(row)
            full = tally.rows >= limits.batch_rows or tally.files >= limits.batch_files
            if not claimed and size.byte_room is not None:
                full = full or ledger.queue.has_pending(sources)  # the next file won't fit
            if full or (not pace.follow and not claimed):
                break
            if pace.follow and pace.clock() >= deadline and tally.files == held:
                break  # past due, it still takes what is pending now, but not a settling file again
            if not claimed:
                # Listing again is for files that landed since: while the queue still
                # holds some, the next claim needs none.
                pace.stop.wait(pace.poll)
                self._discover()
            self._batch.heartbeat()
            self._between()
        return tally

    def _ingest(self, row: FileRow) -> None:
        """One claimed file, counted in the batch and in the report."""
        self._progress.file_started(row.source, row.path, row.size)
        outcome = FileIngest(self._batch, self._batch.sources[row.source]).run(row)
        count(self._batch.report, outcome)
        tally = self.tally
        tally.rows += outcome.rows
        tally.late += outcome.late_rows
        if outcome.replaces is not None:
            tally.replaced[outcome.replaces[0]].add(outcome.replaces[1])
        if outcome.state == WAITING:  # back in the queue: not this batch's
            tally.files -= 1
            self._progress.file_finished(row.source, row.path, 0, 0, WAITING)
            return
        if outcome.state == CLAIMED:
            self._density.learn(row.source, size=row.size, rows=outcome.rows)
        if outcome.state in (CLAIMED, DUPLICATE):  # both consumed on commit
            tally.done.append((row.source, row.path))
        self._progress.file_finished(
            row.source, row.path, outcome.rows, outcome.bad_rows, outcome.state
        )
        self._batch.heartbeat()


def count(report: IngestReport, outcome: FileOutcome) -> None:
    """Add a file's outcome to the run's report."""
    report.bytes_read += outcome.bytes_read
    report.bad_rows += outcome.bad_rows
    if outcome.state == CLAIMED:
        report.files += 1
        report.rows += outcome.rows
        report.late_rows += outcome.late_rows
    elif outcome.state == QUARANTINED:
        report.quarantined_files += 1
    elif outcome.state == RECOPIED:
        report.recopied_files += 1
    elif outcome.state == DUPLICATE:
        report.duplicate_files += 1
    report.appended_files += outcome.delivery == "append"
    report.changed_files += outcome.delivery == "change"
