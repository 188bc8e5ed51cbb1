"""Exactly once at scale: four real ``icehouse ingest --follow`` processes share one lake
while files keep landing, and a chaos loop kills one of them -9 every second or two and
starts a replacement at once; in the second test every third kill takes the process
that holds the table's committer lease. Once landing stops and the survivors have
caught up, every landed row is in the table once, every file's ledger row is committed,
no batch is left open, every worker that was not killed stopped cleanly, and the only
data files no snapshot references are those recovery cannot know of."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa

from icehouse.ingest.ledger import ABORTED, COMMITTED
from icehouse.lake import Lake
from icehouse.state import models
from tests import fixtures_lake
from tests.test_claims_workers import file_states
from tests.test_exactly_once import data_files_in_table, data_files_on_disk, make_lake
from tests.test_kill_follow import ROWS_PER_FILE, Feeder

pytestmark = pytest.mark.slow

WORKERS = 4
KILLS = 9
COMMITTER_EVERY = 3
"""In the committer test, every third kill takes the table's committer."""
LEASE = "3s"
CATCH_UP_SECONDS = 120.0
WATCHING = "Ctrl-C or SIGTERM stops"
"""What a worker prints once it handles SIGTERM and follows its sources."""
FAILURES = ("Traceback", "Error:", "CommitConflict")
"""What a worker's stderr shows when it failed rather than was killed."""

COMMITTERS = sa.table(
    "ingest_committers",
    sa.column("table_name", sa.String),
    sa.column("owner", sa.String),
    sa.column("lease_until", sa.Float),
)
"""The committer election of each table: ``owner`` (``host:pid``) holds the lease that
makes it the one process committing the table's written batches."""


@dataclass(frozen=True)
class Worker:
    process: subprocess.Popen[bytes]
    stderr: Path


class Crew:
    """The ``ingest --follow`` processes of one lake: started, killed -9 and replaced,
    stopped by SIGTERM. Each one's stderr goes to a file of its own (a pipe nobody reads
    would fill up and block the worker)."""

    def __init__(self, home: Path, logs: Path) -> None:
        self._env = {**os.environ, "ICEHOUSE_HOME": str(home)}
        self._env.pop("ICEHOUSE_FAULT", None)
        self._logs = logs
        logs.mkdir()
        self.running: list[Worker] = []
        self.killed: list[Worker] = []

    def start(self) -> Worker:
        stderr = self._logs / f"worker-{len(self.running) + len(self.killed)}.err"
        with stderr.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "icehouse", "ingest", "--follow"],
                env=self._env,
                stdout=subprocess.DEVNULL,
                stderr=out,
            )
        worker = Worker(process, stderr)
        self.running.append(worker)
        return worker

    def replace(self, victim: Worker) -> None:
        """Kill ``victim`` -9 (it must still be running: none may exit on its own) and
        start another worker in its place."""
        assert victim.process.poll() is None, crashed(victim)
        victim.process.send_signal(signal.SIGKILL)
        victim.process.wait(timeout=30)
        self.running.remove(victim)
        self.killed.append(victim)
        self.start()

    def check_running(self) -> None:
        for worker in self.running:
            assert worker.process.poll() is None, crashed(worker)

    def stop(self) -> list[int]:
        """SIGTERM to every running worker once it is watching (a worker still starting
        up has no handler yet, and SIGTERM would end it as it ends any process): each
        finishes its batch and exits."""
        deadline = time.monotonic() + 60
        while not all(WATCHING in w.stderr.read_text(errors="replace") for w in self.running):
            self.check_running()
            assert time.monotonic() < deadline, "a worker never started watching"
            time.sleep(0.2)
        for worker in self.running:
            if worker.process.poll() is None:
                worker.process.send_signal(signal.SIGTERM)
        return [worker.process.wait(timeout=60) for worker in self.running]

    def kill_all(self) -> None:
        for worker in self.running:
            if worker.process.poll() is None:
                worker.process.kill()
                worker.process.wait(timeout=30)

    def errors(self) -> list[str]:
        """The stderr of every worker, killed or not, that shows a traceback or an error
        (a commit conflict reads ``Error: gave up committing batch ...``)."""
        shown = [w.stderr.read_text(errors="replace") for w in self.running + self.killed]
        return [text for text in shown if any(word in text for word in FAILURES)]


