"""Handing a filled batch to its table's committer, step 2 of exactly once (see
``ingester.py``).

The data files are closed and described in Iceberg manifests, then the batch is recorded
written, with everything its commit needs, in one transaction that only moves a batch
still open (``batch.written`` after it). A batch a recovery took from us while we
stalled is never handed over: its files are already back in the queue, so ours are
deleted. The worker itself never commits to the table: the table's committer does
(``table_committer.py``).
"""

from __future__ import annotations

from icehouse.ingest.batch_context import BatchContext
from icehouse.ingest.batch_run import BatchTally
from icehouse.ingest.faults import Faults
from icehouse.ingest.ledger import BatchWrite
from icehouse.tables.batch_manifest import delete_batch_manifests, write_batch_manifests


class BatchHandover:
    """Records filled batches written, for their table's committer."""

    def __init__(self, *, faults: Faults) -> None:
        self._faults = faults

    def __call__(self, context: BatchContext, tally: BatchTally) -> BatchWrite | None:
        """Returns what was recorded, None when the batch was no longer ours to hand over
        (a recovery settled it while we stalled). The rows of ``tally.replaced`` earlier versions
        leave in the batch's own snapshot, when its committer commits it."""
        batch, writer, report = context.batch, context.writer, context.report
        with report.measure("sort+write"):
            data_files = writer.close()
            manifests = write_batch_manifests(context.table, batch.id, data_files)
        written = BatchWrite(
            data_files=[f.file_path for f in data_files],
            manifests=manifests,
            rows=tally.rows,
            late_rows=tally.late,
            bytes_written=writer.stats().bytes,
            newest_event=dict(context.late.events.newest),
            replaced={column: sorted(values) for column, values in tally.replaced.items()},
            oldest_landed=tally.oldest_landed,
        )
        with report.measure("ledger"):
            still_ours = context.ledger.batches.write(batch.id, written)
        if not still_ours:  # a recovery settled it while we were stalled: it is not ours
            writer.abort()
            delete_batch_manifests(context.table, manifests)
            return None
        self._faults("batch.written")
        return written
