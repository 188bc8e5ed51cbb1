"""The autopilot plans from table statistics and policy, leaves partitions being written
alone until quiet, and several autopilots share tables through leases without colliding."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from pyiceberg.table import Table

from icehouse.errors import InvalidConfig
from icehouse.lake import Lake
from icehouse.maintain.policy import MaintenancePolicy
from tests import fixtures_lake
from tests.fixtures_lake import EVENTS, EVENTS_SCHEMA, NO_READER_GRACE, append_batches, data_files

home = fixtures_lake.home
lake = fixtures_lake.lake
events = fixtures_lake.events


def quiet(lake: Lake, table: str = EVENTS, **properties: str) -> None:
    """No quiet period (the batches were just written) plus any other policy properties."""
    props = {"icehouse.maintenance.quiet-period": "0s"} | {
        f"icehouse.maintenance.{k.replace('_', '-')}": v for k, v in properties.items()
    }
    lake.tables.alter(table, properties=props)


def test_policy_defaults_and_properties_are_read_with_clear_errors() -> None:
    default = MaintenancePolicy.from_properties({}, table="t")
    assert default.enabled and default.small_file_trigger == 5
    assert default.orphan_age == timedelta(days=3)

    policy = MaintenancePolicy.from_properties(
        {
            "icehouse.maintenance.strategy": "zorder",
            "icehouse.maintenance.zorder": "a, b",
            "icehouse.maintenance.quiet-period": "90s",
            "history.expire.max-snapshot-age-ms": "3600000",
        },
        table="t",
    )
    assert policy.strategy == "zorder" and policy.zorder == "a, b"
    assert policy.quiet_period == timedelta(seconds=90)
    assert policy.snapshot_retention == timedelta(hours=1)

    with pytest.raises(InvalidConfig, match="small-file-trigger='many'"):
        MaintenancePolicy.from_properties(
            {"icehouse.maintenance.small-file-trigger": "many"}, table="t"
        )
    with pytest.raises(InvalidConfig, match="unknown maintenance property"):
        MaintenancePolicy.from_properties({"icehouse.maintenance.colour": "blue"}, table="t")


def test_partitions_just_written_wait_until_they_are_quiet(lake: Lake, events: Table) -> None:
    append_batches(lake)
    report = lake.maintenance.run([EVENTS])
    assert [a.action for a in report.planned] == ["wait", "orphans"]
    assert len(data_files(fixtures_lake.iceberg_table(lake, EVENTS))) == 18  # nothing compacted yet

    quiet(lake)
    report = lake.maintenance.run([EVENTS])
    assert [a.action for a in report.planned] == ["compact"]  # orphans swept last round
    assert len(report.planned[0].partitions) == 3
    assert len(data_files(fixtures_lake.iceberg_table(lake, EVENTS))) == 3


def test_a_dry_run_plans_and_changes_nothing(lake: Lake, events: Table) -> None:
    append_batches(lake)
    quiet(lake, manifest_count_trigger="10")
    snapshot = fixtures_lake.iceberg_table(lake, EVENTS).current_snapshot().snapshot_id
    report = lake.maintenance.run([EVENTS], dry_run=True)
    assert [a.action for a in report.planned] == ["compact", "manifests", "orphans"]
    assert report.done == []
    assert fixtures_lake.iceberg_table(lake, EVENTS).current_snapshot().snapshot_id == snapshot
    assert lake.maintenance.history(EVENTS) == []


def test_only_partitions_with_enough_fragments_are_compacted(lake: Lake, events: Table) -> None:
    append_batches(lake, days=(1,), per_day=6)
    append_batches(lake, days=(2,), per_day=2)
    quiet(lake)
    lake.maintenance.run([EVENTS])
    per_day = sorted(
        str(f["partition"]) for f in data_files(fixtures_lake.iceberg_table(lake, EVENTS))
    )
    assert len(per_day) == 3  # day 1 compacted to one file, day 2's two fragments kept


def test_manifests_and_expiry_run_when_their_triggers_fire(lake: Lake, events: Table) -> None:
    append_batches(lake, per_day=4)
    quiet(lake, manifest_count_trigger="5", snapshot_retention="0s", small_file_trigger="100")
    snapshots_before = len(fixtures_lake.iceberg_table(lake, EVENTS).metadata.snapshots)

    report = lake.maintenance.run([EVENTS])

    assert [d["action"] for d in report.done] == ["manifests", "expire", "orphans"]
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    assert len(table.current_snapshot().manifests(table.io)) == 1
    assert len(table.metadata.snapshots) < snapshots_before
    assert len(lake.sql(f"SELECT * FROM {EVENTS}")) == 12 * 20


def test_a_disabled_table_is_left_alone(lake: Lake, events: Table) -> None:
    append_batches(lake)
    quiet(lake, enabled="false")
    report = lake.maintenance.run()
    assert report.planned == []
    assert "enabled is false" in report.skipped[EVENTS]


def test_two_autopilot_processes_share_the_tables_without_colliding(home: Path) -> None:
    with Lake.open(home) as lake:
        names = [f"logs.t{n}" for n in range(6)]
        for name in names:
            lake.tables.create(
                name,
                schema=EVENTS_SCHEMA,
                partition=["day(ts)"],
                sort="id",
                properties=NO_READER_GRACE,
            )
            append_batches(lake, table=name, days=(1, 2), per_day=5)
            quiet(lake, name)
    env = os.environ | {"ICEHOUSE_HOME": str(home)}
    command = [sys.executable, "-m", "icehouse", "maintain", "run", "--format", "json"]
    procs = [
        subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs

    with Lake.open(home) as lake:
        for name in names:
            runs = [r for r in lake.maintenance.history(name) if r.action.startswith("compact")]
            rewritten = [r for r in runs if r.summary.get("groups_rewritten")]
            assert len(rewritten) == 1, (name, runs)  # compacted once, by one of the two
            assert all(r.status == "ok" for r in runs)
            assert len(data_files(fixtures_lake.iceberg_table(lake, name))) == 2
            assert len(lake.sql(f"SELECT DISTINCT id FROM {name}")) == 2 * 5 * 20


def test_many_small_files_trigger_compaction_even_without_fragments(
    lake: Lake, events: Table
) -> None:
    append_batches(lake, days=(1,), per_day=6)
    # Files of ~2 KB are fragments of a 128 MiB target; with an 8 KB target they are not
    # (2 KB > 8 KB / 8) but are still under 3/4 of it.
    quiet(lake, small_file_trigger="100", file_count_trigger="6")
    lake.tables.alter(EVENTS, properties={"write.target-file-size-bytes": "8192"})
    report = lake.maintenance.run([EVENTS])
    assert [a.action for a in report.planned][:1] == ["compact"]
    assert len(data_files(fixtures_lake.iceberg_table(lake, EVENTS))) < 6
