"""Exactly once: a crash at every step boundary of a batch, then a restart, leaves every
source row in the table exactly once and no uncommitted data file behind."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from icehouse.config import ColumnMapping, SourceConfig
from icehouse.ingest.faults import FAULT_EXIT_CODE, FAULT_POINTS, SimulatedCrash
from icehouse.lake import Lake
from tests import fixtures_lake

SCHEMA = {"id": "long!", "ts": "timestamptz!", "tenant": "long", "msg": "string"}


def write_events(folder: Path, name: str, first_id: int, count: int) -> None:
    """A gzip JSON-lines file of events with unique ids (written atomically)."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = [
        json.dumps(
            {"id": i, "ts": f"2024-06-0{1 + i % 3}T10:00:00Z", "tenant": i % 7, "msg": f"event {i}"}
        )
        for i in range(first_id, first_id + count)
    ]
    temporary = folder / f".{name}.part"
    temporary.write_bytes(gzip.compress("\n".join(lines).encode() + b"\n"))
    temporary.rename(folder / name)


def make_lake(
    home: Path,
    *,
    commit_interval: str = "10s",
    ingest: str = "",
    properties: dict[str, str] | None = None,
    **source: Any,
) -> Lake:
    """A lake with ``logs.events`` (with table ``properties``) fed by source ``events``
    (``**source`` overrides its settings; ``ingest`` adds lines to ``[ingest]``)."""
    Lake.init(home)
    config = home / "icehouse.toml"
    config.write_text(
        config.read_text()
        .replace('commit_interval = "10s"', f'commit_interval = "{commit_interval}"')
        .replace('poll_interval = "1s"', 'poll_interval = "0.1s"')
        .replace("[ingest]\n", f"[ingest]\n{ingest}\n")
    )
    lake = Lake.open(home)
    lake.tables.create(
        "logs.events",
        schema=SCHEMA,
        partition=["day(ts)"],
        sort="tenant, ts",
        properties=properties or {},
    )
    lake.sources.add(
        SourceConfig(
            name="events",
            location=str(home / "landing"),
            format="jsonl",
            table="logs.events",
            columns={"ts": ColumnMapping(path="ts")},
            **({"glob": "*.jsonl.gz", "settle": "0s"} | source),
        )
    )
    return lake


def ids_in_table(lake: Lake) -> list[int]:
    return lake.sql("SELECT id FROM logs.events ORDER BY id").column("id").to_pylist()


def data_files_on_disk(home: Path) -> set[str]:
    return {str(p) for p in (home / "warehouse").rglob("*.parquet")}


def data_files_in_table(lake: Lake) -> set[str]:
    table = fixtures_lake.iceberg_table(lake, "logs.events")
    return {t.file.file_path.removeprefix("file://") for t in table.scan().plan_files()}


def crash_at(point: str):  # type: ignore[no-untyped-def]
    def faults(reached: str) -> None:
        if reached == point:
            raise SimulatedCrash(point)

    return faults


@pytest.mark.parametrize("point", FAULT_POINTS)
def test_a_crash_at_any_step_boundary_loses_and_doubles_nothing(tmp_path: Path, point: str) -> None:
    home = tmp_path / "lake"
    make_lake(home).close()
    write_events(home / "landing", "a.jsonl.gz", 0, 500)
    write_events(home / "landing", "b.jsonl.gz", 500, 300)

    crashing = Lake.open(home, faults=crash_at(point))
    with pytest.raises(SimulatedCrash):
        crashing.ingest()
    crashing.close()

    write_events(home / "landing", "c.jsonl.gz", 800, 200)
    lake = Lake.open(home)
    report = lake.ingest()
    assert ids_in_table(lake) == list(range(1000))
    settled_by_recovery = 0 if point == "batch.recorded" else 1
    assert report.recovered_committed + report.recovered_aborted == settled_by_recovery
    assert data_files_on_disk(home) == data_files_in_table(lake)
    assert lake.ingest().rows == 0
    assert ids_in_table(lake) == list(range(1000))


