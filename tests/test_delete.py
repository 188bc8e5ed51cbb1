"""DELETE FROM removes exactly the matching rows in one snapshot, keeps exactly-once
bookkeeping intact, and refuses what it cannot translate exactly."""

from __future__ import annotations

import json

import pytest

from icehouse.errors import FilterNotTranslatable, QueryError
from tests import fixtures_lake
from tests.fixtures_lake import EVENTS, add_source, append_batches, event, ids, write_jsonl

home, lake, landing, events = (
    fixtures_lake.home,
    fixtures_lake.lake,
    fixtures_lake.landing,
    fixtures_lake.events,
)


@pytest.fixture
def ingested(lake, landing, events):  # type: ignore[no-untyped-def]
    add_source(lake, "s", landing)
    write_jsonl(landing / "a.jsonl", [event(i, day=1 + i % 3) for i in range(1, 31)])
    lake.ingest()
    return lake


def test_deleting_one_tenant_removes_exactly_its_rows(ingested):
    deleted = ingested.delete(EVENTS, "id IN (3, 4, 5) AND ts >= '2024-06-01'")
    assert deleted == 3
    assert ids(ingested) == [i for i in range(1, 31) if i not in (3, 4, 5)]


def test_delete_through_sql_reports_the_count_and_keeps_the_watermarks(ingested):
    before = (
        fixtures_lake.iceberg_table(ingested, EVENTS)
        .current_snapshot()
        .summary["icehouse.watermarks"]
    )
    result = ingested.sql(f"DELETE FROM {EVENTS} WHERE id <= 10")
    assert result.to_pylist() == [{"deleted_rows": 10}]
    summary = fixtures_lake.iceberg_table(ingested, EVENTS).current_snapshot().summary
    assert json.loads(summary["icehouse.watermarks"]) == json.loads(before)
    assert ids(ingested) == list(range(11, 31))


def test_a_where_that_cannot_be_translated_exactly_is_refused_naming_the_term(ingested):
    with pytest.raises(QueryError, match="DELETE supports WHERE terms") as raised:
        ingested.sql(f"DELETE FROM {EVENTS} WHERE id = 1 OR id % 2 = 0")
    assert raised.value.message.endswith("cannot translate: (id % 2) = 0")
    with pytest.raises(FilterNotTranslatable) as refused:
        ingested.delete(EVENTS, "id < 3 AND lower(country) = 'de'")
    assert refused.value.term == "lower(country) = 'de'"
    assert len(ids(ingested)) == 30


def test_or_and_not_delete_exactly_the_rows_sql_selects(ingested):
    assert ingested.delete(EVENTS, "id = 1 OR id = 2") == 2
    assert ingested.delete(EVENTS, "NOT (id > 5)") == 3
    assert ids(ingested) == list(range(6, 31))


@pytest.mark.parametrize(
    ("sql", "verb"),
    [
        (f"INSERT INTO {EVENTS} VALUES (1)", "INSERT"),
        (f"UPDATE {EVENTS} SET id = 1", "UPDATE"),
        (f"DROP TABLE {EVENTS}", "DROP"),
    ],
)
def test_other_statements_that_change_data_say_they_are_not_supported(ingested, sql, verb):
    with pytest.raises(QueryError, match=f"{verb} is not supported"):
        ingested.sql(sql)


def test_delete_without_where_is_refused(ingested):
    with pytest.raises(QueryError, match="DELETE needs a WHERE clause"):
        ingested.sql(f"DELETE FROM {EVENTS}")


def test_ingestion_after_a_delete_goes_on_exactly_once(ingested, landing):
    ingested.delete(EVENTS, "id > 20")
    write_jsonl(landing / "b.jsonl", [event(i) for i in range(100, 105)])
    assert ingested.ingest().rows == 5
    assert ingested.ingest().rows == 0
    assert ids(ingested) == [*range(1, 21), *range(100, 105)]


def test_a_delete_after_another_writer_carries_no_missing_key_as_null(lake, events):
    """A snapshot without icehouse's ingestion keys (another writer's) hands none on:
    the delete's snapshot summary in the metadata file holds strings only, as other
    Iceberg engines require."""
    append_batches(lake, days=(1,), per_day=1)
    assert lake.delete(EVENTS, "country = 'de'") > 0
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    with table.io.new_input(table.metadata_location).open() as stream:
        metadata = json.loads(stream.read())
    (summary,) = [
        s["summary"]
        for s in metadata["snapshots"]
        if s["snapshot-id"] == metadata["current-snapshot-id"]
    ]
    assert summary["operation"] == "overwrite"
    assert {k: v for k, v in summary.items() if not isinstance(v, str)} == {}
    assert not any(key.startswith("icehouse.") for key in summary)
