"""Mapping expressions: a value an ``expr`` cannot take quarantines its line (never NULL);
``${path}`` names source fields, ``[derive]`` declares helper fields, ``meta`` fills a
column from the file. Every test ingests real files through the public ``Lake`` API."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from icehouse.config import ColumnMapping
from icehouse.errors import InvalidMapping
from icehouse.lake import Lake
from tests import fixtures_lake
from tests.fixtures_lake import EVENTS, add_source, event, rows_of, write_jsonl

home, lake, landing, events = (
    fixtures_lake.home,
    fixtures_lake.lake,
    fixtures_lake.landing,
    fixtures_lake.events,
)


def write_tsv(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines))
    return path


def quarantined_lines(lake: Lake) -> list[tuple[int | None, str, str]]:
    return sorted((r.line, r.raw, r.reason) for r in lake.quarantine.list(kind="line"))


def events_rows(lake: Lake) -> list[dict]:
    return rows_of(lake, f"SELECT id, country, bytes FROM {EVENTS} ORDER BY id")


# --- an expression that raises quarantines its line -------------------------------------------


def test_an_expr_that_cannot_convert_a_value_quarantines_the_line_naming_column_expr_and_value(
    lake, landing, events
):
    """A TSV line with ``size = lots`` once went in with NULLs under TRY; now it is
    quarantined."""
    add_source(
        lake,
        "tsv",
        landing,
        format="tsv",
        columns={"bytes": ColumnMapping(expr="CAST(${size} AS BIGINT) * 8")},
        bad_line_threshold=0.5,
    )
    write_tsv(
        landing / "a.tsv",
        [
            "ts\tid\tcountry\tsize",
            "2024-06-01T10:00:00Z\t1\tde\t10",
            "2024-06-01T10:00:00Z\t2\tfr\tlots",
            "2024-06-01T10:00:00Z\t3\tus\t",
            "2024-06-01T10:00:00Z\t4\tde\t5",
        ],
    )

    report = lake.ingest()

    assert (report.rows, report.bad_rows, report.quarantined_files) == (3, 1, 0)
    assert events_rows(lake) == [
        {"id": 1, "country": "de", "bytes": 80},
        {"id": 3, "country": "us", "bytes": None},  # an empty field is null, not an error
        {"id": 4, "country": "de", "bytes": 40},
    ]
    assert quarantined_lines(lake) == [
        (
            3,
            "2024-06-01T10:00:00Z\t2\tfr\tlots",
            "column bytes: expr 'CAST(${size} AS BIGINT) * 8' failed on ${size}='lots'",
        )
    ]


def test_a_failed_strptime_quarantines_the_line_with_every_value_the_expression_read(
    lake, landing, events
):
    add_source(
        lake,
        "s",
        landing,
        columns={
            "ts": ColumnMapping(expr="strptime(${day} || ' ' || ${clock}, '%Y-%m-%d %H:%M:%S')")
        },
        bad_line_threshold=0.5,
    )
    write_jsonl(
        landing / "a.jsonl",
        [
            {"day": "2024-06-01", "clock": "10:00:00", "id": 1},
            {"day": "2024-13-01", "clock": "10:00:00", "id": 2},
            {"day": "2024-06-02", "clock": "23:59:59", "id": 3},
        ],
    )

    assert lake.ingest().rows == 2

    assert rows_of(lake, f"SELECT ts, id FROM {EVENTS} ORDER BY id") == [
        {"ts": datetime(2024, 6, 1, 10, tzinfo=UTC), "id": 1},
        {"ts": datetime(2024, 6, 2, 23, 59, 59, tzinfo=UTC), "id": 3},
    ]
    ((line, _, reason),) = quarantined_lines(lake)
    assert (line, reason) == (
        2,
        "column ts: expr \"strptime(${day} || ' ' || ${clock}, '%Y-%m-%d %H:%M:%S')\" failed "
        "on ${day}='2024-13-01', ${clock}='10:00:00'",
    )


def test_an_expression_over_a_mapped_column_reports_that_column_value(lake, landing, events):
    """Bare names are mapped columns: the reason gives their mapped values."""
    add_source(
        lake,
        "s",
        landing,
        columns={"bytes": ColumnMapping(expr="CAST(country AS BIGINT)")},
        bad_line_threshold=0.5,
    )
    write_jsonl(landing / "a.jsonl", [event(1, country="7"), event(2), event(3, country="9")])

    assert lake.ingest().rows == 2

    assert [r["bytes"] for r in events_rows(lake)] == [7, 9]
    ((line, _, reason),) = quarantined_lines(lake)
    assert (line, reason) == (
        2,
        "column bytes: expr 'CAST(country AS BIGINT)' failed on country='de'",
    )


def test_an_expression_result_of_the_wrong_type_quarantines_the_line(lake, landing, events):
    add_source(
        lake, "s", landing, columns={"bytes": ColumnMapping(expr="${size}")}, bad_line_threshold=0.5
    )
    write_jsonl(landing / "a.jsonl", [event(1, size="12"), event(2, size="twelve")])

    assert lake.ingest().rows == 1

    assert events_rows(lake) == [{"id": 1, "country": "de", "bytes": 12}]
    ((line, _, reason),) = quarantined_lines(lake)
    assert (line, reason) == (2, "column bytes: expr '${size}' gave 'twelve', not a bigint")


def test_a_file_whose_expression_fails_on_most_lines_is_quarantined_whole(lake, landing, events):
    add_source(lake, "s", landing, columns={"bytes": ColumnMapping(expr="CAST(${size} AS INT)")})
    path = write_jsonl(landing / "a.jsonl", [event(i, size="many") for i in range(1, 5)])

    report = lake.ingest()

    assert (report.rows, report.quarantined_files) == (0, 1)
    (record,) = lake.quarantine.list(kind="file")
    assert record.path == str(path)
    assert "first: line 1: column bytes: expr 'CAST(${size} AS INT)' failed on" in record.reason


def test_invalid_sql_in_an_expression_is_a_mapping_error_not_bad_data(lake, landing, events):
    add_source(lake, "s", landing, columns={"country": ColumnMapping(expr="no_such_fn(country)")})
    write_jsonl(landing / "a.jsonl", [event(1)])

    with pytest.raises(InvalidMapping, match=r"source 's': mapping failed: .*no_such_fn"):
        lake.ingest()
    assert lake.quarantine.list() == []


# --- ${path}: source fields in expressions -----------------------------------------------------


def test_an_expression_combines_two_source_fields_and_walks_nested_objects(lake, landing, events):
    add_source(
        lake,
        "s",
        landing,
        columns={
            "ts": ColumnMapping(
                expr="strptime(${when.date} || ' ' || ${when.time}, '%d/%m/%Y %H:%M')"
            ),
            "country": ColumnMapping(path="geo", expr="upper(country) || '-' || ${geo}"),
        },
    )
    write_jsonl(
        landing / "a.jsonl",
        [
            {"when": {"date": "01/06/2024", "time": "08:30"}, "id": 1, "geo": "de"},
            {"when": {"date": "03/06/2024", "time": "23:00"}, "id": 2, "geo": "fr"},
        ],
    )

    assert lake.ingest().rows == 2

    assert rows_of(lake, f"SELECT ts, id, country FROM {EVENTS} ORDER BY id") == [
        {"ts": datetime(2024, 6, 1, 8, 30, tzinfo=UTC), "id": 1, "country": "DE-de"},
        {"ts": datetime(2024, 6, 3, 23, tzinfo=UTC), "id": 2, "country": "FR-fr"},
    ]


def test_a_reference_inside_a_string_literal_is_left_alone(lake, landing, events):
    add_source(lake, "s", landing, columns={"country": ColumnMapping(expr="'${not a field}'")})
    write_jsonl(landing / "a.jsonl", [event(1)])
    lake.ingest()
    assert events_rows(lake)[0]["country"] == "${not a field}"


def test_a_json_field_absent_from_every_record_is_null(lake, landing, events):
    """JSON records may omit a field, so ``${path}`` of an absent field is null there."""
    add_source(lake, "s", landing, columns={"country": ColumnMapping(expr="coalesce(${cc}, 'zz')")})
    write_jsonl(landing / "a.jsonl", [event(1)])
    lake.ingest()
    assert events_rows(lake)[0]["country"] == "zz"


def test_a_reference_to_a_field_the_csv_file_lacks_names_source_column_and_field(
    lake, landing, events
):
    add_source(
        lake,
        "s",
        landing,
        format="csv",
        columns={"bytes": ColumnMapping(expr="CAST(${sise} AS INT)")},
    )
    (landing / "a.csv").write_text("ts,id,size\n2024-06-01T10:00:00Z,1,5\n")

    with pytest.raises(InvalidMapping) as raised:
        lake.ingest()
    assert str(raised.value) == (
        "source 's': column bytes names the source field ${sise}, which the file does not "
        "have (its fields: ts, id, size)"
    )


@pytest.mark.parametrize(
    ("columns", "derive", "message"),
    [
        (
            {"bytes": ColumnMapping(expr="CAST(${size AS INT)")},
            {},
            "source 's', column 'bytes': column bytes: '${' at character 6 is never closed by '}'",
        ),
        (
            {"bytes": ColumnMapping(expr="${}")},
            {},
            "source 's', column 'bytes': column bytes: '${}' names no source field",
        ),
        (
            {},
            {"a": "${x}", "b": "${a} || 'x'"},
            "source 's': helper field b refers to the helper field ${a}; helper fields may "
            "refer to source fields only",
        ),
        (
            {},
            {"country": "${cc}"},
            "source 's': helper field 'country' has the name of a table column; name it "
            "otherwise (helpers are not columns)",
        ),
        (
            {"country": ColumnMapping(meta="line")},
            {},
            "source 's', column 'country': meta = \"line\" needs a int or long column, not string",
        ),
    ],
)
def test_a_mapping_that_cannot_work_is_refused_when_the_source_is_added(
    lake, landing, events, columns, derive, message
):
    with pytest.raises(InvalidMapping) as raised:
        add_source(lake, "s", landing, columns=columns, derive=derive)
    assert str(raised.value) == message
    assert "s" not in lake.config.sources


# --- helper fields -----------------------------------------------------------------------------


def test_helper_fields_feed_columns_by_path_and_by_reference_and_are_not_columns(
    lake, landing, events
):
    add_source(
        lake,
        "s",
        landing,
        derive={"stamp": "${date} || ' ' || ${time}", "size": "CAST(${kb} AS INT) * 1024"},
        columns={
            "ts": ColumnMapping(path="stamp", timestamp="%d/%m/%Y %H:%M:%S"),
            "bytes": ColumnMapping(expr="${size} + 1"),
            "country": ColumnMapping(expr="lower(${cc})"),
        },
        bad_line_threshold=0.5,
    )
    write_jsonl(
        landing / "a.jsonl",
        [
            {"date": "01/06/2024", "time": "10:00:00", "id": 1, "kb": "2", "cc": "DE"},
            {"date": "01/06/2024", "time": "11:00:00", "id": 2, "kb": "x", "cc": "FR"},
        ],
    )

    assert lake.ingest().rows == 1

    assert rows_of(lake, f"SELECT * FROM {EVENTS}") == [
        {"ts": datetime(2024, 6, 1, 10, tzinfo=UTC), "id": 1, "country": "de", "bytes": 2049}
    ]
    ((line, _, reason),) = quarantined_lines(lake)
    assert (line, reason) == (
        2,
        "helper field size: expr 'CAST(${kb} AS INT) * 1024' failed on ${kb}='x'",
    )
    # Saved to icehouse.toml and read back the same.
    assert lake.sources.get("s").derive == {
        "stamp": "${date} || ' ' || ${time}",
        "size": "CAST(${kb} AS INT) * 1024",
    }


def test_a_timestamp_rule_reads_a_helper_field(lake, landing, events):
    add_source(
        lake,
        "s",
        landing,
        derive={"stamp": "${d} || ' ' || ${t}"},
        columns={"ts": ColumnMapping(path="stamp", timestamp="%d/%m/%Y %H:%M")},
    )
    write_jsonl(landing / "a.jsonl", [{"d": "02/06/2024", "t": "07:15", "id": 1}])
    lake.ingest()
    assert rows_of(lake, f"SELECT ts FROM {EVENTS}") == [
        {"ts": datetime(2024, 6, 2, 7, 15, tzinfo=UTC)}
    ]


# --- meta: values from the file itself ---------------------------------------------------------


def test_meta_file_and_line_fill_columns_with_the_relative_path_and_line_number(lake, landing):
    lake.tables.create(
        "logs.lines",
        schema={"id": "long!", "file": "string!", "line": "long!", "folder": "string"},
    )
    add_source(
        lake,
        "s",
        landing,
        table="logs.lines",
        columns={
            "file": ColumnMapping(meta="file"),
            "line": ColumnMapping(meta="line"),
            "folder": ColumnMapping(meta="file", expr="split_part(file, '/', 1)"),
        },
    )
    write_jsonl(landing / "2024" / "06" / "a.jsonl", [{"id": 1}, "", {"id": 2}])
    write_jsonl(landing / "b.jsonl.gz", [{"id": 3}], gz=True)

    assert lake.ingest().rows == 3

    assert rows_of(lake, "SELECT * FROM logs.lines ORDER BY id") == [
        {"id": 1, "file": "2024/06/a.jsonl", "line": 1, "folder": "2024"},
        {"id": 2, "file": "2024/06/a.jsonl", "line": 3, "folder": "2024"},
        {"id": 3, "file": "b.jsonl.gz", "line": 1, "folder": "b.jsonl.gz"},
    ]


def test_meta_cannot_be_combined_with_a_path(lake, landing, events):
    with pytest.raises(ValueError, match="meta cannot be combined with path"):
        ColumnMapping(meta="file", path="x")
