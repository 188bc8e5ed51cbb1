"""Ingestion: landed files become rows once, mapped, laid out and accounted for."""

from __future__ import annotations

import gzip
import json
import os
import re
import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import zstandard

from icehouse.config import ColumnMapping
from icehouse.demo.generator import GeneratorConfig, generate
from icehouse.demo.workload import SCHEMA as DEMO_SCHEMA
from icehouse.demo.workload import TABLE as DEMO_TABLE
from icehouse.demo.workload import demo_sources
from icehouse.ingest.ingester import Ingester
from icehouse.lake import Lake
from icehouse.state.clock import ShiftedClock
from tests import fixtures_lake
from tests.fixtures_lake import (
    EVENTS,
    add_source,
    data_files,
    event,
    ids,
    rows_of,
    write_jsonl,
)

home, lake, landing, events = (
    fixtures_lake.home,
    fixtures_lake.lake,
    fixtures_lake.landing,
    fixtures_lake.events,
)


def status_of(lake: Lake, source: str):
    (found,) = [s for s in lake.sources.status() if s.source == source]
    return found


def set_mtime(path: Path, seconds: float) -> None:
    os.utime(path, (seconds, seconds))


# --- several providers into one table --------------------------------------------------------


def test_three_providers_feed_one_table_with_exact_counts_per_provider(lake, tmp_path):
    config = GeneratorConfig(
        rows=3_000, days=3, tenants=50, files_per_day=2, malformed_lines=6, late_rows=12
    )
    logs = generate(tmp_path / "landing", config)
    lake.tables.create(
        DEMO_TABLE, schema=DEMO_SCHEMA, partition=["day(requested_at)"], sort="customer_id"
    )
    for source in demo_sources(tmp_path / "landing"):
        lake.sources.add(source)

    report = lake.ingest()

    per_provider = {
        r["provider"]: r["n"]
        for r in rows_of(lake, f"SELECT provider, count(*) AS n FROM {DEMO_TABLE} GROUP BY 1")
    }
    assert per_provider == logs.rows_by_provider()
    assert report.rows == logs.rows == 3_000
    assert report.files == len(logs.files) == 18
    assert report.bad_rows == logs.bad_lines == 6
    # The generator's late rows are days older than their files, but rows of one batch are
    # never late relative to each other, and each provider is compared with itself.
    assert report.late_rows == 0
    assert report.quarantined_files == 0
    lines = lake.quarantine.list(kind="line")
    assert sorted(r.source for r in lines) == ["cloudy"] * 3 + ["fastedge"] * 3
    assert lake.quarantine.summary() == {
        "cloudy": {"files": 0, "lines": 3},
        "fastedge": {"files": 0, "lines": 3},
    }
    # Every provider's layout maps onto the same values: countries upper case, no nulls.
    checks = rows_of(
        lake,
        f"SELECT count(*) FILTER (WHERE country <> upper(country)) AS lower_case, "
        f"count(*) FILTER (WHERE bytes_sent IS NULL OR status IS NULL OR path IS NULL "
        f"OR cache_status IS NULL OR latency_ms IS NULL OR user_agent IS NULL) AS nulls "
        f"FROM {DEMO_TABLE}",
    )
    assert checks == [{"lower_case": 0, "nulls": 0}]


# --- mapping -------------------------------------------------------------------------------


MAPPED_SCHEMA = {
    "requested_at": "timestamptz!",
    "customer_id": "long!",
    "country": "string",
    "status": "int",
    "bytes_sent": "long",
    "cache_status": "string",
    "big": "boolean",
}


