"""Claims: a claim takes a few of the oldest pending files in one statement, sized by
bytes (a small target, and a hard bound: the room its batch has left), and on PostgreSQL
skips files another worker is claiming. A batch never holds more than ``batch_rows``
rows unless a single file does."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine

from icehouse.ingest.landing import LandedFile
from icehouse.ingest.ledger import CLAIMED, PENDING, BatchLog, FileQueue, WriterSlots
from icehouse.lake import Lake
from icehouse.state import models
from icehouse.state.database import migrate
from tests import fixtures_lake
from tests.test_exactly_once import ids_in_table, make_lake, write_events


def queue_of(engine: Engine, sizes: list[int]) -> FileQueue:
    """A queue holding one pending file per size, oldest first (``f00``, ``f01``, ...),
    and two open batches to claim them, ``b1`` and ``b2``."""
    migrate(engine)
    queue = FileQueue(engine)
    landed = [
        LandedFile(path=f"f{i:02d}", size=size, mtime=1000.0 + i) for i, size in enumerate(sizes)
    ]
    queue.register("s", landed)
    open_batches(engine, ["b1", "b2"])
    return queue


def open_batches(engine: Engine, batch_ids: list[str]) -> None:
    """Open batches under one writer slot: a claim takes files only for an open batch."""
    writer, _ = WriterSlots(engine).acquire("test-host:1")
    for batch_id in batch_ids:
        BatchLog(engine).open(batch_id, "logs.events", writer)


def paths(claimed: list[object]) -> list[str]:
    return [row.path for row in claimed]  # type: ignore[attr-defined]


def test_a_claim_takes_the_oldest_files_up_to_its_byte_target(state_engine: Engine) -> None:
    queue = queue_of(state_engine, [100, 100, 100, 100, 100])
    assert paths(queue.claim("b1", ["s"], 10, byte_target=250)) == ["f00", "f01"]
    assert paths(queue.claim("b2", ["s"], 10, byte_target=300)) == ["f02", "f03", "f04"]


def test_a_claim_takes_one_file_larger_than_its_byte_target(state_engine: Engine) -> None:
    queue = queue_of(state_engine, [500, 100])
    assert paths(queue.claim("b1", ["s"], 10, byte_target=200)) == ["f00"]


def test_a_claim_takes_no_file_past_the_room_its_batch_has_left(state_engine: Engine) -> None:
    queue = queue_of(state_engine, [300, 100])
    assert queue.claim("b1", ["s"], 10, byte_target=1000, byte_room=200) == []
    assert paths(queue.claim("b1", ["s"], 10, byte_target=1000, byte_room=400)) == ["f00", "f01"]


def test_a_claim_takes_at_most_its_file_limit(state_engine: Engine) -> None:
    queue = queue_of(state_engine, [1] * 6)
    assert paths(queue.claim("b1", ["s"], 4)) == ["f00", "f01", "f02", "f03"]
    with state_engine.connect() as conn:
        states = dict(
            conn.execute(
                sa.select(models.files.c.state, sa.func.count()).group_by(models.files.c.state)
            ).all()
        )
    assert states == {CLAIMED: 4, PENDING: 2}


@pytest.mark.postgres
def test_a_claim_on_postgresql_skips_the_files_another_worker_is_claiming(
    postgres_url: str,
) -> None:
    """Without SKIP LOCKED the claim would wait for the other transaction (and fail on
    the lock timeout here); with it, it takes the next files."""
    setup = sa.create_engine(postgres_url)
    claimer = sa.create_engine(postgres_url, connect_args={"options": "-c lock_timeout=3000"})
    try:
        queue = queue_of(setup, [100] * 6)
        files = models.files
        with setup.begin() as other:
            other.execute(
                sa.select(files.c.id).order_by(files.c.mtime, files.c.id).limit(2).with_for_update()
            ).all()
            claimed = FileQueue(claimer).claim("b1", ["s"], 3)
        assert paths(claimed) == ["f02", "f03", "f04"]
        assert paths(queue.claim("b2", ["s"], 10)) == ["f00", "f01", "f05"]
    finally:
        claimer.dispose()
        setup.dispose()


def set_ingest(home: Path, **values: int) -> None:
    """Change keys of ``[ingest]`` in the home's ``icehouse.toml``."""
    config = home / "icehouse.toml"
    lines = config.read_text().splitlines()
    for key, value in values.items():
        lines = [f"{key} = {value}" if line.startswith(f"{key} =") else line for line in lines]
    config.write_text("\n".join(lines) + "\n")


def rows_per_snapshot(lake: Lake) -> list[int]:
    table = fixtures_lake.iceberg_table(lake, "logs.events")
    return [int(s.summary["added-records"]) for s in table.snapshots() if s.summary]


def test_no_batch_holds_more_than_batch_rows_unless_a_single_file_does(tmp_path: Path) -> None:
    home = tmp_path / "lake"
    make_lake(home).close()
    set_ingest(home, batch_rows=2500)
    landing = home / "landing"
    for n in range(7):
        write_events(landing, f"f{n:02d}.jsonl.gz", n * 1000, 1000)
    write_events(landing, "f07.jsonl.gz", 7000, 3000)  # larger than a whole batch

    lake = Lake.open(home)
    report = lake.ingest()

    assert report.rows == 10_000
    assert ids_in_table(lake) == list(range(10_000))
    batches = rows_per_snapshot(lake)
    assert sum(batches) == 10_000
    assert 3000 in batches  # the large file, alone in its batch
    assert all(rows <= 2500 for rows in batches if rows != 3000), batches
