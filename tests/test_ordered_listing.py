"""Ordered listing (``listing = "ordered"``): a poll lists only the keys after the last
one seen, in a local folder and on S3 (SeaweedFS), so that it costs what landed since,
not everything that ever landed; a key that lands late (sorting before the high-water
key) is found by the full listing that runs every ``full_listing_every``; ingestion of
an ordered source takes every file once; the ledger's cache of known files is bounded.
The high-water key lives in the state database: a restarted worker, or one on another
host, lists from it, and it moves only once what was listed up to it is registered."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow.fs as pafs
import pytest
from sqlalchemy import Engine, func, select

from icehouse.config import SourceConfig
from icehouse.ingest.discovery import OrderedDiscovery, Poll
from icehouse.ingest.faults import DISCOVERY_FAULT_POINTS, SimulatedCrash
from icehouse.ingest.landing import LandedFile
from icehouse.ingest.ledger.marks import ListingMarks
from icehouse.ingest.ledger.queue import FileQueue
from icehouse.lake import Lake
from icehouse.state.database import migrate, open_engine
from icehouse.state.models import files
from tests import fixtures_lake
from tests.test_s3_landing import jsonl_gz, put, rows

if TYPE_CHECKING:
    from tests.conftest import S3Server

home = fixtures_lake.home
lake = fixtures_lake.lake
events = fixtures_lake.events
landing = fixtures_lake.landing

OLD_DAYS = 5
T0 = time.time() + 3600
"""The ingester's clock in these polls: after every file was written."""
PER_DAY = 200


def ordered(location: str) -> SourceConfig:
    return SourceConfig(
        name="logs",
        location=location,
        table=fixtures_lake.EVENTS,
        format="jsonl",
        glob="*.jsonl",
        listing="ordered",
        full_listing_every="10m",
        settle="0s",
    )


@pytest.fixture
def marks(tmp_path: Path) -> ListingMarks:
    """Listing marks in a fresh SQLite state database."""
    engine = open_engine(f"sqlite:///{tmp_path / 'state.db'}")
    migrate(engine)
    return ListingMarks(engine)


def polled(discovery: OrderedDiscovery, source: SourceConfig, now: float) -> Poll:
    """A poll whose ready files were registered: its mark stored, as the ingester does."""
    poll = discovery.poll(source, now=now)
    discovery.advance(source, poll)
    return poll


