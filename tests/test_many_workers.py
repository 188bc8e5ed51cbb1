"""Several real ``icehouse ingest --follow`` processes on one lake: content that lands
twice under two names goes in once, and a worker that dies has its claimed files and
open batch taken over by a running peer once its lease lapses (no restart needed)."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import and_, func, select

from icehouse.ingest.ledger import PENDING, BatchLog
from icehouse.lake import Lake
from icehouse.state.models import files
from tests import fixtures_lake
from tests.test_exactly_once import ids_in_table, make_lake, write_events

ROWS_PER_FILE = 20


def start_workers(home: Path, count: int, **env: str) -> list[subprocess.Popen[bytes]]:
    environ = {**os.environ, "ICEHOUSE_HOME": str(home), **env}
    if "ICEHOUSE_FAULT" not in env:
        environ.pop("ICEHOUSE_FAULT", None)
    return [
        subprocess.Popen(
            [sys.executable, "-m", "icehouse", "ingest", "--follow"],
            env=environ,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        for _ in range(count)
    ]


def open_batches(lake: Lake) -> int:
    return len(BatchLog(fixtures_lake.engine_of(lake)).open_batches())


def queued(lake: Lake, source: str) -> int:
    """Files of ``source`` back in the queue (pending, claimed by nobody)."""
    with fixtures_lake.engine_of(lake).connect() as conn:
        return int(
            conn.execute(
                select(func.count())
                .select_from(files)
                .where(and_(files.c.source == source, files.c.state == PENDING))
            ).scalar_one()
        )


def stop(workers: list[subprocess.Popen[bytes]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGINT)
    for worker in workers:
        worker.wait(timeout=60)


def wait_for_rows(lake: Lake, expected: list[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    while True:
        found = ids_in_table(lake)
        if found == expected or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


class TwiceFeeder(threading.Thread):
    """Lands a new file every 0.4 s, and the same content again under a second name
    (recompressed) 0.8–2.5 s after the first, as the testers' providers did."""

    def __init__(self, landing: Path, files: int) -> None:
        super().__init__(daemon=True)
        self.landing, self.files = landing, files

    def run(self) -> None:
        copies: list[tuple[float, int]] = []
        for n in range(self.files):
            write_events(self.landing, f"f{n:04d}.jsonl.gz", n * ROWS_PER_FILE, ROWS_PER_FILE)
            copies.append((time.monotonic() + 0.8 + (n * 0.37) % 1.7, n))
            self._land_copies_due(copies)
            time.sleep(0.4)
        while copies:
            self._land_copies_due(copies)
            time.sleep(0.05)

    def _land_copies_due(self, copies: list[tuple[float, int]]) -> None:
        now = time.monotonic()
        for due, n in [c for c in copies if c[0] <= now]:
            original = gzip.decompress((self.landing / f"f{n:04d}.jsonl.gz").read_bytes())
            temporary = self.landing / f".copy{n:04d}.part"
            temporary.write_bytes(gzip.compress(original, compresslevel=9))
            temporary.rename(self.landing / f"copy-{n:04d}.jsonl.gz")
            copies.remove((due, n))


@pytest.mark.slow
@pytest.mark.parametrize("processes", [1, 2, 4])
def test_the_same_content_under_two_names_goes_in_once_whatever_the_workers(
    tmp_path: Path, processes: int
) -> None:
    home = tmp_path / "lake"
    make_lake(home, commit_interval="10s").close()  # the default interval, as reported
    feeder = TwiceFeeder(home / "landing", files=12)
    workers = start_workers(home, processes)
    try:
        feeder.start()
        feeder.join(60)
        lake = Lake.open(home)
        expected = list(range(12 * ROWS_PER_FILE))
        found = wait_for_rows(lake, expected, seconds=60)
        assert all(w.poll() is None for w in workers), "a worker exited on its own"
    finally:
        stop(workers)
    assert found == expected
    duplicates = sum(s.files_duplicate for s in lake.sources.status())
    assert duplicates == 12


@pytest.mark.slow
def test_a_running_worker_takes_back_a_dead_peers_claimed_files(tmp_path: Path) -> None:
    """The survivor is already running (it follows an idle source of the same lake) when
    the peer dies holding claimed files: its own loop settles the peer's open batch, no
    restart needed, and the files are ingested once afterwards."""
    home = tmp_path / "lake"
    lake = make_lake(home, commit_interval="0.5s", ingest='lease = "3s"')
    lake.sources.add(
        lake.sources.get("events").model_copy(
            update={"name": "idle", "location": str(tmp_path / "idle")}
        )
    )
    lake.close()
    landing = home / "landing"
    for n in range(10):
        write_events(landing, f"f{n:04d}.jsonl.gz", n * ROWS_PER_FILE, ROWS_PER_FILE)
    environ = {**os.environ, "ICEHOUSE_HOME": str(home)}
    survivor = subprocess.Popen(
        [sys.executable, "-m", "icehouse", "ingest", "--follow", "idle"],
        env={k: v for k, v in environ.items() if k != "ICEHOUSE_FAULT"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        # The peer dies hard (exit 86, like kill -9) with its files claimed in an open
        # batch (a written batch is its table's committer's: test_table_committer.py).
        doomed = subprocess.run(
            [sys.executable, "-m", "icehouse", "ingest", "--once", "events"],
            env={**environ, "ICEHOUSE_FAULT": "batch.claimed"},
            capture_output=True,
            timeout=120,
        )
        assert doomed.returncode == 86, doomed.stderr.decode()
        lake = Lake.open(home)
        deadline = time.monotonic() + 30
        while queued(lake, "events") != 10 or open_batches(lake):
            assert time.monotonic() < deadline, "the running survivor never took the batch back"
            time.sleep(0.3)
        assert survivor.poll() is None, survivor.stderr.read().decode()  # type: ignore[union-attr]
    finally:
        stop([survivor])
    lake.ingest(["events"])
    assert ids_in_table(lake) == list(range(10 * ROWS_PER_FILE))
