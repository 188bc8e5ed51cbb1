"""``icehouse sql --out FILE`` and the SQL shell (a piped script, and the prompt itself
driven through prompt_toolkit's pipe input), against a real lake with real rows."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from rich.console import Console
from typer.testing import CliRunner

from icehouse.cli.app import app
from icehouse.cli.shell import Shell, Statement, prompt_session, run_interactive, split_statements
from icehouse.lake import Lake
from tests import fixtures_lake
from tests.fixtures_lake import add_source, event, write_jsonl

home = fixtures_lake.home
lake = fixtures_lake.lake
landing = fixtures_lake.landing
events = fixtures_lake.events

WIDE = {"COLUMNS": "200", "ICEHOUSE_HOME": ""}
QUERY = "SELECT id, ts, country FROM logs.events WHERE id <= 3 ORDER BY id"


def one_line(text: str) -> str:
    return " ".join(text.split())


def run(*args: str, input: str | None = None):
    """The CLI in-process; stdin is not a terminal, so no query means a script."""
    return CliRunner().invoke(app, list(args), input=input, env=WIDE, catch_exceptions=False)


@pytest.fixture
def filled(lake: Lake, events, landing: Path) -> Path:
    """``logs.events`` with 5 rows on two days (id 4 has no country); returns the home."""
    add_source(lake, "web", landing)
    records = [event(i, day=1 + i % 2, country=None if i == 4 else "de") for i in range(1, 6)]
    write_jsonl(landing / "a.jsonl", records)
    assert lake.ingest().rows == 5
    return lake.home


# --- --out FILE ---------------------------------------------------------------------------


def test_out_parquet_keeps_the_arrow_types_with_zstd(filled, tmp_path):
    target = tmp_path / "rows.parquet"
    result = run("sql", QUERY, "--out", str(target), "--home", str(filled))
    assert result.exit_code == 0, result.stderr
    assert result.stdout == ""
    assert one_line(result.stderr) == f"Wrote 3 rows to {target} (parquet)"
    written = pq.read_table(target)
    assert written.schema == pa.schema(
        [("id", pa.int64()), ("ts", pa.timestamp("us", tz="UTC")), ("country", pa.string())]
    )
    assert written.to_pylist() == [
        {"id": i, "ts": datetime(2024, 6, 1 + i % 2, 10, tzinfo=UTC), "country": "de"}
        for i in (1, 2, 3)
    ]
    metadata = pq.ParquetFile(target).metadata
    assert metadata.row_group(0).column(0).compression == "ZSTD"


def test_out_csv(filled, tmp_path):
    target = tmp_path / "rows.csv"
    result = run("sql", QUERY, "--out", str(target), "--home", str(filled))
    assert result.exit_code == 0, result.stderr
    with target.open(newline="") as f:
        assert list(csv.reader(f)) == [
            ["id", "ts", "country"],
            ["1", "2024-06-02 10:00:00.000000Z", "de"],
            ["2", "2024-06-01 10:00:00.000000Z", "de"],
            ["3", "2024-06-02 10:00:00.000000Z", "de"],
        ]


def test_out_json_is_an_array_of_row_objects_as_format_json_prints_them(filled, tmp_path):
    target = tmp_path / "rows.json"
    query = "SELECT id, ts, country FROM logs.events WHERE id >= 4 ORDER BY id"
    assert run("sql", query, "--out", str(target), "--home", str(filled)).exit_code == 0
    assert json.loads(target.read_text()) == [
        {"id": 4, "ts": "2024-06-01T10:00:00+00:00", "country": None},
        {"id": 5, "ts": "2024-06-02T10:00:00+00:00", "country": "de"},
    ]
    printed = run("sql", query, "--format", "json", "--home", str(filled)).stdout
    assert json.loads(printed) == json.loads(target.read_text())


def test_out_json_of_no_rows_is_an_empty_array(filled, tmp_path):
    target = tmp_path / "none.json"
    query = "SELECT id FROM logs.events WHERE id > 100"
    assert run("sql", query, "--out", str(target), "--home", str(filled)).exit_code == 0
    assert json.loads(target.read_text()) == []


def test_out_jsonl_is_one_object_per_line(filled, tmp_path):
    target = tmp_path / "rows.jsonl"
    assert run("sql", QUERY, "--out", str(target), "--home", str(filled)).exit_code == 0
    lines = target.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == [1, 2, 3]
    assert json.loads(lines[0]) == {"id": 1, "ts": "2024-06-02T10:00:00+00:00", "country": "de"}


def test_format_wins_over_the_extension(filled, tmp_path):
    target = tmp_path / "rows.txt"
    result = run("sql", QUERY, "--out", str(target), "--format", "jsonl", "--home", str(filled))
    assert result.exit_code == 0, result.stderr
    assert one_line(result.stderr) == f"Wrote 3 rows to {target} (jsonl)"
    assert [json.loads(line)["id"] for line in target.read_text().splitlines()] == [1, 2, 3]


def test_an_unknown_extension_is_a_usage_error_listing_the_accepted_ones(filled, tmp_path):
    target = tmp_path / "rows.xlsx"
    result = run("sql", QUERY, "--out", str(target), "--home", str(filled))
    assert result.exit_code == 2
    assert one_line(result.stderr) == (
        f"Error: cannot tell the format of {target} from its extension; "
        "use one of .parquet, .csv, .json, .jsonl or give --format"
    )
    assert not target.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "parquet"], "Error: --format parquet needs --out FILE"),
        (
            ["--out", "x.csv", "--format", "table"],
            "Error: --format table is for the screen; --out writes .parquet, .csv, .json, .jsonl",
        ),
    ],
)
def test_formats_that_need_a_file_or_the_screen_are_usage_errors(filled, args, message):
    result = run("sql", QUERY, *args, "--home", str(filled))
    assert result.exit_code == 2
    assert one_line(result.stderr) == message


def test_out_into_a_missing_folder_exits_1_naming_the_file(filled, tmp_path):
    target = tmp_path / "missing" / "rows.csv"
    result = run("sql", QUERY, "--out", str(target), "--home", str(filled))
    assert result.exit_code == 1
    assert one_line(result.stderr) == f"Error: cannot write {target}: No such file or directory"


def test_explain_with_out_prints_plans_and_writes_rows(filled, tmp_path):
    target = tmp_path / "rows.jsonl"
    query = "SELECT id FROM logs.events WHERE ts >= '2024-06-02' ORDER BY id"
    result = run("sql", query, "--explain", "--out", str(target), "--home", str(filled))
    assert result.exit_code == 0, result.stderr
    assert "what each table read" in result.stdout
    assert "logs.events: filter pushed ts >= 2024-06-02T00:00:00+00:00" in result.stdout
    assert "executed in" in result.stdout
    assert [json.loads(line) for line in target.read_text().splitlines()] == [
        {"id": 1},
        {"id": 3},
        {"id": 5},
    ]


# --- a piped script -------------------------------------------------------------------------


def test_split_statements_respects_quotes_comments_and_meta_commands():
    script = (
        "SELECT 'a;b' AS s, \"x;y\" FROM t;  -- a comment; not a statement\n"
        "\\d logs.events\n"
        "SELECT 'it''s;'\n"
        "  AS q; \\timing\n"
        "help\n"
        "SELECT 1"
    )
    assert split_statements(script) == [
        Statement("SELECT 'a;b' AS s, \"x;y\" FROM t", 1, complete=True),
        Statement("\\d logs.events", 2, complete=True),
        Statement("SELECT 'it''s;'\n  AS q", 3, complete=True),
        Statement("\\timing", 4, complete=True),
        Statement("help", 5, complete=True),
        Statement("SELECT 1", 6, complete=False),
    ]


def test_a_script_runs_statements_and_meta_commands_in_order(filled):
    script = (
        "SELECT count(*) AS n_rows\n  FROM logs.events;\n"
        "SELECT id, country FROM logs.events WHERE id = 4;\n"
        "\\d\n"
        "\\d logs.events\n"
    )
    result = run("sql", "--home", str(filled), input=script)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.index("n_rows") < out.index("\n 4  NULL\n") < out.index("data files")
    assert "n_rows\n     5\n" in out  # the count, aligned right under its header
    assert "\nlogs.events     5           2          1\n" in out  # rows, files, snapshots
    assert "partition spec 0 (current): day(ts)" in out
    assert "sort order: id ASC NULLS FIRST" in out
    assert "rows: 5  data files: 2" in out
    assert '"write.parquet.compression-codec": "zstd"' in out


def test_a_resource_link_is_queried_listed_by_backslash_d_and_described_as_its_target(filled):
    with Lake.open(filled) as lake:
        lake.namespaces.create(("analytics",))
    script = (
        "CREATE LINK analytics.events FOR logs.events;\n"
        "SELECT count(*) AS through_link FROM analytics.events;\n"
        "SHOW LINKS;\n"
        "\\d\n"
        "\\d analytics.events\n"
    )
    result = run("sql", "--home", str(filled), input=script)
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "created link analytics.events for logs.events" in out
    assert "through_link\n           5\n" in out
    assert "analytics.events  logs.events" in out
    assert "\nlink              target\n" in out
    assert "rows: 5  data files: 2" in out


def test_a_semicolon_inside_a_string_literal_does_not_split(filled):
    script = "SELECT 'a;b' AS s, count(*) AS n FROM logs.events WHERE country <> 'x;y';"
    result = run("sql", "--home", str(filled), input=script)
    assert result.exit_code == 0, result.stderr
    assert "s    n\na;b  4\n" in result.stdout


def test_a_failing_statement_stops_the_script_naming_its_number_and_line(filled):
    script = "SELECT 41 + 1 AS first;\n\\d\nSELECT nope\n  FROM logs.events;\nSELECT 7 AS third;"
    result = run("sql", "--home", str(filled), input=script)
    assert result.exit_code == 1
    assert "first" in result.stdout
    assert "third" not in result.stdout
    assert result.stderr.startswith("Error in statement 3 (line 3): ")
    assert "nope" in result.stderr


def test_an_unknown_meta_command_fails_a_script(filled):
    result = run("sql", "--home", str(filled), input="\\frobnicate\nSELECT 1 AS never;")
    assert result.exit_code == 1
    assert one_line(result.stderr) == (
        "Error in statement 1 (line 1): unknown command \\frobnicate; \\? lists the commands"
    )
    assert "never" not in result.stdout


def test_explain_and_timing_switch_on_and_off(filled):
    script = (
        "\\explain on\n\\timing\n"
        "SELECT count(*) AS n FROM logs.events WHERE ts < '2024-06-02';\n"
        "\\explain off\n\\timing off\n"
        "SELECT 1 AS plain;\n"
    )
    result = run("sql", "--home", str(filled), input=script)
    assert result.exit_code == 0, result.stderr
    switched_on, switched_off = result.stdout.split("explain is off")
    assert "logs.events: filter pushed ts < 2024-06-02T00:00:00+00:00" in switched_on
    assert "Time: " in switched_on
    assert "plain" in switched_off
    assert "files" not in switched_off and "Time: " not in switched_off


def test_q_quits_and_help_lists_the_commands(filled):
    result = run("sql", "--home", str(filled), input="help\n\\q\nSELECT 1 AS never;")
    assert result.exit_code == 0, result.stderr
    assert "\\d db.t" in result.stdout and "\\explain on|off" in result.stdout
    assert "never" not in result.stdout


def test_the_shell_refuses_out_and_format(filled, tmp_path):
    result = run("sql", "--out", str(tmp_path / "x.csv"), "--home", str(filled), input="")
    assert result.exit_code == 2
    assert one_line(result.stderr) == (
        "Error: --out and --format need a query; the shell prints tables"
    )


def test_help_explains_both_modes_with_an_example_each():
    result = run("sql", "--help")
    assert result.exit_code == 0
    assert (
        'icehouse sql "SELECT country, count(*) AS n FROM logs.events GROUP BY 1"' in result.stdout
    )
    assert "--out events.parquet" in result.stdout
    assert "icehouse sql < report.sql" in result.stdout
    assert "\\d logs.events describes one" in result.stdout


# --- the prompt ---------------------------------------------------------------------------


def test_the_prompt_reads_multi_line_statements_survives_errors_and_keeps_history(filled, lake):
    out, err = io.StringIO(), io.StringIO()
    history = filled / ".sql_history"
    typed = (
        "SELECT count(*) AS n\nFROM logs.events;\n"  # Enter before ; starts a new line
        "SELECT dropped\x03"  # Ctrl-C drops the input
        "SELECT nope FROM logs.events;\n"  # an error: shown, and the session goes on
        "\\d\n"
        "\x04"  # Ctrl-D
    )
    with create_pipe_input() as keys:
        keys.send_text(typed)
        shell = Shell(lake, Console(file=out, width=200), Console(file=err, width=200))
        run_interactive(shell, prompt_session(history, input=keys, output=DummyOutput()))
    assert "n\n5\n" in out.getvalue()
    assert "logs.events     5" in out.getvalue()
    assert "dropped" not in err.getvalue()
    assert "no column 'nope'" in err.getvalue()
    saved = history.read_text()
    assert saved.count("\n# ") == 3  # one entry per accepted input
    assert "+SELECT count(*) AS n\n+FROM logs.events;\n" in saved
    assert "+SELECT nope FROM logs.events;\n" in saved
    assert "dropped" not in saved


def test_show_tables_lists_the_lakes_tables_and_views_by_their_names(filled, lake: Lake) -> None:
    """DuckDB's SHOW TABLES lists its current schema, where the lake has nothing: the
    administrator saw no table at all, where a governed principal saw what it may
    describe."""
    lake.views.create_from_sql(("logs",), "german", "SELECT id FROM logs.events")

    result = run("--format", "json", "sql", "--home", str(filled), "show tables;")

    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [{"name": "logs.events"}, {"name": "logs.german"}]