def test_rows_are_mapped_through_paths_timestamps_defaults_and_expressions(lake, landing):
    lake.tables.create("cdn.requests", schema=MAPPED_SCHEMA)
    add_source(
        lake,
        "edge",
        landing,
        table="cdn.requests",
        columns={
            "requested_at": ColumnMapping(path="ts", timestamp="epoch_ms"),
            "customer_id": ColumnMapping(path="tenant.id"),
            "country": ColumnMapping(path="client.geo.cc", expr="upper(country)"),
            "status": ColumnMapping(path="edge.response.status", default=200),
            "bytes_sent": ColumnMapping(path="edge.response.bytes"),
            "cache_status": ColumnMapping(path="edge.cache", default="MISS"),
            "big": ColumnMapping(expr="bytes_sent > 1000"),
        },
    )
    write_jsonl(
        landing / "a.jsonl",
        [
            {
                "ts": 1717236000123,
                "tenant": {"id": 42, "name": "acme"},
                "client": {"geo": {"cc": "de"}},
                "edge": {"response": {"status": 404, "bytes": 5000}, "cache": "HIT"},
            },
            {
                "ts": 1717236001000,
                "tenant": {"id": 7},
                "client": {"geo": {"cc": "us"}},
                "edge": {"response": {"bytes": 10}},
            },
        ],
    )

    assert lake.ingest().rows == 2

    rows = rows_of(lake, "SELECT * FROM cdn.requests ORDER BY customer_id")
    assert rows == [
        {
            "requested_at": datetime(2024, 6, 1, 10, 0, 1, tzinfo=UTC),
            "customer_id": 7,
            "country": "US",
            "status": 200,
            "bytes_sent": 10,
            "cache_status": "MISS",
            "big": False,
        },
        {
            "requested_at": datetime(2024, 6, 1, 10, 0, 0, 123000, tzinfo=UTC),
            "customer_id": 42,
            "country": "DE",
            "status": 404,
            "bytes_sent": 5000,
            "cache_status": "HIT",
            "big": True,
        },
    ]


def test_an_expression_over_a_column_of_the_same_name_sees_the_source_field(lake, landing, events):
    """``country = { expr = "upper(country)" }``: with no ``path``, the column is still
    filled from the source field of its name first, and the expression sees that value."""
    add_source(lake, "s", landing, columns={"country": ColumnMapping(expr="upper(country)")})
    write_jsonl(landing / "a.jsonl", [event(1, country="de"), event(2, country="us")])
    assert lake.ingest().rows == 2
    assert rows_of(lake, f"SELECT id, country FROM {EVENTS} ORDER BY id") == [
        {"id": 1, "country": "DE"},
        {"id": 2, "country": "US"},
    ]


def test_a_default_applies_before_the_expression_sees_the_value(lake, landing, events):
    add_source(
        lake, "s", landing, columns={"country": ColumnMapping(expr="upper(country)", default="zz")}
    )
    write_jsonl(
        landing / "a.jsonl", [event(1, country="de"), {"ts": "2024-06-01T10:00:00Z", "id": 2}]
    )
    lake.ingest()
    assert rows_of(lake, f"SELECT id, country FROM {EVENTS} ORDER BY id") == [
        {"id": 1, "country": "DE"},
        {"id": 2, "country": "ZZ"},
    ]


def test_unknown_fields_become_new_columns_under_the_evolve_policy(lake, landing, events):
    add_source(lake, "s", landing, unknown_fields="evolve")
    write_jsonl(landing / "a.jsonl", [event(1), event(2, referrer="https://example.org/")])

    report = lake.ingest()

    assert (report.rows, report.bad_rows) == (2, 0)
    assert "referrer" in fixtures_lake.iceberg_table(lake, EVENTS).schema().column_names
    assert rows_of(lake, f"SELECT id, referrer FROM {EVENTS} ORDER BY id") == [
        {"id": 1, "referrer": None},
        {"id": 2, "referrer": "https://example.org/"},
    ]


