"""The committer's state, on SQLite and PostgreSQL: who commits a table (a lease that a
live holder keeps, a lapsed or dead one loses at once, every takeover a new term), and
the batch moves it relies on (open → written only while open, an open batch aborted only
while open, a written batch unsettled for every guard)."""

from __future__ import annotations

import socket
import subprocess
import sys
import uuid

from sqlalchemy import Engine

from icehouse.ingest.ledger import BatchWrite, CommitterLeases, ContentClaim, Ledger
from icehouse.state.clock import ShiftedClock
from icehouse.state.database import migrate

TABLE = "logs.events"


def written(paths: list[str]) -> BatchWrite:
    return BatchWrite(
        data_files=paths,
        manifests=[],
        rows=3,
        late_rows=0,
        bytes_written=100,
        newest_event={"s": 5},
        replaced={},
        oldest_landed=1.0,
    )


def dead_owner() -> str:
    """``host:pid`` of a process of this host that has ended."""
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return f"{socket.gethostname()}:{ended.stdout.strip()}"


def test_a_live_committer_keeps_its_table_and_a_lapsed_one_loses_it(
    state_engine: Engine,
) -> None:
    migrate(state_engine)
    clock = ShiftedClock()
    leases = CommitterLeases(state_engine, lease_seconds=60, clock=clock)
    first = leases.take(TABLE, "far-host:1")
    assert first is not None and first.term == 1 and first.taken_over
    assert leases.take(TABLE, "near-host:2") is None  # alive elsewhere: not ours
    renewed = leases.take(TABLE, "far-host:1")
    assert renewed is not None and renewed.term == 1 and not renewed.taken_over

    clock.advance(61)  # the far host stopped renewing a minute ago
    taken = leases.take(TABLE, "near-host:2")
    assert taken is not None and taken.term == 2 and taken.taken_over
    assert leases.take(TABLE, "far-host:1") is None  # it cannot take it back while held
    assert [(h.owner, h.term) for h in leases.holders()] == [("near-host:2", 2)]


def test_a_dead_local_committer_is_replaced_at_once_and_a_released_lease_is_free(
    state_engine: Engine,
) -> None:
    migrate(state_engine)
    leases = CommitterLeases(state_engine, lease_seconds=60, clock=ShiftedClock())
    assert leases.take(TABLE, dead_owner()) is not None
    taken = leases.take(TABLE, "far-host:1")  # no waiting for the lease to run out
    assert taken is not None and taken.term == 2
    leases.release(TABLE, "far-host:1")
    again = leases.take(TABLE, "near-host:2")
    assert again is not None and again.term == 3


def test_a_batch_is_written_only_while_open_and_aborted_only_while_open(
    state_engine: Engine,
) -> None:
    migrate(state_engine)
    ledger = Ledger.open(state_engine, clock=ShiftedClock())
    writer, _ = ledger.slots.acquire("here:1")

    recovered = ledger.batches.open(uuid.uuid4().hex, TABLE, writer)
    assert ledger.batches.abort(recovered.id)
    assert not ledger.batches.write(recovered.id, written(["a.parquet"]))  # too late

    handed = ledger.batches.open(uuid.uuid4().hex, TABLE, writer)
    assert ledger.batches.write(handed.id, written(["b.parquet"]))
    assert not ledger.batches.abort(handed.id)  # a written batch is its committer's
    [waiting] = ledger.batches.written(TABLE)
    assert (waiting.id, waiting.seq, waiting.write.data_files) == (handed.id, 2, ["b.parquet"])
    assert waiting.write.newest_event == {"s": 5} and waiting.write.rows == 3
    assert [(b.id, b.state) for b in ledger.batches.open_batches(table=TABLE)] == [
        (handed.id, "written")
    ]
    assert ledger.batches.still_written({handed.id, recovered.id}) == {handed.id}

    assert ledger.batches.commit({handed.id: 7}) == [handed.id]
    assert ledger.batches.commit({handed.id: 7}) == []  # recorded once
    assert ledger.batches.open_batches() == [] and not ledger.batches.has_written(TABLE)


def test_a_content_held_by_a_written_batch_makes_another_batch_wait(
    state_engine: Engine,
) -> None:
    """Written is not settled: the content is the written batch's until its committer
    commits it (then a duplicate), never free to take again."""
    migrate(state_engine)
    ledger = Ledger.open(state_engine, clock=ShiftedClock())
    writer, _ = ledger.slots.acquire("here:1")
    first = ledger.batches.open(uuid.uuid4().hex, TABLE, writer)
    assert ledger.claims.claim(TABLE, "c1", file_id=1, batch_id=first.id, sources=["s"]) is (
        ContentClaim.OWN
    )
    assert ledger.batches.write(first.id, written(["a.parquet"]))
    second = ledger.batches.open(uuid.uuid4().hex, TABLE, writer)
    claim = ledger.claims.claim(TABLE, "c1", file_id=2, batch_id=second.id, sources=["s"])
    assert claim is ContentClaim.WAIT
    ledger.batches.commit({first.id: 1})
    claim = ledger.claims.claim(TABLE, "c1", file_id=2, batch_id=second.id, sources=["s"])
    assert claim is ContentClaim.DUPLICATE
