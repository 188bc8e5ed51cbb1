"""Ingestion state has one owner per table, and every stored time comes from one
injected clock: a test moves the clock past a lease instead of sleeping."""

from __future__ import annotations

import ast
import uuid
from pathlib import Path

from pyiceberg.table import Table

from icehouse.ingest.landing import LandedFile
from icehouse.ingest.ledger import Ledger
from icehouse.lake import Lake
from icehouse.maintain.leases import Leases
from icehouse.state.clock import ShiftedClock
from tests import fixtures_lake
from tests.fixtures_lake import EVENTS, add_source, event, ids, write_jsonl
from tests.test_claims import set_ingest

home, lake, landing, events = (
    fixtures_lake.home,
    fixtures_lake.lake,
    fixtures_lake.landing,
    fixtures_lake.events,
)

SRC = Path(__file__).resolve().parents[1] / "src" / "icehouse"
STATE_TABLES = {"files", "batches", "contents", "writers", "quarantine", "committers"}


def test_a_batch_whose_lease_lapsed_on_the_clock_is_recovered_by_another_process(
    lake: Lake, events: Table, landing: Path
) -> None:
    add_source(lake, "s", landing)
    write_jsonl(landing / "a.jsonl", [event(1), event(2)])
    clock = ShiftedClock()
    stalled = Ledger.open(fixtures_lake.engine_of(lake), lease_seconds=60, clock=clock)
    stalled.queue.register("s", [LandedFile(str(landing / "a.jsonl"), 1, 1.0)])
    writer, _ = stalled.slots.acquire("far-host:1")
    batch = stalled.batches.open(uuid.uuid4().hex, EVENTS, writer)
    assert len(stalled.queue.claim(batch.id, ["s"], 10)) == 1

    clock.advance(61)  # the far host stopped renewing a minute ago
    peer = Ledger.open(fixtures_lake.engine_of(lake), lease_seconds=60, clock=clock)
    [open_batch] = peer.batches.open_batches()
    assert open_batch.lease_until < clock()
    peer.batches.abort(open_batch.id)

    assert peer.queue.has_pending(["s"])
    assert {f.state for f in peer.queue.files_of(batch.id)} == set()
    assert peer.slots.acquire("here:2")[0] == writer  # its slot lapsed too


def test_a_batch_a_recovery_settled_claims_no_more_files(
    lake: Lake, events: Table, landing: Path
) -> None:
    """A stalled worker's batch was aborted by a peer (its lease had lapsed); when the
    worker wakes up, its next claim takes nothing. A file claimed into a settled batch
    would stay claimed for ever: recovery only looks at open batches."""
    add_source(lake, "s", landing)
    clock = ShiftedClock()
    stalled = Ledger.open(fixtures_lake.engine_of(lake), lease_seconds=60, clock=clock)
    writer, _ = stalled.slots.acquire("far-host:1")
    batch = stalled.batches.open(uuid.uuid4().hex, EVENTS, writer)
    clock.advance(61)
    peer = Ledger.open(fixtures_lake.engine_of(lake), lease_seconds=60, clock=clock)
    peer.batches.abort(batch.id)

    landed = write_jsonl(landing / "a.jsonl", [event(1)])
    stat = landed.stat()
    stalled.queue.register("s", [LandedFile(str(landed), stat.st_size, stat.st_mtime)])
    assert stalled.queue.claim(batch.id, ["s"], 10) == []

    lake.ingest()
    assert ids(lake) == [1]


def test_a_worker_busy_with_back_to_back_batches_keeps_its_writer_slot(
    home: Path, lake: Lake, events: Table, landing: Path
) -> None:
    """Each batch here ends before its heartbeat is due, and a minute passes per batch:
    a peer that starts meanwhile gets a writer slot of its own, never the busy worker's
    (it would take the worker's open batch for its own and recover it)."""
    add_source(lake, "s", landing)
    set_ingest(home, batch_rows=1)
    for i in range(1, 7):
        write_jsonl(landing / f"{i}.jsonl", [event(i)])
    clock = ShiftedClock()
    peer = Ledger.open(fixtures_lake.engine_of(lake), lease_seconds=60, clock=clock)
    slots: list[tuple[str, str]] = []

    def a_peer_starts_at_each_batch(point: str) -> None:
        if point == "batch.claimed":
            [running] = peer.batches.open_batches()
            given, _ = peer.slots.acquire(f"far-host:{len(slots)}")
            slots.append((running.writer_id, given))
        elif point == "batch.recorded":
            clock.advance(20)

    with Lake.open(home, faults=a_peer_starts_at_each_batch, clock=clock) as busy:
        assert busy.ingest().batches == 6
    assert [given for running, given in slots if given == running] == []
    assert ids(lake) == [1, 2, 3, 4, 5, 6]


def test_a_maintenance_lease_lapses_on_the_clock(lake: Lake) -> None:
    clock = ShiftedClock()
    far = Leases(fixtures_lake.engine_of(lake), owner="far-host:1", seconds=60, clock=clock)
    near = Leases(fixtures_lake.engine_of(lake), owner="near-host:2", seconds=60, clock=clock)
    assert far.try_acquire("maintain:logs.events")
    assert not near.try_acquire("maintain:logs.events")

    clock.advance(61)

    assert far.lease("maintain:logs.events") is None
    assert near.try_acquire("maintain:logs.events")


def test_only_the_ledger_holds_sql_on_ingestion_tables() -> None:
    """Outside ``ingest/ledger/`` (and the schema in ``state/``), no module imports the
    ingestion tables' models."""
    offenders = []
    for path in SRC.rglob("*.py"):
        relative = path.relative_to(SRC).as_posix()
        if relative.startswith(("ingest/ledger/", "state/")):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "icehouse.state.models":
                used = {alias.name for alias in node.names} & STATE_TABLES
                if used:
                    offenders.append(f"{relative}: {sorted(used)}")
    assert offenders == []


def test_ingestion_and_leases_take_the_time_from_the_injected_clock() -> None:
    """``time.time()`` is read in one place, ``state/clock.py``: whatever stores or
    compares a lease or a record time takes a ``Clock``."""
    modules = [*(SRC / "ingest").rglob("*.py"), SRC / "maintain" / "leases.py"]
    modules += [SRC / "maintain" / "reports.py", SRC / "maintain" / "service.py"]
    calls = []
    for path in modules:
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "time"
                and isinstance(node.value, ast.Name)
                and node.value.id == "time"
            ):
                calls.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert calls == [], "use the injected Clock (state/clock.py) instead of time.time"