@pytest.mark.parametrize(
    ("rule", "value"),
    [
        ("rfc3339", "2024-06-01T12:30:00.250+02:00"),
        ("rfc3339", "2024-06-01T10:30:00.250Z"),
        (None, "2024-06-01T10:30:00.250Z"),
        ("epoch_s", 1717237800.25),
        ("epoch_ms", 1717237800250),
        ("epoch_us", 1717237800250000),
        ("epoch_ns", 1717237800250000000),
        ("%d/%b/%Y:%H:%M:%S.%f %z", "01/Jun/2024:10:30:00.250000 +0000"),
    ],
)
def test_every_timestamp_format_reads_the_same_instant(lake, landing, events, rule, value):
    add_source(lake, "s", landing, columns={"ts": ColumnMapping(path="when", timestamp=rule)})
    write_jsonl(landing / "a.jsonl", [{"when": value, "id": 1}])
    report = lake.ingest()
    assert (report.rows, report.bad_rows) == (1, 0)
    assert rows_of(lake, f"SELECT ts FROM {EVENTS}") == [
        {"ts": datetime(2024, 6, 1, 10, 30, 0, 250000, tzinfo=UTC)}
    ]


def test_csv_fields_are_cast_to_the_column_types(lake, landing, events):
    add_source(
        lake,
        "csv",
        landing,
        format="csv",
        comment="#",
        columns={"ts": ColumnMapping(path="epoch", timestamp="epoch_s")},
    )
    body = "# exported by edge\nepoch,id,country,bytes\n1717236000,1,de,10\n1717236060,2,,\n"
    (landing / "a.csv.zst").write_bytes(zstandard.ZstdCompressor().compress(body.encode()))
    assert lake.ingest().rows == 2
    assert rows_of(lake, f"SELECT * FROM {EVENTS} ORDER BY id") == [
        {"ts": datetime(2024, 6, 1, 10, 0, tzinfo=UTC), "id": 1, "country": "de", "bytes": 10},
        {"ts": datetime(2024, 6, 1, 10, 1, tzinfo=UTC), "id": 2, "country": None, "bytes": None},
    ]


# --- exactly once at the file level ------------------------------------------------------------


def test_running_ingest_again_ingests_nothing(lake, landing, events):
    add_source(lake, "s", landing)
    write_jsonl(landing / "a.jsonl", [event(1), event(2)])
    first = lake.ingest()
    snapshots = len(fixtures_lake.iceberg_table(lake, EVENTS).metadata.snapshots)

    again = lake.ingest()

    assert (first.files, first.rows) == (1, 2)
    assert (again.files, again.rows, again.batches, again.snapshots) == (0, 0, 0, [])
    assert len(fixtures_lake.iceberg_table(lake, EVENTS).metadata.snapshots) == snapshots
    assert ids(lake) == [1, 2]


def test_the_same_content_under_another_name_is_skipped_as_a_duplicate(lake, landing, events):
    add_source(lake, "s", landing)
    write_jsonl(landing / "a.jsonl", [event(1), event(2)])
    lake.ingest()
    (landing / "copy-of-a.jsonl").write_bytes((landing / "a.jsonl").read_bytes())

    report = lake.ingest()

    assert (report.files, report.rows, report.duplicate_files) == (0, 0, 1)
    assert ids(lake) == [1, 2]
    assert status_of(lake, "s").files_duplicate == 1


def test_two_identical_files_in_one_batch_are_ingested_once(lake, landing, events):
    add_source(lake, "s", landing)
    write_jsonl(landing / "a.jsonl", [event(1)])
    write_jsonl(landing / "b.jsonl", [event(1)])
    report = lake.ingest()
    assert (report.files, report.duplicate_files) == (1, 1)
    assert ids(lake) == [1]


def test_batch_files_bounds_how_many_files_go_into_one_commit(home, landing, events):
    config = home / "icehouse.toml"
    config.write_text(config.read_text().replace("batch_rows = ", "batch_files = 2\nbatch_rows = "))
    lake = Lake.open(home)
    try:
        add_source(lake, "s", landing)
        for n in range(5):
            write_jsonl(landing / f"f{n}.jsonl", [event(n)])
        report = lake.ingest()
        assert (report.files, report.batches, len(report.snapshots)) == (5, 3, 3)
        assert ids(lake) == [0, 1, 2, 3, 4]
    finally:
        lake.close()


