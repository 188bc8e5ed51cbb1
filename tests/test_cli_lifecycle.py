"""Undoing mistakes from the CLI: ``table drop``, ``table rename`` and ``source remove``,
each refused (exit 1, the reason and the next step on stderr) while something still
uses what it would remove, and what the user finds afterwards: rows, files, the
icehouse.toml they wrote."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from icehouse.ingest.landing import LandedFile
from icehouse.ingest.ledger import (
    BatchLog,
    BatchWrite,
    CommitterLeases,
    FileQueue,
    WriterSlots,
)
from icehouse.maintain.leases import Leases
from icehouse.state.database import open_engine
from tests.fixtures_lake import event, write_jsonl
from tests.test_cli import SCHEMA, as_json, home, ingested, ok, one_line, run

__all__ = ["home", "ingested"]  # the fixtures, used by name

OTHER_HOST = "otherhost:4242"
"""A worker on another host: alive as far as this host can tell."""


def files_under(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def table_folder(home: str, name: str) -> Path:
    namespace, table = name.split(".")
    return Path(home) / "warehouse" / namespace / table


def state(home: str):
    return open_engine(f"sqlite:///{Path(home) / 'state.db'}")


def remove_web(home: str) -> None:
    ok("source", "remove", "web", "--yes", "--home", home)


def count(home: str, table: str) -> int:
    return as_json("sql", f"SELECT count(*) AS n FROM {table}", "--home", home)[0]["n"]


# --- table drop ---------------------------------------------------------------------


def test_drop_is_refused_while_sources_write_to_the_table_naming_all_of_them(ingested, tmp_path):
    (tmp_path / "landing2").mkdir()
    ok("source", "add", "app", "--location", str(tmp_path / "landing2"), "--table",
       "logs.events", "--file-format", "jsonl", "--home", ingested)  # fmt: skip

    result = run("table", "drop", "logs.events", "--yes", "--home", ingested)

    assert result.exit_code == 1
    assert one_line(result.stderr) == (
        f"Error: cannot drop logs.events: sources web, app write to it "
        f"({Path(ingested) / 'icehouse.toml'}); remove them first with "
        "`icehouse source remove NAME`"
    )
    assert count(ingested, "logs.events") == 20


def written_batch() -> BatchWrite:
    """A batch's handover to its table's committer (no data file needed here)."""
    return BatchWrite([], [], 0, 0, 0, {}, {}, None)


@pytest.mark.parametrize("written", [False, True], ids=["open", "written"])
def test_drop_is_refused_while_ingestion_has_a_batch_not_yet_committed_on_the_table(
    ingested, written
):
    remove_web(ingested)
    engine = state(ingested)
    writer, _ = WriterSlots(engine).acquire(OTHER_HOST)
    BatchLog(engine).open("b1", "logs.events", writer)
    if written:  # waiting for the table's committer
        assert BatchLog(engine).write("b1", written_batch())
    engine.dispose()

    result = run("table", "drop", "logs.events", "--yes", "--home", ingested)

    assert result.exit_code == 1
    assert one_line(result.stderr) == (
        "Error: cannot drop logs.events: ingestion has 1 batch not yet committed on it "
        f"(writer {writer} held by {OTHER_HOST}); wait for it to commit (a batch whose "
        "worker died is settled by the next `icehouse ingest`)"
    )


def test_drop_is_refused_while_maintenance_holds_the_table_naming_the_holder(ingested):
    remove_web(ingested)
    engine = state(ingested)
    assert Leases(engine, owner=OTHER_HOST).try_acquire("maintain:logs.events")
    engine.dispose()

    result = run("table", "drop", "logs.events", "--purge", "--yes", "--home", ingested)

    assert result.exit_code == 1
    assert f"logs.events is being maintained by {OTHER_HOST} until" in one_line(result.stderr)
    assert count(ingested, "logs.events") == 20


def test_drop_without_a_terminal_or_yes_is_refused_and_says_to_pass_yes(ingested):
    remove_web(ingested)

    result = run("table", "drop", "logs.events", "--home", ingested)

    assert result.exit_code == 1
    assert one_line(result.stderr) == (
        "Error: dropping logs.events needs confirmation and there is no terminal to ask "
        "on; pass --yes to confirm"
    )
    assert count(ingested, "logs.events") == 20


def test_source_remove_without_a_terminal_or_yes_is_refused_and_says_to_pass_yes(ingested):
    result = run("source", "remove", "web", "--home", ingested)

    assert result.exit_code == 1
    assert one_line(result.stderr) == (
        "Error: removing source web needs confirmation and there is no terminal to ask "
        "on; pass --yes to confirm"
    )
    assert "[sources.web]" in (Path(ingested) / "icehouse.toml").read_text()


def answer_at_a_terminal(answer: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run ``icehouse ARGS`` in a real process whose stdin is a terminal, and type
    ``answer`` at its question."""
    controller, terminal = os.openpty()
    source = str(Path(__file__).resolve().parent.parent / "src")
    env = os.environ | {"COLUMNS": "1000", "ICEHOUSE_HOME": "", "PYTHONPATH": source}
    process = subprocess.Popen(
        [sys.executable, "-m", "icehouse", *args],
        stdin=terminal,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        text=True,
    )
    os.close(terminal)
    os.write(controller, f"{answer}\n".encode())
    out, err = process.communicate(timeout=120)
    os.close(controller)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


