"""A failure after the catalog accepted a commit never deletes what that commit references.

Each test lets the real catalog commit and then raises (as a second Ctrl-C, SIGTERM
through the stop handlers, or a broken connection would) and checks that the exception
reaches the caller, that PyIceberg and ``lake.sql`` still read the expected rows, that
every file the table references exists, and that the next ingest or maintenance run works.
A failure *before* the catalog accepted still deletes what the attempt wrote.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import sqlalchemy.exc
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.table import Table

from icehouse.errors import CommitRaced, CommitUncertain
from icehouse.ingest.ledger import BatchLog
from icehouse.lake import Lake
from icehouse.tables.append import fast_append
from icehouse.tables.catalog import LakeCatalog
from icehouse.tables.history import commit_expiry
from icehouse.tables.outcome import Outcome, outcome_in
from icehouse.tables.reachability import normalise_path, reachable_from
from icehouse.tables.writer import TableWriter
from tests import fixtures_lake
from tests.fixtures_lake import (
    EVENTS,
    EVENTS_SCHEMA,
    NO_READER_GRACE,
    add_source,
    append_batches,
    event,
    ids,
    write_jsonl,
)

home, lake, landing, events = (
    fixtures_lake.home,
    fixtures_lake.lake,
    fixtures_lake.landing,
    fixtures_lake.events,
)

INTERRUPTIONS = [KeyboardInterrupt, RuntimeError]
JUNE_FIRST = dt.datetime(2024, 6, 1, 10, tzinfo=dt.UTC)
REAL_COMMIT = LakeCatalog.commit_table


class AfterCommit:
    """Patches the catalog's ``commit_table``: the next commit lands, then ``raises``."""

    def __init__(self, raises: type[BaseException], then: Callable[[], None] | None = None) -> None:
        self.raises = raises
        self.then = then
        self.armed = True
        self.landed: list[int | None] = []

    def commit_table(self, catalog: LakeCatalog, table: Table, *args: Any) -> Any:
        response = REAL_COMMIT(catalog, table, *args)
        if not self.armed:
            return response
        self.armed = False
        self.landed.append(response.metadata.current_snapshot_id)
        if self.then is not None:
            self.then()
        raise self.raises("interrupted right after the catalog accepted the commit")


@pytest.fixture
def after_commit(monkeypatch: pytest.MonkeyPatch) -> Callable[..., AfterCommit]:
    """Arms an ``AfterCommit`` on the catalog class (every ``Lake`` in the test uses it)."""

    def arm(raises: type[BaseException], then: Callable[[], None] | None = None) -> AfterCommit:
        hook = AfterCommit(raises, then)

        def commit_table(catalog: LakeCatalog, table: Table, *args: Any) -> Any:
            return hook.commit_table(catalog, table, *args)

        monkeypatch.setattr(LakeCatalog, "commit_table", commit_table)
        return hook

    return arm


def assert_intact(lake: Lake, expected_rows: int) -> None:
    """Readable by PyIceberg and by ``lake.sql``, and every referenced file exists."""
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    missing = [
        ref.path
        for ref in reachable_from(table).files.values()
        if not Path(normalise_path(ref.path)).exists()
    ]
    assert missing == []
    assert table.scan().to_arrow().num_rows == expected_rows
    assert lake.sql(f"SELECT count(*) AS n FROM {EVENTS}").column("n")[0].as_py() == expected_rows


def metadata_files(table: Table) -> set[Path]:
    return set((Path(normalise_path(table.location())) / "metadata").iterdir())


def one_append(lake: Lake, first: int, count: int = 5) -> None:
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    writer = TableWriter(table)
    rows = pa.table(
        {
            "ts": pa.array([JUNE_FIRST] * count, pa.timestamp("us", tz="UTC")),
            "id": pa.array(range(first, first + count), pa.int64()),
            "country": ["de"] * count,
            "bytes": pa.array([100] * count, pa.int64()),
        }
    )
    writer.write(rows)
    fast_append(table, writer.close(), properties={})


# -- appends ---------------------------------------------------------------------------


@pytest.mark.parametrize("raises", INTERRUPTIONS)
def test_an_append_interrupted_after_the_catalog_accepted_keeps_its_snapshot(
    lake: Lake, events: Table, after_commit: Callable[..., AfterCommit], raises: type
) -> None:
    one_append(lake, 0)
    hook = after_commit(raises)

    with pytest.raises(raises):
        one_append(lake, 100)

    assert (
        fixtures_lake.iceberg_table(lake, EVENTS).current_snapshot().snapshot_id == hook.landed[0]
    )  # type: ignore[union-attr]
    assert_intact(lake, 10)
    one_append(lake, 200)
    assert_intact(lake, 15)


