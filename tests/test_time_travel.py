"""Time travel in SQL: FOR VERSION AS OF (id, tag, branch) and FOR TIMESTAMP AS OF."""

from __future__ import annotations

import datetime as dt

import pytest

from icehouse.errors import QueryError
from tests import fixtures_lake
from tests.fixtures_lake import EVENTS, add_source, event, write_jsonl

home, lake, landing, events = (
    fixtures_lake.home,
    fixtures_lake.lake,
    fixtures_lake.landing,
    fixtures_lake.events,
)


@pytest.fixture
def two_snapshots(lake, landing, events):  # type: ignore[no-untyped-def]
    add_source(lake, "s", landing)
    write_jsonl(landing / "a.jsonl", [event(1), event(2)])
    lake.ingest()
    write_jsonl(landing / "b.jsonl", [event(3)])
    lake.ingest()
    return [s.snapshot_id for s in lake.tables.history(EVENTS)]


def count(lake, sql: str) -> int:  # type: ignore[no-untyped-def]
    return lake.sql(sql).column(0)[0].as_py()


def test_for_version_as_of_a_snapshot_id_reads_that_snapshot(lake, two_snapshots):
    first, second = two_snapshots
    assert count(lake, f"SELECT count(*) FROM {EVENTS} FOR VERSION AS OF {first}") == 2
    assert count(lake, f"SELECT count(*) FROM {EVENTS} FOR VERSION AS OF {second}") == 3
    assert count(lake, f"SELECT count(*) FROM {EVENTS}") == 3


def test_old_and_new_versions_join_in_one_query(lake, two_snapshots):
    first, _ = two_snapshots
    added = lake.sql(
        f"SELECT n.id FROM {EVENTS} n LEFT JOIN {EVENTS} FOR VERSION AS OF {first} o "
        "USING (id) WHERE o.id IS NULL"
    )
    assert added.column("id").to_pylist() == [3]


def test_for_version_as_of_a_tag_name(lake, two_snapshots):
    first, _ = two_snapshots
    fixtures_lake.iceberg_table(lake, EVENTS).manage_snapshots().create_tag(
        first, "before-b"
    ).commit()
    assert count(lake, f"SELECT count(*) FROM {EVENTS} FOR VERSION AS OF 'before-b'") == 2


def test_for_timestamp_as_of_reads_the_snapshot_current_then(lake, two_snapshots):
    history = lake.tables.history(EVENTS)
    between = dt.datetime.fromtimestamp(history[1].timestamp_ms / 1000 - 0.0005, tz=dt.UTC)
    sql = f"SELECT count(*) FROM {EVENTS} FOR TIMESTAMP AS OF '{between.isoformat()}'"
    assert count(lake, sql) == 2


def test_unknown_versions_and_times_are_clear_errors(lake, two_snapshots):
    with pytest.raises(QueryError, match="has no snapshot 42"):
        lake.sql(f"SELECT count(*) FROM {EVENTS} FOR VERSION AS OF 42")
    with pytest.raises(QueryError, match="has no tag or branch 'nope'"):
        lake.sql(f"SELECT count(*) FROM {EVENTS} FOR VERSION AS OF 'nope'")
    with pytest.raises(QueryError, match="had no snapshot yet at 2001-01-01"):
        lake.sql(f"SELECT count(*) FROM {EVENTS} FOR TIMESTAMP AS OF '2001-01-01'")
