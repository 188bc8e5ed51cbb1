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

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import Engine

from icehouse.errors import NoSuchQuarantineRecord
from icehouse.ingest.ledger import FileQueue, QuarantineLog, quarantine_log, queue
from icehouse.state.clock import SYSTEM_CLOCK, Clock


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
    rows = QuarantineLog(engine).records(
        source=source, kind=kind, include_replayed=include_replayed, limit=limit
    )
    return [_record(r) for r in rows]


def summary(engine: Engine) -> dict[str, dict[str, int]]:
    """{source: {"files": n, "lines": n}} of records not yet replayed."""
    result: dict[str, dict[str, int]] = {}
    for source, kind, count in QuarantineLog(engine).counts():
        result.setdefault(source, {"files": 0, "lines": 0})[f"{kind}s"] = count
    return result


def show_record(engine: Engine, record_id: int) -> QuarantineRecord:
    row = QuarantineLog(engine).record(record_id)
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


def replay_lines(
    engine: Engine,
    *,
    source: str | None = None,
    path: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> int:
    """Queue replays of quarantined lines of committed files (one queue entry per file,
    in one transaction with the records' marks); returns the lines queued."""
    now = clock()
    queued = 0
    with engine.begin() as conn:
        groups: dict[tuple[str, str], list[Any]] = {}
        for record in quarantine_log.replayable_lines(conn, source=source, path=path):
            groups.setdefault((record.source, record.path), []).append(record)
        for (group_source, group_path), members in groups.items():
            replay_id = queue.enqueue_replay(
                conn,
                source=group_source,
                path=group_path,
                size=members[0].size,
                lines=sorted({m.line for m in members}),
                now=now,
            )
            quarantine_log.mark_replay_queued(conn, [m.id for m in members], replay_id)
            queued += len(members)
    return queued


def replay_files(
    engine: Engine,
    *,
    source: str | None = None,
    path: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> int:
    """Queue quarantined files again; returns how many were queued."""
    return FileQueue(engine, clock=clock).requeue_quarantined(source=source, path=path)