def test_a_crash_before_on_success_still_deletes_the_committed_files_later(
    tmp_path: Path,
) -> None:
    home = tmp_path / "lake"
    make_lake(home, on_success="delete").close()
    write_events(home / "landing", "a.jsonl.gz", 0, 100)
    crashing = Lake.open(home, faults=crash_at("batch.recorded"))
    with pytest.raises(SimulatedCrash):
        crashing.ingest()
    crashing.close()
    assert (home / "landing" / "a.jsonl.gz").exists()

    lake = Lake.open(home)
    assert lake.ingest().rows == 0
    assert not (home / "landing" / "a.jsonl.gz").exists()
    assert ids_in_table(lake) == list(range(100))


def test_the_current_snapshot_alone_tells_what_is_committed(tmp_path: Path) -> None:
    """After a crash between the catalog commit and the ledger update, recovery finds the
    batch committed from the snapshot's high-water marks, even with history expired."""
    home = tmp_path / "lake"
    make_lake(home).close()
    write_events(home / "landing", "a.jsonl.gz", 0, 100)
    crashing = Lake.open(home, faults=crash_at("batch.committed"))
    with pytest.raises(SimulatedCrash):
        crashing.ingest()
    table = fixtures_lake.iceberg_table(crashing, "logs.events")
    summary = table.current_snapshot().summary
    assert json.loads(summary["icehouse.watermarks"]) == {"w1": 1}
    crashing.close()

    lake = Lake.open(home)
    report = lake.ingest()
    assert report.recovered_committed == 1
    assert report.rows == 0
    assert ids_in_table(lake) == list(range(100))


def run_cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "icehouse", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


@pytest.mark.parametrize("point", ["batch.written", "batch.committed"])
def test_a_real_process_crashed_by_icehouse_fault_recovers_on_restart(
    tmp_path: Path, point: str
) -> None:
    home = tmp_path / "lake"
    make_lake(home).close()
    write_events(home / "landing", "a.jsonl.gz", 0, 250)
    env = {**os.environ, "ICEHOUSE_HOME": str(home), "ICEHOUSE_FAULT": point}

    crashed = run_cli("ingest", env=env)
    assert crashed.returncode == FAULT_EXIT_CODE, crashed.stderr

    del env["ICEHOUSE_FAULT"]
    finished = run_cli("ingest", "--format", "json", env=env)
    assert finished.returncode == 0, finished.stderr
    report = json.loads(finished.stdout)
    assert report["recovered_committed"] + report["recovered_aborted"] == 1
    lake = Lake.open(home)
    assert ids_in_table(lake) == list(range(250))
    assert data_files_on_disk(home) == data_files_in_table(lake)


def test_a_batch_settled_by_a_recovery_while_it_stalled_is_not_committed(tmp_path: Path) -> None:
    """If another process recovered our batch (our lease ran out while we stalled), we
    must not commit it: its files are back in the queue and will be ingested by others."""
    from sqlalchemy import select

    from icehouse.ingest.ledger import BatchLog
    from icehouse.state.models import batches

    home = tmp_path / "lake"
    make_lake(home).close()
    write_events(home / "landing", "a.jsonl.gz", 0, 50)
    settled: list[str] = []

    def recovered_meanwhile(point: str) -> None:
        if point == "batch.claimed" and not settled:
            with fixtures_lake.engine_of(stalled).connect() as conn:
                batch_id = conn.execute(select(batches.c.id)).scalar_one()
            BatchLog(fixtures_lake.engine_of(stalled)).abort(batch_id)
            settled.append(batch_id)

    stalled = Lake.open(home, faults=recovered_meanwhile)
    report = stalled.ingest()  # the file went back to the queue; a new batch took it
    committed = [
        s.summary["icehouse.batch-id"]
        for s in fixtures_lake.iceberg_table(stalled, "logs.events").metadata.snapshots
    ]
    assert settled and settled[0] not in committed and report.batches == 1
    assert ids_in_table(stalled) == list(range(50))
    assert data_files_on_disk(home) == data_files_in_table(stalled)
