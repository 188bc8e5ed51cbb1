"""``icehouse view``: a view made in the CLI is listed, shown, queried by ``icehouse
sql`` like a table, and dropped."""

from __future__ import annotations

import json

from tests import test_cli
from tests.test_cli import as_json, ok, one_line, run

home = test_cli.home
ingested = test_cli.ingested

GERMAN = "SELECT id, country FROM logs.events WHERE country = 'de'"


def test_a_created_view_is_listed_shown_and_queried_like_a_table(ingested: str) -> None:
    made = as_json("view", "create", "logs.german", "--sql", GERMAN, "--home", ingested)
    assert made["columns"] == ["id: long", "country: string"]
    assert made["current_version"] == 1

    assert as_json("view", "list", "--home", ingested) == [
        {"view": "logs.german", "current_version": 1, "dialects": "duckdb", "sql": GERMAN}
    ]
    shown = ok("view", "show", "logs.german", "--home", ingested).stdout
    assert "logs.german (version 1)" in shown
    assert GERMAN in one_line(shown)

    counted = ok(
        "sql", "SELECT count(*) AS n FROM logs.german", "--format", "json", "--home", ingested
    )
    assert json.loads(counted.stdout) == [{"n": 19}]  # 20 rows, one of them from the us


def test_a_dropped_view_is_gone_and_its_name_is_free_again(ingested: str) -> None:
    ok("view", "create", "logs.german", "--sql", GERMAN, "--home", ingested)
    dropped = ok("view", "drop", "logs.german", "--yes", "--home", ingested)
    assert dropped.stdout.strip() == "Dropped view logs.german."
    assert as_json("view", "list", "--home", ingested) == []
    missing = run("view", "show", "logs.german", "--home", ingested)
    assert missing.exit_code == 1
    assert one_line(missing.stderr) == "Error: view 'logs.german' does not exist"


def test_a_view_cannot_take_a_tables_name_nor_be_made_of_bad_sql(ingested: str) -> None:
    clash = run("view", "create", "logs.events", "--sql", GERMAN, "--home", ingested)
    assert clash.exit_code == 1
    assert "'logs.events' is a table; a view cannot have a table's name" in one_line(clash.stderr)
    bad = run(
        "view", "create", "logs.bad", "--sql", "SELECT nope FROM logs.events", "--home", ingested
    )
    assert bad.exit_code == 1
    assert "nope" in one_line(bad.stderr)
    assert as_json("view", "list", "--home", ingested) == []
