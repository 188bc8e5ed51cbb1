"""``--format csv``: every command that offers it prints a header and its rows on stdout,
parseable by ``csv.reader``; commands whose output is one nested document do not offer
it, and asking for it is a usage error that lists the choices. Each case runs the real
CLI against its own small real lake home."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, get_args, get_type_hints

import pytest
import typer.main

from icehouse.cli.app import app
from tests.fixtures_federation import sql_producer
from tests.fixtures_lake import event, write_jsonl
from tests.test_cli import SCHEMA, as_json, ok, one_line, run


@dataclass(frozen=True)
class Home:
    """A lake home with table ``logs.events`` (partitioned by day), source ``web``, two
    ingests (two snapshots, 20 rows on two days), one quarantined line and one recorded
    maintenance run."""

    path: str
    tmp: Path
    sample: Path
    """A sample for ``source test``: two good lines and a bad one."""
    first_snapshot: int


def make_home(tmp: Path) -> Home:
    home, landing = str(tmp / "lake"), tmp / "landing"
    ok("init", "--home", home)
    ok("table", "create", "logs.events", "--schema", SCHEMA, "--partition", "day(ts)",
       "--home", home)  # fmt: skip
    (landing).mkdir(parents=True, exist_ok=True)
    ok("source", "add", "web", "--location", str(landing), "--table", "logs.events",
       "--file-format", "jsonl", "--settle", "0s", "--home", home)  # fmt: skip
    good = [event(i) for i in range(1, 20)]
    write_jsonl(landing / "a.jsonl", [*good[:2], "{oops", *good[2:]])  # 5 % bad: a line
    ok("ingest", "--home", home)
    write_jsonl(landing / "b.jsonl", [event(20, day=2)])
    ok("ingest", "--home", home)
    first = as_json("table", "history", "logs.events", "--home", home)[0]["snapshot_id"]
    ok("maintain", "expire", "logs.events", "--dry-run", "--home", home)  # a recorded run
    sample = write_jsonl(tmp / "sample.jsonl", [event(7), "{oops", event(8)])
    return Home(home, tmp, sample, first)


@pytest.fixture
def lake_home(tmp_path: Path) -> Home:
    return make_home(tmp_path)


Args = Callable[[Home], list[str]]


def _another_source(h: Home) -> list[str]:
    where = ["--location", str(h.tmp / "other"), "--create-location", "--table", "logs.events"]
    return ["other", *where, "--file-format", "csv", "--home", h.path]


def _spare_table(h: Home) -> list[str]:
    """A table no source writes to (``logs.events`` is refused: source web writes to it)."""
    ok("table", "create", "logs.spare", "--schema", SCHEMA, "--home", h.path)
    return ["logs.spare", "--home", h.path]


def _a_view(h: Home) -> list[str]:
    """View ``logs.french`` over ``logs.events``."""
    ok("view", "create", "logs.french", "--sql", FRENCH, "--home", h.path)
    return ["logs.french", "--home", h.path]


FRENCH = "SELECT id, ts FROM logs.events WHERE country = 'fr'"


def _a_principal(h: Home) -> list[str]:
    """Principal ``etl``, a service."""
    ok("principal", "create", "etl", "--home", h.path)
    return ["--home", h.path]


def _a_tenant(h: Home) -> list[str]:
    """Tenant ``consumer``."""
    ok("tenant", "create", "consumer", "--home", h.path)
    return ["--home", h.path]


def _a_mount(h: Home) -> list[str]:
    """Catalog ``cdn_prod``, a PyIceberg SQL catalog."""
    url = sql_producer(h.tmp / "producer")
    ok("catalog", "mount", "cdn_prod", "--type", "sql", "--uri", url, "--home", h.path)
    return ["--home", h.path]


CASES: dict[tuple[str, ...], tuple[Args, int]] = {
    # command: (its arguments on a fresh home, data rows expected)
    ("init",): (lambda h: ["--home", str(h.tmp / "another")], 1),
    ("home", "adopt"): (lambda h: ["--home", h.path], 1),
    ("ingest",): (lambda h: ["--home", h.path], 1),
    ("status",): (lambda h: ["--home", h.path], 1),
    ("sql",): (lambda h: ["SELECT id, ts FROM logs.events", "--home", h.path], 20),
    ("table", "create"): (lambda h: ["logs.other", "--schema", SCHEMA, "--home", h.path], 1),
    ("table", "list"): (lambda h: ["--home", h.path], 1),
    ("table", "show"): (lambda h: ["logs.events", "--home", h.path], 1),
    ("table", "alter"): (
        lambda h: ["logs.events", "--add-column", "referrer:string", "--home", h.path],
        1,
    ),
    ("table", "history"): (lambda h: ["logs.events", "--home", h.path], 2),
    ("table", "rollback"): (
        lambda h: ["logs.events", "--to", str(h.first_snapshot), "--home", h.path],
        1,
    ),
    ("table", "drop"): (lambda h: [*_spare_table(h), "--yes"], 1),
    ("table", "rename"): (lambda h: [*_spare_table(h)[:1], "logs.renamed", "--home", h.path], 1),
    ("source", "add"): (_another_source, 1),
    ("source", "remove"): (lambda h: ["web", "--yes", "--home", h.path], 1),
    ("source", "list"): (lambda h: ["--home", h.path], 1),
    ("source", "show"): (lambda h: ["web", "--home", h.path], 1),
    ("source", "test"): (lambda h: ["web", "--sample", str(h.sample), "--home", h.path], 2),
    ("quarantine", "list"): (lambda h: ["--home", h.path], 1),
    ("quarantine", "show"): (lambda h: ["1", "--home", h.path], 1),
    ("quarantine", "replay"): (lambda h: ["--home", h.path], 1),
    ("maintain", "compact"): (
        lambda h: ["logs.events", "--rewrite-all", "--dry-run", "--home", h.path],
        2,  # one group per day
    ),
    ("maintain", "expire"): (lambda h: ["logs.events", "--dry-run", "--home", h.path], 1),
    ("maintain", "clean-metadata"): (
        lambda h: ["logs.events", "--dry-run", "--home", h.path],
        1,
    ),
    ("maintain", "orphans"): (lambda h: ["logs.events", "--dry-run", "--home", h.path], 1),
    ("maintain", "manifests"): (lambda h: ["logs.events", "--dry-run", "--home", h.path], 1),
    ("maintain", "unlock"): (lambda h: ["logs.events", "--home", h.path], 1),
    ("maintain", "history"): (lambda h: ["--dry-runs", "--home", h.path], 1),
    ("view", "create"): (lambda h: ["logs.french", "--sql", FRENCH, "--home", h.path], 1),
    ("view", "list"): (lambda h: _a_view(h)[1:], 1),
    ("view", "show"): (_a_view, 1),
    ("view", "drop"): (lambda h: [*_a_view(h), "--yes"], 1),
    ("principal", "list"): (_a_principal, 1),
    ("tenant", "list"): (_a_tenant, 1),
    ("catalog", "list"): (_a_mount, 1),
}


def commands() -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every command with its path, as click sees them; not ``icehouse`` itself, whose
    ``--format`` only passes a format on to the command that follows."""

    def walk(command: Any, path: tuple[str, ...]) -> Iterator[tuple[tuple[str, ...], Any]]:
        yield path, command
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            yield from walk(sub, (*path, name))

    yield from ((p, c) for p, c in walk(typer.main.get_command(app), ()) if p)


