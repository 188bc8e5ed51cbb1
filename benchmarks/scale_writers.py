"""The writers section of ``scale.py``: N ``icehouse ingest --follow`` processes write
into one table from a backlog of many small files, on PostgreSQL and SeaweedFS S3.

``scale.py`` prepares one fresh lake per N (a new database, its own landing prefix and
warehouse, the backlog uploaded, small ``batch_files`` so that batches are many);
``run_writers`` starts the N workers together, waits until every file of the backlog
is committed, stops them with SIGTERM and reads the figures back:

- table commits/s: the table's snapshots (all of them: the table is new and keeps its
  whole snapshot log for the run) per second of the run, which lasts from the first
  batch's opening to the last batch's commit (ledger times);
- batches/s: committed batches per second of the run;
- commit p95 and max: per committed batch, from the moment its worker recorded it
  written (its data files stored, waiting for the table's committer) to its commit,
  from the ledger (``written_at`` to ``committed_at``): the wait for the committer's
  next cycle, then the commit;
- crashes: workers that exited on their own or did not exit 0 on SIGTERM, and the
  commit conflicts their stderr shows (``gave up committing batch ...``).
"""

from __future__ import annotations

import signal
import statistics
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from common import ICEHOUSE, table_print
from icehouse.demo.workload import TABLE
from icehouse.lake import Lake

if TYPE_CHECKING:
    from sqlalchemy import Connection

FLAT = 1.25
"""Commit rate goal: no N commits more than this many times as often as one writer does.
One committer per table keeps the rate near one commit per poll interval (plus one per
batch of its own), so more writers make fuller snapshots, not more of them; a lone
writer commits each batch as it is written, so its rate may be the highest."""
CONFLICT_WORDS = ("gave up committing", "CommitConflict")


@dataclass(frozen=True)
class WritersRun:
    """What N writers did with one backlog."""

    writers: int
    finished: bool
    """Every file of the backlog was committed before the time ran out."""
    batches: int
    snapshots: int
    seconds: float
    latencies: list[float]
    crashes: int
    conflicts: int

    @property
    def commits_per_second(self) -> float:
        return self.snapshots / self.seconds if self.seconds else 0.0

    @property
    def batches_per_second(self) -> float:
        return self.batches / self.seconds if self.seconds else 0.0

    @property
    def p95(self) -> float:
        if len(self.latencies) < 2:
            return max(self.latencies, default=0.0)
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[94]


