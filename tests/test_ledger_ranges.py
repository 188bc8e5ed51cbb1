"""A listing larger than the ledger cache is checked against ``ingest_files`` by ranges
of sorted paths, one query per range, on SQLite and PostgreSQL: a known (path,
fingerprint) is never queued again, a changed fingerprint is, a source never sees
another's files, the paths at the ranges' edges are found by their own range, and a
database that orders text unlike Python (a language collation) still finds every known
path. The cache keeps serving the small polls it held before the listing."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from sqlalchemy import Engine, event

from icehouse.ingest.landing import LandedFile
from icehouse.ingest.ledger import COMMITTED, PENDING, FileQueue
from icehouse.state import models
from icehouse.state.database import migrate, open_engine

LISTED = 350
PER_RANGE = 100
RANGES = 4
"""350 listed paths, 100 a range: three full ranges and a short last one."""
EDGES = [0, 99, 100, 199, 200, 299, 300, 349]
"""The first and last path of every range."""


def listing(count: int = LISTED, *, prefix: str = "landing/", size: int = 10) -> list[LandedFile]:
    return [LandedFile(path=f"{prefix}{i:04d}.jsonl", size=size, mtime=1.0) for i in range(count)]


def small_queue(engine: Engine) -> FileQueue:
    """A queue whose cache holds 10 paths, so that a listing of hundreds is checked by
    ranges of ``PER_RANGE`` paths."""
    migrate(engine)
    return FileQueue(engine, cache_paths=10, paths_per_range=PER_RANGE)


@contextlib.contextmanager
def ledger_reads(engine: Engine) -> Iterator[list[str]]:
    """The statements run on ``ingest_files`` inside the block."""
    seen: list[str] = []

    def noted(*args: object) -> None:
        statement = str(args[2])
        if "ingest_files" in statement:
            seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", noted)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", noted)


def range_reads(statements: list[str]) -> list[str]:
    return [s for s in statements if s.startswith("SELECT") and ">=" in s and "<=" in s]


def commit_all(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(sa.update(models.files).values(state=COMMITTED))


def rows_by_state(engine: Engine, source: str) -> dict[str, int]:
    with engine.connect() as conn:
        return dict(
            conn.execute(
                sa.select(models.files.c.state, sa.func.count())
                .where(models.files.c.source == source)
                .group_by(models.files.c.state)
            ).all()
        )


def test_a_listing_larger_than_the_cache_is_queued_once(state_engine: Engine) -> None:
    queue = small_queue(state_engine)
    assert queue.register("logs", listing()) == (LISTED, [])
    with ledger_reads(state_engine) as statements:
        assert queue.register("logs", listing()) == (0, [])
    assert len(range_reads(statements)) == RANGES
    assert statements == range_reads(statements)  # nothing looked up by name, no insert
    assert rows_by_state(state_engine, "logs") == {PENDING: LISTED}


def test_a_changed_fingerprint_at_a_range_edge_is_queued(state_engine: Engine) -> None:
    queue = small_queue(state_engine)
    queue.register("logs", listing())
    commit_all(state_engine)
    relisted = listing()
    for i in EDGES:
        relisted[i] = LandedFile(path=relisted[i].path, size=99, mtime=2.0)
    with ledger_reads(state_engine) as statements:
        queued, committed = queue.register("logs", relisted, report_committed=True)
    assert queued == len(EDGES)
    assert committed == [f.path for i, f in enumerate(relisted) if i not in EDGES]
    assert rows_by_state(state_engine, "logs") == {COMMITTED: LISTED, PENDING: len(EDGES)}
    # Every edge path was returned by its own range: none had to be looked up by name.
    assert [s for s in statements if s.startswith("SELECT")] == range_reads(statements)
    assert len(range_reads(statements)) == RANGES  # one read answers both


def test_a_new_path_between_known_ones_is_queued(state_engine: Engine) -> None:
    queue = small_queue(state_engine)
    known = listing()
    queue.register("logs", known[::2])
    queue.register("logs", known[1::2][:100])
    assert queue.register("logs", known) == (LISTED - LISTED // 2 - 100, [])
    assert queue.register("logs", known) == (0, [])
    assert rows_by_state(state_engine, "logs") == {PENDING: LISTED}


def test_sources_with_the_same_paths_do_not_mix(state_engine: Engine) -> None:
    queue = small_queue(state_engine)
    assert queue.register("logs", listing()) == (LISTED, [])
    assert queue.register("logs2", listing()) == (LISTED, [])
    assert queue.register("log", listing(size=11)) == (LISTED, [])
    commit_all(state_engine)
    assert queue.register("logs2", listing(), report_committed=True) == (
        0,
        [f.path for f in listing()],
    )
    assert queue.register("log", listing(), report_committed=True) == (LISTED, [])
    assert rows_by_state(state_engine, "log") == {COMMITTED: LISTED, PENDING: LISTED}


def test_a_big_listing_leaves_the_cache_to_the_small_polls(state_engine: Engine) -> None:
    """A small source's files, polled again and again, stay cached while a big
    source's known listing goes by: the big one is read by ranges, not remembered."""
    queue = small_queue(state_engine)
    small = listing(5, prefix="hot/")
    queue.register("logs", listing())
    assert queue.register("other", small) == (5, [])
    assert queue.register("logs", listing()) == (0, [])
    with ledger_reads(state_engine) as statements:
        assert queue.register("other", small) == (0, [])
    assert statements == []


