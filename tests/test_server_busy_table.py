"""Appenders beside a busy table: eight PyIceberg clients append through the REST catalog
to the table a real ``icehouse ingest --follow`` commits to every second. Refused
commits (409) are retried by the clients (``commit.retry.num-retries``): every append
lands, none twice, and every ingested line lands once."""

from __future__ import annotations

import datetime as dt
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pyarrow as pa
import pytest

from icehouse.lake import Lake
from tests.fixtures_lake import EVENTS, add_source, event, write_jsonl
from tests.fixtures_server import Served, serving

APPENDERS = 8
FED_FROM = 10_000_000
"""Ids of ingested lines start here; appender ``w``'s ids at ``w * 100_000``."""
CLIENT_RETRIES = {
    "commit.retry.num-retries": "200",
    "commit.retry.min-wait-ms": "5",
    "commit.retry.max-wait-ms": "200",
}
ROW_SCHEMA = pa.schema(
    [
        pa.field("ts", pa.timestamp("us", "UTC"), nullable=False),
        pa.field("id", pa.int64(), nullable=False),
        pa.field("country", pa.string()),
        pa.field("bytes", pa.int64()),
    ]
)


def busy_lake(home: Path, landing: Path) -> Lake:
    """``logs.events`` fed by source ``web``, committing every second."""
    Lake.init(home)
    config = home / "icehouse.toml"
    config.write_text(
        config.read_text()
        .replace('commit_interval = "10s"', 'commit_interval = "1s"')
        .replace('poll_interval = "1s"', 'poll_interval = "0.1s"')
    )
    lake = Lake.open(home)
    lake.tables.create(
        EVENTS,
        schema={"ts": "timestamptz!", "id": "long!", "country": "string", "bytes": "long"},
        partition=["day(ts)"],
    )
    add_source(lake, "web", landing)
    return lake


def follow(home: Path) -> subprocess.Popen[bytes]:
    environ = {**os.environ, "ICEHOUSE_HOME": str(home)}
    environ.pop("ICEHOUSE_FAULT", None)
    return subprocess.Popen(
        [sys.executable, "-m", "icehouse", "ingest", "--follow"],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


class Feeder(threading.Thread):
    """Lands a file of ten lines every 0.3 s until told to stop."""

    def __init__(self, landing: Path, stop: threading.Event) -> None:
        super().__init__(daemon=True)
        self.landing, self.stop, self.fed = landing, stop, 0

    def run(self) -> None:
        while not self.stop.is_set():
            first = FED_FROM + self.fed
            write_jsonl(self.landing / f"{first}.jsonl", [event(first + i) for i in range(10)])
            self.fed += 10
            self.stop.wait(0.3)


class Appender(threading.Thread):
    """Appends one row at a time through its own REST client until ``until``."""

    def __init__(self, served: Served, writer: int, until: float) -> None:
        super().__init__(daemon=True)
        self.served, self.writer, self.until = served, writer, until
        self.landed: list[int] = []
        self.failure: BaseException | None = None

    def run(self) -> None:
        try:
            table = self.served.client().load_table(EVENTS)
            while time.monotonic() < self.until:
                row_id = self.writer * 100_000 + len(self.landed)
                ts = dt.datetime(2024, 6, 1, 10, tzinfo=dt.UTC)
                rows = [{"ts": ts, "id": row_id, "country": "nl", "bytes": 1}]
                table.append(pa.Table.from_pylist(rows, schema=ROW_SCHEMA))
                self.landed.append(row_id)
        except BaseException as exc:  # reported by the test, with the ids that landed
            self.failure = exc


class Retries(logging.Handler):
    """Counts the clients' retries of refused commits (PyIceberg logs each one)."""

    def __init__(self) -> None:
        super().__init__()
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "retrying" in record.getMessage():
            self.count += 1


def wait_for(lake: Lake, expected: int, seconds: float) -> int:
    deadline = time.monotonic() + seconds
    while True:
        found = int(lake.sql(f"SELECT count(*) AS n FROM {EVENTS}").column("n")[0].as_py())
        if found >= expected or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


@pytest.mark.parametrize(
    "seconds", [15, pytest.param(60, marks=pytest.mark.slow)], ids=lambda s: f"{s}s"
)
def test_appenders_beside_ingest_follow_land_every_row_once(tmp_path: Path, seconds: int) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    with busy_lake(tmp_path / "lake", landing) as lake, serving(lake) as served:
        with served.client().load_table(EVENTS).transaction() as tx:
            tx.set_properties(CLIENT_RETRIES)
        worker = follow(lake.home)
        stop_feeding = threading.Event()
        feeder = Feeder(landing, stop_feeding)
        feeder.start()
        until = time.monotonic() + seconds
        appenders = [Appender(served, w + 1, until) for w in range(APPENDERS)]
        retries = Retries()
        logging.getLogger("pyiceberg").addHandler(retries)
        try:
            for appender in appenders:
                appender.start()
            for appender in appenders:
                appender.join()
            stop_feeding.set()
            feeder.join()
            appended = sum(len(a.landed) for a in appenders)
            wait_for(lake, appended + feeder.fed, seconds=60)
        finally:
            logging.getLogger("pyiceberg").removeHandler(retries)
            stop_feeding.set()
            worker.send_signal(signal.SIGINT)
            _, errors = worker.communicate(timeout=60)

        assert [a.failure for a in appenders] == [None] * APPENDERS
        assert worker.returncode == 0, errors.decode()
        ids = lake.sql(f"SELECT id FROM {EVENTS}").column("id").to_pylist()
        expected = sorted(
            [i for a in appenders for i in a.landed] + list(range(FED_FROM, FED_FROM + feeder.fed))
        )
        assert sorted(ids) == expected  # every append and every line, none twice
        assert all(len(a.landed) > 0 for a in appenders)
        print(
            f"\n{seconds}s: {appended} appends by {APPENDERS} clients ({retries.count} "
            f"retried after a 409), {feeder.fed} lines ingested, {len(ids)} rows"
        )