def format_choices(command: Any) -> list[str]:
    """The choices of the command's ``--format`` (the members of the enum its function's
    ``format`` parameter is annotated with); none when it has no such option."""
    if command.callback is None:
        return []
    hint = get_type_hints(command.callback, include_extras=True).get("format")
    if hint is None:
        return []
    inner = get_args(hint)[0]  # Annotated[X, typer.Option(...)]; X may be `Enum | None`
    enum = next(t for t in (inner, *get_args(inner)) if isinstance(t, type) and issubclass(t, Enum))
    return [member.value for member in enum]


OFFERING_CSV = [path for path, command in commands() if "csv" in format_choices(command)]
NOT_OFFERING_CSV = [
    path for path, command in commands() if format_choices(command) == ["table", "json", "jsonl"]
]


def as_csv(args: list[str]) -> list[list[str]]:
    result = ok(*args, "--format", "csv")
    return list(csv.reader(io.StringIO(result.stdout)))


def test_every_command_offering_csv_has_a_case_here_and_every_case_a_command():
    assert sorted(OFFERING_CSV) == sorted(CASES)


def test_every_command_with_format_offers_csv_or_only_table_json_and_jsonl():
    with_format = [path for path, command in commands() if format_choices(command)]
    assert sorted(with_format) == sorted(OFFERING_CSV + NOT_OFFERING_CSV)
    assert sorted(NOT_OFFERING_CSV) == [
        ("catalog", "mount"),
        ("catalog", "unmount"),
        ("demo",),
        ("health",),
        ("maintain", "run"),
        ("principal", "create"),
        ("principal", "delete"),
        ("principal", "revoke"),
        ("principal", "rotate"),
        ("serve",),
        ("tenant", "create"),
        ("tenant", "drop"),
    ]