def test_follow_takes_files_as_they_arrive_and_stops_when_told(home, landing, events):
    config = home / "icehouse.toml"
    config.write_text(
        config.read_text()
        .replace('commit_interval = "10s"', 'commit_interval = "0.2s"')
        .replace('poll_interval = "1s"', 'poll_interval = "0.05s"')
    )
    lake = Lake.open(home)
    stop = threading.Event()
    reports = []
    follower = threading.Thread(target=lambda: reports.append(lake.ingest(follow=True, stop=stop)))
    try:
        add_source(lake, "s", landing)
        follower.start()
        for n in range(3):
            write_jsonl(landing / f"f{n}.jsonl", [event(n)])
            deadline = time.monotonic() + 10
            while n not in ids(lake) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert n in ids(lake)
    finally:
        stop.set()
        follower.join(10)
        lake.close()
    assert not follower.is_alive()
    (report,) = reports
    assert (report.files, report.rows) == (3, 3)


def test_sources_of_two_tables_commit_to_each_table(lake, landing, tmp_path, events):
    lake.tables.create("logs.other", schema=fixtures_lake.EVENTS_SCHEMA)
    add_source(lake, "s", landing)
    add_source(lake, "o", tmp_path / "other", table="logs.other")
    write_jsonl(landing / "a.jsonl", [event(1), event(2)])
    write_jsonl(tmp_path / "other" / "b.jsonl", [event(3)])
    report = lake.ingest()
    assert (report.rows, report.batches) == (3, 2)
    assert ids(lake) == [1, 2]
    assert ids(lake, "logs.other") == [3]


def test_tsv_without_a_header_takes_the_configured_field_names(lake, landing, events):
    add_source(
        lake, "t", landing, format="tsv", header=False, fields=["ts", "id", "country", "bytes"]
    )
    (landing / "a.tsv").write_text('2024-06-01T10:00:00Z\t1\t"de\t7\n2024-06-01T11:00:00Z\t2\t\t\n')
    assert lake.ingest().rows == 2
    assert rows_of(lake, f"SELECT id, country, bytes FROM {EVENTS} ORDER BY id") == [
        {"id": 1, "country": '"de', "bytes": 7},
        {"id": 2, "country": None, "bytes": None},
    ]


# --- after success ------------------------------------------------------------------------------


def test_on_success_delete_removes_committed_files_only(lake, landing, events):
    add_source(lake, "s", landing, on_success="delete")
    write_jsonl(landing / "good.jsonl", [event(1)])
    (landing / "empty.jsonl").write_bytes(b"")
    lake.ingest()
    assert sorted(p.name for p in landing.iterdir()) == ["empty.jsonl"]  # quarantined: kept
    assert ids(lake) == [1]
    assert lake.ingest().files == 0


def test_on_success_archive_moves_files_keeping_their_folders(lake, landing, tmp_path, events):
    archive = tmp_path / "archive"
    add_source(lake, "s", landing, on_success="archive", archive=str(archive))
    write_jsonl(landing / "2024" / "06" / "a.jsonl", [event(1)])
    write_jsonl(landing / "b.jsonl", [event(2)])

    lake.ingest()

    assert sorted(str(p.relative_to(archive)) for p in archive.rglob("*.jsonl")) == [
        "2024/06/a.jsonl",
        "b.jsonl",
    ]
    assert list(landing.rglob("*.jsonl")) == []
    assert ids(lake) == [1, 2]
    assert lake.ingest().rows == 0


def test_on_success_keep_leaves_files_in_place(lake, landing, events):
    add_source(lake, "s", landing)
    write_jsonl(landing / "a.jsonl", [event(1)])
    lake.ingest()
    assert (landing / "a.jsonl").exists()


