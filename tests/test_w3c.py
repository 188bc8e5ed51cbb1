"""W3C extended log format (``format = "w3c"``): CloudFront, IIS and CDN access logs whose
``#Fields:`` directive names the fields. Decoder tests on real files, then a realistic
CloudFront log ingested end to end through the ``Lake`` API."""

from __future__ import annotations

import gzip
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import pytest
import zstandard
from typer.testing import CliRunner

from icehouse.cli.app import app
from icehouse.config import ColumnMapping
from icehouse.errors import InvalidMapping, UnreadableFile
from icehouse.ingest.decode import DecodedChunk, FormatOptions, decode_file
from tests import fixtures_lake
from tests.fixtures_lake import add_source, rows_of

home, lake, landing = fixtures_lake.home, fixtures_lake.lake, fixtures_lake.landing

CLOUDFRONT_FIELDS = (
    "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status "
    "cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type "
    "x-edge-request-id x-host-header cs-protocol cs-bytes time-taken"
)


def cloudfront_line(
    date: str, time: str, edge: str, size: str, ip: str, uri: str, status: str, query: str
) -> str:
    return "\t".join(
        [date, time, edge, size, ip, "GET", "d111111abcdef8.cloudfront.net", uri, status, "-",
         "Mozilla/5.0%20(X11;%20Linux%20x86_64)", query, "-", "Hit",
         "SOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==", "www.example.com",
         "https", "421", "0.004"]
    )  # fmt: skip


def decode(path: Path, **options: Any) -> list[DecodedChunk]:
    opts = FormatOptions(format="w3c", **options)
    return list(decode_file(pafs.LocalFileSystem(), str(path), opts))


def rows(chunks: list[DecodedChunk]) -> list[dict[str, Any]]:
    return [row for c in chunks for row in c.table.to_pylist()]


def lines(chunks: list[DecodedChunk]) -> list[int]:
    return [n for c in chunks for n in c.lines.to_pylist()]


# --- decoding ----------------------------------------------------------------------------------


