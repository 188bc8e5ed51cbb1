"""One committer per table: workers only write batches; the table's committer, elected by
a lease, commits every written batch, several in one snapshot. Exactly once holds across
a committer's crash at each step of the handover, and a stalled committer that wakes up
after another took its place commits nothing twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from sqlalchemy import func, select

from icehouse.ingest.faults import FAULT_EXIT_CODE, SimulatedCrash, no_faults
from icehouse.ingest.ledger import BatchWrite, CommitterLeases, Ledger, WrittenBatch
from icehouse.ingest.report import IngestReport, NoProgress
from icehouse.ingest.table_committer import (
    CommitterSetup,
    TableCommitter,
    commit_groups,
    in_commit_order,
)
from icehouse.lake import Lake
from icehouse.state.clock import SYSTEM_CLOCK
from icehouse.state.models import batches, files
from icehouse.tables.catalog import load_table
from icehouse.tables.commit import PendingBatch, commit_batches
from icehouse.tables.writer import TableWriter
from tests import fixtures_lake
from tests.test_exactly_once import (
    data_files_in_table,
    data_files_on_disk,
    ids_in_table,
    make_lake,
    run_cli,
    write_events,
)

ROWS = 20
TABLE = "logs.events"
HANDOVER_POINTS = ("commit.leased", "commit.gathered", "batch.committed", "batch.recorded")


def land(home: Path, count: int) -> None:
    for n in range(count):
        write_events(home / "landing", f"f{n:04d}.jsonl.gz", n * ROWS, ROWS)


def batch_states(lake: Lake) -> dict[str, int]:
    with fixtures_lake.engine_of(lake).connect() as conn:
        rows = conn.execute(select(batches.c.state, func.count()).group_by(batches.c.state))
        return {state: count for state, count in rows}


def file_states(lake: Lake) -> set[str]:
    with fixtures_lake.engine_of(lake).connect() as conn:
        return set(conn.execute(select(files.c.state).distinct()).scalars())


def batches_by_snapshot(lake: Lake) -> list[list[str]]:
    """Per ingestion snapshot, oldest first: the batch ids it names."""
    table = fixtures_lake.iceberg_table(lake, TABLE)
    return [
        s.summary["icehouse.batch-ids"].split(",")
        for s in table.metadata.snapshots
        if s.summary is not None and s.summary.get("icehouse.batch-ids")
    ]


def committers_by_snapshot(lake: Lake) -> list[str]:
    table = fixtures_lake.iceberg_table(lake, TABLE)
    return [
        s.summary["icehouse.committer"]
        for s in table.metadata.snapshots
        if s.summary is not None and s.summary.get("icehouse.committer")
    ]


def staged_manifests(home: Path) -> list[Path]:
    return list((home / "warehouse").rglob("batch-*.avro"))


def assert_exactly_once(lake: Lake, home: Path, files_landed: int) -> None:
    assert ids_in_table(lake) == list(range(files_landed * ROWS))
    assert set(batch_states(lake)) == {"committed"}
    assert file_states(lake) == {"committed"}
    named = Counter(i for ids in batches_by_snapshot(lake) for i in ids)
    assert named and set(named.values()) == {1}  # every batch in exactly one snapshot
    assert data_files_on_disk(home) == data_files_in_table(lake)
    assert staged_manifests(home) == []


class HeldElsewhere:
    """A faults hook: from the first claim until the ``written``-th batch is written, a
    live committer on another host holds the table's lease, so the batches wait; then its
    lease runs out, this worker's committer takes over and gathers all of them. It
    crashes at ``point`` once."""

    def __init__(self, point: str, written: int) -> None:
        self.point, self.written = point, written
        self.lake: Lake | None = None
        self.seen: Counter[str] = Counter()

    def __call__(self, reached: str) -> None:
        assert self.lake is not None
        leases = CommitterLeases(fixtures_lake.engine_of(self.lake))
        self.seen[reached] += 1
        if reached == "batch.claimed" and self.seen[reached] == 1:
            assert leases.take(TABLE, "far-host:1") is not None
        if reached == "batch.written" and self.seen[reached] == self.written:
            assert batch_states(self.lake) == {"written": self.written}
            leases.release(TABLE, "far-host:1")
        if reached == self.point and self.seen[reached] == 1:
            raise SimulatedCrash(reached)


@pytest.mark.parametrize("point", HANDOVER_POINTS)
def test_the_next_committer_settles_every_written_batch_once_after_a_crash(
    tmp_path: Path, point: str
) -> None:
    home = tmp_path / "lake"
    make_lake(home, ingest="batch_files = 1").close()
    land(home, 5)
    hook = HeldElsewhere(point, written=5)
    crashing = Lake.open(home, faults=hook)
    hook.lake = crashing
    with pytest.raises(SimulatedCrash):
        crashing.ingest()
    crashing.close()

    lake = Lake.open(home)  # another ingester: the table's next committer
    report = lake.ingest()
    assert report.recovered_committed == (0 if point == "batch.recorded" else 5)
    assert_exactly_once(lake, home, 5)
    assert len(batches_by_snapshot(lake)) == 1  # the five written batches in one snapshot
    assert lake.ingest().rows == 0
    assert ids_in_table(lake) == list(range(5 * ROWS))


@pytest.mark.parametrize("point", HANDOVER_POINTS)
def test_a_real_committer_killed_at_each_step_is_replaced_by_the_next_process(
    tmp_path: Path, point: str
) -> None:
    home = tmp_path / "lake"
    make_lake(home, ingest="batch_files = 1").close()
    land(home, 3)
    env = {**os.environ, "ICEHOUSE_HOME": str(home), "ICEHOUSE_FAULT": point}

    crashed = run_cli("ingest", env=env)
    assert crashed.returncode == FAULT_EXIT_CODE, crashed.stderr

    del env["ICEHOUSE_FAULT"]
    finished = run_cli("ingest", "--format", "json", env=env)
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)
    assert report["recovered_committed"] == (0 if point == "batch.recorded" else 1)
    lake = Lake.open(home)
    assert_exactly_once(lake, home, 3)


def wait_for(condition, seconds: float = 60.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.1)


def test_a_stalled_committer_whose_lease_was_taken_commits_nothing_twice(
    tmp_path: Path,
) -> None:
    home = tmp_path / "lake"
    make_lake(home, ingest='lease = "2s"').close()
    land(home, 3)
    pause = tmp_path / "pause"
    pause.mkdir()
    (pause / "armed").touch()
    env = {**os.environ, "ICEHOUSE_HOME": str(home)}
    env.pop("ICEHOUSE_FAULT", None)
    stalled = subprocess.Popen(
        [sys.executable, "-m", "icehouse", "ingest"],
        env={**env, "ICEHOUSE_PAUSE": f"commit.gathered:{pause}"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: (pause / "paused").exists())
        lake = Lake.open(home)
        leases = CommitterLeases(fixtures_lake.engine_of(lake))
        held = leases.holder(TABLE)
        assert held is not None and held.term == 1
        wait_for(lambda: leases.holder(TABLE).lease_until < time.time())  # type: ignore[union-attr]

        taking_over = run_cli("ingest", "--format", "json", env=env)
        assert taking_over.returncode == 0, taking_over.stderr
        assert ids_in_table(lake) == list(range(3 * ROWS))
    finally:
        (pause / "paused").unlink(missing_ok=True)  # the stalled committer goes on
    _, stderr = stalled.communicate(timeout=120)
    assert stalled.returncode == 0, stderr.decode()
    assert_exactly_once(lake, home, 3)
    [committer] = committers_by_snapshot(lake)
    assert committer.endswith("term 2")  # the one that took over committed, only it


def test_a_commit_built_on_a_stale_table_is_not_made_twice(tmp_path: Path) -> None:
    """A committer that loaded the table before another one committed the same batch:
    its compare-and-swap fails, its next attempt reloads and finds the batch there."""
    home = tmp_path / "lake"
    lake = make_lake(home)
    catalog = fixtures_lake.catalog_of(lake)
    stale = load_table(catalog, TABLE)
    writer = TableWriter(stale, name_prefix="b1")
    row = {"id": [1], "ts": [datetime(2024, 6, 1, 10, tzinfo=UTC)], "tenant": [1], "msg": ["x"]}
    writer.write(pa.table(row, schema=stale.schema().as_arrow()))
    batch = PendingBatch("b1", "w9", 1, writer.close(), rows=1)

    first = commit_batches(lambda: load_table(catalog, TABLE), [batch])
    assert first.snapshot_id is not None and first.committed == ["b1"]
    loads = iter([stale])  # the first attempt sees the table as it was before
    again = commit_batches(lambda: next(loads, None) or load_table(catalog, TABLE), [batch])
    assert again.snapshot_id is None and again.already == ["b1"] and again.attempts == 2
    assert ids_in_table(lake) == [1]
    assert len(batches_by_snapshot(lake)) == 1


@pytest.mark.slow
def test_several_workers_share_one_committer_per_table(tmp_path: Path) -> None:
    """Three workers on one table: every batch goes in once, through one committer at a
    time (each term one owner, terms in order), several batches a snapshot, and no
    worker meets a commit conflict."""
    home = tmp_path / "lake"
    make_lake(home, commit_interval="0.5s", ingest="batch_files = 2").close()
    land(home, 24)
    env = {**os.environ, "ICEHOUSE_HOME": str(home)}
    env.pop("ICEHOUSE_FAULT", None)
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "icehouse", "ingest", "--follow"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(3)
    ]
    lake = Lake.open(home)
    try:
        wait_for(
            lambda: (
                set(batch_states(lake)) == {"committed"}
                and ids_in_table(lake) == list(range(24 * ROWS))
            ),
            seconds=120,
        )
        assert all(w.poll() is None for w in workers), "a worker exited on its own"
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGINT)
        errors = [w.communicate(timeout=60)[1].decode() for w in workers]
    assert not [e for e in errors if "CommitConflict" in e or "Traceback" in e], errors
    assert_exactly_once(lake, home, 24)
    owners = [c.rpartition(" term ") for c in committers_by_snapshot(lake)]
    terms = [(int(term), owner) for owner, _, term in owners]
    assert len(terms) == len(batches_by_snapshot(lake))  # every snapshot names its committer
    assert terms == sorted(terms)  # terms in order...
    assert all(len({o for t, o in terms if t == term}) == 1 for term, _ in terms)  # one owner
    assert len(terms) <= batch_states(lake)["committed"]


def waiting(
    batch_id: str, writer: str, seq: int, *, at: float, replaced: bool = False
) -> WrittenBatch:
    write = BatchWrite(["f"], [], 1, 0, 1, {}, {"file": ["x"]} if replaced else {}, None)
    return WrittenBatch(batch_id, TABLE, writer, seq, at, write, None)


def test_a_writers_batches_commit_in_sequence_order_whatever_the_clocks_said() -> None:
    """Host clocks disagree: w1's batch 2 seems written before its batch 1. Committed in
    that order, w1's watermark would pass batch 1 before the table holds it."""
    written = [
        waiting("w1-2", "w1", 2, at=1.0),
        waiting("w2-1", "w2", 1, at=2.0, replaced=True),
        waiting("w1-1", "w1", 1, at=3.0),
    ]
    ordered = in_commit_order(written)
    assert [b.id for b in ordered] == ["w1-1", "w2-1", "w1-2"]
    assert [[b.id for b in g] for g in commit_groups(ordered)] == [["w1-1"], ["w2-1"], ["w1-2"]]


