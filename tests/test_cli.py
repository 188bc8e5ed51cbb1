"""The ``icehouse`` command: exit codes, exact messages, and one JSON document with
``--format json``. Each test drives the real CLI against a real lake home."""

from __future__ import annotations

import csv
import io
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from icehouse.cli.app import app
from tests.fixtures_lake import event, write_jsonl

SCHEMA = json.dumps({"ts": "timestamptz!", "id": "long!", "country": "string", "bytes": "long"})
WIDE = {"COLUMNS": "1000", "ICEHOUSE_HOME": ""}  # no wrapping; no inherited home


def run(*args: str, env: dict[str, str] | None = None):
    """Run the CLI in-process; stdout and stderr are kept apart."""
    return CliRunner().invoke(app, list(args), env=WIDE | (env or {}), catch_exceptions=False)


def ok(*args: str, env: dict[str, str] | None = None):
    result = run(*args, env=env)
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def as_json(*args: str, env: dict[str, str] | None = None):
    result = ok(*args, "--format", "json", env=env)
    return json.loads(result.stdout)


def one_line(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def home(tmp_path: Path) -> str:
    path = tmp_path / "lake"
    ok("init", "--home", str(path))
    return str(path)


@pytest.fixture
def ingested(home: str, tmp_path: Path) -> str:
    """A home with ``logs.events`` and source ``web``, after ingesting 20 good rows and
    one bad line (line 3)."""
    landing = tmp_path / "landing"
    ok("table", "create", "logs.events", "--schema", SCHEMA, "--partition", "day(ts)",
       "--sort", "id", "--home", home)  # fmt: skip
    (landing).mkdir(parents=True, exist_ok=True)
    ok("source", "add", "web", "--location", str(landing), "--table", "logs.events",
       "--file-format", "jsonl", "--settle", "0s", "--home", home)  # fmt: skip
    good = [event(i, country="us" if i == 2 else "de") for i in range(1, 21)]
    write_jsonl(landing / "a.jsonl", [*good[:2], "{oops", *good[2:]])
    ok("ingest", "--home", home)
    return home


# --- init and finding the home --------------------------------------------------------------


def test_init_creates_a_home_and_says_what_to_do_next(tmp_path):
    target = tmp_path / "lake"
    result = ok("init", "--home", str(target))
    assert result.stdout == (
        f"Created lake home {target}. Next: `icehouse table create ... --home {target}`\n"
    )
    assert (target / "icehouse.toml").is_file()
    assert (target / "state.db").is_file()
    assert (target / "warehouse").is_dir()


def test_init_on_an_existing_home_changes_nothing_and_says_so(home):
    config = Path(home) / "icehouse.toml"
    config.write_text(config.read_text() + "# my note\n")
    before = config.read_text()
    result = ok("init", "--home", home)
    assert result.stdout == f"{home} is already a lake home; nothing changed.\n"
    assert config.read_text() == before
    assert as_json("init", "--home", home) == {"home": home, "created": False}


def test_a_command_without_a_home_exits_3_and_says_how_to_make_one(tmp_path):
    missing = tmp_path / "nowhere"
    result = run("status", "--home", str(missing))
    assert result.exit_code == 3
    assert result.stdout == ""
    assert one_line(result.stderr) == (
        f"Error: no lake home at {missing} (no icehouse.toml). Create one with "
        f"`icehouse init --home {missing}`, or point --home / ICEHOUSE_HOME at an existing one"
    )


def test_the_home_comes_from_icehouse_home_when_not_given(home):
    assert as_json("status", env={"ICEHOUSE_HOME": home}) == []


def test_the_default_home_is_lake_in_the_current_folder_and_parents_are_not_searched(
    tmp_path, monkeypatch
):
    ok("init", "--home", str(tmp_path / "lake"))
    monkeypatch.chdir(tmp_path)
    assert as_json("table", "list") == []
    below = tmp_path / "sub"
    below.mkdir()
    monkeypatch.chdir(below)
    result = run("table", "list")
    assert result.exit_code == 3
    assert f"no lake home at {below / 'lake'}" in one_line(result.stderr)


# --- tables ----------------------------------------------------------------------------------


def test_table_create_then_show_as_json(home):
    ok("table", "create", "logs.events", "--schema", SCHEMA, "--partition", "day(ts)",
       "--partition", "bucket(4, id)", "--sort", "country, ts DESC NULLS LAST",
       "--property", "owner=ops", "--home", home)  # fmt: skip
    shown = as_json("table", "show", "logs.events", "--home", home)
    assert shown["name"] == "logs.events"
    assert [c["name"] for c in shown["schema"]] == ["ts", "id", "country", "bytes"]
    assert shown["partition_specs"] == [{"spec_id": 0, "fields": ["day(ts)", "bucket[4](id)"]}]
    assert shown["sort_order"] == ["country ASC NULLS FIRST", "ts DESC NULLS LAST"]
    assert shown["properties"]["owner"] == "ops"
    assert shown["properties"]["write.parquet.compression-codec"] == "zstd"
    assert (shown["rows"], shown["snapshots"], shown["recent_snapshots"]) == (0, 0, [])


def test_table_create_reads_the_schema_from_a_file(home, tmp_path):
    schema_file = tmp_path / "schema.json"
    schema_file.write_text(SCHEMA)
    ok("table", "create", "logs.events", "--schema", str(schema_file), "--home", home)
    assert [t["name"] for t in as_json("table", "list", "--home", home)] == ["logs.events"]


def test_table_create_infers_the_schema_like_a_sample_file(home, tmp_path):
    sample = write_jsonl(tmp_path / "sample.jsonl", [{"id": 1, "name": "a", "score": 1.5}])
    ok("table", "create", "logs.sampled", "--like", str(sample), "--home", home)
    shown = as_json("table", "show", "logs.sampled", "--home", home)
    assert [(c["name"], c["type"]) for c in shown["schema"]] == [
        ("id", "long"),
        ("name", "string"),
        ("score", "double"),
    ]


def test_table_list_and_show_as_json_report_rows_files_and_snapshots(ingested):
    (listed,) = as_json("table", "list", "--home", ingested)
    assert (listed["name"], listed["rows"], listed["snapshots"]) == ("logs.events", 20, 1)
    assert listed["data_files"] == 1 and listed["bytes"] > 0
    shown = as_json("table", "show", "logs.events", "--home", ingested)
    (snapshot,) = shown["recent_snapshots"]
    assert snapshot["operation"] == "append"
    assert snapshot["timestamp"].endswith("+00:00")


def test_table_alter_evolves_the_partition_spec(ingested):
    ok("table", "alter", "logs.events", "--partition", "day(ts)",
       "--partition", "truncate(1, country)", "--add-column", "referrer:string",
       "--home", ingested)  # fmt: skip
    shown = as_json("table", "show", "logs.events", "--home", ingested)
    assert shown["current_spec_id"] == 1
    assert shown["partition_specs"][1]["fields"] == ["day(ts)", "truncate[1](country)"]
    assert shown["schema"][-1] == {"id": 5, "name": "referrer", "type": "string", "required": False}


def test_table_alter_refuses_a_narrowing_with_exit_1(ingested):
    result = run("table", "alter", "logs.events", "--widen", "bytes:int", "--home", ingested)
    assert result.exit_code == 1
    assert one_line(result.stderr) == (
        "Error: cannot change bytes from long to int: Iceberg allows only int→long, "
        "float→double and wider decimal precision"
    )


def test_table_create_with_a_bad_partition_exits_1_with_the_grammar(home):
    result = run("table", "create", "logs.events", "--schema", SCHEMA, "--partition", "weekday(ts)",
                 "--home", home)  # fmt: skip
    assert result.exit_code == 1
    assert one_line(result.stderr) == (
        "Error: cannot read partition field 'weekday(ts)': use a column name or identity(c), "
        "year(c), month(c), day(c), hour(c), bucket(N, c) or truncate(W, c)"
    )


def test_table_create_needs_exactly_one_of_schema_or_like(home):
    result = run("table", "create", "logs.events", "--home", home)
    assert result.exit_code == 1
    assert one_line(result.stderr) == "Error: give exactly one of --schema or --like"


def test_showing_a_missing_table_exits_1_with_error_on_stderr_only(home):
    result = run("table", "show", "logs.nope", "--format", "json", "--home", home)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert one_line(result.stderr) == (
        "Error: no table 'logs.nope'. Create it with `icehouse table create logs.nope ...`"
    )


# --- sources ---------------------------------------------------------------------------------


def test_source_add_then_test_shows_mapped_rows_and_every_error(home, tmp_path):
    ok("table", "create", "logs.events", "--schema", SCHEMA, "--home", home)
    (tmp_path / "in").mkdir(parents=True, exist_ok=True)
    ok("source", "add", "web", "--location", str(tmp_path / "in"), "--table", "logs.events",
       "--file-format", "jsonl", "--map", "id=event.id", "--map", "ts=at",
       "--timestamp", "ts=epoch_ms", "--map", "country=cc", "--expr", "country=upper(country)",
       "--default", "country=zz", "--home", home)  # fmt: skip
    sample = write_jsonl(
        tmp_path / "sample.jsonl",
        [
            {"at": 1717236000000, "event": {"id": 1}, "cc": "de", "bytes": 5},
            {"at": 1717236000000, "event": {"id": 2}},
            {"at": 1717236000000, "event": {"id": "two"}},
            "not json",
        ],
    )
    shown = as_json("source", "test", "web", "--sample", str(sample), "--home", home)
    assert shown["total_rows"] == 2
    assert shown["rows"] == [
        {"ts": "2024-06-01T10:00:00+00:00", "id": 1, "country": "DE", "bytes": 5},
        {"ts": "2024-06-01T10:00:00+00:00", "id": 2, "country": "ZZ", "bytes": None},
    ]
    assert [(e["line"], e["reason"].split(":")[0]) for e in shown["errors"]] == [
        (3, "column id"),
        (4, "invalid JSON"),
    ]
    assert shown["unreadable"] is None
    human = ok("source", "test", "web", "--sample", str(sample), "--home", home).stdout
    assert "2 rows mapped (first 2)" in human
    assert "line 3: column id: cannot convert 'two' to bigint" in human
    assert "line 4: invalid JSON" in human
    # Nothing was written.
    assert as_json("table", "show", "logs.events", "--home", home)["rows"] == 0


def test_source_add_writes_icehouse_toml_and_list_show_read_it(home, tmp_path):
    ok("table", "create", "logs.events", "--schema", SCHEMA, "--home", home)
    (tmp_path / "in").mkdir(parents=True, exist_ok=True)
    result = ok("source", "add", "web", "--location", str(tmp_path / "in"),
                "--table", "logs.events", "--file-format", "csv", "--glob", "*.csv.gz",
                "--home", home)  # fmt: skip
    assert one_line(result.stdout) == (
        f"Added source web → logs.events (in {Path(home) / 'icehouse.toml'})"
    )
    assert "[sources.web]" in (Path(home) / "icehouse.toml").read_text()
    (listed,) = as_json("source", "list", "--home", home)
    assert (listed["name"], listed["format"], listed["glob"]) == ("web", "csv", "*.csv.gz")
    assert as_json("source", "show", "web", "--home", home)["location"] == str(tmp_path / "in")


def test_source_add_for_a_missing_table_exits_1(home, tmp_path):
    result = run("source", "add", "web", "--location", str(tmp_path), "--table", "logs.nope",
                 "--file-format", "jsonl", "--home", home)  # fmt: skip
    assert result.exit_code == 1
    assert one_line(result.stderr).startswith("Error: no table 'logs.nope'")
    assert "[sources.web]" not in (Path(home) / "icehouse.toml").read_text()


def test_source_add_twice_is_refused(ingested, tmp_path):
    result = run("source", "add", "web", "--location", str(tmp_path), "--table", "logs.events",
                 "--file-format", "jsonl", "--home", ingested)  # fmt: skip
    assert result.exit_code == 1
    assert one_line(result.stderr) == "Error: source 'web' already exists"


def test_source_add_with_an_unknown_format_exits_1(home, tmp_path):
    ok("table", "create", "logs.events", "--schema", SCHEMA, "--home", home)
    result = run("source", "add", "web", "--location", str(tmp_path), "--table", "logs.events",
                 "--file-format", "xml", "--home", home)  # fmt: skip
    assert result.exit_code == 1
    assert one_line(result.stderr).startswith("Error: source 'web': ")
    assert "format" in result.stderr


def test_source_add_with_ordered_listing_writes_the_keys_and_list_show_print_them(home, tmp_path):
    ok("table", "create", "logs.events", "--schema", SCHEMA, "--home", home)
    (tmp_path / "in").mkdir(parents=True, exist_ok=True)
    ok("source", "add", "web", "--location", str(tmp_path / "in"), "--table", "logs.events",
       "--file-format", "jsonl", "--listing", "ordered", "--full-listing-every", "1h",
       "--home", home)  # fmt: skip
    toml = (Path(home) / "icehouse.toml").read_text()
    assert 'listing = "ordered"' in toml and 'full_listing_every = "1h"' in toml
    shown = ok("source", "show", "web", "--home", home).stdout
    assert 'listing = "ordered"' in shown and 'full_listing_every = "1h"' in shown
    assert "ordered, full every 1h" in ok("source", "list", "--home", home).stdout
    (listed,) = as_json("source", "list", "--home", home)
    assert (listed["listing"], listed["full_listing_every"]) == ("ordered", "1h")


@pytest.mark.parametrize(
    ("flag", "value", "words"),
    [
        ("--listing", "sorted", "'full' or 'ordered'"),
        ("--full-listing-every", "hourly", "cannot read duration 'hourly'"),
    ],
)
def test_source_add_with_a_bad_listing_names_what_is_allowed(home, tmp_path, flag, value, words):
    ok("table", "create", "logs.events", "--schema", SCHEMA, "--home", home)
    result = run("source", "add", "web", "--location", str(tmp_path), "--table", "logs.events",
                 "--file-format", "jsonl", "--listing", "ordered", flag, value,
                 "--home", home)  # fmt: skip
    assert result.exit_code == 1
    assert one_line(result.stderr).startswith("Error: source 'web': ")
    assert words in one_line(result.stderr)
    assert "[sources.web]" not in (Path(home) / "icehouse.toml").read_text()


# --- ingest, status, quarantine, sql ---------------------------------------------------------


def test_ingest_as_json_prints_the_report(home, tmp_path):
    landing = tmp_path / "landing"
    ok("table", "create", "logs.events", "--schema", SCHEMA, "--home", home)
    (landing).mkdir(parents=True, exist_ok=True)
    ok("source", "add", "web", "--location", str(landing), "--table", "logs.events",
       "--file-format", "jsonl", "--settle", "0s", "--home", home)  # fmt: skip
    write_jsonl(landing / "a.jsonl", ["{oops", *[event(i) for i in range(1, 21)]])
    report = as_json("ingest", "--home", home)
    assert (report["files"], report["rows"], report["bad_rows"], report["batches"]) == (1, 20, 1, 1)
    assert len(report["snapshots"]) == 1
    again = as_json("ingest", "--once", "--home", home)
    assert (again["files"], again["rows"]) == (0, 0)


def test_ingest_prints_a_summary_for_people(home, tmp_path):
    landing = tmp_path / "landing"
    ok("table", "create", "logs.events", "--schema", SCHEMA, "--home", home)
    (landing).mkdir(parents=True, exist_ok=True)
    ok("source", "add", "web", "--location", str(landing), "--table", "logs.events",
       "--file-format", "jsonl", "--settle", "0s", "--home", home)  # fmt: skip
    write_jsonl(landing / "a.jsonl", ["{oops", *[event(i) for i in range(1, 21)]])
    (landing / "empty.jsonl").write_bytes(b"")
    out = ok("ingest", "--home", home).stdout
    assert "Ingested 20 rows from 1 file (1 quarantined whole) in 1 commit" in one_line(out)
    assert "1 bad lines quarantined" in out


def test_ingest_of_an_unknown_source_exits_1(ingested):
    result = run("ingest", "nope", "--home", ingested)
    assert result.exit_code == 1
    assert one_line(result.stderr) == "Error: no source 'nope' (sources: web)"


def test_status_as_json_counts_per_source_with_iso_times(ingested):
    (status,) = as_json("status", "--home", ingested)
    assert status["source"] == "web"
    assert status["table"] == "logs.events"
    assert (status["files_committed"], status["rows_committed"]) == (1, 20)
    assert (status["files_pending"], status["lines_quarantined"]) == (0, 1)
    assert status["last_commit_at"].endswith("+00:00")


def test_quarantine_list_show_and_replay(ingested):
    (record,) = as_json("quarantine", "list", "--home", ingested)
    assert (record["source"], record["kind"], record["line"], record["raw"]) == (
        "web", "line", 3, "{oops",
    )  # fmt: skip
    assert record["path"].endswith("/a.jsonl")
    assert record["created_at"].endswith("+00:00")
    assert record["replayed_at"] is None
    shown = as_json("quarantine", "show", str(record["id"]), "--home", ingested)
    assert shown == record
    human = ok("quarantine", "show", str(record["id"]), "--home", ingested).stdout
    assert "line: 3" in human and "{oops" in human
    assert as_json("quarantine", "replay", "--home", ingested) == {
        "queued_files": 0,
        "queued_lines": 1,
    }


def test_quarantine_show_of_a_missing_record_exits_1(ingested):
    result = run("quarantine", "show", "999", "--home", ingested)
    assert result.exit_code == 1
    assert one_line(result.stderr) == (
        "Error: no quarantine record 999; list them with `icehouse quarantine list`"
    )


def test_sql_as_json_is_an_array_of_row_objects(ingested):
    query = "SELECT id, country, ts FROM logs.events ORDER BY id LIMIT 3"
    rows = as_json("sql", query, "--home", ingested)
    assert rows == [
        {"id": 1, "country": "de", "ts": "2024-06-01T10:00:00+00:00"},
        {"id": 2, "country": "us", "ts": "2024-06-01T10:00:00+00:00"},
        {"id": 3, "country": "de", "ts": "2024-06-01T10:00:00+00:00"},
    ]
    assert as_json("sql", "SELECT count(*) AS n FROM logs.events", "--home", ingested) == [
        {"n": 20}
    ]


def test_sql_as_csv(ingested):
    result = ok("sql", "SELECT id, country FROM logs.events ORDER BY id LIMIT 3", "--format", "csv",
                "--home", ingested)  # fmt: skip
    assert list(csv.reader(io.StringIO(result.stdout))) == [
        ["id", "country"],
        ["1", "de"],
        ["2", "us"],
        ["3", "de"],
    ]


def test_sql_as_a_table_for_people(ingested):
    out = ok("sql", "SELECT count(*) AS n FROM logs.events", "--home", ingested).stdout
    assert out == " n\n20\n1 row(s)\n"  # piped: plain aligned text, numbers to the right


def test_a_bad_query_exits_1_naming_what_is_missing(ingested):
    result = run("sql", "SELECT contry FROM logs.events", "--format", "json", "--home", ingested)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: no column 'contry'; did you mean 'country'?")
    assert "LINE 1: SELECT contry FROM logs.events" in result.stderr


def test_a_column_like_no_real_one_points_at_the_tables_columns(ingested):
    result = run("sql", "SELECT url FROM logs.events", "--home", ingested)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "Error: no column 'url' in logs.events (its columns: `icehouse table show logs.events`)"
    )


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("SELECT * FROM logs.evnts", "no table logs.evnts; did you mean logs.events?"),
        ("SELECT * FROM nope", "no table nope (tables: logs.events)"),
        ("SELECT * FROM shop.orders", "no table shop.orders (tables: logs.events)"),
    ],
)
def test_a_missing_table_is_named_with_the_closest_real_one(ingested, query, said):
    result = run("sql", query, "--home", ingested)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {said}")
    assert "pg_enum" not in result.stderr and "schema" not in result.stderr


