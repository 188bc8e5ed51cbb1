"""Bad input never stops good input: each kind of bad line or file is quarantined with
its file, line number, raw text and reason, while the good rows commit."""

from __future__ import annotations

import gzip
import json
import os
import random
import time
from pathlib import Path

import pytest
import zstandard

from icehouse.config import ColumnMapping
from icehouse.lake import Lake
from tests import fixtures_lake
from tests.fixtures_lake import EVENTS, add_source, event, ids, rows_of, write_jsonl

home, lake, landing, events = (
    fixtures_lake.home,
    fixtures_lake.lake,
    fixtures_lake.landing,
    fixtures_lake.events,
)


def set_mtime(path: Path, seconds: float) -> None:
    os.utime(path, (seconds, seconds))


def good_lines(first: int, n: int) -> list[dict]:
    return [event(i) for i in range(first, first + n)]


def only(records: list) -> object:
    assert len(records) == 1, records
    return records[0]


def quarantined_file(lake: Lake, path: Path):
    """The one whole-file quarantine record of ``path``."""
    return only([r for r in lake.quarantine.list(kind="file") if r.path == str(path)])


# --- bad lines in otherwise good files ----------------------------------------------------------


def test_a_malformed_json_line_is_quarantined_and_the_rest_commits(lake, landing, events):
    add_source(lake, "s", landing)
    path = write_jsonl(
        landing / "a.jsonl", [*good_lines(1, 6), '{"ts": "2024-06-01T', *good_lines(7, 14)]
    )

    report = lake.ingest()

    assert (report.rows, report.bad_rows, report.quarantined_files) == (20, 1, 0)
    assert ids(lake) == list(range(1, 21))
    record = only(lake.quarantine.list())
    assert (record.source, record.path, record.kind, record.line) == ("s", str(path), "line", 7)
    assert record.raw == '{"ts": "2024-06-01T'
    assert record.reason.startswith("invalid JSON: ")


def test_a_json_value_that_is_not_an_object_is_quarantined(lake, landing, events):
    add_source(lake, "s", landing)
    write_jsonl(landing / "a.jsonl", [*good_lines(1, 20), "[1, 2, 3]"])
    lake.ingest()
    record = only(lake.quarantine.list())
    assert (record.line, record.raw, record.reason) == (21, "[1, 2, 3]", "not a JSON object")


def test_a_value_of_the_wrong_type_is_quarantined_with_the_column_and_value(lake, landing, events):
    add_source(lake, "s", landing)
    write_jsonl(landing / "a.jsonl", [*good_lines(1, 20), event(21, bytes="lots")])

    report = lake.ingest()

    assert (report.rows, report.bad_rows) == (20, 1)
    record = only(lake.quarantine.list())
    assert record.line == 21
    assert json.loads(record.raw)["bytes"] == "lots"
    assert record.reason == "column bytes: cannot convert 'lots' to bigint"


def test_an_unparseable_timestamp_is_quarantined_with_a_hint(lake, landing, events):
    add_source(lake, "s", landing)
    write_jsonl(landing / "a.jsonl", [*good_lines(1, 20), event(21, ts="yesterday")])
    lake.ingest()
    record = only(lake.quarantine.list())
    assert record.reason.startswith("column ts: cannot convert 'yesterday' to timestamptz")


def test_a_missing_required_field_is_quarantined(lake, landing, events):
    add_source(lake, "s", landing)
    missing_id = {"ts": "2024-06-01T10:00:00Z", "country": "de"}
    write_jsonl(landing / "a.jsonl", [*good_lines(1, 20), missing_id])

    report = lake.ingest()

    assert (report.rows, report.bad_rows) == (20, 1)
    record = only(lake.quarantine.list())
    assert (record.line, record.reason) == (21, "column id: required value missing (field 'id')")


def test_a_missing_optional_field_is_simply_null(lake, landing, events):
    add_source(lake, "s", landing)
    write_jsonl(landing / "a.jsonl", [{"ts": "2024-06-01T10:00:00Z", "id": 1}])
    assert lake.ingest().bad_rows == 0
    assert lake.sql(f"SELECT country, bytes FROM {EVENTS}").to_pylist() == [
        {"country": None, "bytes": None}
    ]