def crashed(worker: Worker) -> str:
    return (
        f"a worker exited on its own with status {worker.process.returncode}:\n"
        + worker.stderr.read_text(errors="replace")[-3000:]
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def home(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A lake whose state database is SQLite, then PostgreSQL; batches commit every
    half second and a dead peer's leases lapse after three."""
    if request.param == "postgresql":
        monkeypatch.setenv("ICEHOUSE_STATE_URL", request.getfixturevalue("postgres_url"))
    path = tmp_path / "lake"
    make_lake(path, commit_interval="0.5s", ingest=f'lease = "{LEASE}"').close()
    return path


@pytest.fixture
def crew(home: Path, tmp_path: Path) -> Iterator[Crew]:
    started = Crew(home, tmp_path / "logs")
    try:
        yield started
    finally:
        started.kill_all()


def test_four_workers_killed_at_random_while_files_land_lose_and_double_nothing(
    home: Path, crew: Crew
) -> None:
    feeder = land_and_kill(home, crew, random.Random(20261206), committer_every=None)
    assert_exactly_once(home, crew, feeder)


def test_killing_the_committer_of_the_table_too_loses_and_doubles_nothing(
    home: Path, crew: Crew
) -> None:
    feeder = land_and_kill(home, crew, random.Random(15), committer_every=COMMITTER_EVERY)
    assert_exactly_once(home, crew, feeder)


def land_and_kill(
    home: Path, crew: Crew, rng: random.Random, *, committer_every: int | None
) -> Feeder:
    """Four workers follow the lake while a file lands every 0.2 s; every 1-2 s, nine
    times, one of them is killed -9 and replaced (the committer every
    ``committer_every``-th time).
    Returns the feeder, stopped: how many files landed."""
    for _ in range(WORKERS):
        crew.start()
    feeder = Feeder(home / "landing", every=0.2)
    feeder.start()
    lake = Lake.open(home)
    try:
        for kill in range(1, KILLS + 1):
            time.sleep(rng.uniform(1.0, 2.0))
            crew.check_running()
            if committer_every and kill % committer_every == 0:
                crew.replace(committer_of(lake, crew, "logs.events"))
            else:
                crew.replace(rng.choice(crew.running))
    finally:
        feeder.halt.set()
        feeder.join()
        lake.close()
    return feeder


def committer_of(lake: Lake, crew: Crew, table: str) -> Worker:
    """The running worker whose ``host:pid`` holds ``table``'s committer lease (waiting
    for one to be elected, e.g. after the last one was killed)."""
    deadline = time.monotonic() + 30
    by_pid = {w.process.pid: w for w in crew.running}
    while True:
        with fixtures_lake.engine_of(lake).connect() as conn:
            owners = (
                conn.execute(
                    sa.select(COMMITTERS.c.owner).where(
                        COMMITTERS.c.table_name == table, COMMITTERS.c.lease_until > time.time()
                    )
                )
                .scalars()
                .all()
            )
        held = [by_pid.get(int(owner.rpartition(":")[2])) for owner in owners if owner]
        if held and held[0] is not None:
            return held[0]
        assert time.monotonic() < deadline, f"no running worker holds the lease: {owners}"
        time.sleep(0.2)


def assert_exactly_once(home: Path, crew: Crew, feeder: Feeder) -> None:
    """Let the survivors catch up, stop them, and check the table, the ledger and the
    warehouse."""
    lake = Lake.open(home)
    try:
        landed_rows = feeder.files * ROWS_PER_FILE
        caught_up(lake, crew, landed_rows, feeder.files)
        assert crew.stop() == [0] * WORKERS
        assert crew.errors() == []

        [seen] = lake.sql(
            "SELECT count(*) AS n, count(DISTINCT id) AS d, min(id) AS lo, max(id) AS hi "
            "FROM logs.events"
        ).to_pylist()
        assert seen == {"n": landed_rows, "d": landed_rows, "lo": 0, "hi": landed_rows - 1}
        assert file_states(lake) == {COMMITTED: feeder.files}
        assert set(batch_states(lake)) <= {COMMITTED, ABORTED}
        assert_no_orphans_recovery_knew_of(home, lake)
    finally:
        lake.close()


def caught_up(lake: Lake, crew: Crew, rows: int, files: int) -> None:
    """Until the table holds ``rows`` rows, every file is committed and no batch is
    left unsettled (or the time runs out: the assertions that follow say what is
    missing)."""
    deadline = time.monotonic() + CATCH_UP_SECONDS
    while time.monotonic() < deadline:
        crew.check_running()
        in_table = lake.sql("SELECT count(*) AS n FROM logs.events").column("n")[0].as_py()
        settled = set(batch_states(lake)) <= {COMMITTED, ABORTED}
        if in_table >= rows and settled and file_states(lake) == {COMMITTED: files}:
            return
        time.sleep(0.5)


def batch_states(lake: Lake) -> Counter[str]:
    with fixtures_lake.engine_of(lake).connect() as conn:
        rows = conn.execute(
            sa.select(models.batches.c.state, sa.func.count()).group_by(models.batches.c.state)
        ).all()
    return Counter({state: int(n) for state, n in rows})


def recorded_data_files(lake: Lake) -> dict[str, tuple[str, set[str]]]:
    """Each batch's state and the data files it recorded before committing."""
    batches = models.batches
    with fixtures_lake.engine_of(lake).connect() as conn:
        rows = conn.execute(sa.select(batches.c.id, batches.c.state, batches.c.data_files)).all()
    return {
        batch_id: (state, {p.removeprefix("file://") for p in json.loads(paths or "[]")})
        for batch_id, state, paths in rows
    }


def assert_no_orphans_recovery_knew_of(home: Path, lake: Lake) -> None:
    """Recovery deletes the data files a batch recorded before its commit when it
    aborts that batch; a worker killed after writing files and before recording them
    leaves files no batch names, which only orphan removal (past its safety age) may
    reclaim. So every unreferenced file must be of an aborted batch that never recorded
    it."""
    unreferenced = data_files_on_disk(home) - data_files_in_table(lake)
    batches = recorded_data_files(lake)
    for path in sorted(unreferenced):
        batch_id = Path(path).name.split("-")[0]
        state, recorded = batches.get(batch_id, ("unknown", set()))
        assert state == ABORTED and path not in recorded, (path, state)