def test_on_success_archive_without_an_archive_folder_is_refused(home, landing):
    from icehouse.errors import InvalidConfig

    config = home / "icehouse.toml"
    config.write_text(
        config.read_text()
        + f'\n[sources.s]\nlocation = "{landing}"\ntable = "{EVENTS}"\nformat = "jsonl"\n'
        + 'on_success = "archive"\n'
    )
    with pytest.raises(InvalidConfig, match="archive"):
        Lake.open(home)


def test_quarantine_records_are_forgotten_after_the_retention(home, landing, events):
    config = home / "icehouse.toml"
    config.write_text(config.read_text().replace('retention = "30d"', 'retention = "1s"'))
    clock = ShiftedClock()
    lake = Lake.open(home, clock=clock)
    try:
        add_source(lake, "s", landing)
        write_jsonl(landing / "a.jsonl", ["{oops", *[event(i) for i in range(1, 21)]])
        lake.ingest()
        assert len(lake.quarantine.list()) == 1
        clock.advance(1.2)

        lake.ingest()

        assert lake.quarantine.list(include_replayed=True) == []
        assert ids(lake) == list(range(1, 21))  # a kept file's ledger is not forgotten
    finally:
        lake.close()


# --- discovery ---------------------------------------------------------------------------------


def test_dotfiles_temporary_and_partial_files_are_never_taken(lake, landing, events):
    add_source(lake, "s", landing, glob="*.jsonl*")
    write_jsonl(landing / "good.jsonl", [event(1)])
    write_jsonl(landing / ".hidden.jsonl", [event(2)])
    write_jsonl(landing / "writing.jsonl.tmp", [event(3)])
    write_jsonl(landing / "upload.jsonl.part", [event(4)])
    write_jsonl(landing / ".staging" / "inside.jsonl", [event(5)])
    write_jsonl(landing / "sub" / "nested.jsonl", [event(6)])
    write_jsonl(landing / "notes.txt", ["not for us"])

    report = lake.ingest()

    assert report.files == 2
    assert ids(lake) == [1, 6]


def test_a_file_younger_than_settle_is_not_taken_until_it_stops_changing(lake, landing, events):
    source = add_source(lake, "s", landing, settle="10s")
    path = write_jsonl(landing / "a.jsonl", [event(1)])
    landed = 1_000_000.0
    set_mtime(path, landed)

    def ingester(now: float) -> Ingester:
        return Ingester(
            config=lake.config,
            engine=fixtures_lake.engine_of(lake),
            catalog=fixtures_lake.catalog_of(lake),
            clock=lambda: now,
        )

    assert ingester(landed + 5).discover([source]) == 1  # still settling
    assert status_of(lake, "s").files_pending == 0
    write_jsonl(path, [event(1), event(2)])  # the writer appends...
    set_mtime(path, landed + 6)
    assert ingester(landed + 12).discover([source]) == 1  # ...so the clock starts again
    assert status_of(lake, "s").files_pending == 0
    assert ingester(landed + 17).discover([source]) == 0
    assert status_of(lake, "s").files_pending == 1

    report = lake.ingest()

    assert report.rows == 2
    assert ids(lake) == [1, 2]


def test_ingest_once_waits_for_a_settling_file_then_takes_it(lake, landing, events):
    add_source(lake, "s", landing, settle="1s")
    write_jsonl(landing / "a.jsonl", [event(1)])
    started = time.monotonic()
    report = lake.ingest()
    assert report.rows == 1
    assert time.monotonic() - started >= 0.5


# --- late data ---------------------------------------------------------------------------------


def test_the_first_ingest_has_no_late_rows_and_rows_go_to_their_day_partitions(
    lake, landing, events
):
    """Out-of-order rows in one batch are not late: nothing was committed before them."""
    add_source(lake, "s", landing)
    write_jsonl(
        landing / "today.jsonl",
        [event(1, day=9), event(2, day=3), event(3, day=9), event(4, day=1), event(5, day=9)],
    )

    report = lake.ingest()

    assert report.late_rows == 0
    partitions = {
        f["partition"]["ts_day"]: f["record_count"]
        for f in data_files(fixtures_lake.iceberg_table(lake, EVENTS))
    }
    assert partitions == {date(2024, 6, 9): 3, date(2024, 6, 3): 1, date(2024, 6, 1): 1}
    summary = fixtures_lake.iceberg_table(lake, EVENTS).current_snapshot().summary
    assert summary.get("icehouse.late-rows") == "0"
    assert summary.get("icehouse.rows") == "5"


