"""What the ledger's tables hold, as values: file and batch states, and the rows the
ingester reads back. Shared by the owners of those tables (``queue``, ``batches``,
``claims``, ``quarantine_log``) and by whoever reads their answers."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

PENDING, CLAIMED, COMMITTED = "pending", "claimed", "committed"
QUARANTINED, DUPLICATE, CHANGED = "quarantined", "duplicate", "changed"
RECOPIED = "recopied"
OPEN, ABORTED = "open", "aborted"
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
    id: str
    table_name: str
    writer_id: str
    seq: int
    owner: str | None
    lease_until: float
    data_files: list[str]


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
