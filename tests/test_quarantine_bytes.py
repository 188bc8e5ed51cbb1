"""Whatever bytes a bad line holds (NUL, control bytes, invalid UTF-8), it is quarantined
on SQLite and PostgreSQL alike and the good lines commit; ``quarantine show`` prints it
with those bytes escaped as ``\\xNN``, and ``quarantine replay`` takes the line again from
the file (never from the escaped copy)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from icehouse.cli.app import app
from icehouse.lake import Lake
from icehouse.state.text import storable_text
from tests.fixtures_lake import EVENTS, EVENTS_SCHEMA, add_source, event, ids


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def lake(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch) -> Iterator[Lake]:
    """A lake whose state database is SQLite, or a fresh database on the PostgreSQL server."""
    if request.param == "postgres":
        monkeypatch.setenv("ICEHOUSE_STATE_URL", request.getfixturevalue("postgres_url"))
    home = tmp_path / "lake"
    Lake.init(home)
    opened = Lake.open(home)
    opened.tables.create(EVENTS, schema=EVENTS_SCHEMA, partition=["day(ts)"], sort="id")
    try:
        yield opened
    finally:
        opened.close()


def good(first: int, n: int) -> bytes:
    return b"".join(json.dumps(event(i)).encode() + b"\n" for i in range(first, first + n))


BAD_JSON_LINES = [
    b'{"ts": "2024-06-01T10:00:00Z", "id": 9\x00, "country": "de"}',
    b'{"ts": "\x00\x01\x1b[31m\x7f", broken',
    b'{"ts": "2024-06-01T10:00:00Z", "id": "\xff\xfe\xc3"}',
]
SHOWN_JSON_LINES = [
    '{"ts": "2024-06-01T10:00:00Z", "id": 9\\x00, "country": "de"}',
    '{"ts": "\\x00\\x01\\x1b[31m\\x7f", broken',
    '{"ts": "2024-06-01T10:00:00Z", "id": "\\xff\\xfe\\xc3"}',
]


def test_lines_with_nul_control_bytes_and_invalid_utf8_are_quarantined(
    lake: Lake, tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    add_source(lake, "s", landing)
    data = good(1, 20) + b"\n".join(BAD_JSON_LINES) + b"\n" + good(21, 20)
    (landing / "a.jsonl").write_bytes(data)

    report = lake.ingest()

    assert (report.rows, report.bad_rows, report.quarantined_files) == (40, 3, 0)
    assert ids(lake) == list(range(1, 41))
    records = lake.quarantine.list()
    assert [(r.line, r.raw) for r in records] == list(
        zip([21, 22, 23], SHOWN_JSON_LINES, strict=True)
    )
    assert all("\x00" not in r.reason for r in records)

    shown = CliRunner().invoke(
        app, ["quarantine", "show", str(records[0].id), "--home", str(lake.home)]
    )
    assert shown.exit_code == 0, shown.output
    assert "9\\x00," in shown.output

    # the source goes on: the next file commits, and nothing is retried
    (landing / "b.jsonl").write_bytes(good(41, 5))
    again = lake.ingest()
    assert (again.rows, again.bad_rows) == (5, 0)
    assert ids(lake) == list(range(1, 46))


def test_a_csv_value_holding_nul_that_cannot_convert_is_quarantined_with_its_reason(
    lake: Lake, tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    add_source(lake, "s", landing, format="csv")
    rows = [f"2024-06-01T10:00:00Z,{i},de,{i}".encode() for i in range(1, 21)]
    bad = b"2024-06-01T10:00:00Z,21,de,1\x002"
    (landing / "a.csv").write_bytes(b"\n".join([b"ts,id,country,bytes", *rows, bad]) + b"\n")

    report = lake.ingest()

    assert (report.rows, report.bad_rows) == (20, 1)
    record = lake.quarantine.list()[0]
    assert record.line == 22
    assert record.raw == "2024-06-01T10:00:00Z,21,de,1\\x002"
    assert "1\\x002" in record.reason and "\x00" not in record.reason


def test_a_replayed_nul_line_is_read_again_from_the_file(lake: Lake, tmp_path: Path) -> None:
    landing = tmp_path / "landing"
    landing.mkdir()
    add_source(lake, "s", landing, on_success="keep")
    (landing / "a.jsonl").write_bytes(good(1, 20) + BAD_JSON_LINES[0] + b"\n")
    lake.ingest()
    [first] = lake.quarantine.list()

    assert lake.quarantine.replay(source="s").lines == 1
    lake.ingest()

    # still bad: quarantined again from the file's own bytes, shown the same way
    [again] = lake.quarantine.list()
    assert again.id != first.id
    assert (again.line, again.raw) == (21, SHOWN_JSON_LINES[0])
    assert ids(lake) == list(range(1, 21))


@pytest.mark.parametrize(
    ("text", "stored"),
    [
        ("plain text, tabs\tand\nnewlines", "plain text, tabs\tand\nnewlines"),
        (
            "nul \x00 bell \x07 esc \x1b del \x7f cr \r",
            "nul \\x00 bell \\x07 esc \\x1b del \\x7f cr \\x0d",
        ),
        ("lone surrogate \udcff", "lone surrogate \\udcff"),
        ("ünïcødé ✓", "ünïcødé ✓"),
    ],
)
def test_storable_text_escapes_what_a_database_or_a_terminal_cannot_take(
    text: str, stored: str
) -> None:
    assert storable_text(text) == stored
