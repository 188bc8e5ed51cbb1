"""The quarantine log (``ingest_quarantine``): bad files and bad lines, with reasons.

Records are written in the transaction that records their file's outcome
(``FileQueue.finish``), marked replayed in the one that commits their replay's batch
(``BatchLog.commit``), and dropped with the batch when it aborts (lines only: a file
quarantined whole is final). Their text is stored escaped where a database cannot take
it (NUL, see ``state/text.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, select, update
from sqlalchemy.sql import Select

from icehouse.ingest.ledger.records import COMMITTED
from icehouse.state.models import files, quarantine
from icehouse.state.text import storable_or_none, storable_text

QuarantineEntry = tuple[str, int | None, str, str]
"""(kind, line, raw, reason): ``kind`` is ``file`` or ``line``."""


class QuarantineLog:
    """Reads ``ingest_quarantine`` (writes happen inside the queue's and the batch log's
    transactions, through the functions below)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def records(
        self,
        *,
        source: str | None = None,
        kind: str | None = None,
        include_replayed: bool = False,
        limit: int = 100,
    ) -> list[Any]:
        query = select(quarantine).order_by(quarantine.c.id).limit(limit)
        if source:
            query = query.where(quarantine.c.source == source)
        if kind:
            query = query.where(quarantine.c.kind == kind)
        if not include_replayed:
            query = query.where(quarantine.c.replayed_at.is_(None))
        with self._engine.connect() as conn:
            return list(conn.execute(query))

    def record(self, record_id: int) -> Any | None:
        with self._engine.connect() as conn:
            return conn.execute(select(quarantine).where(quarantine.c.id == record_id)).first()

    def counts(self) -> list[tuple[str, str, int]]:
        """(source, kind, records) of records not yet replayed."""
        with self._engine.connect() as conn:
            rows = conn.execute(
                select(quarantine.c.source, quarantine.c.kind, func.count())
                .where(quarantine.c.replayed_at.is_(None))
                .group_by(quarantine.c.source, quarantine.c.kind)
            ).all()
        return [(source, kind, int(count)) for source, kind, count in rows]

    def settle_cut_line(self, source: str, path: str, *, line: int, by_file: int) -> bool:
        """Whether line ``line`` of ``path`` is in the quarantine (unsettled); if so, it is
        marked as taken again by file ``by_file`` (settled when that file commits): a
        line a pausing writer had cut, which it has completed since."""
        with self._engine.begin() as conn:
            return bool(
                conn.execute(
                    update(quarantine)
                    .where(
                        and_(
                            quarantine.c.source == source,
                            quarantine.c.path == path,
                            quarantine.c.kind == "line",
                            quarantine.c.line == line,
                            quarantine.c.replayed_at.is_(None),
                        )
                    )
                    .values(replayed_by=by_file)
                ).rowcount
            )

    def open_lines(self, source: str) -> int:
        """Quarantined lines of ``source`` not yet replayed."""
        with self._engine.connect() as conn:
            return int(
                conn.execute(
                    select(func.count())
                    .select_from(quarantine)
                    .where(
                        and_(
                            quarantine.c.source == source,
                            quarantine.c.kind == "line",
                            quarantine.c.replayed_at.is_(None),
                        )
                    )
                ).scalar_one()
            )


# -- within another owner's transaction ---------------------------------------------------


def add(
    conn: Connection,
    *,
    source: str,
    path: str,
    file_id: int,
    entries: Sequence[QuarantineEntry],
    now: float,
) -> None:
    conn.execute(
        quarantine.insert(),
        [
            {
                "source": source,
                "path": path,
                "file_id": file_id,
                "kind": kind,
                "line": line,
                "raw": storable_or_none(raw),
                "reason": storable_text(reason),
                "created_at": now,
            }
            for kind, line, raw, reason in entries
        ],
    )


def mark_replayed_by(conn: Connection, replays: Select[tuple[int]], now: float) -> None:
    """Lines whose replay entry (one of ``replays``, file ids) just committed."""
    conn.execute(
        update(quarantine).where(quarantine.c.replayed_by.in_(replays)).values(replayed_at=now)
    )


def mark_files_replayed(conn: Connection, file_ids: Sequence[int], now: float) -> None:
    """Records of files queued again whole."""
    conn.execute(
        update(quarantine)
        .where(and_(quarantine.c.file_id.in_(file_ids), quarantine.c.replayed_at.is_(None)))
        .values(replayed_at=now)
    )


def drop_lines_of(conn: Connection, file_ids: Select[tuple[int]]) -> None:
    """Line records of files going back to the queue: they are found again."""
    conn.execute(
        delete(quarantine).where(
            and_(quarantine.c.file_id.in_(file_ids), quarantine.c.kind == "line")
        )
    )


def replayable_lines(conn: Connection, *, source: str | None, path: str | None) -> list[Any]:
    """Quarantined lines of committed files not yet replayed nor queued for replay, with
    their file's size (id, source, path, line, size)."""
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
    return list(
        conn.execute(
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
    )


def mark_replay_queued(conn: Connection, record_ids: Sequence[int], replay_id: int) -> None:
    conn.execute(
        update(quarantine).where(quarantine.c.id.in_(record_ids)).values(replayed_by=replay_id)
    )


def forget(conn: Connection, cutoff: float) -> int:
    """Drop records older than ``cutoff``; returns how many."""
    return int(conn.execute(delete(quarantine).where(quarantine.c.created_at < cutoff)).rowcount)
