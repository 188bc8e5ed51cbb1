"""What every maintenance run did, kept in the state database (``icehouse maintain
history``), so that the effect of maintenance can be seen after the fact, even of a run
that was killed.

A run is written as ``running`` before it changes anything (``start_run``); what it
commits, or is about to delete, is appended as it happens (``note_committed``); its
``alive_until`` is pushed forward with its lease (``keep_alive``); it ends as ``ok``,
``partial`` or ``failed`` (``finish_run``). A ``running`` row whose owner died on this
host, or whose ``alive_until`` passed (any host), is read as ``interrupted``: nothing is
rewritten, so a reader on any host sees the same answer.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, insert, select, update

from icehouse.state.clock import SYSTEM_CLOCK, Clock
from icehouse.state.models import maintenance_runs as runs
from icehouse.state.owners import owner_is_dead, this_process

RUNNING, INTERRUPTED = "running", "interrupted"


@dataclass(frozen=True)
class MaintenanceRun:
    id: int
    table: str
    action: str
    started_at: float
    finished_at: float | None
    """None while running (or when interrupted)."""
    dry_run: bool
    status: str
    """running, ok, partial, failed, or interrupted (its owner died mid-run)."""
    summary: dict[str, Any]
    error: str | None
    owner: str | None = None
    committed: tuple[dict[str, Any], ...] = ()
    """What the run committed (or was about to delete), in order, as it happened."""

    @property
    def seconds(self) -> float | None:
        """None for a run that has not finished (running, or interrupted)."""
        return None if self.finished_at is None else self.finished_at - self.started_at

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "table": self.table,
            "action": self.action,
            "started_at": self.started_at,
            "seconds": None if self.seconds is None else round(self.seconds, 3),
            "dry_run": self.dry_run,
            "status": self.status,
            "owner": self.owner,
            "summary": self.summary,
            "committed": list(self.committed),
            "error": self.error,
        }


def start_run(
    engine: Engine,
    *,
    table: str,
    action: str,
    dry_run: bool,
    alive_for: float,
    clock: Clock = SYSTEM_CLOCK,
) -> int:
    """Record a run as ``running`` (before it takes its lease or changes anything)."""
    now = clock()
    with engine.begin() as conn:
        result = conn.execute(
            insert(runs).values(
                table_name=table,
                action=action,
                started_at=now,
                dry_run=int(dry_run),
                status=RUNNING,
                owner=this_process(),
                summary="{}",
                committed="[]",
                alive_until=now + alive_for,
            )
        )
        key = result.inserted_primary_key
        assert key is not None  # a single-row insert always has one
        return int(key[0])


def keep_alive(engine: Engine, run_id: int, alive_for: float, clock: Clock = SYSTEM_CLOCK) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(runs)
            .where(and_(runs.c.id == run_id, runs.c.status == RUNNING))
            .values(alive_until=clock() + alive_for)
        )


def note_committed(
    engine: Engine, run_id: int, what: dict[str, Any], *, clock: Clock = SYSTEM_CLOCK
) -> None:
    """Append ``what`` (a snapshot committed, files about to be deleted) to the run's
    record at once, so that a run killed right after still shows it. Only the run's own
    process writes its row, so read-then-write cannot lose an entry."""
    entry = {"at": round(clock(), 3)} | what
    with engine.begin() as conn:
        stored = conn.execute(select(runs.c.committed).where(runs.c.id == run_id)).scalar()
        committed = [*json.loads(stored or "[]"), entry]
        conn.execute(
            update(runs)
            .where(runs.c.id == run_id)
            .values(committed=json.dumps(committed, default=str))
        )


def finish_run(
    engine: Engine,
    run_id: int,
    *,
    status: str,
    summary: dict[str, Any],
    error: str | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> None:
    with engine.begin() as conn:
        conn.execute(
            update(runs)
            .where(runs.c.id == run_id)
            .values(
                status=status,
                finished_at=clock(),
                summary=json.dumps(summary, default=str),
                error=error,
            )
        )


def mark_interrupted(engine: Engine, *, table: str, owner: str | None, reason: str) -> int:
    """End the ``running`` runs of ``owner`` on ``table`` as ``interrupted`` (its lease
    was broken on purpose); returns how many. Should the owner still be alive after all,
    its own ``finish_run`` later records how it really ended."""
    with engine.begin() as conn:
        changed = conn.execute(
            update(runs)
            .where(
                and_(runs.c.table_name == table, runs.c.owner == owner, runs.c.status == RUNNING)
            )
            .values(status=INTERRUPTED, error=reason)
        )
    return changed.rowcount


def forget_table(conn: Connection, table: str) -> int:
    """Delete the runs of a dropped table; returns how many. Kept, they would read as the
    history of a new table given the same name, and the autopilot would plan that table's
    orphan sweeps from them."""
    return conn.execute(delete(runs).where(runs.c.table_name == table)).rowcount


def rename_table(conn: Connection, old: str, new: str) -> int:
    """Move the runs of table ``old`` to its new name ``new``; returns how many, so that
    ``maintain history NEW`` shows the table's whole history."""
    return conn.execute(
        update(runs).where(runs.c.table_name == old).values(table_name=new)
    ).rowcount


def list_runs(
    engine: Engine,
    table: str | None = None,
    *,
    limit: int = 50,
    dry_runs: bool = False,
    clock: Clock = SYSTEM_CLOCK,
) -> list[MaintenanceRun]:
    """The newest runs first; dry runs (which change nothing) only when asked for."""
    query = select(runs).order_by(runs.c.started_at.desc(), runs.c.id.desc()).limit(limit)
    if table is not None:
        query = query.where(runs.c.table_name == table)
    if not dry_runs:
        query = query.where(runs.c.dry_run == 0)
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    now = clock()
    return [
        MaintenanceRun(
            id=r["id"],
            table=r["table_name"],
            action=r["action"],
            started_at=r["started_at"],
            finished_at=r["finished_at"],
            dry_run=bool(r["dry_run"]),
            status=_status(r, now),
            summary=json.loads(r["summary"]),
            error=r["error"],
            owner=r["owner"],
            committed=tuple(json.loads(r["committed"] or "[]")),
        )
        for r in rows
    ]


def _status(row: Any, now: float) -> str:
    if row["status"] != RUNNING:
        return str(row["status"])
    lapsed = row["alive_until"] is None or row["alive_until"] < now
    return INTERRUPTED if lapsed or owner_is_dead(row["owner"]) else RUNNING