# --- demo ------------------------------------------------------------------------------------


def test_demo_generates_ingests_and_queries_in_its_own_home(tmp_path):
    target = tmp_path / "demo"
    result = ok("demo", "--rows", "20000", "--days", "3", "--home", str(target),
                "--format", "json")  # fmt: skip
    summary = json.loads(result.stdout)
    assert summary["home"] == str(target)
    assert summary["generated"]["rows"] == 20_000
    assert summary["ingest"]["rows"] == 20_000
    assert summary["ingest"]["bad_rows"] == summary["generated"]["bad_lines"] > 0
    assert [q["title"] for q in summary["queries"]] == [
        "Requests and traffic per provider",
        "Top 5 tenants by requests",
        "Daily requests and error rate",
    ]
    per_provider = {r["provider"]: r["requests"] for r in summary["queries"][0]["rows"]}
    assert sum(per_provider.values()) == 20_000
    assert set(per_provider) == {"fastedge", "cloudy", "parquetcdn"}
    compaction = summary["compaction"]["compaction"]
    assert compaction["strategy"] == "sort"
    assert compaction["files_after"] < compaction["files_before"]
    assert all(g["status"] == "committed" for g in compaction["groups"])
    before = summary["compaction"]["tenant_week_query"]["before"][0]
    after = summary["compaction"]["tenant_week_query"]["after"][0]
    assert after["files_planned"] < before["files_planned"]
    assert summary["seconds"] > 0
    # A second run replaces the previous demo, printing what to try next with the home.
    out = ok("demo", "--rows", "20000", "--days", "3", "--home", str(target)).stdout
    assert "Demo finished in" in out
    assert "Requests and traffic per provider" in out
    assert "Quarantine" in out
    assert "Compaction" in out and "every partition proved" in out
    assert "fastedge:" in out and "bad lines" in out
    assert f"icehouse table show demo.requests --home {target}" in out
    assert f"icehouse status --home {target}" in out