def test_unknown_fields_are_dropped_under_the_ignore_policy(lake, landing, events):
    add_source(lake, "s", landing, unknown_fields="ignore")
    write_jsonl(
        landing / "a.jsonl",
        [event(1, referrer="https://example.org/", debug={"trace": [1, 2]}), event(2)],
    )

    report = lake.ingest()

    assert (report.rows, report.bad_rows) == (2, 0)
    assert lake.quarantine.list() == []
    assert fixtures_lake.iceberg_table(lake, EVENTS).schema().column_names == [
        "ts",
        "id",
        "country",
        "bytes",
    ]
    assert ids(lake) == [1, 2]


def test_a_line_over_max_line_bytes_is_quarantined_with_its_head_only(lake, landing, events):
    add_source(lake, "s", landing, max_line_bytes=2_000)
    huge = json.dumps(event(99, country="x" * 50_000))
    write_jsonl(landing / "a.jsonl", [*good_lines(1, 10), huge, *good_lines(11, 10)])

    report = lake.ingest()

    assert (report.rows, report.bad_rows) == (20, 1)
    assert ids(lake) == list(range(1, 21))
    record = only(lake.quarantine.list())
    assert record.line == 11
    assert record.reason == f"line is {len(huge)} bytes, over the 2000-byte limit"
    assert len(record.raw) == 1000
    assert huge.startswith(record.raw)


def test_quarantined_raw_text_is_truncated_to_1000_characters(lake, landing, events):
    add_source(lake, "s", landing)
    long_bad = '{"id": ' + "9" * 5_000  # malformed, but within max_line_bytes
    write_jsonl(landing / "a.jsonl", [*good_lines(1, 20), long_bad])
    lake.ingest()
    record = only(lake.quarantine.list())
    assert record.raw == long_bad[:1000]


def test_bad_csv_lines_are_quarantined_with_their_line_numbers(lake, landing, events):
    add_source(lake, "s", landing, format="csv", comment="#")
    rows = [f"2024-06-01T10:00:00Z,{i},de,{i}" for i in range(1, 21)]
    lines = [
        "# header follows",
        "ts,id,country,bytes",
        *rows[:5],
        "2024-06-01T10:00:00Z,6",
        *rows[5:],
    ]
    lines.insert(12, "2024-06-01T10:00:00Z,77,de,many")
    (landing / "a.csv").write_text("\n".join(lines) + "\n")

    report = lake.ingest()

    assert (report.rows, report.bad_rows) == (20, 2)
    found = [(r.line, r.reason) for r in lake.quarantine.list()]
    assert found == [
        (8, "expected 4 fields, found 2"),
        (13, "column bytes: cannot convert 'many' to bigint"),
    ]


