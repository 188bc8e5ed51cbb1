"""A compressed file too large to keep decompressed in memory is decompressed once: the
bytes hashed are spooled aside and decoded from there, not read and inflated again. Its
content hash is still that of its decompressed bytes, so a recompressed copy is a
duplicate."""

from __future__ import annotations

import gzip
import json
import os
import tempfile
from pathlib import Path

import pyarrow.fs as pafs
import pytest
import xxhash
import zstandard

from icehouse.ingest.content import MAX_WHOLE_COMPRESSED_BYTES, read_content
from icehouse.ingest.decode import FormatOptions, decode_file
from icehouse.lake import Lake
from tests import fixtures_lake
from tests.fixtures_lake import EVENTS, add_source, event

home, lake, landing, events = (
    fixtures_lake.home,
    fixtures_lake.lake,
    fixtures_lake.landing,
    fixtures_lake.events,
)

ROWS = 90_000


@pytest.fixture(scope="module")
def plain() -> bytes:
    """JSON lines whose random countries keep gzip from shrinking them below 4 MB."""
    noise = os.urandom(40 * ROWS).hex()
    return b"".join(
        json.dumps(event(i, country=noise[80 * i : 80 * i + 80])).encode() + b"\n"
        for i in range(ROWS)
    )


@pytest.fixture(scope="module")
def gzipped(plain: bytes) -> bytes:
    data = gzip.compress(plain, compresslevel=1)
    assert len(data) > MAX_WHOLE_COMPRESSED_BYTES  # too large to keep decompressed
    return data


def count(lake: Lake) -> int:
    return lake.sql(f"SELECT count(DISTINCT id) AS n FROM {EVENTS}").to_pylist()[0]["n"]


def test_a_large_gzip_file_is_ingested_once_and_a_recompressed_copy_is_a_duplicate(
    lake: Lake, landing: Path, events: object, plain: bytes, gzipped: bytes
) -> None:
    add_source(lake, "s", landing)
    (landing / "big.jsonl.gz").write_bytes(gzipped)

    first = lake.ingest()

    assert (first.files, first.rows, first.duplicate_files) == (1, ROWS, 0)
    assert count(lake) == ROWS
    (landing / "copy.jsonl.zst").write_bytes(zstandard.ZstdCompressor(level=3).compress(plain))
    (landing / "copy.jsonl").write_bytes(plain)

    again = lake.ingest()

    assert (again.files, again.duplicate_files) == (0, 2)
    assert count(lake) == ROWS
    assert lake.sql(f"SELECT count(*) AS n FROM {EVENTS}").to_pylist() == [{"n": ROWS}]


@pytest.mark.parametrize("whole", [True, False], ids=["read whole", "streamed"])
def test_a_spooled_file_decodes_without_reading_the_file_again(
    tmp_path: Path, plain: bytes, gzipped: bytes, whole: bool
) -> None:
    path = tmp_path / "big.jsonl.gz"
    path.write_bytes(gzipped)

    with read_content(
        pafs.LocalFileSystem(), str(path), "auto", whole=whole, spool=True
    ) as content:
        path.unlink()  # whatever decodes now cannot have come from the file
        chunks = list(
            decode_file(
                pafs.LocalFileSystem(), str(path), FormatOptions("jsonl"), spool=content.spool
            )
        )

    assert content.data is None  # never held whole in memory
    assert content.digest == xxhash.xxh3_128_hexdigest(plain)
    assert content.size == len(plain)
    assert sum(c.table.num_rows for c in chunks) == ROWS
    assert chunks[-1].table.column("id").to_pylist()[-1] == ROWS - 1


def test_without_a_usable_temporary_folder_the_file_is_decoded_from_storage(
    tmp_path: Path, plain: bytes, gzipped: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "no-such-folder"))
    path = tmp_path / "big.jsonl.gz"
    path.write_bytes(gzipped)
    filesystem = pafs.LocalFileSystem()

    with read_content(filesystem, str(path), "auto", whole=True, spool=True) as content:
        chunks = list(
            decode_file(filesystem, str(path), FormatOptions("jsonl"), spool=content.spool)
        )

    assert content.spool is None
    assert content.digest == xxhash.xxh3_128_hexdigest(plain)
    assert sum(c.table.num_rows for c in chunks) == ROWS