def test_demo_refuses_a_home_that_is_not_a_previous_demo(home):
    result = run("demo", "--rows", "1000", "--days", "1", "--home", home)
    assert result.exit_code == 1
    assert one_line(result.stderr) == (
        f"Error: {home} is not empty and not a previous demo; the demo will not touch it. "
        "Run `icehouse demo --home <new folder>`"
    )
    assert (Path(home) / "icehouse.toml").is_file()


# --- help ------------------------------------------------------------------------------------


def command_paths() -> list[tuple[str, ...]]:
    def walk(command, path: tuple[str, ...]):
        yield path
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield from walk(sub, (*path, name))

    return list(walk(typer.main.get_command(app), ()))


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "icehouse")
def test_every_command_has_help(path):
    result = ok(*path, "--help")
    assert "Usage:" in result.stdout
    assert "--help" in result.stdout


def test_every_command_that_prints_offers_format_json():
    groups = (
        ("table",),
        ("source",),
        ("quarantine",),
        ("maintain",),
        ("home",),
        ("view",),
        ("principal",),
        ("tenant",),
        ("catalog",),
    )
    leaves = [p for p in command_paths() if p and p not in groups]
    missing = [p for p in leaves if "--format" not in ok(*p, "--help").stdout]
    assert missing == []