def test_an_open_batch_an_earlier_release_committed_itself_is_settled_not_deleted(
    tmp_path: Path,
) -> None:
    """Before one committer per table, a worker committed its own batch and recorded its
    data files while the batch was still open: one that died after its commit left such
    a batch. Its recovery finds it in the table and keeps its files."""
    home = tmp_path / "lake"
    lake = make_lake(home)
    land(home, 1)
    lake.ingest()
    with fixtures_lake.engine_of(lake).begin() as conn:  # as the earlier release left it
        conn.execute(batches.update().values(state="open", lease_until=0.0))
        conn.execute(files.update().values(state="claimed"))
    lake.close()

    lake = Lake.open(home)
    report = lake.ingest()
    assert (report.recovered_committed, report.recovered_aborted, report.rows) == (1, 0, 0)
    assert_exactly_once(lake, home, 1)


def test_a_workers_report_counts_its_batches_that_another_committer_committed(
    tmp_path: Path,
) -> None:
    """The table's committer on another host commits this worker's batches: the worker's
    report still counts them (commits, data files, bytes written), not zero."""
    home = tmp_path / "lake"
    lake = make_lake(home, ingest="batch_files = 2")
    land(home, 4)
    far = "far-host:1"
    ledger = Ledger.open(fixtures_lake.engine_of(lake), lease_seconds=60)
    assert ledger.committers.take(TABLE, far) is not None
    env = {**os.environ, "ICEHOUSE_HOME": str(home)}
    env.pop("ICEHOUSE_FAULT", None)
    worker = subprocess.Popen(
        [sys.executable, "-m", "icehouse", "ingest", "--format", "json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: batch_states(lake) == {"written": 2})
        committer = TableCommitter(
            catalog=fixtures_lake.catalog_of(lake),
            ledger=ledger,
            setup=CommitterSetup(owner=far, poll_seconds=0.1),
            faults=no_faults,
            progress=NoProgress(),
            clock=SYSTEM_CLOCK,
            settled=lambda _: None,
        )
        theirs = IngestReport()
        committer.step(TABLE, theirs, own=set(), writer_id=None, urgent=True)
        out, err = worker.communicate(timeout=60)
    finally:
        worker.kill()
    assert worker.returncode == 0, err.decode()
    report = json.loads(out)
    assert set(batch_states(lake)) == {"committed"}
    assert (report["rows"], report["batches"]) == (4 * ROWS, 2)
    assert report["data_files"] == len(data_files_in_table(lake)) > 0
    assert report["bytes_written"] > 0
    assert theirs.batches == 0  # none of its own: the writer counts its batches
    lake.close()
