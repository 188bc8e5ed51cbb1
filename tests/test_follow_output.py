"""``ingest --follow`` says what it watches and how to stop it, and, when its output is
not a terminal (systemd, containers), logs one line per commit."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.test_exactly_once import make_lake, write_events


def test_follow_says_what_it_watches_and_logs_each_commit_when_piped(tmp_path: Path) -> None:
    home = tmp_path / "lake"
    make_lake(home, commit_interval="0.2s").close()
    log = tmp_path / "stderr.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ICEHOUSE_")}
    env["ICEHOUSE_HOME"] = str(home)
    with log.open("wb") as err:
        worker = subprocess.Popen(
            [sys.executable, "-m", "icehouse", "ingest", "--follow"],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    try:
        write_events(home / "landing", "a.jsonl.gz", 0, 25)
        deadline = time.monotonic() + 60
        while "committed 25 rows" not in log.read_text():
            assert worker.poll() is None, log.read_text()
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
    finally:
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=60) == 0
    text = log.read_text()
    assert f"Watching {home / 'landing'} (*.jsonl.gz, source events) → logs.events" in text
    assert "Ctrl-C or SIGTERM stops after the current batch." in text
    (line,) = [x for x in text.splitlines() if "committed 25 rows" in x]
    assert re.search(
        r"committed 25 rows to logs\.events in 3 data file\(s\), "
        r"[\d.]+ s after its oldest file landed$",
        line,
    ), line