# --- as a real process -------------------------------------------------------------------------


def cli_process(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python -m icehouse`` with its output piped, as a supervisor or script runs it."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "ICEHOUSE_HOME")}
    return subprocess.run(
        [sys.executable, "-m", "icehouse", *args],
        capture_output=True, text=True, cwd=cwd, env=env, timeout=120,
    )  # fmt: skip


def test_piped_json_output_is_one_parseable_document(ingested, tmp_path):
    process = cli_process("sql", "SELECT count(*) AS n FROM logs.events", "--format", "json",
                          "--home", ingested, cwd=tmp_path)  # fmt: skip
    assert process.returncode == 0, process.stderr
    assert json.loads(process.stdout) == [{"n": 20}]


def test_piped_errors_are_not_wrapped_mid_message(tmp_path):
    missing = tmp_path / "a-rather-long-folder-name-for-a-lake-home" / "nowhere"
    process = cli_process("status", "--home", str(missing), cwd=tmp_path)
    assert process.returncode == 3
    assert process.stdout == ""
    assert process.stderr == (
        f"Error: no lake home at {missing} (no icehouse.toml). Create one with "
        f"`icehouse init --home {missing}`, or point --home / ICEHOUSE_HOME at an existing one\n"
    )


def test_ingest_follow_stops_cleanly_on_sigterm_with_exit_0(ingested, tmp_path):
    config = Path(ingested) / "icehouse.toml"
    config.write_text(
        config.read_text()
        .replace('commit_interval = "10s"', 'commit_interval = "0.2s"')
        .replace('poll_interval = "1s"', 'poll_interval = "0.1s"')
    )
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "ICEHOUSE_HOME")}
    follower = subprocess.Popen(
        [sys.executable, "-m", "icehouse", "ingest", "--follow", "--home", ingested],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
    )  # fmt: skip
    try:
        write_jsonl(tmp_path / "landing" / "late.jsonl", [event(100)])
        query = "SELECT count(*) AS n FROM logs.events"
        deadline = time.monotonic() + 30
        while as_json("sql", query, "--home", ingested) != [{"n": 21}]:
            assert time.monotonic() < deadline, "the follower did not ingest the new file"
            assert follower.poll() is None, follower.communicate()
            time.sleep(0.1)
        follower.send_signal(signal.SIGTERM)
        stdout, stderr = follower.communicate(timeout=30)
    finally:
        if follower.poll() is None:
            follower.kill()
            follower.wait()
    assert follower.returncode == 0, stderr
    assert "received SIGTERM: finishing the current batch" in stderr
    assert "Ingested 1 row from 1 file" in one_line(stdout)


