"""A maintenance run that has nothing to do commits nothing: on a settled table, running
any command a second time leaves the snapshot history and the metadata file as they were,
and its report says that nothing changed."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pyiceberg.table import Table
from typer.testing import CliRunner

from icehouse.cli.app import app
from icehouse.lake import Lake
from tests import fixtures_lake
from tests.fixtures_lake import EVENTS, append_batches

home = fixtures_lake.home
lake = fixtures_lake.lake
events = fixtures_lake.events


def state(lake: Lake) -> tuple[str, int]:
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    return table.metadata_location, len(table.metadata.snapshots)


ACTIONS: dict[str, Callable[[Lake], dict[str, Any]]] = {
    "compact": lambda lake: lake.maintenance.compact(
        EVENTS, "binpack", min_input_files=2
    ).to_dict(),
    "manifests": lambda lake: lake.maintenance.manifests(EVENTS).to_dict(),
    "expire": lambda lake: lake.maintenance.expire(EVENTS, older_than="0s").to_dict(),
    "clean-metadata": lambda lake: lake.maintenance.clean_metadata(EVENTS).to_dict(),
    "orphans": lambda lake: lake.maintenance.orphans(EVENTS, older_than="0s", force=True).to_dict(),
}
NOTHING_CHANGED: dict[str, Callable[[dict[str, Any]], bool]] = {
    "compact": lambda r: r["groups"] == [] and r["snapshots"] == [],
    "manifests": lambda r: r["changed"] is False and r["snapshot_id"] is None,
    "expire": lambda r: r["expired_snapshot_ids"] == [] and r["files_deleted"] == 0,
    "clean-metadata": lambda r: r["files_deleted"] == 0,
    "orphans": lambda r: r["files_found"] == 0 and r["files_deleted"] == 0,
}


@pytest.mark.parametrize("action", list(ACTIONS))
def test_a_second_run_on_a_settled_table_commits_nothing(
    lake: Lake, events: Table, action: str
) -> None:
    append_batches(lake)
    for settle in ACTIONS.values():
        settle(lake)
    ACTIONS[action](lake)
    before = state(lake)

    report = ACTIONS[action](lake)

    assert state(lake) == before
    assert NOTHING_CHANGED[action](report), report


def test_manifests_three_times_on_one_manifest_adds_no_snapshot(lake: Lake, events: Table) -> None:
    append_batches(lake, per_day=1, days=(1,))
    assert (
        len(
            fixtures_lake.iceberg_table(lake, EVENTS)
            .current_snapshot()
            .manifests(fixtures_lake.iceberg_table(lake, EVENTS).io)
        )
        == 1
    )
    before = state(lake)

    reports = [lake.maintenance.manifests(EVENTS) for _ in range(3)]

    assert state(lake) == before
    assert [(r.manifests_before, r.manifests_after, r.changed) for r in reports] == [
        (1, 1, False)
    ] * 3
    assert [r.status for r in lake.maintenance.history(EVENTS)] == ["ok"] * 3


def test_the_cli_says_when_manifests_were_already_clustered(
    home: Path, lake: Lake, events: Table
) -> None:
    append_batches(lake, per_day=1, days=(1,))
    result = CliRunner().invoke(
        app, ["maintain", "manifests", EVENTS, "--home", str(home)], env={"COLUMNS": "1000"}
    )
    assert result.exit_code == 0, result.stderr
    assert f"{EVENTS} manifests: manifests 1: already clustered, nothing changed" in result.stdout
    shown = CliRunner().invoke(
        app, ["maintain", "history", EVENTS, "--home", str(home), "-f", "json"]
    )
    assert json.loads(shown.stdout)[0]["summary"]["changed"] is False
