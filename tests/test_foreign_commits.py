"""Other writers are welcome: a snapshot that PyIceberg (later Spark, DuckDB, the REST
server's clients) commits through the lake's catalog keeps the ingestion keys, cannot
forge them, and never makes a recovery lose or double rows."""

from __future__ import annotations

import datetime as dt
import json
from datetime import timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from pyiceberg.catalog.sql import SqlCatalog

from icehouse.ingest.faults import SimulatedCrash
from icehouse.lake import Lake
from icehouse.maintain.expire import expire_snapshots
from icehouse.state.home import warehouse_uri
from tests import fixtures_lake
from tests.fixtures_lake import EVENTS, add_source, event, ids, write_jsonl

home, lake, landing, events = (
    fixtures_lake.home,
    fixtures_lake.lake,
    fixtures_lake.landing,
    fixtures_lake.events,
)


def summary_of(lake: Lake) -> dict[str, str]:
    snapshot = fixtures_lake.iceberg_table(lake, EVENTS).current_snapshot()
    assert snapshot is not None and snapshot.summary is not None
    return dict(snapshot.summary.additional_properties)


def foreign_append(lake: Lake, *row_ids: int, properties: dict[str, str] | None = None) -> None:
    """A plain PyIceberg append on a table loaded from the lake's catalog, as any
    engine would make it."""
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    rows = pa.table(
        {
            "ts": [dt.datetime(2024, 6, 1, 8, tzinfo=dt.UTC)] * len(row_ids),
            "id": list(row_ids),
            "country": ["xx"] * len(row_ids),
            "bytes": [0] * len(row_ids),
        },
        schema=table.schema().as_arrow(),
    )
    table.append(rows, snapshot_properties=properties or {})


def test_a_pyiceberg_append_between_two_ingests_keeps_watermarks_and_high_water(
    lake, landing, events
):
    add_source(lake, "s", landing, late_after="2h")
    write_jsonl(landing / "a.jsonl", [event(1, day=9, hour=12)])
    lake.ingest()
    ingested = summary_of(lake)

    foreign_append(lake, 100)

    carried = summary_of(lake)
    for key in ("icehouse.watermarks", "icehouse.event-high-water", "icehouse.batch-id"):
        assert carried[key] == ingested[key]
    write_jsonl(landing / "a.jsonl", [event(1, day=9, hour=12)])  # the same file again
    write_jsonl(landing / "b.jsonl", [event(2, day=9, hour=6)])  # 6 h behind: late
    report = lake.ingest()
    assert (report.rows, report.late_rows) == (1, 1)
    assert ids(lake) == [1, 2, 100]
    assert json.loads(summary_of(lake)["icehouse.watermarks"]) == {
        w: s + 1 for w, s in json.loads(ingested["icehouse.watermarks"]).items()
    }


def test_icehouse_keys_sent_by_a_foreign_commit_are_dropped(lake, landing, events):
    add_source(lake, "s", landing)
    write_jsonl(landing / "a.jsonl", [event(1)])
    lake.ingest()
    ingested = summary_of(lake)

    foreign_append(
        lake,
        100,
        properties={
            "icehouse.watermarks": json.dumps({"w1": 10**9, "forged": 5}),
            "icehouse.event-high-water": json.dumps({"s": 0}),
            "icehouse.batch-id": "forged",
            "icehouse.rows": "999",
            "engine.note": "kept",
        },
    )

    summary = summary_of(lake)
    assert {k: v for k, v in summary.items() if k.startswith("icehouse.")} == {
        k: ingested[k]
        for k in (
            "icehouse.watermarks",
            "icehouse.event-high-water",
            "icehouse.batch-id",
            "icehouse.batch-ids",
        )
    }
    assert summary["engine.note"] == "kept"


def test_a_foreign_commit_on_a_table_with_no_ingestion_adds_no_icehouse_keys(lake, events):
    foreign_append(lake, 1, properties={"icehouse.watermarks": '{"w1": 3}'})
    assert not [k for k in summary_of(lake) if k.startswith("icehouse.")]


def test_crash_after_commit_then_a_foreign_commit_and_expiry_loses_and_doubles_nothing(
    home: Path, landing: Path
) -> None:
    """The batch committed, the process died before the ledger knew; another engine
    appended, and expiry removed the batch's own snapshot: only the carried watermark
    still says the batch committed. Recovery must settle it, not delete its files."""
    setup = Lake.open(home)
    setup.tables.create(
        EVENTS,
        schema=fixtures_lake.EVENTS_SCHEMA,
        partition=["day(ts)"],
        properties=fixtures_lake.NO_READER_GRACE,  # expiry may take the batch's snapshot
    )
    add_source(setup, "s", landing)
    write_jsonl(landing / "a.jsonl", [event(1), event(2)])
    setup.ingest()
    setup.close()

    def crash(point: str) -> None:
        if point == "batch.committed":
            raise SimulatedCrash(point)

    crashing = Lake.open(home, faults=crash)
    write_jsonl(landing / "b.jsonl", [event(3)])
    with pytest.raises(SimulatedCrash):
        crashing.ingest()
    crashing.close()

    lake = Lake.open(home)
    try:
        foreign_append(lake, 100)
        expired = expire_snapshots(
            fixtures_lake.iceberg_table(lake, EVENTS), older_than=timedelta(0)
        )
        assert len(expired.expired_snapshot_ids) == 2  # the batch's snapshot among them
        report = lake.ingest()
        assert (report.recovered_committed, report.recovered_aborted, report.rows) == (1, 0, 0)
        write_jsonl(landing / "c.jsonl", [event(4)])
        assert lake.ingest().rows == 1
        assert ids(lake) == [1, 2, 3, 4, 100]
    finally:
        lake.close()


def test_recovery_never_deletes_a_file_the_table_references(
    home: Path, landing: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A catalog that carries nothing (Spark's JDBC catalog on the same rows, here plain
    PyIceberg) appended after the crash, and expiry took the batch's snapshot: the
    summary no longer names the batch, but the table still reads its file."""
    setup = Lake.open(home)
    setup.tables.create(
        EVENTS,
        schema=fixtures_lake.EVENTS_SCHEMA,
        partition=["day(ts)"],
        properties=fixtures_lake.NO_READER_GRACE,  # expiry may take the batch's snapshot
    )
    add_source(setup, "s", landing)

    def crash(point: str) -> None:
        if point == "batch.committed":
            raise SimulatedCrash(point)

    setup.close()
    crashing = Lake.open(home, faults=crash)
    write_jsonl(landing / "a.jsonl", [event(1), event(2)])
    with pytest.raises(SimulatedCrash):
        crashing.ingest()
    crashing.close()

    lake = Lake.open(home)
    try:
        plain = SqlCatalog(
            "icehouse", uri=lake.config.state_url, warehouse=warehouse_uri(lake.config.warehouse)
        )
        table = plain.load_table(EVENTS)
        table.append(
            pa.table(
                {
                    "ts": [dt.datetime(2024, 6, 1, tzinfo=dt.UTC)],
                    "id": [100],
                    "country": ["x"],
                    "bytes": [0],
                },
                schema=table.schema().as_arrow(),
            )
        )
        expire_snapshots(fixtures_lake.iceberg_table(lake, EVENTS), older_than=timedelta(0))
        assert "icehouse.watermarks" not in summary_of(lake)

        report = lake.ingest()

        assert (report.recovered_committed, report.recovered_aborted, report.rows) == (1, 0, 0)
        assert ids(lake) == [1, 2, 100]
        assert "settled as committed, files kept" in caplog.text
    finally:
        lake.close()
