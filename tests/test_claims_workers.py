"""Several real ``icehouse ingest --follow`` processes on a PostgreSQL state database
share a backlog evenly: each ingests its share within one batch, no file is claimed by
two of them, and a worker killed -9 mid-run loses and doubles nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from icehouse.ingest.ledger import COMMITTED
from icehouse.lake import Lake
from icehouse.state import models
from tests import fixtures_lake
from tests.test_claims import set_ingest
from tests.test_exactly_once import ids_in_table, make_lake, write_events
from tests.test_many_workers import stop, wait_for_rows

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

FILES = 40
ROWS_PER_FILE = 2000
FILES_PER_BATCH = 4


def backlog_lake(home: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lake on PostgreSQL whose batches hold at most ``FILES_PER_BATCH`` files, with
    ``FILES`` files staged beside its landing folder, ready to land at once."""
    monkeypatch.setenv("ICEHOUSE_STATE_URL", postgres_url)
    make_lake(home, commit_interval="1s", ingest='lease = "3s"').close()
    set_ingest(home, batch_rows=FILES_PER_BATCH * ROWS_PER_FILE)
    for n in range(FILES):
        write_events(home / "staged", f"f{n:03d}.jsonl.gz", n * ROWS_PER_FILE, ROWS_PER_FILE)


def start(home: Path, count: int) -> list[subprocess.Popen[bytes]]:
    """``count`` workers, returned once each holds its writer slot (all are polling)."""
    env = {**os.environ, "ICEHOUSE_HOME": str(home)}
    env.pop("ICEHOUSE_FAULT", None)
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "icehouse", "ingest", "--follow"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(count)
    ]
    lake = Lake.open(home)
    deadline = time.monotonic() + 120
    while slots_held(lake) < count:
        for worker in workers:
            assert worker.poll() is None, worker.stderr.read().decode()  # type: ignore[union-attr]
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.2)
    lake.close()
    return workers


def slots_held(lake: Lake) -> int:
    with fixtures_lake.engine_of(lake).connect() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(models.writers)
                .where(models.writers.c.lease_until > time.time())
            ).scalar_one()
        )


def land(home: Path) -> None:
    """Move every staged file into the landing folder (renames: each lands whole)."""
    landing = home / "landing"
    landing.mkdir(exist_ok=True)
    for staged in sorted((home / "staged").iterdir()):
        staged.rename(landing / staged.name)


def files_by_writer(lake: Lake) -> Counter[str]:
    """Committed files per writer slot (one slot per running worker)."""
    files, batches = models.files, models.batches
    with fixtures_lake.engine_of(lake).connect() as conn:
        rows = conn.execute(
            sa.select(batches.c.writer_id, sa.func.count())
            .select_from(files.join(batches, batches.c.id == files.c.batch_id))
            .where(files.c.state == COMMITTED)
            .group_by(batches.c.writer_id)
        ).all()
    return Counter({writer: int(n) for writer, n in rows})


def file_states(lake: Lake) -> Counter[str]:
    with fixtures_lake.engine_of(lake).connect() as conn:
        rows = conn.execute(
            sa.select(models.files.c.state, sa.func.count()).group_by(models.files.c.state)
        ).all()
    return Counter({state: int(n) for state, n in rows})


@pytest.mark.parametrize("count", [2, 4])
def test_workers_split_a_backlog_within_one_batch_of_even(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch, count: int
) -> None:
    home = tmp_path / "lake"
    backlog_lake(home, postgres_url, monkeypatch)
    workers = start(home, count)
    try:
        land(home)
        lake = Lake.open(home)
        expected = list(range(FILES * ROWS_PER_FILE))
        found = wait_for_rows(lake, expected, seconds=180)
        assert all(w.poll() is None for w in workers), "a worker exited on its own"
    finally:
        stop(workers)
    assert found == expected
    assert file_states(lake) == {COMMITTED: FILES}  # none is a duplicate: claimed once
    shares = files_by_writer(lake)
    assert len(shares) == count, shares
    even = FILES / count
    # Within one batch of even on an idle host (benchmarks/scale.py shows 80/80 of 160);
    # here the workers share two cores with another test's processes and get them
    # unevenly, so two batches. One worker taking the backlog (the bug) is far outside.
    assert all(abs(n - even) <= 2 * FILES_PER_BATCH for n in shares.values()), shares


def test_a_worker_killed_mid_run_loses_and_doubles_nothing(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One of four workers dies by SIGKILL once the first rows are in; the three others
    take its claimed files and open batch back when its lease lapses."""
    home = tmp_path / "lake"
    backlog_lake(home, postgres_url, monkeypatch)
    workers = start(home, 4)
    try:
        land(home)
        lake = Lake.open(home)
        deadline = time.monotonic() + 120
        while not ids_in_table(lake):
            assert time.monotonic() < deadline, "nothing was ingested"
            time.sleep(0.1)
        workers[0].send_signal(signal.SIGKILL)
        workers[0].wait(timeout=30)
        expected = list(range(FILES * ROWS_PER_FILE))
        found = wait_for_rows(lake, expected, seconds=180)
        assert all(w.poll() is None for w in workers[1:]), "a survivor exited on its own"
    finally:
        stop(workers)
    assert found == expected
    assert file_states(lake) == {COMMITTED: FILES}
