"""The delivery rules, case by case: what counts as a duplicate, a re-copy, an append and a
change, each with the exact rows and quarantine entries it must leave.

Content is ingested once per table whatever its name and compression; a path that comes
back is compared with its committed version. Two writers that meet one content at once
are made to race deterministically: one batch is held between claim and commit while
the copy lands and the other writer runs.
"""

from __future__ import annotations

import gzip
import json
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import zstandard

from icehouse.config import ColumnMapping
from icehouse.ingest.ingester import Ingester
from icehouse.ingest.report import NoProgress
from icehouse.lake import Lake
from tests import fixtures_lake
from tests.fixtures_lake import EVENTS, add_source, event, ids

home, lake, landing, events = (
    fixtures_lake.home,
    fixtures_lake.lake,
    fixtures_lake.landing,
    fixtures_lake.events,
)


def lines(*records: dict[str, object]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in records).encode()


def quarantined_files(lake: Lake) -> list[tuple[str, str]]:
    return [
        (Path(r.path).name, r.reason)
        for r in lake.quarantine.list()
        if r.kind == "file" and r.replayed_at is None
    ]


def status(lake: Lake, source: str = "s"):
    (found,) = [s for s in lake.sources.status() if s.source == source]
    return found


def age(path: Path, seconds: float = 100) -> Path:
    """Make ``path`` look written ``seconds`` ago (a new fingerprint each time)."""
    then = time.time() - seconds
    os.utime(path, (then, then))
    return path


# --- same content, any name, any compression ------------------------------------------------

PLAIN = lines(event(1), event(2), event(3))
ENCODINGS: dict[str, Callable[[bytes], bytes]] = {
    "plain": lambda b: b,
    "gzip-1": lambda b: gzip.compress(b, compresslevel=1),
    "gzip-9": lambda b: gzip.compress(b, compresslevel=9),
    "zstd": lambda b: zstandard.ZstdCompressor(level=3).compress(b),
    "zstd-19": lambda b: zstandard.ZstdCompressor(level=19).compress(b),
}


@pytest.mark.parametrize("first", ["plain", "gzip-1"])
@pytest.mark.parametrize("again", ["plain", "gzip-9", "zstd", "zstd-19"])
def test_the_same_content_in_any_compression_is_one_delivery(lake, landing, events, first, again):
    add_source(lake, "s", landing)
    (landing / "a.jsonl").write_bytes(ENCODINGS[first](PLAIN))
    lake.ingest()
    (landing / "b.jsonl").write_bytes(ENCODINGS[again](PLAIN))

    report = lake.ingest()

    assert (report.files, report.duplicate_files) == (0, 1)
    assert ids(lake) == [1, 2, 3]
    assert status(lake).files_duplicate == 1


def test_recompressed_copies_in_one_batch_are_ingested_once(lake, landing, events):
    add_source(lake, "s", landing)
    for name, encode in ENCODINGS.items():
        (landing / f"{name}.jsonl").write_bytes(encode(PLAIN))

    report = lake.ingest()

    assert (report.files, report.duplicate_files) == (1, len(ENCODINGS) - 1)
    assert ids(lake) == [1, 2, 3]


def test_a_re_serialised_json_file_is_different_content(lake, landing, events):
    """Documented: content means bytes; the same records written differently are new."""
    add_source(lake, "s", landing)
    (landing / "a.jsonl").write_bytes(PLAIN)
    lake.ingest()
    respaced = "".join(
        json.dumps(event(i), indent=None, separators=(",", ":")) + "\n" for i in (1, 2, 3)
    )
    (landing / "b.jsonl").write_text(respaced)

    report = lake.ingest()

    assert report.files == 1
    assert ids(lake) == [1, 1, 2, 2, 3, 3]


def test_a_renamed_file_is_a_duplicate(lake, landing, events):
    add_source(lake, "s", landing)
    (landing / "a.jsonl").write_bytes(PLAIN)
    lake.ingest()
    (landing / "a.jsonl").rename(landing / "renamed.jsonl")

    report = lake.ingest()

    assert (report.files, report.duplicate_files) == (0, 1)
    assert ids(lake) == [1, 2, 3]