def test_drop_at_a_terminal_asks_and_a_no_changes_nothing(ingested):
    remove_web(ingested)

    declined = answer_at_a_terminal("n", "table", "drop", "logs.events", "--home", ingested)

    assert declined.stdout == (
        f"Drop logs.events (20 rows at {table_folder(ingested, 'logs.events').as_uri()}) and "
        "keep its files? [y/N]: "
    )
    assert (declined.returncode, declined.stderr) == (1, "Nothing dropped.\n")
    assert count(ingested, "logs.events") == 20

    accepted = answer_at_a_terminal("y", "table", "drop", "logs.events", "--home", ingested)

    assert accepted.returncode == 0 and "Dropped logs.events from the catalog." in accepted.stdout
    assert as_json("table", "list", "--home", ingested) == []


def test_drop_at_a_terminal_refuses_before_asking_when_it_could_not_drop(ingested):
    refused = answer_at_a_terminal("y", "table", "drop", "logs.events", "--home", ingested)

    assert refused.returncode == 1
    assert refused.stdout == ""  # no question asked: a yes could not have dropped it
    assert "cannot drop logs.events: source web writes to it" in one_line(refused.stderr)
    assert count(ingested, "logs.events") == 20


def test_drop_removes_the_table_and_keeps_its_files_saying_where(ingested):
    remove_web(ingested)
    folder = table_folder(ingested, "logs.events")
    before = files_under(folder)

    result = ok("table", "drop", "logs.events", "--yes", "--home", ingested)

    assert f"Dropped logs.events from the catalog. Its files are kept at {folder.as_uri()}" in (
        one_line(result.stdout)
    )
    assert as_json("table", "list", "--home", ingested) == []
    assert files_under(folder) == before and any(p.suffix == ".parquet" for p in before)
    missing = run("table", "show", "logs.events", "--home", ingested)
    assert missing.exit_code == 1 and "no table 'logs.events'" in missing.stderr


def test_drop_purge_deletes_every_file_of_the_table_and_none_of_another(ingested, tmp_path):
    remove_web(ingested)
    landing = tmp_path / "landing_other"
    landing.mkdir()
    ok("table", "create", "logs.other", "--schema", SCHEMA, "--home", ingested)
    ok("source", "add", "other", "--location", str(landing), "--table", "logs.other",
       "--file-format", "jsonl", "--settle", "0s", "--home", ingested)  # fmt: skip
    write_jsonl(landing / "o.jsonl", [event(i) for i in range(1, 6)])
    ok("ingest", "--home", ingested)
    ok("maintain", "compact", "logs.events", "--home", ingested)
    other_files = files_under(table_folder(ingested, "logs.other"))

    result = as_json("table", "drop", "logs.events", "--purge", "--yes", "--home", ingested)

    assert not table_folder(ingested, "logs.events").exists()
    assert result["purged"]["files_deleted"] >= 3  # data, manifest, list, metadata
    assert files_under(table_folder(ingested, "logs.other")) == other_files
    assert count(ingested, "logs.other") == 5
    assert as_json("maintain", "history", "--home", ingested) == []  # the dropped table's


