"""A DELETE that races an ingestion commit starts over on the table the ingestion left:
no row is lost or doubled, and the watermarks never go backwards."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pyiceberg.table import Table

from icehouse.lake import Lake
from icehouse.tables.deletes import delete_rows
from icehouse.tables.filters import where_expression
from tests import fixtures_lake
from tests.fixtures_lake import EVENTS, add_source, event, ids, write_jsonl
from tests.test_exactly_once import ids_in_table, make_lake, write_events

home, lake, landing, events = (
    fixtures_lake.home,
    fixtures_lake.lake,
    fixtures_lake.landing,
    fixtures_lake.events,
)
FILES = 12
PER_FILE = 20


def wait_for_row(lake: Lake, row_id: int) -> None:
    for _ in range(600):
        found = lake.sql(f"SELECT count(*) AS n FROM logs.events WHERE id = {row_id}")
        if found.column("n").to_pylist() == [1]:
            return
        time.sleep(0.05)
    raise AssertionError(f"row {row_id} was not ingested within 30 s")


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


@pytest.mark.slow
def test_deletes_during_ingest_follow_lose_and_double_nothing(tmp_path: Path) -> None:
    """A real ``ingest --follow`` process commits every 0.2 s while DELETEs run here:
    whichever wins each race, every row not deleted is there once, and no snapshot's
    watermark is below its parent's."""
    home = tmp_path / "lake"
    make_lake(home, commit_interval="0.2s").close()
    env = {**os.environ, "ICEHOUSE_HOME": str(home)}
    env.pop("ICEHOUSE_FAULT", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "icehouse", "ingest", "--follow"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    lake = Lake.open(home)
    try:
        deleted = 0
        for n in range(FILES):
            write_events(home / "landing", f"f{n:03d}.jsonl.gz", n * PER_FILE, PER_FILE)
            if n:  # a row of the file before, while this one is being ingested
                wait_for_row(lake, (n - 1) * PER_FILE)
                deleted += lake.delete("logs.events", f"id = {(n - 1) * PER_FILE}")
        last = (FILES - 1) * PER_FILE
        wait_for_row(lake, last)
    finally:
        process.terminate()
        assert process.wait(timeout=60) == 0, process.stderr.read().decode()  # type: ignore[union-attr]
    try:
        assert deleted == FILES - 1
        expected = [i for i in range(FILES * PER_FILE) if i % PER_FILE or i == last]
        assert ids_in_table(lake) == expected
        history = watermark_history(fixtures_lake.iceberg_table(lake, "logs.events"))
        for earlier, later in itertools.pairwise(history):
            assert all(later.get(w, 0) >= seq for w, seq in earlier.items())
    finally:
        lake.close()