@pytest.mark.parametrize("raises", INTERRUPTIONS)
def test_an_ingest_interrupted_after_its_commit_landed_gives_every_row_once(
    lake: Lake,
    events: Table,
    landing: Path,
    after_commit: Callable[..., AfterCommit],
    raises: type,
) -> None:
    add_source(lake, "s", landing)
    write_jsonl(landing / "a.jsonl", [event(i) for i in range(1, 6)])
    after_commit(raises)

    with pytest.raises(raises):
        lake.ingest()

    assert_intact(lake, 5)
    write_jsonl(landing / "b.jsonl", [event(i) for i in range(6, 9)])
    report = lake.ingest()
    assert report.recovered_committed == 1
    assert ids(lake) == list(range(1, 9))
    assert_intact(lake, 8)


def test_on_postgresql_an_ingest_interrupted_after_its_commit_landed_gives_every_row_once(
    tmp_path: Path,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    after_commit: Callable[..., AfterCommit],
) -> None:
    monkeypatch.setenv("ICEHOUSE_STATE_URL", postgres_url)
    home = tmp_path / "lake"
    Lake.init(home)
    with Lake.open(home) as lake:
        lake.tables.create(
            EVENTS,
            schema=EVENTS_SCHEMA,
            partition=["day(ts)"],
            sort="id",
            properties=NO_READER_GRACE,
        )
        add_source(lake, "s", tmp_path / "landing")
        write_jsonl(tmp_path / "landing" / "a.jsonl", [event(i) for i in range(1, 6)])
        after_commit(KeyboardInterrupt)
        with pytest.raises(KeyboardInterrupt):
            lake.ingest()
    with Lake.open(home) as lake:
        assert_intact(lake, 5)
        assert lake.ingest().recovered_committed == 1
        assert ids(lake) == [1, 2, 3, 4, 5]


