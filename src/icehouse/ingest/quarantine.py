"""Read and replay the quarantine.

Replay runs after the mapping was fixed, through the normal exactly-once path:

- a quarantined *file* goes back to the queue and is decoded again whole;
- quarantined *lines* of a committed file become a replay entry in the queue that takes
  exactly those line numbers of the original file again (which must still exist: a
  source with ``on_success = "delete"`` cannot replay lines). The records are marked
  replayed in the same transaction that records the replay's commit; lines still bad
  are quarantined again with their new reason.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine, and_, func, select, update

from icehouse.errors import NoSuchQuarantineRecord
from icehouse.ingest.ledger import COMMITTED, PENDING, QUARANTINED, REPLAY
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


@dataclass(frozen=True)
class ReplayQueued:
    files: int
    lines: int

    def to_dict(self) -> dict[str, int]:
        return asdict(self)


def replay_lines(engine: Engine, *, source: str | None = None, path: str | None = None) -> int:
    """Queue replays of quarantined lines of committed files; returns the lines queued."""
    condition = and_(
        quarantine.c.kind == "line",
        quarantine.c.replayed_at.is_(None),
        quarantine.c.replayed_by.is_(None),
        quarantine.c.line.is_not(None),
        files.c.state == COMMITTED,
    )
    if source:
        condition = and_(condition, quarantine.c.source == source)
    if path:
        condition = and_(condition, quarantine.c.path == path)
    now = time.time()
    queued = 0
    with engine.begin() as conn:
        records = conn.execute(
            select(
                quarantine.c.id,
                quarantine.c.source,
                quarantine.c.path,
                quarantine.c.line,
                files.c.size,
            )
            .join(files, files.c.id == quarantine.c.file_id)
            .where(condition)
        ).all()
        groups: dict[tuple[str, str], list[Any]] = {}
        for record in records:
            groups.setdefault((record.source, record.path), []).append(record)
        for (group_source, group_path), members in groups.items():
            lines = sorted({m.line for m in members})
            replay_id = conn.execute(
                files.insert().values(
                    source=group_source,
                    path=group_path,
                    fingerprint=f"replay:{uuid.uuid4().hex}",
                    size=members[0].size,
                    mtime=now,
                    state=PENDING,
                    discovered_at=now,
                    updated_at=now,
                    replay_lines=json.dumps(lines),
                )
            ).inserted_primary_key[0]
            conn.execute(
                update(quarantine)
                .where(quarantine.c.id.in_([m.id for m in members]))
                .values(replayed_by=replay_id)
            )
            queued += len(members)
    return queued


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
            .values(
                state=PENDING,
                batch_id=None,
                content_hash=None,
                error=None,
                delivery=REPLAY,  # taken as new rows, not compared with the path's past
                updated_at=now,
            )
        )
        conn.execute(
            update(quarantine)
            .where(and_(quarantine.c.file_id.in_(ids), quarantine.c.replayed_at.is_(None)))
            .values(replayed_at=now)
        )
    return len(ids)
