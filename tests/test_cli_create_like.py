"""``icehouse table create --like SAMPLE``: the types a sample's values give its columns,
``--dry-run`` showing them before anything is created, and a table so typed taking the
sample's own rows."""

from __future__ import annotations

import json

import pyarrow as pa
import pyarrow.parquet as pq

from tests.fixtures_lake import write_jsonl
from tests.test_cli import as_json, home, ok, one_line, run

__all__ = ["home"]  # the fixture, used by name


def columns(shown: dict) -> list[tuple[str, str]]:
    return [(c["name"], c["type"]) for c in shown["schema"]]


JSON_SAMPLE = [
    {
        "requested_at": "2024-06-01T10:00:00Z",
        "offset_at": "2024-06-01T12:00:00.123456789+02:00",
        "spaced_at": "2024-06-01 10:00:00+0000",
        "local_at": "2024-06-01T10:00:00",
        "day": "2024-06-01",
        "almost": "2024-06-01T10:00:00Z",
        "bytes": 10,
        "ratio": 1.5,
        "hit": True,
        "country": "de",
    },
    {
        "requested_at": "2024-06-01T10:00:01.5Z",
        "offset_at": None,
        "spaced_at": "2024-06-01 10:00:01-05:00",
        "local_at": "2024-06-01 10:00:01.25",
        "day": "2024-06-02",
        "almost": "yesterday",
        "bytes": 11,
        "ratio": 2,
        "hit": False,
        "country": "us",
    },
]


def test_like_types_timestamps_dates_and_numbers_from_every_sampled_value(home, tmp_path):
    sample = write_jsonl(tmp_path / "sample.jsonl", JSON_SAMPLE)

    ok("table", "create", "logs.sampled", "--like", str(sample), "--home", home)

    assert columns(as_json("table", "show", "logs.sampled", "--home", home)) == [
        ("requested_at", "timestamptz"),
        ("offset_at", "timestamptz"),
        ("spaced_at", "timestamptz"),
        ("local_at", "timestamp"),
        ("day", "date"),
        ("almost", "string"),  # one value is not a timestamp
        ("bytes", "long"),
        ("ratio", "double"),
        ("hit", "boolean"),
        ("country", "string"),
    ]


def test_like_types_csv_text_as_numbers_booleans_and_timestamps(home, tmp_path):
    sample = tmp_path / "sample.csv"
    sample.write_text(
        "ts,day,n,x,ok,code\n"
        "2024-06-01T10:00:00Z,2024-06-01,1,1.5,true,007\n"
        "2024-06-01 11:00:00+01:00,2024-06-02,-2,3,False,x7\n"
        ",,,,,\n"
    )

    ok("table", "create", "logs.csv", "--like", str(sample), "--home", home)

    assert columns(as_json("table", "show", "logs.csv", "--home", home)) == [
        ("ts", "timestamptz"),
        ("day", "date"),
        ("n", "long"),
        ("x", "double"),
        ("ok", "boolean"),
        ("code", "string"),
    ]


def test_dry_run_shows_the_schema_and_partition_spec_and_creates_nothing(home, tmp_path):
    sample = write_jsonl(tmp_path / "sample.jsonl", JSON_SAMPLE)

    result = ok("table", "create", "logs.sampled", "--like", str(sample),
                "--partition", "day(requested_at)", "--dry-run", "--home", home)  # fmt: skip

    lines = [one_line(line) for line in result.stdout.splitlines()]
    assert lines[0] == "Would create logs.sampled (--dry-run: nothing created)"
    assert "1 requested_at timestamptz" in lines  # piped: plain aligned text
    assert "partition spec 0 (current): day(requested_at)" in lines
    assert as_json("table", "list", "--home", home) == []
    planned = as_json("table", "create", "logs.sampled", "--like", str(sample),
                      "--dry-run", "--home", home)  # fmt: skip
    assert planned["dry_run"] is True and planned["location"] == ""
    assert as_json("table", "list", "--home", home) == []


def test_dry_run_of_an_existing_table_says_it_exists(home, tmp_path):
    sample = write_jsonl(tmp_path / "sample.jsonl", JSON_SAMPLE)
    ok("table", "create", "logs.sampled", "--like", str(sample), "--home", home)

    result = run("table", "create", "logs.sampled", "--like", str(sample), "--dry-run",
                 "--home", home)  # fmt: skip

    assert result.exit_code == 1
    assert one_line(result.stderr) == "Error: table 'logs.sampled' already exists"


def test_create_prints_the_schema_it_created(home, tmp_path):
    sample = write_jsonl(tmp_path / "sample.jsonl", JSON_SAMPLE)

    result = ok("table", "create", "logs.sampled", "--like", str(sample), "--home", home)

    lines = [one_line(line) for line in result.stdout.splitlines()]
    assert lines[0] == "Created logs.sampled"
    assert "5 day date" in lines  # piped: plain aligned text


def test_a_table_typed_like_its_sample_takes_the_sample_rows(home, tmp_path):
    landing = tmp_path / "landing"
    sample = write_jsonl(landing / "sample.jsonl", JSON_SAMPLE)
    ok("table", "create", "logs.sampled", "--like", str(sample), "--home", home)
    ok("source", "add", "web", "--location", str(landing), "--table", "logs.sampled",
       "--file-format", "jsonl", "--settle", "0s", "--home", home)  # fmt: skip

    ok("ingest", "--home", home)

    rows = as_json("sql", "SELECT epoch_ms(requested_at) AS ms, day, CAST(spaced_at AS VARCHAR) "
                   "AS spaced FROM logs.sampled ORDER BY ms", "--home", home)  # fmt: skip
    assert rows == [
        {"ms": 1717236000000, "day": "2024-06-01", "spaced": "2024-06-01 10:00:00+00"},
        {"ms": 1717236001500, "day": "2024-06-02", "spaced": "2024-06-01 15:00:01+00"},
    ]
    assert json.loads(run("quarantine", "list", "--format", "json", "--home", home).stdout) == []


def test_a_sample_with_no_records_is_refused(home, tmp_path):
    sample = tmp_path / "empty.jsonl"
    sample.write_text("\n")

    result = run("table", "create", "logs.none", "--like", str(sample), "--home", home)

    assert result.exit_code == 1
    assert one_line(result.stderr) == f"Error: --like {sample}: the sample has no readable records"


def test_a_parquet_sample_keeps_the_types_its_writer_gave(home, tmp_path):
    sample = tmp_path / "sample.parquet"
    pq.write_table(pa.table({"id": pa.array([1], pa.int32()), "name": ["2024-06-01"]}), sample)

    ok("table", "create", "logs.pq", "--like", str(sample), "--home", home)

    assert columns(as_json("table", "show", "logs.pq", "--home", home)) == [
        ("id", "int"),
        ("name", "string"),
    ]
