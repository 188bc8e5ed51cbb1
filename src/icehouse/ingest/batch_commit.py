"""Committing a filled batch, steps 2 to 4 of exactly once (see ``ingester.py``).

The data files are closed and recorded on the batch before anything commits (so that a
recovery can delete them should it never land); one snapshot then carries the batch id
and the writer's raised high-water mark; the ledger records the commit last. Each step
is a fault-injection point (``batch.written``, ``batch.committed``, ``batch.recorded``).
A batch a recovery took from us while we stalled is never committed: its files are
already back in the queue.
"""

from __future__ import annotations

import functools

from pyiceberg.catalog.sql import SqlCatalog

from icehouse.errors import BatchFenced
from icehouse.ingest.batch_context import BatchContext
from icehouse.ingest.batch_run import BatchTally
from icehouse.ingest.faults import Faults
from icehouse.ingest.report import IngestProgress
from icehouse.state.clock import Clock
from icehouse.tables.catalog import load_table
from icehouse.tables.commit import append_files
from icehouse.tables.history import trim_history
from icehouse.tables.overwrite import replacing_rows


class BatchCommitter:
    """Commits batches into their tables, once each."""

    def __init__(
        self, *, catalog: SqlCatalog, faults: Faults, progress: IngestProgress, clock: Clock
    ) -> None:
        self._catalog = catalog
        self._faults = faults
        self._progress = progress
        self._clock = clock

    def __call__(self, context: BatchContext, tally: BatchTally) -> bool:
        """Returns False when the batch was no longer ours to commit. The rows of
        ``tally.replaced`` earlier versions leave in the batch's own snapshot."""
        batch, writer, report = context.batch, context.writer, context.report
        with report.measure("sort+write"):
            data_files = writer.close()
        with report.measure("ledger"):
            context.ledger.batches.record_data_files(batch.id, [f.file_path for f in data_files])
            still_ours = context.ledger.batches.is_open(batch.id)
        if not still_ours:  # a recovery settled it while we were stalled: it is not ours
            writer.abort()
            return False
        self._faults("batch.written")
        started = self._clock()
        snapshot_id = None
        if data_files:
            with report.measure("commit"):
                try:
                    result = append_files(
                        functools.partial(load_table, self._catalog, batch.table_name),
                        data_files,
                        batch_id=batch.id,
                        writer_id=batch.writer_id,
                        seq=batch.seq,
                        summary={
                            "icehouse.rows": str(tally.rows),
                            "icehouse.late-rows": str(tally.late),
                        },
                        newest_event=context.late.events.newest,
                        commit=replacing_rows(tally.replaced, data_files)
                        if tally.replaced
                        else None,
                    )
                except BatchFenced:  # recovered by another writer: not ours any more
                    writer.abort()
                    return False
            snapshot_id = result.snapshot_id
            report.snapshots.append(snapshot_id)
        self._faults("batch.committed")
        self._record(context, tally, snapshot_id, started)
        if data_files:
            with report.measure("history"):
                trim_history(
                    load_table(self._catalog, batch.table_name),
                    now_ms=int(self._clock() * 1000),
                )
        return True

    def _record(
        self, context: BatchContext, tally: BatchTally, snapshot_id: int | None, started: float
    ) -> None:
        """Step 4: the ledger catches up with the table, then the report."""
        batch, report = context.batch, context.report
        stats = context.writer.stats()
        with report.measure("ledger"):
            context.ledger.batches.commit(
                batch.id,
                snapshot_id=snapshot_id,
                rows=tally.rows,
                late_rows=tally.late,
                bytes_written=stats.bytes,
            )
        self._faults("batch.recorded")
        elapsed = self._clock() - started
        report.commit_seconds += elapsed
        report.batches += 1
        report.data_files += stats.files
        report.bytes_written += stats.bytes
        lag = None if tally.oldest_landed is None else self._clock() - tally.oldest_landed
        self._progress.batch_committed(batch.table_name, tally.rows, stats.files, elapsed, lag)