# --- whole files ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("codec", "compress", "suffix"),
    [
        ("gzip", gzip.compress, ".jsonl.gz"),
        ("zstd", zstandard.ZstdCompressor().compress, ".jsonl.zst"),
    ],
)
def test_a_truncated_compressed_file_is_quarantined_whole_and_others_commit(
    lake, landing, events, codec, compress, suffix
):
    add_source(lake, "s", landing)
    data = compress("".join(json.dumps(e) + "\n" for e in good_lines(1, 500)).encode())
    broken = landing / f"broken{suffix}"
    broken.write_bytes(data[: len(data) // 2])
    write_jsonl(landing / "good.jsonl.gz", good_lines(1000, 3), gz=True)

    report = lake.ingest()

    assert (report.files, report.quarantined_files) == (1, 1)
    assert ids(lake) == [1000, 1001, 1002]  # nothing of the broken file, not even its head
    record = quarantined_file(lake, broken)
    assert (record.line, record.reason) == (None, f"truncated {codec} stream")
    assert lake.sources.status()[0].files_quarantined == 1


def test_an_empty_file_is_quarantined_whole(lake, landing, events):
    add_source(lake, "s", landing)
    empty = landing / "empty.jsonl"
    empty.write_bytes(b"")
    write_jsonl(landing / "good.jsonl", [event(1)])

    report = lake.ingest()

    assert (report.files, report.quarantined_files) == (1, 1)
    assert quarantined_file(lake, empty).reason == "empty file: no records"
    assert ids(lake) == [1]


def test_a_file_of_blank_lines_is_quarantined_as_empty(lake, landing, events):
    add_source(lake, "s", landing)
    blank = landing / "blank.jsonl"
    blank.write_text("\n\n   \n")
    lake.ingest()
    assert quarantined_file(lake, blank).reason == "empty file: no records"


def test_binary_junk_is_quarantined_whole(lake, landing, events):
    add_source(lake, "s", landing)
    junk = landing / "junk.jsonl"
    junk.write_bytes(random.Random(5).randbytes(20_000))
    write_jsonl(landing / "good.jsonl", [event(1)])

    report = lake.ingest()

    assert (report.files, report.quarantined_files) == (1, 1)
    assert ids(lake) == [1]
    assert "over the source's bad_line_threshold of 10 %" in quarantined_file(lake, junk).reason


def test_a_file_over_the_bad_line_threshold_is_quarantined_whole_with_its_lines(
    lake, landing, events
):
    add_source(lake, "s", landing)
    mostly_bad = write_jsonl(
        landing / "mostly-bad.jsonl",
        [*good_lines(1, 8), "oops", "{", event(10, id="x")],
    )
    write_jsonl(landing / "good.jsonl", good_lines(100, 5))

    report = lake.ingest()

    assert (report.files, report.rows, report.quarantined_files) == (1, 5, 1)
    assert ids(lake) == [100, 101, 102, 103, 104]  # none of the 8 good lines of the bad file
    reason = quarantined_file(lake, mostly_bad).reason
    assert reason.startswith(
        "3 of 11 records bad (27.3 %), over the source's bad_line_threshold of 10 %; "
        "first: line 9: invalid JSON"
    )
    lines = [r.line for r in lake.quarantine.list(kind="line") if r.path == str(mostly_bad)]
    assert lines == [9, 10, 11]


def test_a_file_under_the_threshold_commits_its_good_lines(lake, landing, events):
    add_source(lake, "s", landing, bad_line_threshold=0.5)
    write_jsonl(landing / "a.jsonl", [*good_lines(1, 3), "nope", "nope"])
    report = lake.ingest()
    assert (report.files, report.rows, report.bad_rows, report.quarantined_files) == (1, 3, 2, 0)


def test_a_file_that_vanishes_after_discovery_is_quarantined_and_others_commit(
    home, landing, events
):
    doomed = write_jsonl(landing / "a-doomed.jsonl", [event(1)])
    write_jsonl(landing / "b-good.jsonl", [event(2)])

    def delete_after_claim(point: str) -> None:
        if point == "batch.claimed" and doomed.exists():
            doomed.unlink()  # e.g. the provider withdrew it between listing and reading

    lake = Lake.open(home, faults=delete_after_claim)
    try:
        add_source(lake, "s", landing)
        report = lake.ingest()
        assert (report.files, report.quarantined_files) == (1, 1)
        assert ids(lake) == [2]
        assert quarantined_file(lake, doomed).reason.startswith(
            "file vanished before it could be read"
        )
    finally:
        lake.close()


def test_a_csv_file_without_its_header_line_is_quarantined_whole(lake, landing, events):
    add_source(lake, "s", landing, format="csv", comment="#")
    headless = landing / "headless.csv"
    headless.write_text("# only a comment\n")
    lake.ingest()
    assert quarantined_file(lake, headless).reason == "no header line"


def test_a_corrupt_parquet_file_is_quarantined_whole(lake, landing, events):
    add_source(lake, "s", landing, format="parquet", glob="*.parquet")
    bad = landing / "bad.parquet"
    bad.write_bytes(b"PAR1" + b"\0" * 100)
    lake.ingest()
    assert quarantined_file(lake, bad).reason == "not parquet"


def test_a_quarantined_file_fixed_in_place_is_ingested_on_the_next_run(lake, landing, events):
    """Only a path whose content changed after it was *committed* is a changed file;
    one that never committed has nothing to double."""
    add_source(lake, "s", landing)
    path = write_jsonl(landing / "a.jsonl", ["{broken"])
    set_mtime(path, time.time() - 60)
    assert lake.ingest().quarantined_files == 1
    write_jsonl(path, [event(1), event(2)])

    report = lake.ingest()

    assert (report.files, report.rows) == (1, 2)
    assert ids(lake) == [1, 2]


# --- replay -------------------------------------------------------------------------------------


def test_replay_after_fixing_the_mapping_commits_the_quarantined_file(lake, landing, events):
    add_source(lake, "s", landing, columns={"id": ColumnMapping(path="event_id")})
    path = write_jsonl(
        landing / "a.jsonl", [{"ts": "2024-06-01T10:00:00Z", "eid": i} for i in (1, 2, 3)]
    )
    first = lake.ingest()
    assert (first.rows, first.quarantined_files) == (0, 1)
    assert "column id: required value missing (field 'event_id')" in (
        quarantined_file(lake, path).reason
    )

    config = lake.config.config_path
    config.write_text(config.read_text().replace('path = "event_id"', 'path = "eid"'))
    lake.reload_config()
    assert lake.quarantine.replay(source="s").files == 1

    report = lake.ingest()

    assert (report.files, report.rows, report.quarantined_files) == (1, 3, 0)
    assert ids(lake) == [1, 2, 3]
    assert lake.quarantine.list() == []
    replayed = lake.quarantine.list(include_replayed=True)
    assert replayed and all(r.replayed_at is not None for r in replayed)
    assert lake.sources.status()[0].files_quarantined == 0
    assert lake.quarantine.replay(source="s").files == 0


def test_replay_of_one_path_leaves_other_quarantined_files_alone(lake, landing, events):
    add_source(lake, "s", landing)
    first, second = landing / "a.jsonl", landing / "b.jsonl"
    first.write_bytes(b"")
    second.write_bytes(b"")
    lake.ingest()
    assert lake.quarantine.replay(path=str(first)).files == 1
    assert [r.path for r in lake.quarantine.list(kind="file")] == [str(second)]


def test_replay_of_an_unknown_source_is_refused(lake):
    from icehouse.errors import NoSuchSource

    with pytest.raises(NoSuchSource, match="no source 'nope'"):
        lake.quarantine.replay(source="nope")


def test_quarantine_show_of_an_unknown_record_says_how_to_list_them(lake):
    from icehouse.errors import NoSuchQuarantineRecord

    with pytest.raises(NoSuchQuarantineRecord) as caught:
        lake.quarantine.show(12345)
    assert caught.value.message == (
        "no quarantine record 12345; list them with `icehouse quarantine list`"
    )


def test_replayed_lines_are_taken_again_exactly_once_after_the_mapping_is_fixed(
    lake, landing, events
):
    """Two lines of a committed file carry epoch seconds where the mapping expects RFC 3339:
    quarantined. Once the source reads epoch seconds, replay takes exactly those two lines
    of the original file again; the file's other rows are not doubled."""
    add_source(lake, "s", landing)
    rows = [event(i) for i in range(1, 21)]
    rows[4]["ts"] = 1717236000
    rows[9]["ts"] = 1717236060
    write_jsonl(landing / "a.jsonl", rows)
    first = lake.ingest()
    assert (first.rows, first.bad_rows) == (18, 2)
    assert sorted(r.line for r in lake.quarantine.list(kind="line")) == [5, 10]

    config = lake.config.config_path
    config.write_text(
        config.read_text() + '\n[sources.s.columns]\nts = { path = "ts", timestamp = "epoch_s" }\n'
    )
    lake.reload_config()
    queued = lake.quarantine.replay(source="s")
    assert (queued.files, queued.lines) == (0, 2)
    assert lake.quarantine.replay(source="s").lines == 0  # already queued

    report = lake.ingest()

    assert (report.files, report.rows, report.bad_rows) == (1, 2, 0)
    assert ids(lake) == list(range(1, 21))
    assert lake.quarantine.list() == []
    assert all(r.replayed_at for r in lake.quarantine.list(include_replayed=True))
    replayed = rows_of(lake, f"SELECT id, ts FROM {EVENTS} WHERE id IN (5, 10) ORDER BY id")
    assert [r["ts"].isoformat() for r in replayed] == [
        "2024-06-01T10:00:00+00:00",
        "2024-06-01T10:01:00+00:00",
    ]