def test_a_cold_cache_reads_a_listing_it_can_hold_by_name_then_serves_it(
    state_engine: Engine,
) -> None:
    """A restarted worker's first poll of a listing its cache can hold looks its paths
    up by name, never by ranges, and remembers them: the next poll costs no query."""
    small_queue(state_engine).register("logs", listing())
    restarted = FileQueue(state_engine, cache_paths=1000, paths_per_range=PER_RANGE)
    with ledger_reads(state_engine) as statements:
        assert restarted.register("logs", listing()) == (0, [])
    assert statements and range_reads(statements) == []
    with ledger_reads(state_engine) as statements:
        assert restarted.register("logs", listing()) == (0, [])
    assert statements == []


def test_new_paths_spread_over_a_large_ledger_are_looked_up_by_name(
    state_engine: Engine,
) -> None:
    """New files among many known ones (uuid-like names that sort anywhere): more than
    a range's worth of paths the cache lacks are looked up by name, since a range
    between the first and the last would read every known row in between."""
    small_queue(state_engine).register("logs", listing(2000, prefix="landing/a"))
    restarted = FileQueue(state_engine, cache_paths=1000, paths_per_range=PER_RANGE)
    spread = [f for i, f in enumerate(listing(2000, prefix="landing/b")) if i % 10 == 0]
    with ledger_reads(state_engine) as statements:
        assert restarted.register("logs", spread) == (len(spread), [])
    assert range_reads(statements) == []


@pytest.mark.postgres
def test_a_collation_that_sorts_unlike_python_finds_every_known_path(
    postgres_url: str,
) -> None:
    """On a database created with a language's collation, ``a`` sorts before ``B``: a
    range from ``B…`` to ``a…`` (Python's order) holds nothing there, and its paths are
    looked up by name."""
    engine = open_engine(postgres_url)
    try:
        migrate(engine)
        with engine.begin() as conn:
            conn.execute(
                sa.text('ALTER TABLE ingest_files ALTER COLUMN path TYPE text COLLATE "en-x-icu"')
            )
        queue = FileQueue(engine, cache_paths=10, paths_per_range=PER_RANGE)
        landed = listing(60, prefix="B") + listing(60, prefix="a")
        assert queue.register("logs", landed) == (120, [])
        with engine.connect() as conn:
            ordered = conn.execute(
                sa.select(models.files.c.path).order_by(models.files.c.path)
            ).scalars()
            assert next(iter(ordered)) == "a0000.jsonl"  # not Python's "B0000.jsonl"
        commit_all(engine)
        assert queue.register("logs", landed, report_committed=True) == (
            0,
            [f.path for f in landed],
        )
    finally:
        engine.dispose()
