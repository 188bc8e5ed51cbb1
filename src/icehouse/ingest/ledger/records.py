"""What the ledger's tables hold, as values: file and batch states, and the rows the
ingester reads back. Shared by the owners of those tables (``queue``, ``batches``,
``claims``, ``quarantine_log``) and by whoever reads their answers."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

PENDING, CLAIMED, COMMITTED = "pending", "claimed", "committed"
QUARANTINED, DUPLICATE, CHANGED = "quarantined", "duplicate", "changed"
RECOPIED = "recopied"
OPEN, WRITTEN, ABORTED = "open", "written", "aborted"
"""A batch is ``open`` while its worker fills it, ``written`` once its data files and
their manifest are stored and it waits for its table's committer."""
UNSETTLED = (OPEN, WRITTEN)
FINAL_STATES = (COMMITTED, DUPLICATE, RECOPIED, CHANGED, QUARANTINED)
REPLAY = "replay"
"""``delivery`` of a quarantined file queued again by ``quarantine replay``: taken as new
data, not compared with the path's earlier version again."""


class ContentClaim(Enum):
    """What a batch may do with a content it decoded (see ``ContentClaims.claim``)."""

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
    """A batch not yet settled (``open`` or ``written``), with its writer slot's owner."""

    id: str
    table_name: str
    writer_id: str
    seq: int
    owner: str | None
    lease_until: float
    data_files: list[str]
    state: str = OPEN
    manifests: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BatchWrite:
    """What a written batch's commit needs, recorded with it as it turns ``written``."""

    data_files: list[str]
    manifests: list[str]
    rows: int
    late_rows: int
    bytes_written: int
    newest_event: dict[str, int]
    """Per source, the newest event time (UNIX µs) among its rows."""
    replaced: dict[str, list[str]]
    """File column → earlier versions whose rows its snapshot replaces."""
    oldest_landed: float | None


@dataclass(frozen=True)
class WrittenBatch:
    """A batch waiting for its table's committer."""

    id: str
    table_name: str
    writer_id: str
    seq: int
    written_at: float
    write: BatchWrite
    owner: str | None
    """Its writer slot's owner now (None once released)."""


@dataclass(frozen=True)
class BatchFile:
    """A file of a batch as the queue has it (what recovery applies ``on_success`` to)."""

    id: int
    source: str
    path: str
    state: str


@dataclass(frozen=True)
class SourceTally:
    """A source's files in the queue and ledger, counted (what ``status`` shows)."""

    by_state: dict[str, int]
    by_delivery: dict[str, int]
    """Only ``append`` and ``change``."""
    oldest_pending_at: float | None
    rows_committed: int
    rows_committed_since: int
    """Rows of files committed since the time asked for."""