def test_fields_directive_names_the_columns_and_a_dash_is_null(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_text(
        "#Version: 1.0\n#Fields: date time sc-bytes cs-uri-query\n"
        "2024-06-01\t10:00:00\t512\t-\n2024-06-01\t10:00:01\t-\ta=1\n"
    )
    chunks = decode(path)
    assert rows(chunks) == [
        {"date": "2024-06-01", "time": "10:00:00", "sc-bytes": "512", "cs-uri-query": None},
        {"date": "2024-06-01", "time": "10:00:01", "sc-bytes": None, "cs-uri-query": "a=1"},
    ]
    assert lines(chunks) == [3, 4]


def test_a_fields_directive_mid_file_changes_the_columns_from_there_on(tmp_path: Path) -> None:
    """IIS writes a new header when it restarts, and the fields may change there."""
    path = tmp_path / "u_ex240601.log"
    path.write_text(
        "#Software: Microsoft Internet Information Services 10.0\n#Version: 1.0\n"
        "#Date: 2024-06-01 00:00:00\n#Fields: date time cs-method sc-status\n"
        "2024-06-01 00:00:01 GET 200\n"
        "#Software: Microsoft Internet Information Services 10.0\n#Version: 1.0\n"
        "#Date: 2024-06-01 12:00:00\n#Fields: date time cs-method cs-uri-stem sc-status\n"
        "2024-06-01 12:00:01 POST /login 302\n"
    )
    chunks = decode(path, chunk_bytes=64)  # the second header in a later block
    assert rows(chunks) == [
        {"date": "2024-06-01", "time": "00:00:01", "cs-method": "GET", "sc-status": "200"},
        {"date": "2024-06-01", "time": "12:00:01", "cs-method": "POST", "cs-uri-stem": "/login",
         "sc-status": "302"},
    ]  # fmt: skip
    assert lines(chunks) == [5, 10]
    one_block = decode(path)
    assert rows(one_block)[0] | {"cs-uri-stem": None} == rows(one_block)[0]  # null-filled
    assert lines(one_block) == [5, 10]


def test_a_line_with_the_wrong_field_count_is_a_bad_record_with_its_line(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_text("#Fields: a b c\n1 2 3\n1 2\n4 5 6\n")
    chunks = decode(path)
    assert rows(chunks) == [{"a": "1", "b": "2", "c": "3"}, {"a": "4", "b": "5", "c": "6"}]
    (bad,) = [b for c in chunks for b in c.bad]
    assert (bad.line, bad.raw, bad.reason) == (3, "1 2", "expected 3 fields, found 2")


@pytest.mark.parametrize("compress", [gzip.compress, zstandard.compress])
def test_compressed_w3c_logs_are_read(tmp_path: Path, compress: Any) -> None:
    path = tmp_path / "a.log.gz"
    path.write_bytes(compress(b"#Version: 1.0\n#Fields: x y\n1\t2\n"))
    assert rows(decode(path)) == [{"x": "1", "y": "2"}]


def test_data_before_any_fields_directive_makes_the_file_unreadable(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_text("#Version: 1.0\n1 2 3\n")
    with pytest.raises(UnreadableFile, match="line 2 comes before any #Fields: directive"):
        decode(path)


def test_directives_only_is_an_empty_log(tmp_path: Path) -> None:
    path = tmp_path / "a.log"
    path.write_text("#Version: 1.0\n#Fields: date time\n")
    assert decode(path) == []


# --- a CloudFront log end to end ----------------------------------------------------------------


def test_a_cloudfront_log_maps_date_and_time_into_one_timestamp(lake, landing) -> None:
    lake.tables.create(
        "cdn.requests",
        schema={
            "requested_at": "timestamptz!",
            "edge": "string",
            "bytes": "long",
            "client_ip": "string",
            "uri": "string",
            "status": "int",
            "user_agent": "string",
            "query": "string",
            "source_file": "string",
        },
    )
    add_source(
        lake,
        "cloudfront",
        landing,
        table="cdn.requests",
        format="w3c",
        columns={
            "requested_at": ColumnMapping(
                expr="strptime(${date} || ' ' || ${time}, '%Y-%m-%d %H:%M:%S')"
            ),
            "edge": ColumnMapping(path="x-edge-location"),
            "bytes": ColumnMapping(path="sc-bytes"),
            "client_ip": ColumnMapping(path="c-ip"),
            "uri": ColumnMapping(path="cs-uri-stem"),
            "status": ColumnMapping(path="sc-status"),
            "user_agent": ColumnMapping(expr="url_decode(${cs(User-Agent)})"),
            "query": ColumnMapping(path="cs-uri-query"),
            "source_file": ColumnMapping(meta="file"),
        },
        bad_line_threshold=0.5,
    )
    log = [
        "#Version: 1.0",
        f"#Fields: {CLOUDFRONT_FIELDS}",
        cloudfront_line("2024-06-01", "10:00:01", "FRA56-P1", "5120", "192.0.2.10",
                        "/index.html", "200", "-"),
        cloudfront_line("2024-06-01", "10:00:02", "IAD89-C2", "310", "198.51.100.7",
                        "/api/items", "404", "page=2&sort=asc"),
        "2024-06-01\t10:00:03\tFRA56-P1\t17",  # cut short by a crashed shipper
        cloudfront_line("2024-06-01", "23:59:59", "NRT12-C3", "0", "203.0.113.5",
                        "/favicon.ico", "304", "-"),
    ]  # fmt: skip
    (landing / "E2EXAMPLE.2024-06-01-10.a1b2c3d4.gz").write_bytes(
        gzip.compress(("\n".join(log) + "\n").encode())
    )

    report = lake.ingest()

    assert (report.rows, report.bad_rows, report.quarantined_files) == (3, 1, 0)
    agent = "Mozilla/5.0 (X11; Linux x86_64)"
    name = "E2EXAMPLE.2024-06-01-10.a1b2c3d4.gz"
    assert rows_of(lake, "SELECT * FROM cdn.requests ORDER BY requested_at") == [
        {"requested_at": datetime(2024, 6, 1, 10, 0, 1, tzinfo=UTC), "edge": "FRA56-P1",
         "bytes": 5120, "client_ip": "192.0.2.10", "uri": "/index.html", "status": 200,
         "user_agent": agent, "query": None, "source_file": name},
        {"requested_at": datetime(2024, 6, 1, 10, 0, 2, tzinfo=UTC), "edge": "IAD89-C2",
         "bytes": 310, "client_ip": "198.51.100.7", "uri": "/api/items", "status": 404,
         "user_agent": agent, "query": "page=2&sort=asc", "source_file": name},
        {"requested_at": datetime(2024, 6, 1, 23, 59, 59, tzinfo=UTC), "edge": "NRT12-C3",
         "bytes": 0, "client_ip": "203.0.113.5", "uri": "/favicon.ico", "status": 304,
         "user_agent": agent, "query": None, "source_file": name},
    ]  # fmt: skip
    (bad,) = lake.quarantine.list(kind="line")
    assert (bad.line, bad.raw, bad.reason) == (
        5,
        "2024-06-01\t10:00:03\tFRA56-P1\t17",
        "expected 19 fields, found 4",
    )


def test_a_reference_to_a_field_the_w3c_header_lacks_is_a_mapping_error(lake, landing) -> None:
    lake.tables.create("cdn.hits", schema={"at": "timestamptz", "n": "long"})
    add_source(
        lake,
        "iis",
        landing,
        table="cdn.hits",
        format="w3c",
        columns={"at": ColumnMapping(expr="strptime(${date} || ' ' || ${tiem}, '%Y-%m-%d %X')")},
    )
    (landing / "u_ex1.log").write_text("#Fields: date time\n2024-06-01 10:00:00\n")
    with pytest.raises(InvalidMapping) as raised:
        lake.ingest()
    assert str(raised.value) == (
        "source 'iis': column at names the source field ${tiem}, which the file does not "
        "have (its fields: date, time)"
    )


def test_source_test_shows_a_w3c_sample_mapped(lake, landing, tmp_path) -> None:
    lake.tables.create("cdn.hits", schema={"at": "timestamptz", "n": "long"})
    add_source(
        lake,
        "iis",
        landing,
        table="cdn.hits",
        format="w3c",
        derive={"stamp": "${date} || ' ' || ${time}"},
        columns={"at": ColumnMapping(path="stamp", timestamp="%Y-%m-%d %H:%M:%S"),
                 "n": ColumnMapping(path="sc-bytes")},
    )  # fmt: skip
    sample = tmp_path / "u_ex1.log"
    sample.write_text("#Fields: date time sc-bytes\n2024-06-01 10:00:00 7\n2024-06-01 x\n")
    result = lake.sources.test("iis", sample)
    assert result.rows.to_pylist() == [{"at": datetime(2024, 6, 1, 10, tzinfo=UTC), "n": 7}]
    assert [(b.line, b.reason) for b in result.bad] == [(3, "expected 3 fields, found 2")]


def test_source_add_takes_w3c_derive_and_meta_and_source_test_maps_a_sample(home, tmp_path):
    def cli(*args: str) -> str:
        result = CliRunner().invoke(
            app, [*args, "--home", str(home)], env={"COLUMNS": "1000", "ICEHOUSE_HOME": ""}
        )
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return result.stdout

    cli(
        "table",
        "create",
        "cdn.hits",
        "--schema",
        '{"at": "timestamptz", "n": "long", "file": "string"}',
    )
    (tmp_path / "in").mkdir(parents=True, exist_ok=True)
    cli("source", "add", "iis", "--location", str(tmp_path / "in"), "--table", "cdn.hits",
        "--file-format", "w3c", "--derive", "stamp=${date} || ' ' || ${time}",
        "--map", "at=stamp", "--timestamp", "at=%Y-%m-%d %H:%M:%S",
        "--expr", "n=CAST(${sc-bytes} AS BIGINT)", "--meta", "file=file")  # fmt: skip
    sample = tmp_path / "u_ex1.log"
    sample.write_text("#Fields: date time sc-bytes\n2024-06-01 10:00:00 7\n")
    shown = json.loads(cli("source", "test", "iis", "--sample", str(sample), "--format", "json"))
    assert shown["rows"] == [{"at": "2024-06-01T10:00:00+00:00", "n": 7, "file": "u_ex1.log"}]
    assert shown["errors"] == []
