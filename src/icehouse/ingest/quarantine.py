"""Read and replay the quarantine.

Replaying a quarantined *file* puts it back in the queue, so that the next ingest
decodes it again under the source's current mapping (after the mapping was fixed).
Lines quarantined from files that were otherwise committed are kept for inspection;
replaying them would need the original file, and is done by re-queuing the file with
``reingest_changed`` semantics in a later version.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, and_, func, select, update

from icehouse.errors import NoSuchQuarantineRecord
from icehouse.ingest.ledger import PENDING, QUARANTINED
from icehouse.state.models import files, quarantine


@dataclass(frozen=True)
class QuarantineRecord:
    id: int
    source: str
    path: str
    kind: str
    line: int | None
    reason: str
    raw: str | None
    created_at: float
    replayed_at: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _record(row: Any) -> QuarantineRecord:
    return QuarantineRecord(
        id=row.id,
        source=row.source,
        path=row.path,
        kind=row.kind,
        line=row.line,
        reason=row.reason,
        raw=row.raw,
        created_at=row.created_at,
        replayed_at=row.replayed_at,
    )


def list_records(
    engine: Engine,
    *,
    source: str | None = None,
    kind: str | None = None,
    include_replayed: bool = False,
    limit: int = 100,
) -> list[QuarantineRecord]:
    query = select(quarantine).order_by(quarantine.c.id).limit(limit)
    if source:
        query = query.where(quarantine.c.source == source)
    if kind:
        query = query.where(quarantine.c.kind == kind)
    if not include_replayed:
        query = query.where(quarantine.c.replayed_at.is_(None))
    with engine.connect() as conn:
        return [_record(r) for r in conn.execute(query)]


def summary(engine: Engine) -> dict[str, dict[str, int]]:
    """{source: {"files": n, "lines": n}} of records not yet replayed."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(quarantine.c.source, quarantine.c.kind, func.count())
            .where(quarantine.c.replayed_at.is_(None))
            .group_by(quarantine.c.source, quarantine.c.kind)
        ).all()
    result: dict[str, dict[str, int]] = {}
    for source, kind, count in rows:
        result.setdefault(source, {"files": 0, "lines": 0})[f"{kind}s"] = count
    return result


def show_record(engine: Engine, record_id: int) -> QuarantineRecord:
    with engine.connect() as conn:
        row = conn.execute(select(quarantine).where(quarantine.c.id == record_id)).first()
    if row is None:
        raise NoSuchQuarantineRecord(
            f"no quarantine record {record_id}; list them with `icehouse quarantine list`",
            record_id=record_id,
        )
    return _record(row)


def replay_files(engine: Engine, *, source: str | None = None, path: str | None = None) -> int:
    """Queue quarantined files again; returns how many were queued."""
    now = time.time()
    condition = files.c.state == QUARANTINED
    if source:
        condition = and_(condition, files.c.source == source)
    if path:
        condition = and_(condition, files.c.path == path)
    with engine.begin() as conn:
        ids = [r.id for r in conn.execute(select(files.c.id).where(condition))]
        if not ids:
            return 0
        conn.execute(
            update(files)
            .where(files.c.id.in_(ids))
            .values(state=PENDING, batch_id=None, content_hash=None, error=None, updated_at=now)
        )
        conn.execute(
            update(quarantine)
            .where(and_(quarantine.c.file_id.in_(ids), quarantine.c.replayed_at.is_(None)))
            .values(replayed_at=now)
        )
    return len(ids)
