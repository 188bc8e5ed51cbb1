"""Every maintenance run leaves a record, even one that was killed, refused or broke on an
error that is not icehouse's own; leases are renewed while a run works, run out soon
after their holder stops, and can be broken on purpose."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pyiceberg.table import Table
from typer.testing import CliRunner

from icehouse.cli.app import app
from icehouse.errors import MaintenanceBusy
from icehouse.ingest.faults import FAULT_EXIT_CODE
from icehouse.lake import Lake
from icehouse.maintain import reports, service
from icehouse.maintain.leases import Leases
from icehouse.maintain.reports import list_runs, start_run
from icehouse.maintain.service import Maintenance, lease_key
from tests import fixtures_lake
from tests.fixtures_lake import EVENTS, append_batches

home = fixtures_lake.home
lake = fixtures_lake.lake
events = fixtures_lake.events

WIDE = {"COLUMNS": "1000", "ICEHOUSE_HOME": ""}


def cli(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, list(args), env=WIDE, catch_exceptions=False)


def stray_orphan(table: Table) -> Path:
    orphan = Path(table.location().removeprefix("file://")) / "data" / "stray.parquet"
    orphan.write_bytes(b"x" * 100)
    old = time.time() - 7200
    os.utime(orphan, (old, old))
    return orphan


def killed_after_first_commit(home: Path, *args: str) -> None:
    """Run ``icehouse maintain ARGS`` in a real process that exits hard (like kill -9)
    right after its first commit is recorded on its history row."""
    env = os.environ | {"ICEHOUSE_FAULT": "maintain.committed", "ICEHOUSE_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-m", "icehouse", "maintain", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == FAULT_EXIT_CODE, done.stderr


@pytest.mark.parametrize(
    ("args", "committed_key"),
    [
        (("compact", EVENTS, "--min-input-files", "2", "--partial-progress"), "snapshot_id"),
        (("manifests", EVENTS), "snapshot_id"),
        (("expire", EVENTS, "--older-than", "0s"), "expired_snapshot_ids"),
        (("orphans", EVENTS, "--older-than", "1h"), "deleting_orphans"),
    ],
)
def test_a_run_killed_after_its_first_commit_shows_as_interrupted_with_what_it_committed(
    home: Path, lake: Lake, events: Table, args: tuple[str, ...], committed_key: str
) -> None:
    append_batches(lake)
    stray_orphan(fixtures_lake.iceberg_table(lake, EVENTS))
    rows = lake.sql(f"SELECT count(*) AS n FROM {EVENTS}").to_pylist()

    killed_after_first_commit(home, *args)

    [run] = lake.maintenance.history(EVENTS)
    assert (run.action.split(":")[0], run.status, run.finished_at) == (args[0], "interrupted", None)
    assert committed_key in run.committed[0]
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    if committed_key == "snapshot_id":
        assert run.committed[0]["snapshot_id"] == table.current_snapshot().snapshot_id
    if committed_key == "expired_snapshot_ids":
        assert run.committed[0]["metadata_location"] == table.metadata_location
    assert lake.sql(f"SELECT count(*) AS n FROM {EVENTS}").to_pylist() == rows
    shown = cli("maintain", "history", EVENTS, "--home", str(home))
    assert "interrupted" in shown.stdout


def test_a_run_refused_by_the_lease_is_recorded_as_failed_with_the_holder(
    lake: Lake, events: Table
) -> None:
    far = Leases(fixtures_lake.engine_of(lake), owner="far-host:7")
    assert far.try_acquire(lease_key(EVENTS))

    with pytest.raises(MaintenanceBusy) as refused:
        lake.maintenance.expire(EVENTS)

    message = refused.value.message
    assert message.startswith(f"{EVENTS} is being maintained by far-host:7 until ")
    assert " s)" in message and f"`icehouse maintain unlock {EVENTS}`" in message
    [run] = lake.maintenance.history(EVENTS)
    assert (run.status, run.error) == ("failed", message)


@pytest.mark.parametrize("error", [OSError("disk vanished"), KeyboardInterrupt()])
def test_an_error_that_is_not_icehouses_is_recorded_as_failed_and_raised_unchanged(
    lake: Lake, events: Table, monkeypatch: pytest.MonkeyPatch, error: BaseException
) -> None:
    def broken(*args: object, **kwargs: object) -> None:
        raise error

    monkeypatch.setattr(service, "expire_snapshots", broken)
    with pytest.raises(type(error)) as raised:
        lake.maintenance.expire(EVENTS)

    assert raised.value is error
    [run] = lake.maintenance.history(EVENTS)
    assert (run.status, run.error) == ("failed", repr(error))
    assert Leases(fixtures_lake.engine_of(lake), owner="someone:1").try_acquire(lease_key(EVENTS))


def test_a_run_longer_than_its_lease_keeps_it_by_renewing(
    lake: Lake, events: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    renewals = 0
    renewed_past_the_lease = threading.Event()
    keep_alive = reports.keep_alive

    def counting(*args: object) -> None:
        nonlocal renewals
        keep_alive(*args)  # type: ignore[arg-type]
        renewals += 1
        if renewals == 6:  # two full lease lengths renewed every third of one
            renewed_past_the_lease.set()

    seen: dict[str, object] = {}

    def slow_expiry(table: Table, **kwargs: object) -> object:
        assert renewed_past_the_lease.wait(60)
        other = Maintenance(
            fixtures_lake.engine_of(lake),
            fixtures_lake.catalog_of(lake),
            warehouse=lake.config.warehouse,
            owner="other:1",
        )
        with pytest.raises(MaintenanceBusy, match="being maintained by"):
            other.orphans(EVENTS)
        seen["status"] = list_runs(fixtures_lake.engine_of(lake), EVENTS)[-1].status
        return original(table, **kwargs)

    original = service.expire_snapshots
    monkeypatch.setattr(reports, "keep_alive", counting)
    monkeypatch.setattr(service, "expire_snapshots", slow_expiry)
    mine = Maintenance(
        fixtures_lake.engine_of(lake),
        fixtures_lake.catalog_of(lake),
        warehouse=lake.config.warehouse,
        lease_seconds=1.5,  # a renewal late by more than this reads as dead: room for a loaded host
    )

    mine.expire(EVENTS)

    assert seen["status"] == "running"
    statuses = [(r.action, r.status) for r in lake.maintenance.history(EVENTS)]
    assert statuses == [("orphans", "failed"), ("expire", "ok")]


def wait_until(moment: float) -> None:
    while time.time() <= moment:
        time.sleep(0.05)


def test_a_lease_whose_holder_stopped_renewing_is_free_once_it_runs_out(lake: Lake) -> None:
    key = lease_key(EVENTS)
    gone = Leases(fixtures_lake.engine_of(lake), owner="dead-host:1", seconds=0.5)
    assert gone.try_acquire(key)
    until = gone.lease(key).until  # type: ignore[union-attr]

    wait_until(until)

    assert Leases(fixtures_lake.engine_of(lake), owner="alive-host:2").try_acquire(key)


def test_a_running_run_that_stopped_reporting_reads_as_interrupted(lake: Lake) -> None:
    started = start_run(
        fixtures_lake.engine_of(lake), table=EVENTS, action="expire", dry_run=False, alive_for=0.3
    )
    assert list_runs(fixtures_lake.engine_of(lake))[0].status == "running"

    wait_until(time.time() + 0.3)

    [run] = list_runs(fixtures_lake.engine_of(lake))
    assert (run.id, run.status, run.seconds) == (started, "interrupted", None)


def test_unlock_breaks_a_lease_and_says_whose_it_was(home: Path, events: Table) -> None:
    with Lake.open(home) as opened:
        far = Leases(fixtures_lake.engine_of(opened), owner="far-host:7")
        assert far.try_acquire(lease_key(EVENTS))

    refused = cli("maintain", "expire", EVENTS, "--home", str(home))
    assert refused.exit_code == 1
    assert "far-host:7 until" in refused.stderr and "icehouse maintain unlock" in refused.stderr

    broken = cli("maintain", "unlock", EVENTS, "--home", str(home))
    assert broken.exit_code == 0, broken.stderr
    assert f"{EVENTS}: broke the maintenance lease held by far-host:7 until" in broken.stdout
    again = cli("maintain", "unlock", EVENTS, "--home", str(home))
    assert f"{EVENTS}: no maintenance lease was held; nothing to do." in again.stdout

    assert cli("maintain", "expire", EVENTS, "--home", str(home)).exit_code == 0
    helped = cli("maintain", "unlock", "--help")
    assert "gone for good" in helped.stdout


def test_unlock_records_the_holders_unfinished_run_as_interrupted(
    lake: Lake, events: Table
) -> None:
    lake.maintenance._service().leases.try_acquire(lease_key(EVENTS))
    start_run(
        fixtures_lake.engine_of(lake),
        table=EVENTS,
        action="compact:binpack",
        dry_run=False,
        alive_for=600,
    )

    broken = lake.maintenance.unlock(EVENTS)

    assert broken is not None
    [run] = lake.maintenance.history(EVENTS)
    assert run.status == "interrupted" and "maintain unlock" in (run.error or "")
