"""The discovery section of ``scale.py``: one poll of a ``keep`` source whose landing
location holds N objects the ledger already has, plus 10 new ones, listed whole (what
``listing = "full"`` does every poll) and from the high-water key (``listing =
"ordered"``, from the key the first, full, listing stored in the state database).
Printed per location (a local folder, SeaweedFS S3) and N: seconds, keys the store
returned, LIST requests (pages of 1000 on S3, folders read locally). The ledger is a
SQLite state database, filled in bulk; the poll's ledger check is the one workers make
(a bounded cache, warm; a listing larger than the cache is read by ranges of paths).

Objects are empty, in folders of 10 000 (``000/0000000.jsonl``, ...): names that sort
by landing time, as a date-and-hour layout gives.
"""

from __future__ import annotations

import functools
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from common import table_print
from icehouse.config import SourceConfig
from icehouse.ingest.discovery import OrderedDiscovery
from icehouse.ingest.landing import LandedFile, list_landed, open_location
from icehouse.ingest.ledger.marks import ListingMarks
from icehouse.ingest.ledger.queue import FileQueue
from icehouse.ingest.ordered_listing import S3_PAGE
from icehouse.state.database import migrate, open_engine
from icehouse.state.models import files

PER_FOLDER = 10_000
NEW = 10


def key(i: int) -> str:
    return f"{i // PER_FOLDER:03d}/{i:07d}.jsonl"


def fill_local(folder: Path, start: int, count: int) -> None:
    for i in range(start, start + count):
        path = folder / key(i)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()


def fill_s3(filesystem: Any, base: str, start: int, count: int) -> None:
    """Put the objects, 16 at a time; a put that times out (SeaweedFS on a busy
    machine) is tried again, up to 5 times."""

    def put(i: int) -> None:
        for attempt in range(5):
            try:
                with filesystem.open_output_stream(f"{base}/{key(i)}", compression=None) as out:
                    out.write(b"")
                return
            except OSError:
                if attempt == 4:
                    raise
                time.sleep(1 + attempt)

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(put, range(start, start + count)))


def seen(queue: FileQueue, engine: Any, source: SourceConfig, storage: dict[str, str]) -> None:
    """Put every object now landed in the ledger, in bulk, as committed."""
    filesystem, base = open_location(source.location, storage)
    ready, _ = list_landed(filesystem, base, source, now=time.time() + 3600)
    rows = [
        {
            "source": source.name,
            "path": f.path,
            "fingerprint": f.fingerprint,
            "size": f.size,
            "mtime": f.mtime,
            "state": "committed",
            "discovered_at": 0.0,
            "updated_at": 0.0,
        }
        for f in ready
    ]
    with engine.begin() as conn:
        for start in range(0, len(rows), 50_000):
            conn.execute(files.insert(), rows[start : start + 50_000])


def timed(work: Callable[[], tuple[list[LandedFile], int, int]], queue: FileQueue) -> list[Any]:
    began = time.perf_counter()
    ready, listed, requests = work()
    queued, _ = queue.register("logs", ready)
    return [f"{time.perf_counter() - began:.3f}", f"{listed:,}", f"{requests:,}", queued]


def measure(
    location: str, storage: dict[str, str], count: int, fill: Callable[[int, int], None]
) -> list[list[Any]]:
    source = SourceConfig(
        name="logs",
        location=location,
        table="t.t",
        format="jsonl",
        glob="*.jsonl",
        listing="ordered",
        settle="0s",
    )
    with tempfile.TemporaryDirectory(prefix="icehouse-discovery-") as work:
        engine = open_engine(f"sqlite:///{work}/state.db")
        migrate(engine)
        queue = FileQueue(engine)
        fill(0, count)
        seen(queue, engine, source, storage)
        discovery = OrderedDiscovery(storage, ListingMarks(engine))
        now = time.time() + 3600
        first = discovery.poll(source, now=now)  # a source's first poll: the full listing
        queue.register("logs", first.ready)
        discovery.advance(source, first)
        fill(count, NEW)
        filesystem, base = open_location(location, storage)

        def full() -> tuple[list[LandedFile], int, int]:
            ready, settling = list_landed(filesystem, base, source, now=now)
            listed = len(ready) + len(settling)
            if location.startswith("s3://"):
                return ready, listed, max(1, -(-listed // S3_PAGE))
            return ready, listed, len({f.path.rsplit("/", 1)[0] for f in ready}) + 1

        def ordered() -> tuple[list[LandedFile], int, int]:
            poll = discovery.poll(source, now=now + 1)
            return poll.ready, poll.listed, poll.requests

        rows = [["ordered", *timed(ordered, queue)]]
        rows.append(["full", *timed(full, queue)])
        engine.dispose()
    return rows


def run(s3: Any, workdir: Path, counts: list[int], places: list[str]) -> None:
    """Measure and print the discovery table, in the ``places`` named (local, s3)."""
    table: list[list[Any]] = []
    s3_filesystem = s3.filesystem()
    for count in counts:
        started = time.perf_counter()
        if "local" in places:
            local = workdir / f"landing-{count}"
            fill = functools.partial(fill_local, local)
            for row in measure(str(local), {}, count, fill):
                table.append(["local", f"{count:,}", *row])
        if "s3" in places:
            base = f"scale/discovery-{count}"
            fill = functools.partial(fill_s3, s3_filesystem, base)
            for row in measure(f"s3://{base}", s3.storage(), count, fill):
                table.append(["S3", f"{count:,}", *row])
        took = time.perf_counter() - started
        print(f"discovery over {count:,} objects: {took:.0f} s", flush=True)
    print()
    print(f"Discovery: one poll of a keep source holding N objects already seen, and {NEW} new")
    table_print(
        ["location", "objects", "listing", "seconds", "keys listed", "LIST requests", "queued"],
        table,
    )
