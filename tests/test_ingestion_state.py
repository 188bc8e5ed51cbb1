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
from tests.fixtures_lake import EVENTS, add_source, event, write_jsonl

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