def test_content_is_ingested_once_per_table_across_sources(lake, landing, events, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    add_source(lake, "s", landing)
    add_source(lake, "t", other)
    (landing / "a.jsonl").write_bytes(PLAIN)
    lake.ingest(["s"])
    (other / "a.jsonl.gz").write_bytes(gzip.compress(PLAIN))

    report = lake.ingest(["t"])

    assert (report.files, report.duplicate_files) == (0, 1)
    assert ids(lake) == [1, 2, 3]


def test_files_written_through_a_part_name_and_renamed_are_ingested_once(lake, landing, events):
    add_source(lake, "s", landing)
    part = landing / "a.jsonl.part"
    part.write_bytes(PLAIN[:20])
    assert lake.ingest().files == 0  # still being written
    part.write_bytes(PLAIN)
    part.rename(landing / "a.jsonl")

    assert lake.ingest().files == 1
    assert lake.ingest().files == 0
    assert ids(lake) == [1, 2, 3]


# --- the same path again ---------------------------------------------------------------------


def test_a_same_name_re_copy_is_recorded_as_a_re_copy(lake, landing, events):
    add_source(lake, "s", landing)
    path = landing / "a.jsonl"
    path.write_bytes(PLAIN)
    age(path)
    lake.ingest()
    path.write_bytes(PLAIN)  # copied again: same bytes, new mtime

    report = lake.ingest()

    assert (report.files, report.recopied_files, report.duplicate_files) == (0, 1, 0)
    assert ids(lake) == [1, 2, 3]
    found = status(lake)
    assert (found.files_recopied, found.files_duplicate, found.files_changed) == (1, 0, 0)


def test_a_rewritten_file_is_quarantined_by_default_and_replayable(lake, landing, events):
    add_source(lake, "s", landing)
    path = landing / "a.jsonl"
    path.write_bytes(lines(event(1), event(2)))
    age(path)
    lake.ingest()
    path.write_bytes(lines(event(7), event(8), event(9)))  # rewritten, not appended

    report = lake.ingest()

    assert (report.files, report.changed_files, report.quarantined_files) == (0, 1, 1)
    assert ids(lake) == [1, 2]
    ((name, reason),) = quarantined_files(lake)
    assert name == "a.jsonl"
    assert "changed after it was ingested" in reason and 'on_change = "quarantine"' in reason
    assert status(lake).files_changed == 1

    lake.quarantine.replay(source="s")  # the user decides: take the new version as new rows
    lake.ingest()
    assert ids(lake) == [1, 2, 7, 8, 9]


def test_a_rewritten_file_is_skipped_and_counted_with_on_change_skip(lake, landing, events):
    add_source(lake, "s", landing, on_change="skip")
    path = landing / "a.jsonl"
    path.write_bytes(lines(event(1), event(2)))
    age(path)
    lake.ingest()
    path.write_bytes(lines(event(1)))  # truncated

    report = lake.ingest()

    assert (report.files, report.changed_files, report.quarantined_files) == (0, 1, 0)
    assert ids(lake) == [1, 2]
    assert quarantined_files(lake) == []
    assert status(lake).files_changed == 1


def test_a_changed_compressed_file_is_a_change_even_when_its_content_grew(lake, landing, events):
    add_source(lake, "s", landing)
    path = landing / "a.jsonl.gz"
    path.write_bytes(gzip.compress(lines(event(1))))
    age(path)
    lake.ingest()
    path.write_bytes(gzip.compress(lines(event(1), event(2))))

    report = lake.ingest()

    assert (report.files, report.changed_files) == (0, 1)
    assert ids(lake) == [1]
    assert len(quarantined_files(lake)) == 1


@pytest.mark.parametrize("on_success", ["delete", "archive"])
def test_a_new_file_reusing_a_removed_name_is_new_data(lake, landing, events, tmp_path, on_success):
    extra = {"archive": str(tmp_path / "archive")} if on_success == "archive" else {}
    add_source(lake, "s", landing, on_success=on_success, **extra)
    path = landing / "a.jsonl"
    path.write_bytes(lines(event(1), event(2)))
    lake.ingest()
    assert not path.exists()
    path.write_bytes(lines(event(3)))  # the provider reuses the name for a new file

    report = lake.ingest()

    assert (report.files, report.rows, report.changed_files) == (1, 1, 0)
    assert ids(lake) == [1, 2, 3]


def test_a_removed_name_delivered_again_with_the_same_content_is_a_duplicate(lake, landing, events):
    add_source(lake, "s", landing, on_success="delete")
    (landing / "a.jsonl").write_bytes(PLAIN)
    lake.ingest()
    (landing / "a.jsonl").write_bytes(PLAIN)

    report = lake.ingest()

    assert (report.files, report.duplicate_files) == (0, 1)
    assert ids(lake) == [1, 2, 3]


# --- appends -----------------------------------------------------------------------------------


def test_a_plain_file_that_grows_gets_exactly_its_new_lines_once(lake, landing, events):
    add_source(lake, "s", landing)
    path = landing / "app.jsonl"
    path.write_bytes(lines(event(1), event(2)))
    age(path, 300)
    assert lake.ingest().rows == 2
    for batch in ([3, 4], [5], [6, 7, 8]):  # a writer pausing longer than `settle`
        with path.open("ab") as out:
            out.write(lines(*(event(i) for i in batch)))
        age(path, 300 - batch[0])
        report = lake.ingest()
        assert (report.files, report.rows, report.appended_files) == (1, len(batch), 1)
        assert lake.ingest().files == 0

    assert ids(lake) == [1, 2, 3, 4, 5, 6, 7, 8]
    assert status(lake).files_appended == 3
    assert quarantined_files(lake) == []


def test_bad_lines_of_an_appended_part_are_quarantined_with_their_line_numbers(
    lake, landing, events
):
    add_source(lake, "s", landing, bad_line_threshold=0.9)
    path = landing / "app.jsonl"
    path.write_bytes(lines(event(1), event(2)))
    age(path, 200)
    lake.ingest()
    with path.open("ab") as out:
        out.write(lines(event(3)) + b"{broken\n" + lines(event(4)))
    age(path, 100)

    lake.ingest()

    assert ids(lake) == [1, 2, 3, 4]
    bad = [r for r in lake.quarantine.list() if r.kind == "line"]
    assert [(r.line, r.raw) for r in bad] == [(4, "{broken")]


def test_a_csv_file_that_grows_keeps_its_header(lake, landing, events):
    add_source(lake, "s", landing, format="csv", glob="*.csv")
    path = landing / "app.csv"
    path.write_text("ts,id,country,bytes\n2024-06-01T10:00:00Z,1,de,10\n")
    age(path, 200)
    lake.ingest()
    with path.open("a") as out:
        out.write("2024-06-01T11:00:00Z,2,fr,20\n2024-06-01T12:00:00Z,3,us,30\n")
    age(path, 100)

    report = lake.ingest()

    assert (report.rows, report.appended_files) == (2, 1)
    rows = lake.sql(f"SELECT id, country FROM {EVENTS} ORDER BY id").to_pylist()
    assert rows == [
        {"id": 1, "country": "de"},
        {"id": 2, "country": "fr"},
        {"id": 3, "country": "us"},
    ]


def test_an_unterminated_last_line_completed_by_a_newline_is_an_append(lake, landing, events):
    add_source(lake, "s", landing, bad_line_threshold=0.9)
    path = landing / "app.jsonl"
    path.write_bytes(lines(event(1)) + json.dumps(event(2)).encode())  # no final newline
    age(path, 200)
    lake.ingest()
    with path.open("ab") as out:
        out.write(b"\n" + lines(event(3)) + b"{bad\n")
    age(path, 100)

    lake.ingest()

    assert ids(lake) == [1, 2, 3]
    assert [r.line for r in lake.quarantine.list() if r.kind == "line"] == [4]


def test_a_line_cut_mid_way_is_taken_whole_once_the_writer_completes_it(lake, landing, events):
    """The writer paused mid-line for longer than `settle`: the cut line was quarantined
    as malformed; once completed, it goes in with the lines after it, and its quarantine
    record is settled."""
    add_source(lake, "s", landing, bad_line_threshold=0.9)
    path = landing / "app.jsonl"
    whole = json.dumps(event(2)).encode()
    path.write_bytes(lines(event(1)) + whole[:10])  # the writer paused mid-line
    age(path, 200)
    lake.ingest()
    assert [r.line for r in lake.quarantine.list() if r.replayed_at is None] == [2]
    with path.open("ab") as out:
        out.write(whole[10:] + b"\n" + lines(event(3)) + b"{bad\n")
    age(path, 100)

    report = lake.ingest()

    assert (report.appended_files, report.changed_files) == (1, 0)
    assert ids(lake) == [1, 2, 3]
    open_records = [(r.line, r.raw) for r in lake.quarantine.list() if r.replayed_at is None]
    assert open_records == [(4, "{bad")]


def test_a_cut_line_that_went_in_as_a_row_and_is_continued_is_a_change(lake, landing, events):
    add_source(lake, "s", landing, format="csv", glob="*.csv")
    path = landing / "app.csv"
    path.write_text(
        "ts,id,country,bytes\n2024-06-01T10:00:00Z,1,de,10\n2024-06-01T11:00:00Z,2,fr,2"
    )
    age(path, 200)
    lake.ingest()  # the cut line went in with bytes = 2
    with path.open("a") as out:
        out.write("0\n")
    age(path, 100)

    report = lake.ingest()

    assert (report.appended_files, report.changed_files) == (0, 1)
    assert [name for name, _ in quarantined_files(lake)] == ["app.csv"]


def test_a_file_rewritten_with_a_longer_different_prefix_is_a_change(lake, landing, events):
    add_source(lake, "s", landing)
    path = landing / "app.jsonl"
    path.write_bytes(lines(event(1)))
    age(path, 200)
    lake.ingest()
    path.write_bytes(lines(event(9), event(2)))  # longer, but not the same beginning
    age(path, 100)

    report = lake.ingest()

    assert (report.rows, report.changed_files) == (0, 1)
    assert ids(lake) == [1]


# --- two writers meet one content ------------------------------------------------------------


class HoldAfterFile(NoProgress):
    """A progress hook that holds the batch once its first file is ingested (its content
    claimed, the batch still open: not yet handed to the table's committer) until
    released (a deterministic race), then lets it go on, or fails it as a crash would
    (``then_fail``)."""

    def __init__(self, *, then_fail: bool = False) -> None:
        self.then_fail = then_fail
        self.reached = threading.Event()
        self.release = threading.Event()

    def file_finished(self, source: str, path: str, rows: int, bad_rows: int, outcome: str) -> None:
        if not self.reached.is_set():
            self.reached.set()
            assert self.release.wait(60), "never released"
            if self.then_fail:
                raise RuntimeError("writer A dies before committing")


def ingester(lake: Lake, **kwargs: object) -> Ingester:
    return Ingester(
        config=lake.config,
        engine=fixtures_lake.engine_of(lake),
        catalog=fixtures_lake.catalog_of(lake),
        **kwargs,
    )  # type: ignore[arg-type]


def with_lease(home: Path, lease: str) -> Lake:
    """The lake at ``home`` with writer and batch leases of ``lease``."""
    config = home / "icehouse.toml"
    text = config.read_text()
    config.write_text(text.replace("[ingest]\n", f'[ingest]\nlease = "{lease}"\n', 1))
    return Lake.open(home)


@pytest.mark.parametrize("outcome", ["commits", "dies"])
def test_a_copy_claimed_by_another_writer_waits_for_its_batch(home, landing, outcome):
    """Writer A holds its batch between claim and commit while a gzip copy of its file
    lands under another name and writer B runs: B must wait, then count the copy as a
    duplicate if A committed, or ingest the content once if A died without committing."""
    # A dead writer is noticed when its lease lapses: keep that short when A dies.
    lake = with_lease(home, "3s" if outcome == "dies" else "60s")
    lake.tables.create(EVENTS, schema=fixtures_lake.EVENTS_SCHEMA, partition=["day(ts)"])
    add_source(lake, "s", landing)
    lake = Lake.open(home)
    (landing / "a.jsonl").write_bytes(PLAIN)
    hold = HoldAfterFile(then_fail=outcome == "dies")
    errors: list[BaseException] = []
    reports = []

    def run_a() -> None:
        try:
            reports.append(ingester(lake, progress=hold).run(["s"]))
        except RuntimeError as exc:
            errors.append(exc)

    first = threading.Thread(target=run_a)
    first.start()
    assert hold.reached.wait(30)
    (landing / "copy.jsonl.gz").write_bytes(gzip.compress(PLAIN))
    second = threading.Thread(target=lambda: reports.append(ingester(lake).run(["s"])))
    second.start()
    second.join(timeout=1.5)
    assert second.is_alive(), "writer B must wait for A's batch to settle"
    assert ids(lake) == []

    hold.release.set()
    first.join(30)
    second.join(60)

    assert not second.is_alive()
    assert ids(lake) == [1, 2, 3]
    assert len(errors) == (outcome == "dies")
    assert len(reports) == 1 + (outcome == "commits")
    # One of the two files went in, the other was a duplicate (whichever writer saw it).
    assert sum(r.files for r in reports) == 1
    assert sum(r.duplicate_files for r in reports) == 1
    if outcome == "dies":  # B took A's lapsed batch back before ingesting the content
        assert reports[-1].recovered_aborted == 1


# --- on_change = "reingest": the new version replaces the old, in one snapshot --------------

FILE_COLUMN_SCHEMA = {**fixtures_lake.EVENTS_SCHEMA, "source_file": "string"}


def reingesting_lake(lake: Lake, landing: Path) -> None:
    lake.tables.create(EVENTS, schema=FILE_COLUMN_SCHEMA, partition=["day(ts)"], sort="id")
    add_source(
        lake,
        "s",
        landing,
        on_change="reingest",
        columns={"source_file": ColumnMapping(meta="file")},
    )


def test_reingest_replaces_the_earlier_versions_rows_in_one_snapshot(lake, landing):
    reingesting_lake(lake, landing)
    (landing / "keep.jsonl").write_bytes(lines(event(100)))
    path = landing / "a.jsonl"
    path.write_bytes(lines(event(1), event(2, day=2)))
    age(path)
    lake.ingest()
    before = fixtures_lake.iceberg_table(lake, EVENTS).current_snapshot().snapshot_id
    path.write_bytes(lines(event(7), event(8), event(9, day=3)))

    report = lake.ingest()

    assert (report.files, report.rows, report.changed_files) == (1, 3, 1)
    assert ids(lake) == [7, 8, 9, 100]
    table = fixtures_lake.iceberg_table(lake, EVENTS)
    (snapshot,) = [s for s in table.snapshots() if s.parent_snapshot_id == before]
    assert snapshot.snapshot_id == table.current_snapshot().snapshot_id  # one snapshot
    assert snapshot.summary.operation.value == "overwrite"
    files = lake.sql(f"SELECT source_file, count(*) AS n FROM {EVENTS} GROUP BY 1 ORDER BY 1")
    assert files.to_pylist() == [
        {"source_file": "a.jsonl", "n": 3},
        {"source_file": "keep.jsonl", "n": 1},
    ]
    assert quarantined_files(lake) == []


def test_reingest_after_a_crash_before_the_ledger_update_replaces_once(home, landing):
    from icehouse.ingest.faults import SimulatedCrash

    lake = Lake.open(home)
    reingesting_lake(lake, landing)
    path = landing / "a.jsonl"
    path.write_bytes(lines(event(1), event(2)))
    age(path)
    lake.ingest()
    path.write_bytes(lines(event(3)))

    def crash(point: str) -> None:
        if point == "batch.committed":
            raise SimulatedCrash(point)

    with pytest.raises(SimulatedCrash):
        ingester(lake, faults=crash).run(["s"])
    report = Lake.open(home).ingest()

    assert report.recovered_committed == 1
    assert ids(lake) == [3]


def test_reingest_needs_a_column_that_records_the_file(lake, landing, events):
    with pytest.raises(ValueError, match=r'on_change = "reingest".*meta = "file"'):
        add_source(lake, "s", landing, on_change="reingest")


def test_the_old_reingest_changed_key_reads_as_on_change_with_a_warning(lake, landing, events):
    from icehouse.config import SourceConfig

    common = {"name": "s", "location": "x", "table": EVENTS, "format": "jsonl"}
    with pytest.warns(FutureWarning, match="reingest_changed is replaced by on_change"):
        plain = SourceConfig.model_validate({**common, "reingest_changed": True})
    with pytest.warns(FutureWarning):
        with_file = SourceConfig.model_validate(
            {**common, "reingest_changed": True, "columns": {"f": {"meta": "file"}}}
        )
    assert (plain.on_change, with_file.on_change) == ("quarantine", "reingest")


def test_ingest_and_status_tell_duplicates_re_copies_appends_and_changes_apart(home, landing):
    from tests.test_cli import ok

    lake = Lake.open(home)
    lake.tables.create(EVENTS, schema=fixtures_lake.EVENTS_SCHEMA, partition=["day(ts)"])
    add_source(lake, "s", landing)
    grows, fixed, rewritten = (landing / n for n in ("grows.jsonl", "fixed.jsonl", "rw.jsonl"))
    grows.write_bytes(lines(event(1)))
    fixed.write_bytes(lines(event(2)))
    rewritten.write_bytes(lines(event(3)))
    for path in (grows, fixed, rewritten):
        age(path, 200)
    ok("ingest", "--once", "--home", str(home))
    with grows.open("ab") as out:
        out.write(lines(event(4)))
    fixed.write_bytes(lines(event(2)))  # re-copied
    rewritten.write_bytes(lines(event(5)))
    (landing / "copy.jsonl.gz").write_bytes(gzip.compress(lines(event(2))))

    result = ok("ingest", "--once", "--home", str(home))

    assert "1 duplicates (content already ingested) skipped" in result.stdout
    assert "1 re-copies (same path, same content) skipped" in result.stdout
    assert "1 grown files: only their new lines taken" in result.stdout
    assert "1 changed files (same path, other content)" in result.stdout
    table = ok("status", "--home", str(home)).stdout
    assert "dup/re-copy/append/change" in table and "1/1/1/1" in table
