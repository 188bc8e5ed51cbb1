"""Table history lists every retained snapshot; rollback makes an earlier one current."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from icehouse.cli.app import app
from tests import fixtures_lake
from tests.fixtures_lake import EVENTS, add_source, event, ids, write_jsonl

home, lake, landing, events = (
    fixtures_lake.home,
    fixtures_lake.lake,
    fixtures_lake.landing,
    fixtures_lake.events,
)


def test_history_shows_each_ingest_and_rollback_restores_an_earlier_state(lake, landing, events):
    add_source(lake, "s", landing)
    write_jsonl(landing / "a.jsonl", [event(1), event(2)])
    lake.ingest()
    write_jsonl(landing / "b.jsonl", [event(3)])
    lake.ingest()

    history = lake.tables.history(EVENTS)
    assert [s.operation for s in history] == ["append", "append"]
    assert [s.summary["total-records"] for s in history] == ["2", "3"]
    assert [s.is_current for s in history] == [False, True]

    lake.tables.rollback(EVENTS, history[0].snapshot_id)
    assert ids(lake) == [1, 2]


def test_history_as_json_and_rollback_to_an_unknown_snapshot_from_the_cli(lake, landing, events):
    add_source(lake, "s", landing)
    write_jsonl(landing / "a.jsonl", [event(1)])
    lake.ingest()
    runner = CliRunner()
    shown = runner.invoke(
        app, ["table", "history", EVENTS, "--format", "json", "--home", str(lake.home)]
    )
    assert shown.exit_code == 0, shown.output
    (snapshot,) = json.loads(shown.stdout)
    assert snapshot["operation"] == "append" and snapshot["current"] is True
    assert snapshot["timestamp"].endswith("+00:00")
    assert "icehouse.batch-id" in snapshot["summary"]

    refused = runner.invoke(
        app, ["table", "rollback", EVENTS, "--to", "42", "--home", str(lake.home)]
    )
    assert refused.exit_code == 1
    assert "table has no snapshot 42; list them with `icehouse table history`" in refused.stderr
