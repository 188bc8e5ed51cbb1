"""The ledger's owners opened together, and the heartbeat that keeps a batch's leases."""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Engine

from icehouse.ingest.ledger.batches import BatchLog
from icehouse.ingest.ledger.claims import ContentClaims
from icehouse.ingest.ledger.committers import CommitterLeases
from icehouse.ingest.ledger.quarantine_log import QuarantineLog
from icehouse.ingest.ledger.queue import FileQueue
from icehouse.ingest.ledger.slots import WriterSlots
from icehouse.state.clock import SYSTEM_CLOCK, Clock


@dataclass(frozen=True)
class Ledger:
    """The ingestion state of one process: each part owns one table of the state
    database, on one engine and one clock."""

    queue: FileQueue
    slots: WriterSlots
    batches: BatchLog
    claims: ContentClaims
    quarantine: QuarantineLog
    committers: CommitterLeases

    @classmethod
    def open(
        cls, engine: Engine, *, lease_seconds: float = 60.0, clock: Clock = SYSTEM_CLOCK
    ) -> Ledger:
        return cls(
            queue=FileQueue(engine, clock=clock),
            slots=WriterSlots(engine, lease_seconds=lease_seconds, clock=clock),
            batches=BatchLog(engine, lease_seconds=lease_seconds, clock=clock),
            claims=ContentClaims(engine, clock=clock),
            quarantine=QuarantineLog(engine),
            committers=CommitterLeases(engine, lease_seconds=lease_seconds, clock=clock),
        )


class Heartbeat:
    """Keeps a running batch's lease and its writer slot's lease fresh.

    Called often (per decoded chunk); it writes at most every ``interval`` (a quarter
    lease), so that a batch busy with one huge file is never mistaken for an abandoned
    one, and its writer id is never handed to another process while in use. The
    interval is measured on ``time.monotonic``: it is this process's own pace, never
    stored; the leases it writes are on the ledger's clock.
    """

    def __init__(
        self, ledger: Ledger, *, batch_id: str, writer_id: str, owner: str, interval: float
    ) -> None:
        self._ledger, self._batch_id = ledger, batch_id
        self._writer_id, self._owner = writer_id, owner
        self._interval = interval
        self._last = time.monotonic()

    def __call__(self) -> None:
        now = time.monotonic()
        if now - self._last >= self._interval:
            self._ledger.batches.renew(self._batch_id)
            self._ledger.slots.renew(self._writer_id, self._owner)
            self._last = now