def test_a_table_dropped_and_created_again_takes_the_same_content_again(ingested, tmp_path):
    """The dropped table's content claims go with it: the new table holds none of it."""
    remove_web(ingested)
    ok("table", "drop", "logs.events", "--purge", "--yes", "--home", ingested)
    ok("table", "create", "logs.events", "--schema", SCHEMA, "--home", ingested)
    landing = tmp_path / "again"
    landing.mkdir()
    shutil.copy(tmp_path / "landing" / "a.jsonl", landing / "copy.jsonl")
    ok("source", "add", "web2", "--location", str(landing), "--table", "logs.events",
       "--file-format", "jsonl", "--settle", "0s", "--home", ingested)  # fmt: skip

    ok("ingest", "--home", ingested)

    assert count(ingested, "logs.events") == 20


# --- table rename -------------------------------------------------------------------


def test_rename_is_refused_while_a_source_writes_to_the_table(ingested):
    result = run("table", "rename", "logs.events", "logs.requests", "--home", ingested)

    assert result.exit_code == 1
    assert one_line(result.stderr) == (
        f"Error: cannot rename logs.events: source web writes to it "
        f"({Path(ingested) / 'icehouse.toml'}); update its `table =` in icehouse.toml to "
        "the new name first, or remove it with `icehouse source remove web`"
    )


def test_rename_into_a_missing_namespace_names_it(ingested):
    remove_web(ingested)

    result = run("table", "rename", "logs.events", "archive.events", "--home", ingested)

    assert result.exit_code == 1
    assert one_line(result.stderr) == (
        "Error: no namespace 'archive' to move logs.events into (namespaces: logs); "
        "create a table in it first, or pick an existing one"
    )


def test_rename_keeps_rows_history_and_content_under_the_new_name(ingested, tmp_path):
    remove_web(ingested)
    ok("maintain", "compact", "logs.events", "--home", ingested)
    ok("table", "create", "archive.placeholder", "--schema", SCHEMA, "--home", ingested)

    result = ok("table", "rename", "logs.events", "archive.events", "--home", ingested)

    assert one_line(result.stdout).startswith("Renamed logs.events to archive.events")
    assert count(ingested, "archive.events") == 20
    gone = run("sql", "SELECT count(*) FROM logs.events", "--home", ingested)
    assert gone.exit_code == 1
    (run_,) = as_json("maintain", "history", "archive.events", "--home", ingested)
    assert run_["action"] == "compact:binpack"
    # The same content landing again (another path, another source) is a duplicate.
    landing = tmp_path / "again"
    landing.mkdir()
    shutil.copy(tmp_path / "landing" / "a.jsonl", landing / "copy.jsonl")
    ok("source", "add", "web2", "--location", str(landing), "--table", "archive.events",
       "--file-format", "jsonl", "--settle", "0s", "--home", ingested)  # fmt: skip
    ok("ingest", "--home", ingested)
    assert count(ingested, "archive.events") == 20


def test_rename_onto_an_existing_table_is_refused(ingested):
    remove_web(ingested)
    ok("table", "create", "logs.taken", "--schema", SCHEMA, "--home", ingested)

    result = run("table", "rename", "logs.events", "logs.taken", "--home", ingested)

    assert result.exit_code == 1
    assert one_line(result.stderr) == (
        "Error: table 'logs.taken' already exists; drop it first or choose another name"
    )


# --- source remove ------------------------------------------------------------------


