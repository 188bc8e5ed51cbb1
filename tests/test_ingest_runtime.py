"""How ``icehouse ingest`` behaves as a running process: memory that stays flat as files
grow, a clean stop on SIGTERM, several processes sharing one queue."""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from icehouse.lake import Lake
from icehouse.state.models import files
from tests import fixtures_lake
from tests.test_exactly_once import ids_in_table, make_lake, write_events

PEAK_RSS = (
    "import resource, sys\n"
    "from pathlib import Path\n"
    "from icehouse.lake import Lake\n"
    "lake = Lake.open(Path(sys.argv[1]))\n"
    "report = lake.ingest()\n"
    "print(report.rows, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)\n"
)


def write_big_file(path: Path, megabytes: int) -> int:
    """Plain JSON lines of ~``megabytes`` MB with unique ids over three days."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = 0
    with path.open("w") as out:
        while out.tell() < megabytes * 1_000_000:
            lines = [
                json.dumps(
                    {
                        "id": i,
                        "ts": f"2024-06-0{1 + i % 3}T10:{i % 60:02d}:00Z",
                        "tenant": i % 997,
                        "msg": "x" * 120,
                    }
                )
                for i in range(rows, rows + 10_000)
            ]
            out.write("\n".join(lines) + "\n")
            rows += 10_000
    return rows


def peak_rss_ingesting(tmp_path: Path, megabytes: int) -> tuple[int, int]:
    home = tmp_path / f"lake{megabytes}"
    make_lake(home, ingest="memory_mb = 48", glob="*.jsonl").close()
    rows = write_big_file(home / "landing" / "big.jsonl", megabytes)
    done = subprocess.run(
        [sys.executable, "-c", PEAK_RSS, str(home)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    ingested, rss_mb = (int(v) for v in done.stdout.split())
    assert ingested == rows
    return rows, rss_mb


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_the_size_of_the_file(tmp_path: Path) -> None:
    """Allocators warm up over the first ~100 MB; past that, four times the input must not
    cost more memory (with memory_mb = 48 the batch holds at most ~48 MB of rows)."""
    _, small = peak_rss_ingesting(tmp_path, 100)
    _, large = peak_rss_ingesting(tmp_path, 400)
    assert large < small * 1.25, f"peak RSS {small} MB for 100 MB, {large} MB for 400 MB"


def env_for(home: Path) -> dict[str, str]:
    env = {**os.environ, "ICEHOUSE_HOME": str(home)}
    env.pop("ICEHOUSE_FAULT", None)
    return env


def claimed_files(lake: Lake) -> int:
    with fixtures_lake.engine_of(lake).connect() as conn:
        return conn.execute(
            select(func.count()).select_from(files).where(files.c.state == "claimed")
        ).scalar_one()


def test_sigterm_finishes_the_batch_and_exits_zero(tmp_path: Path) -> None:
    home = tmp_path / "lake"
    make_lake(home, commit_interval="30s").close()
    write_events(home / "landing", "a.jsonl.gz", 0, 300)
    process = subprocess.Popen(
        [sys.executable, "-m", "icehouse", "ingest", "--follow"],
        env=env_for(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lake = Lake.open(home)
    deadline = time.time() + 60
    while claimed_files(lake) == 0:  # wait until the file sits in the open batch
        assert time.time() < deadline and process.poll() is None
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "finishing the current batch" in stderr
    assert ids_in_table(lake) == list(range(300))


def test_two_processes_share_the_queue_and_ingest_each_file_once(tmp_path: Path) -> None:
    home = tmp_path / "lake"
    make_lake(home, ingest="batch_files = 3").close()
    for n in range(24):
        write_events(home / "landing", f"f{n:02d}.jsonl.gz", n * 50, 50)
    processes = [
        subprocess.Popen(
            [sys.executable, "-m", "icehouse", "ingest", "--format", "json"],
            env=env_for(home),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    reports = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=180)
        assert process.returncode == 0, stderr
        reports.append(json.loads(stdout))
    assert sum(r["files"] for r in reports) == 24
    assert ids_in_table(Lake.open(home)) == list(range(24 * 50))


def test_a_gzip_file_still_being_written_under_a_part_name_is_not_taken(tmp_path: Path) -> None:
    home = tmp_path / "lake"
    lake = make_lake(home)
    (home / "landing").mkdir(exist_ok=True)
    (home / "landing" / "x.jsonl.gz.part").write_bytes(gzip.compress(b'{"id": 1}\n')[:10])
    assert lake.ingest().files == 0


def test_unknown_fields_evolve_the_schema_when_the_source_says_so(tmp_path: Path) -> None:
    home = tmp_path / "lake"
    make_lake(home, unknown_fields="evolve").close()
    write_events(home / "landing", "a.jsonl.gz", 0, 10)
    (home / "landing" / "b.jsonl.gz").write_bytes(
        gzip.compress(
            b'{"id": 10, "ts": "2024-06-01T00:00:00Z", '
            b'"referrer": "https://x.example", "bytes": 5}\n'
        )
    )
    lake = Lake.open(home)
    report = lake.ingest()
    assert sorted(report.columns_added) == ["logs.events.bytes", "logs.events.referrer"]
    columns = {
        f.name: str(f.field_type)
        for f in fixtures_lake.iceberg_table(lake, "logs.events").schema().fields
    }
    assert columns["referrer"] == "string" and columns["bytes"] == "long"
    rows = lake.sql("SELECT id, referrer, bytes FROM logs.events WHERE id >= 9 ORDER BY id")
    assert rows.to_pylist() == [
        {"id": 9, "referrer": None, "bytes": None},
        {"id": 10, "referrer": "https://x.example", "bytes": 5},
    ]
    assert ids_in_table(lake) == list(range(11))


def test_once_leaves_a_file_that_never_settles_for_a_later_run(tmp_path: Path) -> None:
    home = tmp_path / "lake"
    make_lake(home, settle="1s", glob="*.jsonl*").close()
    write_events(home / "landing", "done.jsonl.gz", 0, 5)
    growing = home / "landing" / "growing.jsonl"
    os.utime(home / "landing" / "done.jsonl.gz", (time.time() - 60, time.time() - 60))
    stop = False

    def keep_writing() -> None:
        with growing.open("a") as out:
            while not stop:
                out.write('{"id": 999, "ts": "2024-06-01T00:00:00Z"}\n')
                out.flush()
                time.sleep(0.1)

    writer = threading.Thread(target=keep_writing)
    writer.start()
    try:
        started = time.time()
        report = Lake.open(home).ingest()
        elapsed = time.time() - started
    finally:
        stop = True
        writer.join()
    assert report.files == 1
    assert elapsed < 30


def test_a_redelivered_duplicate_is_deleted_like_the_original(tmp_path: Path) -> None:
    home = tmp_path / "lake"
    make_lake(home, on_success="delete").close()
    write_events(home / "landing", "a.jsonl.gz", 0, 20)
    payload = (home / "landing" / "a.jsonl.gz").read_bytes()
    lake = Lake.open(home)
    assert lake.ingest().rows == 20
    (home / "landing" / "again.jsonl.gz").write_bytes(payload)
    report = lake.ingest()
    assert (report.rows, report.duplicate_files) == (0, 1)
    assert list((home / "landing").iterdir()) == []
    assert ids_in_table(lake) == list(range(20))