def test_late_is_per_source_with_an_allowance(lake, landing, events, tmp_path):
    slow = tmp_path / "slow"
    slow.mkdir()
    add_source(lake, "fast", landing)
    add_source(lake, "slow", slow, late_after="2h")
    write_jsonl(landing / "a.jsonl", [event(1, day=9, hour=12)])
    lake.ingest(["fast"])
    write_jsonl(slow / "a.jsonl", [event(2, day=5, hour=12)])

    assert lake.ingest(["slow"]).late_rows == 0  # behind the fast provider, not late

    write_jsonl(slow / "b.jsonl", [event(3, day=5, hour=11), event(4, day=5, hour=9)])
    assert lake.ingest(["slow"]).late_rows == 1  # 3 h behind its own newest; 1 h is allowed
    summary = fixtures_lake.iceberg_table(lake, EVENTS).current_snapshot().summary
    assert json.loads(summary["icehouse.event-high-water"]) == {
        "fast": int(datetime(2024, 6, 9, 12, tzinfo=UTC).timestamp() * 1_000_000),
        "slow": int(datetime(2024, 6, 5, 12, tzinfo=UTC).timestamp() * 1_000_000),
    }


def test_a_whole_file_of_rows_for_days_the_table_has_passed_counts_as_late(lake, landing, events):
    """A provider re-delivering last week's log today: every row falls in an old
    partition of the table, though the file itself holds only one day."""
    add_source(lake, "s", landing)
    write_jsonl(landing / "today.jsonl", [event(1, day=9), event(2, day=9)])
    assert lake.ingest().late_rows == 0
    write_jsonl(landing / "last-week.jsonl", [event(3, day=2), event(4, day=2), event(5, day=2)])

    report = lake.ingest()

    assert report.late_rows == 3
    day_two = [
        f
        for f in data_files(fixtures_lake.iceberg_table(lake, EVENTS))
        if f["partition"]["ts_day"] == date(2024, 6, 2)
    ]
    assert sum(f["record_count"] for f in day_two) == 3


# --- what commits say --------------------------------------------------------------------------


def test_snapshot_summary_carries_batch_id_and_writer_watermarks(lake, landing, events):
    add_source(lake, "s", landing)
    write_jsonl(landing / "a.jsonl", [event(1)])
    lake.ingest()
    first = fixtures_lake.iceberg_table(lake, EVENTS).current_snapshot().summary
    write_jsonl(landing / "b.jsonl", [event(2)])
    lake.ingest()
    second = fixtures_lake.iceberg_table(lake, EVENTS).current_snapshot().summary

    assert re.fullmatch(r"[0-9a-f]{32}", second.get("icehouse.batch-id"))
    assert first.get("icehouse.batch-id") != second.get("icehouse.batch-id")
    first_marks = json.loads(first.get("icehouse.watermarks"))
    second_marks = json.loads(second.get("icehouse.watermarks"))
    (writer,) = first_marks
    assert second_marks == {writer: first_marks[writer] + 1}


def test_max_snapshots_bounds_history_over_many_small_ingests(lake, landing):
    lake.tables.create(
        EVENTS,
        schema=fixtures_lake.EVENTS_SCHEMA,
        properties={"icehouse.ingest.max-snapshots": "4", **fixtures_lake.NO_READER_GRACE},
    )
    add_source(lake, "s", landing)
    for n in range(12):
        write_jsonl(landing / f"f{n:02d}.jsonl", [event(n)])
        lake.ingest()

    table = fixtures_lake.iceberg_table(lake, EVENTS)
    assert len(table.metadata.snapshots) <= 5
    assert ids(lake) == list(range(12))
    manifest_lists = list(
        (Path(table.location().removeprefix("file://")) / "metadata").glob("snap-*")
    )
    assert len(manifest_lists) == len(table.metadata.snapshots)


