"""What people and scripts see: values never cut (a terminal of 80 or 60 columns, or a
pipe), plain text without boxes or colours when piped, JSON lines, ``--version``,
options before the subcommand, help that names its values, and shell completion."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from icehouse import __version__
from icehouse.cli.app import app
from tests import test_cli
from tests.fixtures_lake import event, write_jsonl
from tests.test_cli import SCHEMA, as_json, command_paths, ok, run

home = test_cli.home
ingested = test_cli.ingested

LONG = "logs.a_table_name_long_enough_to_crowd_a_terminal"
BOXES = set("┏┓┗┛┃━│─┌┐└┘├┤┬┴┼╇╈┡┩")
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def terminal(columns: int) -> dict[str, str]:
    """Rich draws for a terminal of this width (stdout is still captured)."""
    return {"COLUMNS": str(columns), "TTY_COMPATIBLE": "1"}


def piped(columns: int = 80) -> dict[str, str]:
    """A pipe: even with COLUMNS set, as in a shell, nothing is drawn for a terminal."""
    return {"COLUMNS": str(columns)}


def plain(text: str) -> str:
    return ANSI.sub("", text)


def make_crowded(folder: Path) -> str:
    """A home with a long-named table that has three snapshots, fed by a source."""
    home, landing = str(folder / "lake"), folder / "landing"
    ok("init", "--home", home)
    landing.mkdir()
    ok("table", "create", LONG, "--schema", SCHEMA, "--home", home)
    ok("source", "add", "web-with-a-long-name", "--location", str(landing), "--table", LONG,
       "--file-format", "jsonl", "--settle", "0s", "--home", home)  # fmt: skip
    for batch in range(3):
        write_jsonl(landing / f"{batch}.jsonl", [event(batch * 10 + i) for i in range(1, 11)])
        ok("ingest", "--home", home)
    return home


@pytest.fixture(scope="module")
def crowded(tmp_path_factory: pytest.TempPathFactory) -> str:
    """``make_crowded``'s home, built once for the module's tests, which only read it
    (a test that changes the home makes its own)."""
    return make_crowded(tmp_path_factory.mktemp("crowded"))


# --- never cut a value ------------------------------------------------------------------------


@pytest.mark.parametrize("columns", [80, 60])
def test_on_a_narrow_terminal_history_shows_every_snapshot_id_whole_and_says_what_it_left_out(
    crowded, columns
):
    shown = plain(ok("table", "history", LONG, "--home", crowded, env=terminal(columns)).stdout)
    ids = [s["snapshot_id"] for s in as_json("table", "history", LONG, "--home", crowded)]
    assert "┃" in shown  # a terminal gets the Rich table
    assert "…" not in shown
    assert all(re.search(rf"│ {i} +│", shown) for i in ids)
    assert max(len(line) for line in shown.splitlines()) <= columns
    assert re.search(rf"left out to fit {columns} columns: [a-z, ]*added rows", shown)


@pytest.mark.parametrize("columns", [80, 60])
def test_on_a_narrow_terminal_status_and_explain_cut_no_name_and_no_number(crowded, columns):
    status = plain(ok("status", "--home", crowded, env=terminal(columns)).stdout)
    explained = plain(
        ok("sql", f"SELECT count(*) AS n FROM {LONG}", "--explain", "--home", crowded,
           env=terminal(columns)).stdout
    )  # fmt: skip
    for shown in (status, explained):
        assert "…" not in shown
        drawn = [line for line in shown.splitlines() if set(line[:1]) & BOXES]
        assert max(len(line) for line in drawn) <= max(columns, len(LONG) + 4)
    assert re.search(r"│ web-with-a-long-name │ +0 │", status)  # pending
    assert "left out to fit" in status
    if columns == 80:  # at 60 the name alone is wider than the room left: it folds
        assert re.search(rf"│ {LONG} +│", explained)


def test_a_snapshot_id_copied_from_piped_history_rolls_the_table_back(tmp_path):
    crowded = make_crowded(tmp_path)
    history = ok("table", "history", LONG, "--home", crowded, env=piped(80)).stdout
    header, first, *_ = history.splitlines()
    assert header.split() == ["snapshot", "time", "operation", "added", "rows", "total", "rows",
                              "current"]  # fmt: skip
    oldest = first.split()[0]
    ok("table", "rollback", LONG, "--to", oldest, "--home", crowded)
    assert as_json("sql", f"SELECT count(*) AS n FROM {LONG}", "--home", crowded) == [{"n": 10}]


@pytest.mark.parametrize(
    "args",
    [
        ("status",),
        ("table", "history", LONG),
        ("table", "list"),
        ("source", "list"),
        ("sql", f"SELECT *, 'a value longer than eighty characters, {'x' * 60}' AS t FROM {LONG}"),
        ("sql", f"SELECT count(*) AS n FROM {LONG}", "--explain"),
    ],
    ids=" ".join,
)
def test_piped_output_is_plain_aligned_text_with_every_value_whole(crowded, args):
    result = ok(*args, "--home", crowded, env=piped(80))
    assert "…" not in result.stdout
    assert not BOXES & set(result.stdout)
    assert "\x1b[" not in result.stdout + result.stderr


def test_piped_sql_prints_every_column_of_every_row_whole(crowded):
    long_text = "a value longer than eighty characters, " + "x" * 60
    result = ok("sql", f"SELECT id, '{long_text}' AS t FROM {LONG} ORDER BY id LIMIT 2",
                "--home", crowded, env=piped(60))  # fmt: skip
    assert result.stdout.splitlines() == [
        "id  t",
        f" 1  {long_text}",
        f" 2  {long_text}",
        "2 row(s)",
    ]


def test_a_line_break_in_a_piped_value_prints_as_backslash_n_keeping_one_line_per_row(crowded):
    result = ok("sql", "SELECT 'two' || chr(10) || 'lines' AS t, 7 AS n", "--home", crowded)
    assert result.stdout.splitlines() == ["t" + " " * 11 + "n", "two\\nlines  7", "1 row(s)"]


def test_piped_errors_carry_no_colour_codes(home):
    result = run("table", "show", "logs.missing", "--home", home)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: ") and "\x1b[" not in result.stderr


# --- JSON lines -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "rows"),
    [
        (("status",), 1),
        (("table", "list"), 1),
        (("table", "history", LONG), 3),
        (("sql", f"SELECT id FROM {LONG} ORDER BY id"), 30),
        (("sql", f"SELECT id FROM {LONG} WHERE id < 3", "--explain"), 2),
        (("maintain", "run", "--dry-run"), 1),
        (("table", "show", LONG), 1),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, tuple) else str(v),
)
def test_format_jsonl_prints_one_json_object_per_line(crowded, args, rows):
    result = ok(*args, "--format", "jsonl", "--home", crowded)
    lines = result.stdout.splitlines()
    assert len(lines) == rows
    assert all(isinstance(json.loads(line), dict) for line in lines)


def test_jsonl_rows_are_the_json_rows(crowded):
    query = ("sql", f"SELECT id, ts FROM {LONG} ORDER BY id LIMIT 3", "--home", crowded)
    lines = ok(*query, "--format", "jsonl").stdout.splitlines()
    assert [json.loads(line) for line in lines] == as_json(*query)


# --- the root command ------------------------------------------------------------------------


def test_version_prints_the_package_version():
    result = ok("--version")
    assert result.stdout == f"icehouse {__version__}\n"


def test_home_and_format_before_the_command_apply_to_it(ingested, tmp_path):
    assert json.loads(ok("--home", ingested, "--format", "json", "status").stdout)[0]["source"] == (
        "web"
    )
    assert "web" in ok("--home", ingested, "status").stdout
    elsewhere = {"ICEHOUSE_HOME": str(tmp_path / "nowhere")}
    assert ok("--home", ingested, "table", "list", env=elsewhere).stdout.startswith("table ")
    # the command's own --home and --format win over those given before it
    own = ok("--home", str(tmp_path / "nowhere"), "-f", "csv", "table", "list", "--home",
             ingested, "--format", "jsonl").stdout  # fmt: skip
    assert json.loads(own)["name"] == "logs.events"


def test_a_format_the_command_does_not_offer_is_a_usage_error(tmp_path):
    result = run("--format", "csv", "demo", "--home", str(tmp_path / "demo"))
    assert result.exit_code == 2
    assert "'csv' is not one of 'table', 'json', 'jsonl'" in " ".join(result.stderr.split())
    assert not (tmp_path / "demo").exists()


def test_format_before_sql_with_out_leaves_the_file_format_to_the_extension(ingested, tmp_path):
    out = tmp_path / "rows.parquet"
    ok("--format", "json", "sql", "SELECT 1 AS x", "--out", str(out), "--home", ingested)
    assert out.read_bytes()[:4] == b"PAR1"


def test_root_help_offers_version_completion_and_says_which_home_wins():
    shown = " ".join(ok("--help").stdout.split())
    for option in ("--version", "--install-completion", "--show-completion", "--home", "--format"):
        assert option in shown
    assert "--home and --format before a command apply to it unless it gives its own" in shown


# --- help names values ----------------------------------------------------------------------


@pytest.mark.parametrize("path", command_paths(), ids=lambda p: " ".join(p) or "icehouse")
def test_help_names_every_value_instead_of_showing_python_types(path):
    shown = ok(*path, "--help", env={"COLUMNS": "200"}).stdout
    ours = "\n".join(  # Typer's own options say <bool>, as in every Typer program
        line for line in shown.splitlines() if not re.match(r"│\s+--(help|\w+-completion) ", line)
    )
    for placeholder in ("<list[", "<str>", "<int>", "<float>", "<path>", "<bool>"):
        assert placeholder not in ours
    assert not re.search(r"(?<!\$)\{[a-z_]+\}", shown)  # ${path} is a mapping's syntax
    rows = (re.match(r"│[\s*]+(--[\w-]+)", line) for line in shown.splitlines())
    options = {row.group(1): row.string for row in rows if row}
    if "--home" in options:
        assert "PATH" in options["--home"]
    for duration in ("--older-than", "--interval", "--settle"):
        if duration in options:
            assert "DURATION" in options[duration] and "TEXT" not in options[duration]


def test_arguments_read_as_their_names_in_usage():
    assert "table show [OPTIONS] TABLE " in ok("table", "show", "--help").stdout
    assert "[OPTIONS] [TABLE]..." in ok("maintain", "run", "--help").stdout
    assert "[OPTIONS] [SQL]" in ok("sql", "--help").stdout


# --- shell completion ------------------------------------------------------------------------


def complete(words: str, **env: str) -> list[str]:
    """What bash completion offers for the last of ``words``."""
    result = CliRunner().invoke(
        app, [], prog_name="icehouse",
        env={"_ICEHOUSE_COMPLETE": "complete_bash", "COMP_WORDS": words,
             "COMP_CWORD": str(len(words.split()) - 1), **env},
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    return result.stdout.split()


def test_shell_completion_offers_the_tables_and_sources_of_the_home(ingested, tmp_path):
    assert complete("icehouse table history lo", ICEHOUSE_HOME=ingested) == ["logs.events"]
    assert complete(f"icehouse --home {ingested} maintain compact l") == ["logs.events"]
    assert complete(f"icehouse source show w --home {ingested}", ICEHOUSE_HOME="") == []
    assert complete("icehouse source show w", ICEHOUSE_HOME=ingested) == ["web"]
    assert complete("icehouse table show l", ICEHOUSE_HOME=str(tmp_path / "none")) == []
    assert complete("icehouse source add x --table l", ICEHOUSE_HOME=ingested) == ["logs.events"]
    assert complete("icehouse quarantine list --source w", ICEHOUSE_HOME=ingested) == ["web"]
    assert complete("icehouse ingest w", ICEHOUSE_HOME=ingested) == ["web"]
