"""Start-up: a command loads only what it uses.

PyArrow, DuckDB, PyIceberg and SQLAlchemy take well over a second to import together;
``icehouse --help`` and parsing any command line need none of them, and ``icehouse
status`` (the state database and icehouse.toml) needs SQLAlchemy only. Each check runs in
a fresh interpreter, since this test process has imported everything long before.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import icehouse
from icehouse.cli.app import app
from icehouse.lake import Lake
from tests.fixtures_lake import EVENTS, EVENTS_SCHEMA, add_source, event, write_jsonl

SRC = Path(__file__).resolve().parent.parent / "src"
HEAVY = ("pyarrow", "duckdb", "pyiceberg", "sqlalchemy")
ENGINES = ("pyarrow", "duckdb", "pyiceberg")

RUN_CLI = """
import atexit, json, sys
atexit.register(lambda: print(json.dumps(sorted(sys.modules)), file=sys.stderr))
sys.argv = ["icehouse", *sys.argv[1:]]
from icehouse.cli.app import main
main()
"""
"""Runs the CLI as the ``icehouse`` script does; at exit, prints every module loaded as
the last line of stderr."""


def fresh_python(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """``python *args`` in a new interpreter that imports icehouse from this checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("ICEHOUSE_HOME", "COLUMNS")}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), env.get("PYTHONPATH", "")])
    return subprocess.run(
        [sys.executable, *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=120
    )


def loaded_by(statement: str, tmp_path: Path) -> list[str]:
    """The heavy modules loaded by running ``statement`` in a fresh interpreter."""
    code = f"import sys; {statement}; print(sorted(m for m in {HEAVY!r} if m in sys.modules))"
    process = fresh_python("-c", code, cwd=tmp_path)
    assert process.returncode == 0, process.stderr
    return eval(process.stdout)  # a list of str, printed by the line above


def cli_in_fresh_python(*args: str, cwd: Path) -> tuple[subprocess.CompletedProcess[str], set]:
    """Run ``icehouse *args``; returns the process and the top-level modules it loaded."""
    process = fresh_python("-c", RUN_CLI, *args, cwd=cwd)
    *_, modules = process.stderr.strip().splitlines()
    return process, {name.split(".")[0] for name in json.loads(modules)}


def test_importing_the_package_loads_no_engine(tmp_path: Path) -> None:
    assert loaded_by("import icehouse", tmp_path) == []


def test_importing_the_cli_loads_no_engine(tmp_path: Path) -> None:
    assert loaded_by("import icehouse.cli.app", tmp_path) == []


def test_catching_an_icehouse_error_loads_no_engine(tmp_path: Path) -> None:
    assert loaded_by("from icehouse import NoSuchTable, IcehouseError", tmp_path) == []


@pytest.mark.parametrize(
    "args",
    [("--help",), ("table", "--help"), ("maintain", "compact", "--help"), ("sql", "--help")],
)
def test_help_loads_no_engine_and_not_the_sql_shell(args: tuple[str, ...], tmp_path: Path) -> None:
    """(pydantic may load: typer builds its parameter parsers with it.)"""
    process, modules = cli_in_fresh_python(*args, cwd=tmp_path)
    assert process.returncode == 0, process.stderr
    assert "Usage: icehouse" in process.stdout
    assert modules.isdisjoint({*HEAVY, "prompt_toolkit"}), sorted(
        modules & {*HEAVY, "prompt_toolkit"}
    )


def test_a_usage_error_is_reported_without_loading_an_engine(tmp_path: Path) -> None:
    process, modules = cli_in_fresh_python("maintain", "compact", "--strategy", "x", cwd=tmp_path)
    assert process.returncode == 2
    assert "'x' is not one of" in process.stderr
    assert modules.isdisjoint(HEAVY)


def test_status_reads_the_state_database_without_pyarrow_duckdb_or_pyiceberg(
    tmp_path: Path,
) -> None:
    home, landing = tmp_path / "lake", tmp_path / "landing"
    Lake.init(home)
    with Lake.open(home) as lake:
        lake.tables.create(EVENTS, schema=EVENTS_SCHEMA)
        add_source(lake, "web", landing)
        write_jsonl(landing / "a.jsonl", [event(i) for i in range(1, 4)])
        lake.ingest()
    process, modules = cli_in_fresh_python(
        "status", "--home", str(home), "--format", "json", cwd=tmp_path
    )
    assert process.returncode == 0, process.stderr
    (web,) = json.loads(process.stdout)
    assert (web["source"], web["files_committed"], web["rows_committed"]) == ("web", 1, 3)
    assert modules.isdisjoint(ENGINES), sorted(modules & set(ENGINES))


def test_the_lazy_exports_are_the_real_objects() -> None:
    """``from icehouse import Lake`` still works, gives the class itself, and lists it."""
    from icehouse import Lake as exported

    assert exported is Lake
    assert {"Lake", "SourceConfig", "IngestReport", "__version__"} <= set(dir(icehouse))
    with pytest.raises(AttributeError, match="no attribute 'Lakes'"):
        icehouse.Lakes  # noqa: B018


def test_help_still_lists_every_command() -> None:
    result = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    commands = ("table", "source", "quarantine", "maintain", "home", "ingest", "status", "sql",
                "demo", "init")  # fmt: skip
    listed = {line.split()[1] for line in result.stdout.splitlines() if line.startswith("│ ")}
    assert set(commands) <= listed, listed
