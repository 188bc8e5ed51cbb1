"""Maintenance decodes manifests through the lake's manifest cache: a round on a table
that took no commit since the last round reads no manifest list and no manifest again,
a commit between rounds is seen, and two lakes in one process share no cache."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from pyiceberg.io import InputFile, InputStream
from pyiceberg.io.pyarrow import PyArrowFileIO
from pyiceberg.table import Table

from icehouse.config import CONFIG_FILE
from icehouse.lake import Lake
from tests import fixtures_lake
from tests.fixtures_lake import EVENTS, append_batches, data_files

home = fixtures_lake.home


class CountingFileIO(PyArrowFileIO):
    """PyArrow's FileIO, noting every Avro file (manifest list or manifest) opened."""

    opened: ClassVar[list[str]] = []

    def new_input(self, location: str) -> InputFile:
        return _CountedInput(super().new_input(location))


class _CountedInput(InputFile):
    def __init__(self, inner: InputFile) -> None:
        super().__init__(inner.location)
        self._inner = inner

    def __len__(self) -> int:
        return len(self._inner)

    def exists(self) -> bool:
        return self._inner.exists()

    def open(self, seekable: bool = True) -> InputStream:
        if self.location.endswith(".avro"):
            CountingFileIO.opened.append(self.location)
        return self._inner.open(seekable=seekable)


def avro_opened() -> list[str]:
    """The manifest lists and manifests opened since the last call."""
    opened = list(CountingFileIO.opened)
    CountingFileIO.opened.clear()
    return opened


@pytest.fixture
def counted_home(home: Path) -> Iterator[Path]:
    """A lake home whose storage is read through ``CountingFileIO``."""
    config = home / CONFIG_FILE
    io_impl = f"{CountingFileIO.__module__}.{CountingFileIO.__qualname__}"
    text = config.read_text().replace("[storage]\n", f'[storage]\npy-io-impl = "{io_impl}"\n')
    config.write_text(text)
    CountingFileIO.opened.clear()
    yield home
    CountingFileIO.opened.clear()


@pytest.fixture
def lake(counted_home: Path) -> Iterator[Lake]:
    with Lake.open(counted_home) as opened:
        opened.tables.create(
            EVENTS, schema=fixtures_lake.EVENTS_SCHEMA, partition=["day(ts)"], sort="id"
        )
        opened.tables.alter(EVENTS, properties={"icehouse.maintenance.quiet-period": "0s"})
        yield opened


def table(lake: Lake) -> Table:
    return fixtures_lake.iceberg_table(lake, EVENTS)


def test_a_round_after_a_round_with_no_commit_reads_no_manifest(lake: Lake) -> None:
    append_batches(lake, per_day=2)  # two small files per day: nothing to compact yet
    avro_opened()

    first = lake.maintenance.run([EVENTS])
    assert [a.action for a in first.planned] == ["orphans"]
    assert avro_opened()  # the first round decodes the table's manifests

    second = lake.maintenance.run([EVENTS])
    assert second.planned == []  # swept last round, nothing else due
    # Only the round's own export of the audit trail, a commit to its own table, reads Avro.
    assert [path for path in avro_opened() if "/icehouse_system/" not in path] == []


def test_a_commit_between_rounds_is_seen_and_only_its_manifests_are_read(lake: Lake) -> None:
    append_batches(lake, per_day=2)
    lake.maintenance.run([EVENTS])
    seen = set(avro_opened())

    append_batches(lake, per_day=3)  # five fragments per day: due for compaction
    avro_opened()
    report = lake.maintenance.run([EVENTS])

    assert [a.action for a in report.planned] == ["compact"]
    assert len(report.planned[0].partitions) == 3
    assert seen.isdisjoint(avro_opened())  # what the last round decoded is not read again
    assert len(data_files(table(lake))) == 3
    assert lake.sql(f"SELECT count(*) AS n FROM {EVENTS}").to_pylist() == [{"n": 3 * 5 * 20}]


def test_two_lakes_in_one_process_share_no_manifest_cache(lake: Lake, counted_home: Path) -> None:
    append_batches(lake, per_day=2)
    lake.maintenance.run([EVENTS], dry_run=True)
    avro_opened()

    with Lake.open(counted_home) as other:
        other.maintenance.run([EVENTS], dry_run=True)
        assert avro_opened()  # the other lake decodes for itself

    lake.maintenance.run([EVENTS], dry_run=True)
    assert avro_opened() == []