def test_a_ledger_failure_after_the_append_landed_keeps_the_data_files(
    lake: Lake, events: Table, landing: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_source(lake, "s", landing)
    write_jsonl(landing / "a.jsonl", [event(i) for i in range(1, 6)])
    real = BatchLog.commit
    calls: list[str] = []

    def failing(self: BatchLog, snapshots: dict[str, int | None]) -> list[str]:
        calls.extend(snapshots)
        if len(calls) == 1:
            raise sqlalchemy.exc.OperationalError("UPDATE batches", {}, Exception("db gone"))
        return real(self, snapshots)

    monkeypatch.setattr(BatchLog, "commit", failing)

    with pytest.raises(sqlalchemy.exc.OperationalError):
        lake.ingest()

    assert_intact(lake, 5)
    assert lake.ingest().recovered_committed == 1
    assert ids(lake) == [1, 2, 3, 4, 5]
    assert_intact(lake, 5)


# -- maintenance and deletes -------------------------------------------------------------


@pytest.mark.parametrize("raises", INTERRUPTIONS)
def test_a_compaction_interrupted_after_its_replace_landed_keeps_its_files(
    lake: Lake, events: Table, after_commit: Callable[..., AfterCommit], raises: type
) -> None:
    append_batches(lake)
    after_commit(raises)

    with pytest.raises(raises):
        lake.maintenance.compact(EVENTS, "binpack", min_input_files=2)

    table = fixtures_lake.iceberg_table(lake, EVENTS)
    assert table.current_snapshot().summary.operation.value == "replace"  # type: ignore[union-attr]
    assert_intact(lake, 360)
    lake.maintenance.compact(EVENTS, "sort", min_input_files=1)
    lake.maintenance.expire(EVENTS, older_than=timedelta(0))
    assert_intact(lake, 360)


@pytest.mark.parametrize("raises", INTERRUPTIONS)
def test_a_manifest_rewrite_interrupted_after_it_landed_keeps_its_manifests(
    lake: Lake, events: Table, after_commit: Callable[..., AfterCommit], raises: type
) -> None:
    append_batches(lake, per_day=2)
    after_commit(raises)

    with pytest.raises(raises):
        lake.maintenance.manifests(EVENTS)

    assert_intact(lake, 120)
    lake.maintenance.manifests(EVENTS)
    one_append(lake, 900_000)
    assert_intact(lake, 125)


@pytest.mark.parametrize("raises", INTERRUPTIONS)
def test_an_expiry_interrupted_after_it_landed_deletes_nothing_still_referenced(
    lake: Lake, events: Table, after_commit: Callable[..., AfterCommit], raises: type
) -> None:
    append_batches(lake, per_day=2)
    lake.delete(EVENTS, "country = 'de'")
    remaining = fixtures_lake.iceberg_table(lake, EVENTS).scan().to_arrow().num_rows
    after_commit(raises)

    with pytest.raises(raises):
        lake.maintenance.expire(EVENTS, older_than=timedelta(0))

    assert len(fixtures_lake.iceberg_table(lake, EVENTS).snapshots()) == 1
    assert_intact(lake, remaining)
    lake.maintenance.compact(EVENTS, "binpack", min_input_files=1)
    lake.maintenance.expire(EVENTS, older_than=timedelta(0))
    assert_intact(lake, remaining)


@pytest.mark.parametrize("raises", INTERRUPTIONS)
def test_a_delete_interrupted_after_it_landed_keeps_its_snapshot(
    lake: Lake, events: Table, after_commit: Callable[..., AfterCommit], raises: type
) -> None:
    append_batches(lake, per_day=2)
    before = fixtures_lake.iceberg_table(lake, EVENTS).scan().to_arrow()
    kept = before.filter(pc.not_equal(before.column("country"), "de")).num_rows
    after_commit(raises)

    with pytest.raises(raises):
        lake.delete(EVENTS, "country = 'de'")

    assert_intact(lake, kept)
    lake.maintenance.compact(EVENTS, "binpack", min_input_files=1)
    assert_intact(lake, kept)


# -- when the catalog did not accept, or cannot say ----------------------------------------


def test_a_commit_the_catalog_refused_leaves_no_files(
    lake: Lake, events: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    one_append(lake, 0)
    before = metadata_files(fixtures_lake.iceberg_table(lake, EVENTS))

    def refuse(catalog: LakeCatalog, table: Table, *args: Any) -> Any:
        raise CommitFailedException("Table has been updated by another process")

    monkeypatch.setattr(LakeCatalog, "commit_table", refuse)
    with pytest.raises(CommitRaced):  # PyIceberg's conflict, translated
        fast_append(fixtures_lake.iceberg_table(lake, EVENTS), [], properties={})

    assert metadata_files(fixtures_lake.iceberg_table(lake, EVENTS)) == before


def test_an_error_before_the_catalog_accepted_leaves_no_files(
    lake: Lake, events: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    one_append(lake, 0)
    before = metadata_files(fixtures_lake.iceberg_table(lake, EVENTS))

    def broken(catalog: LakeCatalog, table: Table, *args: Any) -> Any:
        raise ConnectionError("the catalog went away before the update")

    monkeypatch.setattr(LakeCatalog, "commit_table", broken)
    with pytest.raises(ConnectionError):
        fast_append(fixtures_lake.iceberg_table(lake, EVENTS), [], properties={})

    assert metadata_files(fixtures_lake.iceberg_table(lake, EVENTS)) == before


def test_when_the_table_cannot_be_reread_the_attempts_files_are_kept(
    lake: Lake, events: Table, monkeypatch: pytest.MonkeyPatch
) -> None:
    one_append(lake, 0)
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    before = metadata_files(table)

    def broken(catalog: LakeCatalog, table: Table, *args: Any) -> Any:
        monkeypatch.setattr(LakeCatalog, "load_table", unreachable)
        raise ConnectionError("connection lost while the catalog committed")

    def unreachable(catalog: LakeCatalog, identifier: Any) -> Table:
        raise ConnectionError("the catalog is unreachable")

    monkeypatch.setattr(LakeCatalog, "commit_table", broken)
    with pytest.raises(ConnectionError):
        fast_append(table, [], properties={})

    assert metadata_files(table) > before  # its manifest list is still there


def test_a_conflict_reported_for_a_commit_that_landed_is_not_retried(
    lake: Lake, events: Table, landing: Path, after_commit: Callable[..., AfterCommit]
) -> None:
    """A lost response retried by a transport can come back as a conflict although the
    first request landed: retrying would commit the same rows twice."""
    add_source(lake, "s", landing)
    write_jsonl(landing / "a.jsonl", [event(i) for i in range(1, 6)])
    after_commit(CommitFailedException)

    with pytest.raises(CommitUncertain):
        lake.ingest()

    assert_intact(lake, 5)
    assert lake.ingest().recovered_committed == 1
    assert ids(lake) == [1, 2, 3, 4, 5]


def test_a_snapshot_that_landed_and_was_expired_at_once_is_not_taken_for_a_failure(
    lake: Lake, events: Table, after_commit: Callable[..., AfterCommit]
) -> None:
    """Another process appends on top of the new snapshot and expires it before the
    failed attempt looks: its manifests are still the newer snapshot's."""
    one_append(lake, 0)

    def append_then_expire() -> None:
        landed = fixtures_lake.iceberg_table(lake, EVENTS).current_snapshot().snapshot_id  # type: ignore[union-attr]
        one_append(lake, 200)
        commit_expiry(fixtures_lake.iceberg_table(lake, EVENTS), [landed])

    after_commit(RuntimeError, then=append_then_expire)
    with pytest.raises(RuntimeError):
        one_append(lake, 100)

    assert_intact(lake, 15)


def test_the_outcome_reads_the_history_since_the_attempt_began(lake: Lake, events: Table) -> None:
    one_append(lake, 0)
    base = fixtures_lake.iceberg_table(lake, EVENTS).metadata
    one_append(lake, 10)
    now = fixtures_lake.iceberg_table(lake, EVENTS).metadata
    ours = now.current_snapshot_id
    assert ours is not None
    assert outcome_in(base, now, ours) is Outcome.LANDED
    assert outcome_in(base, now, 12345) is Outcome.NOT_LANDED