def test_a_relative_source_location_is_relative_to_the_home_not_the_current_folder(
    tmp_path, monkeypatch
):
    home = tmp_path / "lake"
    ok("init", "--home", str(home))
    ok("table", "create", "logs.events", "--schema", SCHEMA, "--home", str(home))
    (home / "landing" / "shop").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)  # not the home: landing/shop does not exist here

    ok(
        "source",
        "add",
        "shop",
        "--location",
        "landing/shop",
        "--table",
        "logs.events",
        "--file-format",
        "jsonl",
        "--settle",
        "0s",
        "--home",
        str(home),
    )
    write_jsonl(home / "landing" / "shop" / "a.jsonl", [event(1), event(2)])

    assert 'location = "landing/shop"' in (home / "icehouse.toml").read_text()
    assert "Ingested 2 rows from 1 file" in ok("ingest", "--home", str(home)).stdout


def test_a_landing_folder_that_does_not_exist_is_an_error_on_add_and_a_warning_later(tmp_path):
    home = tmp_path / "lake"
    ok("init", "--home", str(home))
    ok("table", "create", "logs.events", "--schema", SCHEMA, "--home", str(home))

    refused = run(
        "source",
        "add",
        "shop",
        "--location",
        "landing/shopp",
        "--table",
        "logs.events",
        "--file-format",
        "jsonl",
        "--home",
        str(home),
    )
    assert refused.exit_code == 1
    assert f"landing folder {home / 'landing' / 'shopp'} does not exist" in refused.stderr
    assert "shop" not in (home / "icehouse.toml").read_text().split("# Sources")[0]

    ok(
        "source",
        "add",
        "shop",
        "--location",
        "landing/shop",
        "--create-location",
        "--table",
        "logs.events",
        "--file-format",
        "jsonl",
        "--home",
        str(home),
    )
    (home / "landing" / "shop").rmdir()
    warning = f"source shop: landing folder {home / 'landing' / 'shop'} does not exist"
    assert warning in ok("ingest", "--home", str(home)).stderr
    assert warning in ok("status", "--home", str(home)).stderr
    sample = write_jsonl(tmp_path / "sample.jsonl", [event(1)])
    tested = run("source", "test", "shop", "--sample", str(sample), "--home", str(home))
    assert tested.exit_code == 1 and warning.removeprefix("source shop: ") in tested.stderr


