"""The ingestion ledger and work queue, in the state database: exactly-once's memory.

Each part owns one table and holds all SQL on it; an operation that must change several
tables at once (a file's outcome with its quarantine records, a batch's commit with its
files) runs in the owner's transaction and calls the others' functions that take a
connection:

- ``queue.FileQueue`` (``ingest_files``): files registered, claimed, finished (``known``
  reads that table for it, checking which listed files are new);
- ``slots.WriterSlots`` (``ingest_writers``): writer ids and their sequence numbers;
- ``batches.BatchLog`` (``ingest_batches``): batches opened, written, committed,
  aborted, and the retention of all ingestion records;
- ``committers.CommitterLeases`` (``ingest_committers``): which process commits each
  table's written batches;
- ``claims.ContentClaims`` (``ingest_contents``): content ingested once per table;
- ``quarantine_log.QuarantineLog`` (``ingest_quarantine``): bad files and lines;
- ``marks.ListingMarks`` (``ingest_listing_marks``): where ordered listings go on.

Every time they store comes from one injected clock (``state/clock.py``).
"""

from icehouse.ingest.ledger.batches import BatchLog
from icehouse.ingest.ledger.claims import ContentClaims
from icehouse.ingest.ledger.committers import CommitterLease, CommitterLeases
from icehouse.ingest.ledger.ledger import Heartbeat, Ledger
from icehouse.ingest.ledger.marks import ListingMark, ListingMarks
from icehouse.ingest.ledger.quarantine_log import QuarantineLog
from icehouse.ingest.ledger.queue import FileQueue
from icehouse.ingest.ledger.records import (
    ABORTED,
    CHANGED,
    CLAIMED,
    COMMITTED,
    DUPLICATE,
    FINAL_STATES,
    OPEN,
    PENDING,
    QUARANTINED,
    RECOPIED,
    REPLAY,
    UNSETTLED,
    WRITTEN,
    Batch,
    BatchFile,
    BatchWrite,
    ContentClaim,
    FileRow,
    OpenBatch,
    PriorVersion,
    SourceTally,
    WrittenBatch,
)
from icehouse.ingest.ledger.slots import WriterSlots

__all__ = [
    "ABORTED",
    "CHANGED",
    "CLAIMED",
    "COMMITTED",
    "DUPLICATE",
    "FINAL_STATES",
    "OPEN",
    "PENDING",
    "QUARANTINED",
    "RECOPIED",
    "REPLAY",
    "UNSETTLED",
    "WRITTEN",
    "Batch",
    "BatchFile",
    "BatchLog",
    "BatchWrite",
    "CommitterLease",
    "CommitterLeases",
    "ContentClaim",
    "ContentClaims",
    "FileQueue",
    "FileRow",
    "Heartbeat",
    "Ledger",
    "ListingMark",
    "ListingMarks",
    "OpenBatch",
    "PriorVersion",
    "QuarantineLog",
    "SourceTally",
    "WriterSlots",
    "WrittenBatch",
]
