"""Per-source ingestion status from the ledger (what ``icehouse status`` prints: with
the batches waiting for the table's committer, and which process that is), and
which ingest workers hold a writer slot (what ``icehouse health --ingest-worker`` asks)."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine

from icehouse.config import LakeConfig
from icehouse.ingest.ledger import (
    CLAIMED,
    COMMITTED,
    DUPLICATE,
    PENDING,
    QUARANTINED,
    RECOPIED,
    WRITTEN,
    BatchLog,
    CommitterLeases,
    FileQueue,
    QuarantineLog,
    WriterSlots,
)
from icehouse.state.clock import SYSTEM_CLOCK, Clock


@dataclass(frozen=True)
class SourceStatus:
    source: str
    table: str
    files_pending: int
    oldest_pending_age_s: float | None
    files_committed: int
    rows_committed: int
    files_quarantined: int
    lines_quarantined: int
    files_duplicate: int
    """Content already ingested into the table under another name (or compression)."""
    files_recopied: int
    """The same path delivered again with the same content."""
    files_appended: int
    """Versions of a plain line-oriented file that grew: only the new lines were taken."""
    files_changed: int
    """The same path with other content, handled by ``on_change`` (quarantined by
    default, reingested, or skipped)."""
    last_commit_at: float | None
    rows_last_hour: int
    """Rows committed in the last hour (a count: an average rate over the hour read as
    50 rows/s right after a burst of 87,600 rows/s)."""
    batches_written: int = 0
    """Batches of the source's table written by workers and waiting for its committer."""
    committer: str | None = None
    """``host:pid`` of the process committing the source's table (None while no process
    holds its lease: the next one that ingests the table takes it)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def source_status(
    engine: Engine, config: LakeConfig, *, clock: Clock = SYSTEM_CLOCK
) -> list[SourceStatus]:
    now = clock()
    queue, batches, quarantine = FileQueue(engine), BatchLog(engine), QuarantineLog(engine)
    committers = {
        lease.table_name: lease.owner
        for lease in CommitterLeases(engine).holders()
        if lease.lease_until >= now
    }
    waiting = Counter(b.table_name for b in batches.open_batches() if b.state == WRITTEN)
    result = []
    for name, source in config.sources.items():
        tally = queue.tally(name, since=now - 3600)
        counts = tally.by_state
        oldest = tally.oldest_pending_at
        result.append(
            SourceStatus(
                source=name,
                table=source.table,
                files_pending=counts.get(PENDING, 0) + counts.get(CLAIMED, 0),
                oldest_pending_age_s=round(now - oldest, 1) if oldest else None,
                files_committed=counts.get(COMMITTED, 0),
                rows_committed=tally.rows_committed,
                files_quarantined=counts.get(QUARANTINED, 0),
                lines_quarantined=quarantine.open_lines(name),
                files_duplicate=counts.get(DUPLICATE, 0),
                files_recopied=counts.get(RECOPIED, 0),
                files_appended=tally.by_delivery.get("append", 0),
                files_changed=tally.by_delivery.get("change", 0),
                last_commit_at=batches.last_commit_at(name),
                rows_last_hour=int(tally.rows_committed_since),
                batches_written=waiting[source.table],
                committer=committers.get(source.table),
            )
        )
    return result


@dataclass(frozen=True)
class WorkerLease:
    """A writer slot and the worker holding it: an ``ingest`` renews its slot's lease on
    every poll and during each batch, so a lease that runs out means its worker stopped,
    died or hangs."""

    writer_id: str
    owner: str
    """``host:pid`` of the process that took the slot last."""
    lease_until: float

    @property
    def host(self) -> str:
        return self.owner.rpartition(":")[0]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def worker_leases(engine: Engine) -> list[WorkerLease]:
    """Every writer slot a worker holds or held until its lease ran out (a released
    slot has no owner), newest lease first."""
    leases = [WorkerLease(*held) for held in WriterSlots(engine).holders()]
    return sorted(leases, key=lambda lease: -lease.lease_until)