@pytest.mark.parametrize("path", sorted(CASES), ids=" ".join)
def test_format_csv_prints_a_header_and_one_line_per_row(path, lake_home):
    arguments, expected_rows = CASES[path]
    header, *rows = as_csv([*path, *arguments(lake_home)])
    assert header and all(header), header
    assert len(set(header)) == len(header), header
    assert len(rows) == expected_rows, rows
    assert all(len(row) == len(header) for row in rows)


@pytest.mark.parametrize("path", NOT_OFFERING_CSV, ids=" ".join)
def test_format_csv_where_not_offered_is_a_usage_error_listing_the_choices(path, tmp_path):
    result = run(*path, "--format", "csv", "--home", str(tmp_path / "lake"))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "'csv' is not one of 'table', 'json', 'jsonl'" in one_line(result.stderr)


LISTS_AND_RECORDS = [
    ("status",),
    ("table", "list"),
    ("table", "show", "logs.events"),
    ("table", "history", "logs.events"),
    ("source", "list"),
    ("source", "show", "web"),
    ("quarantine", "list"),
    ("quarantine", "show", "1"),
    ("maintain", "history", "--dry-runs"),
]


@pytest.mark.parametrize("args", LISTS_AND_RECORDS, ids=" ".join)
def test_the_csv_header_is_the_json_keys_and_nested_values_are_json_cells(args, lake_home):
    shown = as_json(*args, "--home", lake_home.path)
    records = shown if isinstance(shown, list) else [shown]
    header, *rows = as_csv([*args, "--home", lake_home.path])
    assert header == list(records[0])
    for record, row in zip(records, rows, strict=True):
        for key, cell in zip(header, row, strict=True):
            value = record[key]
            if isinstance(value, dict | list):
                assert json.loads(cell) == value
            elif value is None:
                assert cell == ""
            elif isinstance(value, bool):
                assert cell == str(value).lower()
            else:
                assert cell == str(value)


def test_an_empty_list_prints_its_header(tmp_path):
    home = str(tmp_path / "lake")
    ok("init", "--home", home)
    assert as_csv(["table", "list", "--home", home]) == [
        ["name", "location", "schema", "partition_specs", "current_spec_id", "sort_order",
         "properties", "snapshots", "current_snapshot_id", "data_files", "bytes", "rows"],
    ]  # fmt: skip
    assert as_csv(["status", "--home", home])[0][:2] == ["source", "table"]
    assert as_csv(["quarantine", "list", "--home", home])[0][:2] == ["id", "source"]
    assert as_csv(["maintain", "history", "--home", home])[0][:2] == ["id", "table"]


def test_sql_csv_writes_lists_and_structs_as_json_text(lake_home):
    query = "SELECT 1 AS n, [1, 2] AS l, {'a': 'x', 'b': NULL} AS s, NULL::INT[] AS e"
    assert as_csv(["sql", query, "--home", lake_home.path]) == [
        ["n", "l", "s", "e"],
        ["1", "[1, 2]", '{"a": "x", "b": null}', ""],
    ]


def test_sql_explain_as_csv_prints_the_rows_and_the_plans_on_stderr(lake_home):
    result = ok("sql", "SELECT id FROM logs.events WHERE id <= 3 ORDER BY id", "--explain",
                "--format", "csv", "--home", lake_home.path)  # fmt: skip
    assert list(csv.reader(io.StringIO(result.stdout))) == [["id"], ["1"], ["2"], ["3"]]
    assert "logs.events" in result.stderr


def test_source_test_as_csv_prints_the_mapped_rows_and_the_errors_on_stderr(lake_home):
    result = ok("source", "test", "web", "--sample", str(lake_home.sample), "--format", "csv",
                "--home", lake_home.path)  # fmt: skip
    header, *rows = csv.reader(io.StringIO(result.stdout))
    assert header == ["ts", "id", "country", "bytes"]
    assert [row[1] for row in rows] == ["7", "8"]
    assert one_line(result.stderr).startswith("line 2: invalid JSON")


def test_sql_out_csv_writes_nested_values_as_json_text(lake_home):
    target = lake_home.tmp / "nested.csv"
    ok("sql", "SELECT [1, 2] AS l", "--out", str(target), "--home", lake_home.path)
    assert list(csv.reader(target.open())) == [["l"], ["[1, 2]"]]
