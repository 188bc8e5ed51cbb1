"""The SIGKILL proof: ``icehouse ingest --follow`` killed -9 at seeded random moments,
again and again while files keep arriving, still ends with every row exactly once."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from icehouse.lake import Lake
from tests.test_exactly_once import ids_in_table, make_lake, write_events

KILLS = 30
ROWS_PER_FILE = 40


class Feeder(threading.Thread):
    """Drops a new file into the landing folder every ``every`` seconds."""

    def __init__(self, landing: Path, every: float) -> None:
        super().__init__(daemon=True)
        self.landing, self.every = landing, every
        self.files = 0
        self.halt = threading.Event()

    def run(self) -> None:
        while not self.halt.is_set():
            write_events(
                self.landing,
                f"f{self.files:05d}.jsonl.gz",
                self.files * ROWS_PER_FILE,
                ROWS_PER_FILE,
            )
            self.files += 1
            self.halt.wait(self.every)


@pytest.mark.slow
def test_sigkill_at_random_moments_while_files_arrive_loses_and_doubles_nothing(
    tmp_path: Path,
) -> None:
    home = tmp_path / "lake"
    make_lake(home, commit_interval="0.3s").close()
    env = {**os.environ, "ICEHOUSE_HOME": str(home)}
    env.pop("ICEHOUSE_FAULT", None)
    rng = random.Random(20241126)
    feeder = Feeder(home / "landing", every=0.05)
    feeder.start()
    try:
        for _ in range(KILLS):
            process = subprocess.Popen(
                [sys.executable, "-m", "icehouse", "ingest", "--follow"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
            time.sleep(rng.uniform(1.2, 3.0))
            assert process.poll() is None, process.stderr.read().decode()  # type: ignore[union-attr]
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=30)
    finally:
        feeder.halt.set()
        feeder.join()
    finished = subprocess.run(
        [sys.executable, "-m", "icehouse", "ingest", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert finished.returncode == 0, finished.stderr

    lake = Lake.open(home)
    assert ids_in_table(lake) == list(range(feeder.files * ROWS_PER_FILE))
