"""Per-source ingestion status from the ledger (what ``icehouse status`` prints)."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, and_, func, select

from icehouse.config import LakeConfig
from icehouse.ingest.ledger import COMMITTED, DUPLICATE, PENDING, QUARANTINED, RECOPIED
from icehouse.state.models import batches, files, quarantine


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
    rows_per_second_last_hour: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def source_status(engine: Engine, config: LakeConfig) -> list[SourceStatus]:
    now = time.time()
    result = []
    with engine.connect() as conn:
        for name, source in config.sources.items():
            counts = dict(
                conn.execute(
                    select(files.c.state, func.count())
                    .where(files.c.source == name)
                    .group_by(files.c.state)
                ).all()
            )
            deliveries = dict(
                conn.execute(
                    select(files.c.delivery, func.count())
                    .where(and_(files.c.source == name, files.c.delivery.in_(["append", "change"])))
                    .group_by(files.c.delivery)
                ).all()
            )
            oldest = conn.execute(
                select(func.min(files.c.discovered_at)).where(
                    and_(files.c.source == name, files.c.state == PENDING)
                )
            ).scalar()
            rows = conn.execute(
                select(func.coalesce(func.sum(files.c.rows), 0)).where(
                    and_(files.c.source == name, files.c.state == COMMITTED)
                )
            ).scalar_one()
            last_commit = conn.execute(
                select(func.max(batches.c.committed_at))
                .select_from(batches.join(files, files.c.batch_id == batches.c.id))
                .where(and_(files.c.source == name, files.c.state == COMMITTED))
            ).scalar()
            recent_rows = conn.execute(
                select(func.coalesce(func.sum(files.c.rows), 0)).where(
                    and_(
                        files.c.source == name,
                        files.c.state == COMMITTED,
                        files.c.updated_at >= now - 3600,
                    )
                )
            ).scalar_one()
            lines = conn.execute(
                select(func.count())
                .select_from(quarantine)
                .where(
                    and_(
                        quarantine.c.source == name,
                        quarantine.c.kind == "line",
                        quarantine.c.replayed_at.is_(None),
                    )
                )
            ).scalar_one()
            result.append(
                SourceStatus(
                    source=name,
                    table=source.table,
                    files_pending=counts.get(PENDING, 0) + counts.get("claimed", 0),
                    oldest_pending_age_s=round(now - oldest, 1) if oldest else None,
                    files_committed=counts.get(COMMITTED, 0),
                    rows_committed=int(rows),
                    files_quarantined=counts.get(QUARANTINED, 0),
                    lines_quarantined=int(lines),
                    files_duplicate=counts.get(DUPLICATE, 0),
                    files_recopied=counts.get(RECOPIED, 0),
                    files_appended=deliveries.get("append", 0),
                    files_changed=deliveries.get("change", 0),
                    last_commit_at=last_commit,
                    rows_per_second_last_hour=round(int(recent_rows) / 3600, 1),
                )
            )
    return result