@pytest.fixture
def web_source(tmp_path):
    """A fresh home with ``logs.events`` and a JSON-lines source ``web`` taking files at
    once; returns (home, landing)."""
    home = tmp_path / "lake"
    landing = tmp_path / "landing"
    landing.mkdir()
    ok("init", "--home", str(home))
    ok("table", "create", "logs.events", "--schema", SCHEMA, "--home", str(home))
    ok("source", "add", "web", "--location", str(landing), "--table", "logs.events",
       "--file-format", "jsonl", "--settle", "0s", "--home", str(home))  # fmt: skip
    return home, landing


def test_quarantine_list_cuts_reasons_at_a_word_with_an_ellipsis_and_refuses_a_bad_kind(
    web_source, tmp_path
):
    home, landing = web_source
    write_jsonl(landing / "a.jsonl", [event(1, id="x" * 50 + " " + "y" * 200), event(2, id="b")])
    ok("ingest", "--home", str(home))

    listed = ok("quarantine", "list", "--home", str(home)).stdout
    (reason_line,) = [line for line in listed.splitlines() if "records bad" in line]
    assert reason_line.rstrip(" │").endswith("…")  # whole-file reason, cut at a word
    shown = as_json("quarantine", "list", "--kind", "line", "--home", str(home))
    cut_value = next(r["reason"] for r in shown if r["line"] == 1)
    assert cut_value == f"column id: cannot convert '{'x' * 50} {'y' * 29}…' to bigint"

    bad_kind = run("quarantine", "list", "--kind", "bogus", "--home", str(home))
    assert bad_kind.exit_code == 2 and "'bogus' is not one of" in bad_kind.stderr
    none = ok("quarantine", "list", "--source", "nope", "--kind", "file", "--home", str(home))
    assert "No quarantined records of source nope and kind file." in none.stdout


