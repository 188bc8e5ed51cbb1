"""A DELETE that races an ingestion commit starts over on the table the ingestion left:
no row is lost or doubled, and the watermarks never go backwards."""

from __future__ import annotations

import json

from pyiceberg.table import Table

from icehouse.tables.deletes import delete_rows
from icehouse.tables.filters import where_expression
from tests import fixtures_lake
from tests.fixtures_lake import EVENTS, add_source, event, ids, write_jsonl

home, lake, landing, events = (
    fixtures_lake.home,
    fixtures_lake.lake,
    fixtures_lake.landing,
    fixtures_lake.events,
)


def watermark_history(table: Table) -> list[dict[str, int]]:
    """The watermarks of each snapshot of ``main``, oldest first."""
    marks = []
    snapshot = table.current_snapshot()
    while snapshot is not None:
        assert snapshot.summary is not None
        marks.append(json.loads(snapshot.summary.get("icehouse.watermarks") or "{}"))
        parent = snapshot.parent_snapshot_id
        snapshot = table.snapshot_by_id(parent) if parent is not None else None
    return marks[::-1]


def test_a_delete_that_loses_the_race_to_an_ingest_starts_over_on_the_new_table(
    lake, landing, events
):
    add_source(lake, "s", landing)
    write_jsonl(landing / "a.jsonl", [event(i) for i in range(1, 11)])
    lake.ingest()
    loads = []

    def load_then_ingest() -> Table:
        """The delete loads the table; then, before it commits, an ingestion commits."""
        table = fixtures_lake.iceberg_table(lake, EVENTS)
        loads.append(table.current_snapshot().snapshot_id)
        if len(loads) == 1:
            write_jsonl(landing / "b.jsonl", [event(i) for i in range(11, 21)])
            assert lake.ingest().rows == 10
        return table

    schema = fixtures_lake.iceberg_table(lake, EVENTS).schema()
    deleted = delete_rows(load_then_ingest, where_expression("id <= 5 OR id > 15", EVENTS, schema))

    assert deleted == 10
    assert len(loads) == 2 and loads[0] != loads[1]
    assert ids(lake) == list(range(6, 16))
    history = watermark_history(fixtures_lake.iceberg_table(lake, EVENTS))
    writer = next(iter(history[-1]))
    seqs = [marks.get(writer, 0) for marks in history]
    assert seqs == sorted(seqs) and seqs[-1] == 2
    assert lake.ingest().rows == 0  # nothing re-ingested


def test_deletes_between_ingests_keep_every_other_row_exactly_once(lake, landing, events):
    add_source(lake, "s", landing)
    for batch in range(4):
        first = 10 * batch + 1
        write_jsonl(landing / f"{batch}.jsonl", [event(i) for i in range(first, first + 10)])
        lake.ingest()
        assert lake.delete(EVENTS, f"id = {first}") == 1
    assert ids(lake) == [i for i in range(1, 41) if i % 10 != 1]
    seqs = [
        marks.get(next(iter(marks)), 0) if marks else 0
        for marks in watermark_history(fixtures_lake.iceberg_table(lake, EVENTS))
    ]
    assert seqs == sorted(seqs) and seqs[-1] == 4