def test_one_ingest_of_many_files_commits_one_snapshot(lake, landing, events):
    add_source(lake, "s", landing)
    for n in range(5):
        write_jsonl(landing / f"f{n}.jsonl", [event(n)])
    report = lake.ingest()
    assert (report.files, report.batches, len(report.snapshots)) == (5, 1, 1)
    assert len(fixtures_lake.iceberg_table(lake, EVENTS).metadata.snapshots) == 1


def test_gzip_and_zstd_files_are_read_by_extension_and_by_magic_bytes(lake, landing, events):
    add_source(lake, "s", landing)
    records = "".join(json.dumps(event(i)) + "\n" for i in (1, 2)).encode()
    (landing / "a.jsonl.gz").write_bytes(gzip.compress(records))
    (landing / "b.jsonl.zst").write_bytes(
        zstandard.ZstdCompressor().compress(
            records.replace(b'"id": 1', b'"id": 3').replace(b'"id": 2', b'"id": 4')
        )
    )
    (landing / "c.log").write_bytes(
        gzip.compress(records.replace(b'"id": 1', b'"id": 5').replace(b'"id": 2', b'"id": 6'))
    )
    assert lake.ingest().rows == 6
    assert ids(lake) == [1, 2, 3, 4, 5, 6]


# --- status ------------------------------------------------------------------------------------


def test_status_counts_files_rows_and_quarantine_per_source(lake, landing, tmp_path, events):
    other = tmp_path / "other"
    add_source(lake, "s", landing)
    add_source(lake, "t", other)
    write_jsonl(
        landing / "a.jsonl", [event(1), event(2), "{broken"] + [event(i) for i in range(3, 30)]
    )
    write_jsonl(landing / "b.jsonl", [event(100)])
    (landing / "empty.jsonl").write_bytes(b"")
    before = time.time()
    lake.ingest()
    (landing / "copy.jsonl").write_bytes((landing / "b.jsonl").read_bytes())
    write_jsonl(other / "waiting.jsonl", [event(200)])
    t = lake.sources.get("t")
    Ingester(
        config=lake.config,
        engine=fixtures_lake.engine_of(lake),
        catalog=fixtures_lake.catalog_of(lake),
    ).discover([t])
    lake.ingest(["s"])

    s_status, t_status = status_of(lake, "s"), status_of(lake, "t")
    assert s_status.table == EVENTS
    assert (s_status.files_committed, s_status.rows_committed) == (2, 30)
    assert (s_status.files_quarantined, s_status.lines_quarantined) == (1, 1)
    assert (s_status.files_duplicate, s_status.files_pending) == (1, 0)
    assert s_status.oldest_pending_age_s is None
    assert before <= s_status.last_commit_at <= time.time()
    assert (t_status.files_pending, t_status.files_committed, t_status.last_commit_at) == (
        1,
        0,
        None,
    )
    assert t_status.oldest_pending_age_s is not None and t_status.oldest_pending_age_s >= 0


def test_a_source_whose_files_were_all_quarantined_has_no_last_commit(lake, landing, events):
    add_source(lake, "s", landing)
    (landing / "empty.jsonl").write_bytes(b"")
    assert lake.ingest().snapshots == []
    status = status_of(lake, "s")
    assert (status.files_quarantined, status.files_committed) == (1, 0)
    assert status.last_commit_at is None


def test_ingesting_an_unknown_source_names_the_known_ones(lake, landing, events):
    from icehouse.errors import NoSuchSource

    add_source(lake, "s", landing)
    with pytest.raises(NoSuchSource) as caught:
        lake.ingest(["nope"])
    assert caught.value.message == "no source 'nope' (sources: s)"