def test_a_value_that_cannot_be_converted_gets_one_reason_not_two(web_source):
    home, landing = web_source
    write_jsonl(landing / "a.jsonl", [*[event(i) for i in range(1, 20)], event(20, id="acme-corp")])
    ok("ingest", "--home", str(home))

    records = as_json("quarantine", "list", "--home", str(home))

    (record,) = records
    assert record["reason"] == "column id: cannot convert 'acme-corp' to bigint"


def test_source_test_predicts_a_whole_file_quarantine_and_ingest_counts_it(web_source, tmp_path):
    home, landing = web_source
    sample = write_jsonl(
        landing / "a.jsonl", [*[event(i) for i in range(1, 27)], "{oops", "{no", "{nope"]
    )

    tested = ok("source", "test", "web", "--sample", str(sample), "--home", str(home)).stdout
    ingested = ok("ingest", "--home", str(home)).stdout

    assert "ingest would quarantine the whole file: 3 of 29 records bad (10.3 %)" in tested
    assert "Ingested 0 rows from 0 files (1 quarantined whole)" in ingested
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    verdict = as_json("source", "test", "web", "--sample", str(empty), "--home", str(home))
    assert verdict["verdict"] == "ingest would quarantine the whole file: empty file: no records"


def test_small_outputs_read_as_people_expect(ingested):
    shown = ok("source", "show", "web", "--home", ingested).stdout
    assert shown.startswith("[sources.web]\n") and 'format = "jsonl"' in shown
    assert "None" not in shown and "True" not in shown

    status = ok("status", "--home", ingested).stdout
    assert "rows (last hour)" in status and "rows/s" not in status
    assert as_json("status", "--home", ingested)[0]["rows_last_hour"] == 20

    history = ok("table", "history", "logs.events", "--home", ingested).stdout
    (snapshot,) = as_json("table", "history", "logs.events", "--home", ingested)
    assert "current" in history.splitlines()[0]  # every column has a label
    assert str(snapshot["snapshot_id"]) in history  # never cut: rollback --to takes it

    refused = run("maintain", "orphans", "logs.events", "--older-than", "5m", "--home", ingested)
    assert refused.exit_code == 1 and "force=True" not in refused.stderr