def run_writers(
    home: Path, state_url: str, count: int, *, files: int, logs: Path, timeout: float
) -> WritersRun:
    """Start ``count`` followers on ``home``, wait until ``files`` files are committed
    (or ``timeout`` seconds pass, or a worker exits), stop them, read the figures."""
    logs.mkdir(parents=True, exist_ok=True)
    outputs = [logs / f"writer-{n}.err" for n in range(count)]
    workers = []
    for output in outputs:
        with output.open("wb") as err:
            workers.append(
                subprocess.Popen(
                    [*ICEHOUSE, "ingest", "--follow", "--home", str(home)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                )
            )
    try:
        finished = wait_until_committed(state_url, files, workers, timeout)
        exited_alone = sum(w.poll() is not None for w in workers)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        codes = [worker.wait(timeout=300) for worker in workers]
    crashes = max(exited_alone, sum(code != 0 for code in codes))
    shown = [output.read_text(errors="replace") for output in outputs]
    conflicts = sum(text.count(word) for text in shown for word in CONFLICT_WORDS)
    written, committed = batch_times(state_url)
    with Lake.open(home) as lake:
        snapshots = len(lake.tables.history(TABLE))
    seconds = max(committed, default=0.0) - first_opened(state_url)
    return WritersRun(
        writers=count,
        finished=finished,
        batches=len(committed),
        snapshots=snapshots,
        seconds=seconds,
        latencies=[c - w for w, c in zip(written, committed, strict=True)],
        crashes=crashes,
        conflicts=conflicts,
    )


def wait_until_committed(
    state_url: str, files: int, workers: list[subprocess.Popen[bytes]], timeout: float
) -> bool:
    """True once ``files`` files are committed; False when the time runs out or a
    worker exits (a crash: the others may never finish its share)."""
    from sqlalchemy import func, select

    from icehouse.ingest.ledger import COMMITTED
    from icehouse.state.models import files as ledger

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(worker.poll() is not None for worker in workers):
            return False
        with state(state_url) as conn:
            done = conn.execute(
                select(func.count()).where(ledger.c.state == COMMITTED)
            ).scalar_one()
        if done >= files:
            return True
        time.sleep(0.5)
    return False


def batch_times(state_url: str) -> tuple[list[float], list[float]]:
    """(written, committed) times of each committed batch of the table (a batch a
    recovery settled, never recorded written, has no commit latency to count)."""
    from sqlalchemy import and_, select

    from icehouse.ingest.ledger import COMMITTED
    from icehouse.state.models import batches

    with state(state_url) as conn:
        rows = conn.execute(
            select(batches.c.written_at, batches.c.committed_at).where(
                and_(
                    batches.c.table_name == TABLE,
                    batches.c.state == COMMITTED,
                    batches.c.written_at.is_not(None),
                )
            )
        ).all()
    return [float(r.written_at) for r in rows], [float(r.committed_at) for r in rows]


def first_opened(state_url: str) -> float:
    """When the first batch of the run was opened (its first claim)."""
    from sqlalchemy import func, select

    from icehouse.state.models import batches

    with state(state_url) as conn:
        return float(conn.execute(select(func.min(batches.c.created_at))).scalar_one() or 0.0)


@contextmanager
def state(state_url: str) -> Iterator[Connection]:
    """A connection to the lake's state database, its engine disposed afterwards."""
    from icehouse.state.database import open_engine

    engine = open_engine(state_url)
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def print_writers(runs: list[WritersRun], *, interval: float, files: int, batch_files: int) -> None:
    """The figures per N, each goal's verdict beside them, then the goals over all N."""
    print(
        f"Writers into one table over loopback PostgreSQL + SeaweedFS S3: a backlog of "
        f"{files} gzip JSON-lines files, batch_files = {batch_files}, commit interval "
        f"{interval:g} s"
    )
    rows = [
        [
            str(run.writers),
            "yes" if run.finished else "NO",
            str(run.batches),
            str(run.snapshots),
            f"{run.seconds:.1f}",
            f"{run.commits_per_second:.2f}",
            f"{run.batches_per_second:.2f}",
            f"{run.p95:.2f}",
            f"{max(run.latencies, default=0.0):.2f}",
            "yes" if run.p95 <= interval else "no",
            str(run.crashes),
            str(run.conflicts),
        ]
        for run in runs
    ]
    table_print(
        [
            "writers",
            "all in",
            "batches",
            "commits",
            "run s",
            "commits/s",
            "batches/s",
            "commit p95 s",
            "commit max s",
            "p95 <= interval",
            "crashes",
            "conflicts",
        ],
        rows,
    )
    base = next((run.commits_per_second for run in runs if run.writers == 1), None)
    rates = [run.commits_per_second for run in runs if run.commits_per_second > 0]
    spread = max(rates) / (base or min(rates)) if rates else float("nan")
    crashes = sum(run.crashes + run.conflicts for run in runs)
    late = [str(run.writers) for run in runs if run.p95 > interval]
    print()
    print(f"goal: 0 crashes -> {crashes} ({'met' if crashes == 0 else 'NOT met'})")
    print(
        f"goal: commit p95 <= commit interval ({interval:g} s) -> "
        + ("met at every N" if not late else f"NOT met at N = {', '.join(late)}")
    )
    print(
        f"goal: commit rate does not grow with N (fastest / one writer <= {FLAT:g}) -> "
        f"{spread:.2f} "
        f"({'met' if spread <= FLAT else 'NOT met'})"
    )