def land(folder: Path, name: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text('{"id": 1}\n')


def names(found: list[LandedFile], base: str) -> list[str]:
    return sorted(f.path.removeprefix(base + "/") for f in found)


def test_a_local_poll_lists_only_what_landed_since(tmp_path: Path, marks: ListingMarks) -> None:
    landing = tmp_path / "landing"
    for day in range(1, OLD_DAYS + 1):
        for i in range(PER_DAY):
            land(landing / f"2026/12/{day:02d}", f"{i:05d}.jsonl")
    source = ordered(str(landing))
    discovery = OrderedDiscovery({}, marks)

    first = polled(discovery, source, T0)
    assert first.full and first.listed == OLD_DAYS * PER_DAY == len(first.ready)

    idle = polled(discovery, source, T0 + 1)
    assert (idle.full, idle.listed, idle.ready) == (False, 0, [])
    # Read: the landing, 2026, 2026/12 and the newest day, not the four before it.
    assert idle.requests == 4

    land(landing / "2026/12/05", "99999.jsonl")
    land(landing / "2026/12/06", "00000.jsonl")
    land(landing / "2026/12/06", "00001.jsonl")
    new = polled(discovery, source, T0 + 2)
    assert not new.full and new.listed == 3
    assert names(new.ready, str(landing)) == [
        "2026/12/05/99999.jsonl",
        "2026/12/06/00000.jsonl",
        "2026/12/06/00001.jsonl",
    ]

    # A key sorting before the high-water key is missed by polls, found by the full one.
    land(landing / "2026/12/03", "late.jsonl")
    assert polled(discovery, source, T0 + 3).listed == 0
    slow = polled(discovery, source, T0 + 3 + 600)
    assert slow.full and "2026/12/03/late.jsonl" in names(slow.ready, str(landing))
    assert polled(discovery, source, T0 + 4 + 600).listed == 0


def test_a_settling_file_is_listed_again_until_it_settles(
    tmp_path: Path, marks: ListingMarks
) -> None:
    landing = tmp_path / "landing"
    land(landing, "a.jsonl")
    land(landing, "b.jsonl")
    land(landing, "c.jsonl")
    b = landing / "b.jsonl"
    source = ordered(str(landing)).model_copy(update={"settle": "30s"})
    discovery = OrderedDiscovery({}, marks)
    now = b.stat().st_mtime + 60
    os.utime(b, (now - 5, now - 5))  # b was still written to 5 s ago

    first = polled(discovery, source, now)
    assert names(first.ready, str(landing)) == ["a.jsonl", "c.jsonl"]
    assert names(first.settling, str(landing)) == ["b.jsonl"]
    later = polled(discovery, source, now + 60)
    assert not later.full and names(later.ready, str(landing)) == ["b.jsonl", "c.jsonl"]


@pytest.mark.s3
def test_an_s3_poll_lists_from_the_high_water_key(
    s3_server: S3Server, s3_filesystem: pafs.S3FileSystem, s3_bucket: str, marks: ListingMarks
) -> None:
    base = f"{s3_bucket}/landing"
    for i in range(1100):  # more than one LIST page
        put(s3_filesystem, f"{base}/2026/12/01/{i:05d}.jsonl", b'{"id": 1}\n')
    source = ordered(f"s3://{base}")
    discovery = OrderedDiscovery(s3_server.storage, marks)

    first = polled(discovery, source, T0)
    assert (first.full, first.listed, first.requests) == (True, 1100, 2)

    put(s3_filesystem, f"{base}/2026/12/02/00000.jsonl", b'{"id": 2}\n')
    put(s3_filesystem, f"{base}/2026/12/02/00001.jsonl", b'{"id": 3}\n')
    new = polled(discovery, source, T0 + 1)
    assert (new.full, new.listed, new.requests) == (False, 2, 1)
    assert names(new.ready, base) == ["2026/12/02/00000.jsonl", "2026/12/02/00001.jsonl"]
    assert polled(discovery, source, T0 + 2).listed == 0

    put(s3_filesystem, f"{base}/2026/12/01/late.jsonl", b'{"id": 4}\n')
    assert polled(discovery, source, T0 + 3).listed == 0
    slow = polled(discovery, source, T0 + 3 + 600)
    assert slow.full and slow.listed == 1103
    assert "2026/12/01/late.jsonl" in names(slow.ready, base)


@pytest.mark.s3
def test_ordered_and_full_listings_and_notifications_agree_on_s3_files(
    tmp_path: Path, s3_server: S3Server, s3_filesystem: pafs.S3FileSystem, s3_bucket: str
) -> None:
    """A file listed in order is the same ledger row as the same file listed whole: the
    listings give it the same size and modification time."""
    from tests.test_s3_landing import configure

    home = tmp_path / "lake"
    Lake.init(home)
    configure(home, s3_server)
    base = f"{s3_bucket}/landing"
    put(s3_filesystem, f"{base}/2026/12/01/a.jsonl.gz", jsonl_gz(rows(0, 10)))
    with Lake.open(home) as opened:
        opened.tables.create(
            "landing.events", schema={"id": "long!", "name": "string", "amount": "double"}
        )
        source = ordered(f"s3://{base}").model_copy(
            update={"table": "landing.events", "glob": "*.jsonl.gz"}
        )
        opened.sources.add(source)
        assert opened.ingest().rows == 10
        opened.sources.remove("logs")
        opened.sources.add(source.model_copy(update={"listing": "full"}))
        put(s3_filesystem, f"{base}/2026/12/02/b.jsonl.gz", jsonl_gz(rows(10, 5)))
        again = opened.ingest()
        assert (again.files, again.rows) == (1, 5)
        assert fixtures_lake.ids(opened, "landing.events") == list(range(15))


def test_an_ordered_source_is_ingested_once(
    home: Path, lake: Lake, events: object, landing: Path
) -> None:
    fixtures_lake.write_jsonl(landing / "2026/12/01/a.jsonl", [fixtures_lake.event(1)])
    fixtures_lake.add_source(lake, "logs", landing, glob="*.jsonl", listing="ordered")
    assert lake.ingest().files == 1
    fixtures_lake.write_jsonl(landing / "2026/12/02/b.jsonl", [fixtures_lake.event(2)])
    fixtures_lake.write_jsonl(landing / "2026/12/01/0-late.jsonl", [fixtures_lake.event(3)])
    second = lake.ingest()
    assert (second.files, second.rows) == (1, 1)  # the late key waits for a full listing
    with Lake.open(home, clock=lambda: time.time() + 601) as later:
        third = later.ingest()
        assert (third.files, third.rows) == (1, 1)
        assert later.ingest().files == 0
    assert fixtures_lake.ids(lake) == [1, 2, 3]


@pytest.mark.parametrize(
    ("layout", "reads"),
    [("{d}", 2), ("dt=2026-12-{d}", 2), ("dt=2026-12-{d}/hour=23", 3), ("2026/12/{d}", 4)],
)
def test_date_folders_are_read_from_the_newest_on(
    tmp_path: Path, marks: ListingMarks, layout: str, reads: int
) -> None:
    """Keys sharded by date (``2026/12/06/``, ``dt=2026-12-06/``, with hours below) sort
    by time: an idle poll reads the folders on the path to the newest key, no older day."""
    landing = tmp_path / "landing"
    for day in range(1, 11):
        land(landing / layout.format(d=f"{day:02d}"), "00000.jsonl")
    discovery = OrderedDiscovery({}, marks)
    assert polled(discovery, ordered(str(landing)), T0).listed == 10
    idle = polled(discovery, ordered(str(landing)), T0 + 1)
    assert (idle.listed, idle.requests) == (0, reads)
    land(landing / layout.format(d="11"), "00000.jsonl")
    new = polled(discovery, ordered(str(landing)), T0 + 2)
    assert names(new.ready, str(landing)) == [f"{layout.format(d='11')}/00000.jsonl"]


def test_a_source_declared_again_elsewhere_is_listed_whole(
    tmp_path: Path, marks: ListingMarks
) -> None:
    """A mark belongs to the location it was listed in: a source removed and added again
    under its name, at another location, does not list the new one from the old key."""
    before, after = tmp_path / "b-landing", tmp_path / "a-landing"
    land(before / "2026/12/05", "00000.jsonl")
    land(after / "2026/12/01", "00000.jsonl")
    discovery = OrderedDiscovery({}, marks)
    assert polled(discovery, ordered(str(before)), T0).listed == 1
    moved = polled(discovery, ordered(str(after)), T0 + 1)
    assert moved.full and names(moved.ready, str(after)) == ["2026/12/01/00000.jsonl"]


@pytest.mark.parametrize("workers", [1, 2])
def test_another_worker_lists_from_the_stored_key(
    state_engine: Engine, tmp_path: Path, workers: int
) -> None:
    """A worker that starts after 10 k objects were listed and registered (restarted, or
    on another host: its own discovery, the same state database) reads the newest day's
    folder only, not the ten before it."""
    migrate(state_engine)
    landing = tmp_path / "landing"
    for day in range(1, 11):
        for i in range(1000):
            land(landing / f"2026/12/{day:02d}", f"{i:05d}.jsonl")
    source = ordered(str(landing))
    queue = FileQueue(state_engine)
    first = OrderedDiscovery({}, ListingMarks(state_engine))
    listed = first.poll(source, now=T0)
    assert listed.full and queue.register("logs", listed.ready) == (10_000, [])
    first.advance(source, listed)

    land(landing / "2026/12/10", "99999.jsonl")
    land(landing / "2026/12/11", "00000.jsonl")
    others = [OrderedDiscovery({}, ListingMarks(state_engine)) for _ in range(workers)]
    for other in others:
        poll = other.poll(source, now=T0 + 1)
        assert not poll.full and poll.listed == 2 and poll.requests == 5
        assert names(poll.ready, str(landing)) == [
            "2026/12/10/99999.jsonl",
            "2026/12/11/00000.jsonl",
        ]
    other.advance(source, poll)
    assert OrderedDiscovery({}, ListingMarks(state_engine)).poll(source, now=T0 + 2).listed == 0


@pytest.mark.parametrize("point", DISCOVERY_FAULT_POINTS)
def test_a_crash_between_listing_and_registering_loses_no_file(
    home: Path, lake: Lake, events: object, landing: Path, point: str
) -> None:
    """The mark moves after the files listed up to it are registered: a worker dying in
    between leaves the old mark, and the next run lists those files again."""
    fixtures_lake.write_jsonl(landing / "2026/12/01/a.jsonl", [fixtures_lake.event(1)])
    fixtures_lake.add_source(lake, "logs", landing, glob="*.jsonl", listing="ordered")
    assert lake.ingest().files == 1
    fixtures_lake.write_jsonl(landing / "2026/12/02/b.jsonl", [fixtures_lake.event(2)])

    def crash(reached: str) -> None:
        if reached == point:
            raise SimulatedCrash(point)

    with Lake.open(home, faults=crash) as crashing, pytest.raises(SimulatedCrash):
        crashing.ingest()
    again = lake.ingest()
    assert (again.files, again.rows) == (1, 1)
    assert fixtures_lake.ids(lake) == [1, 2]


def test_the_ledger_cache_is_bounded(lake: Lake, tmp_path: Path) -> None:
    queue = FileQueue(fixtures_lake.engine_of(lake), cache_paths=10)
    landed = [LandedFile(path=f"/in/{i:03d}.jsonl", size=i, mtime=1.0) for i in range(50)]
    assert queue.register("logs", landed) == (50, [])
    assert len(queue._known_cache) == 10
    assert queue.register("logs", landed) == (0, [])
    changed = [LandedFile(path="/in/000.jsonl", size=99, mtime=2.0)]
    assert queue.register("logs", changed) == (1, [])
    with fixtures_lake.engine_of(lake).connect() as conn:
        count = conn.execute(select(func.count()).select_from(files)).scalar_one()
    assert count == 51
    assert len(queue._known_cache) == 10