def test_dry_runs_say_would_give_reasons_and_stay_out_of_history(ingested):
    expired = ok("maintain", "expire", "logs.events", "--dry-run", "--retain-last", "1",
                 "--older-than", "0s", "--home", ingested).stdout  # fmt: skip
    assert "(dry run)" in expired and " deleted " not in expired.replace("would be deleted", "")

    nothing = ok("maintain", "compact", "logs.events", "--home", ingested).stdout
    assert "nothing to compact: no partition has 5 or more files to rewrite" in one_line(nothing)

    ok("maintain", "orphans", "logs.events", "--dry-run", "--home", ingested)
    history = as_json("maintain", "history", "--home", ingested)
    assert all(not run["dry_run"] for run in history)
    with_dry = as_json("maintain", "history", "--dry-runs", "--home", ingested)
    assert {run["action"] for run in with_dry if run["dry_run"]} == {"expire", "orphans"}


def test_one_size_unit_everywhere(ingested):
    from icehouse.cli.output import size_text

    assert size_text(9_412_345) == "9.4 MB"
    assert size_text(999) == "999 B" and size_text(1_500) == "1.5 kB"
    ingest = ok("ingest", "--home", ingested).stdout
    assert "MB written" in ingest or "kB written" in ingest or " B written" in ingest