def test_source_remove_cuts_only_its_section_out_of_icehouse_toml(ingested, tmp_path):
    config = Path(ingested) / "icehouse.toml"
    (tmp_path / "landing2").mkdir()
    ok("source", "add", "app", "--location", str(tmp_path / "landing2"), "--table",
       "logs.events", "--file-format", "jsonl", "--home", ingested)  # fmt: skip
    before = config.read_text()
    web_start = before.index("[sources.web]")
    app_start = before.index("[sources.app]")
    commented = (
        before[:web_start]
        + "# the CDN's logs\n"
        + before[web_start:app_start]
        + "# the app's logs, keep\n"
        + before[app_start:].replace('format = "jsonl"', 'format = "jsonl"   # JSON lines')
    )
    config.write_text(commented)

    ok("source", "remove", "web", "--yes", "--home", ingested)

    web_section = commented[commented.index("# the CDN's logs") : commented.index("# the app's")]
    assert config.read_text() == commented.replace(web_section, "")
    assert [s["name"] for s in as_json("source", "list", "--home", ingested)] == ["app"]


def test_source_remove_then_add_again_does_not_ingest_committed_files_again(ingested, tmp_path):
    result = ok("source", "remove", "web", "--yes", "--home", ingested)
    assert "Its ledger (1 file) is kept: added again, it takes only files it has not " in (
        one_line(result.stdout)
    )
    ok("source", "add", "web", "--location", str(tmp_path / "landing"), "--table",
       "logs.events", "--file-format", "jsonl", "--settle", "0s", "--home", ingested)  # fmt: skip

    ok("ingest", "--home", ingested)

    assert count(ingested, "logs.events") == 20


@pytest.mark.parametrize("written", [False, True], ids=["open", "written"])
def test_source_remove_is_refused_while_a_batch_of_its_files_is_not_yet_committed(
    ingested, tmp_path, written
):
    write_jsonl(tmp_path / "landing" / "b.jsonl", [event(i) for i in range(30, 33)])
    engine = state(ingested)
    queue = FileQueue(engine)
    queue.register("web", [LandedFile("b.jsonl", 10, 1.0)])
    writer, _ = WriterSlots(engine).acquire(OTHER_HOST)
    BatchLog(engine).open("b2", "logs.events", writer)
    assert len(queue.claim("b2", ["web"], 10)) == 1
    if written:  # waiting for the table's committer
        assert BatchLog(engine).write("b2", written_batch())
    engine.dispose()

    result = run("source", "remove", "web", "--yes", "--home", ingested)

    assert result.exit_code == 1
    assert one_line(result.stderr) == (
        f"Error: source 'web' has 1 batch not yet committed (writer {writer} held by "
        f"{OTHER_HOST}): a worker is ingesting its files now, or its table's committer has "
        "yet to commit them. Stop that worker, or wait for the batch to commit, then remove "
        "the source; a batch whose worker died is settled by the next `icehouse ingest`"
    )
    assert "[sources.web]" in (Path(ingested) / "icehouse.toml").read_text()


def test_status_shows_the_batches_waiting_for_the_committer_and_who_it_is(ingested):
    engine = state(ingested)
    writer, _ = WriterSlots(engine).acquire(OTHER_HOST)
    BatchLog(engine).open("b3", "logs.events", writer)
    assert BatchLog(engine).write("b3", written_batch())
    assert CommitterLeases(engine).take("logs.events", OTHER_HOST) is not None
    engine.dispose()

    [web] = as_json("status", "--home", ingested)
    shown = ok("status", "--home", ingested).stdout

    assert (web["batches_written"], web["committer"]) == (1, OTHER_HOST)
    assert "written batches" in shown and "committer" in shown and OTHER_HOST in shown


@pytest.mark.parametrize("args", [("source", "remove", "nope", "--yes")])
def test_removing_a_source_that_does_not_exist_exits_1(ingested, args):
    result = run(*args, "--home", ingested)
    assert result.exit_code == 1
    assert one_line(result.stderr) == "Error: no source 'nope' (sources: web)"
