"""End to end on a real S3 server (SeaweedFS): files landing under an S3 prefix are
ingested exactly once into an Iceberg table, dotfiles and ``*.tmp`` objects are left
alone, and ``on_success = "delete"`` removes what was committed."""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq
import pytest

from icehouse.config import CONFIG_FILE, SourceConfig
from icehouse.lake import Lake
from tests import fixtures_lake

if TYPE_CHECKING:
    from tests.conftest import S3Server

pytestmark = pytest.mark.s3

TABLE = "landing.events"
SCHEMA = {"id": "long!", "name": "string", "amount": "double"}


# --- helpers ----------------------------------------------------------------------------


def configure(home: Path, server: S3Server, *, warehouse: str | None = None) -> None:
    """Fill ``[storage]`` (and optionally ``warehouse``) the way a person edits the file.

    The keys are quoted: bare ``s3.endpoint = ...`` is a dotted key in TOML, i.e. a
    nested table ``s3 = {endpoint = ...}``, not the flat key PyIceberg expects.
    """
    path = home / CONFIG_FILE
    text = path.read_text()
    storage = "".join(f'"{key}" = "{value}"\n' for key, value in server.storage.items())
    assert "\n[storage]\n" in text
    text = text.replace("\n[storage]\n", "\n[storage]\n" + storage, 1)
    if warehouse is not None:
        assert '\nwarehouse = "warehouse"\n' in text
        text = text.replace('\nwarehouse = "warehouse"\n', f'\nwarehouse = "{warehouse}"\n', 1)
    path.write_text(text)


def rows(start: int, count: int) -> list[dict[str, object]]:
    return [{"id": i, "name": f"event {i}", "amount": i * 0.5} for i in range(start, start + count)]


def jsonl_gz(records: list[dict[str, object]]) -> bytes:
    return gzip.compress("".join(json.dumps(r) + "\n" for r in records).encode())


def parquet(records: list[dict[str, object]]) -> bytes:
    table = pa.Table.from_pylist(
        records,
        schema=pa.schema([("id", pa.int64()), ("name", pa.string()), ("amount", pa.float64())]),
    )
    out = io.BytesIO()
    pq.write_table(table, out)
    return out.getvalue()


def put(filesystem: pafs.FileSystem, path: str, data: bytes) -> None:
    # compression=None: by default pyarrow gzips again what is written to a "*.gz" path.
    with filesystem.open_output_stream(path, compression=None) as out:
        out.write(data)


def objects(filesystem: pafs.FileSystem, base: str) -> set[str]:
    """Object keys under ``base``, relative to it (directory markers left out)."""
    infos = filesystem.get_file_info(pafs.FileSelector(base, recursive=True, allow_not_found=True))
    return {i.path[len(base) + 1 :] for i in infos if i.type == pafs.FileType.File}


def ids(lake: Lake) -> list[int]:
    return lake.sql(f"SELECT id FROM {TABLE} ORDER BY id").column("id").to_pylist()


# --- the test -----------------------------------------------------------------------------


def test_s3_prefix_is_ingested_exactly_once(
    tmp_path: Path, s3_server: S3Server, s3_filesystem: pafs.S3FileSystem, s3_bucket: str
) -> None:
    home = tmp_path / "lake"
    Lake.init(home)
    configure(home, s3_server)
    base = f"{s3_bucket}/landing"
    fs = s3_filesystem

    # jsonl (gzip), kept after ingestion; nested "folders" are listed recursively.
    put(fs, f"{base}/jsonl/2024/06/01/a.jsonl.gz", jsonl_gz(rows(0, 100)))
    put(fs, f"{base}/jsonl/b.jsonl.gz", jsonl_gz(rows(100, 50)))
    # parquet, deleted once committed.
    put(fs, f"{base}/parquet/p1.parquet", parquet(rows(1000, 70)))
    # Never complete files: dotfiles, dot-folders and temporary names.
    ignored = {
        "jsonl/.a-being-written.jsonl.gz": jsonl_gz(rows(9000, 5)),
        "jsonl/.staging/c.jsonl.gz": jsonl_gz(rows(9100, 5)),
        "jsonl/d.jsonl.gz.tmp": jsonl_gz(rows(9200, 5)),
        "parquet/.p2.parquet": parquet(rows(9300, 5)),
        "parquet/p3.parquet.tmp": parquet(rows(9400, 5)),
        "parquet/p4.parquet.part": parquet(rows(9500, 5)),
    }
    for relative, data in ignored.items():
        put(fs, f"{base}/{relative}", data)

    lake = Lake.open(home)
    try:
        lake.tables.create(TABLE, schema=SCHEMA)
        lake.sources.add(
            SourceConfig(
                name="events_jsonl",
                location=f"s3://{base}/jsonl",
                table=TABLE,
                format="jsonl",
                glob="*",
                compression="auto",
            )
        )
        lake.sources.add(
            SourceConfig(
                name="events_parquet",
                location=f"s3://{base}/parquet",
                table=TABLE,
                format="parquet",
                glob="*",
                on_success="delete",
            )
        )

        first = lake.ingest()
        assert (first.files, first.rows, first.bad_rows, first.quarantined_files) == (3, 220, 0, 0)
        assert ids(lake) == list(range(150)) + list(range(1000, 1070))
        summary = lake.sql(
            f"SELECT count(*) AS n, sum(id) AS ids, sum(amount) AS amount, "
            f"count(DISTINCT name) AS names FROM {TABLE}"
        ).to_pylist()
        expected_ids = sum(range(150)) + sum(range(1000, 1070))
        assert summary == [
            {"n": 220, "ids": expected_ids, "amount": expected_ids * 0.5, "names": 220}
        ]
        assert lake.sql(
            f"SELECT id, name, amount FROM {TABLE} WHERE id IN (0, 149, 1069) ORDER BY id"
        ).to_pylist() == [
            {"id": 0, "name": "event 0", "amount": 0.0},
            {"id": 149, "name": "event 149", "amount": 74.5},
            {"id": 1069, "name": "event 1069", "amount": 534.5},
        ]
        snapshots = len(fixtures_lake.iceberg_table(lake, TABLE).metadata.snapshots)

        # on_success = "delete" removed the committed parquet object, nothing else.
        assert objects(fs, f"{base}/parquet") == {
            r.removeprefix("parquet/") for r in ignored if r.startswith("parquet/")
        }
        assert objects(fs, f"{base}/jsonl") == {"2024/06/01/a.jsonl.gz", "b.jsonl.gz"} | {
            r.removeprefix("jsonl/") for r in ignored if r.startswith("jsonl/")
        }

        # A second run finds nothing new: no rows, no snapshot.
        second = lake.ingest()
        assert (second.files, second.rows, second.duplicate_files) == (0, 0, 0)
        assert len(fixtures_lake.iceberg_table(lake, TABLE).metadata.snapshots) == snapshots
        assert lake.sql(f"SELECT count(*) AS n FROM {TABLE}").to_pylist() == [{"n": 220}]

        # Files that land later are ingested by the next run, and only they.
        put(fs, f"{base}/jsonl/2024/06/02/e.jsonl.gz", jsonl_gz(rows(150, 30)))
        put(fs, f"{base}/parquet/p5.parquet", parquet(rows(1070, 30)))
        third = lake.ingest()
        assert (third.files, third.rows) == (2, 60)
        assert ids(lake) == list(range(180)) + list(range(1000, 1100))
        assert "p5.parquet" not in objects(fs, f"{base}/parquet")
        assert "2024/06/02/e.jsonl.gz" in objects(fs, f"{base}/jsonl")

        # Once a temporary object is renamed into place, it is complete and ingested.
        fs.move(f"{base}/jsonl/d.jsonl.gz.tmp", f"{base}/jsonl/d.jsonl.gz")
        fourth = lake.ingest()
        assert (fourth.files, fourth.rows) == (1, 5)
        assert lake.sql(f"SELECT count(*) AS n FROM {TABLE}").to_pylist() == [{"n": 285}]
        assert lake.ingest().files == 0
    finally:
        lake.close()


def test_s3_warehouse(
    tmp_path: Path, s3_server: S3Server, s3_filesystem: pafs.S3FileSystem, make_s3_bucket
) -> None:
    """Table data and metadata on S3 too (``warehouse = "s3://..."``)."""
    landing_bucket, warehouse_bucket = make_s3_bucket("landing"), make_s3_bucket("warehouse")
    home = tmp_path / "lake"
    Lake.init(home)
    configure(home, s3_server, warehouse=f"s3://{warehouse_bucket}/lake")
    put(s3_filesystem, f"{landing_bucket}/in/a.jsonl.gz", jsonl_gz(rows(0, 40)))
    put(s3_filesystem, f"{landing_bucket}/in/b.parquet", parquet(rows(40, 60)))

    lake = Lake.open(home)
    try:
        table = lake.tables.create(TABLE, schema=SCHEMA)
        assert table.location.startswith(f"s3://{warehouse_bucket}/lake/")
        for name, fmt, glob in (("j", "jsonl", "*.jsonl.gz"), ("p", "parquet", "*.parquet")):
            lake.sources.add(
                SourceConfig(
                    name=name,
                    location=f"s3://{landing_bucket}/in",
                    table=TABLE,
                    format=fmt,
                    glob=glob,
                )
            )
        report = lake.ingest()
        assert (report.files, report.rows) == (2, 100)
        assert ids(lake) == list(range(100))
        assert lake.ingest().files == 0

        table = fixtures_lake.iceberg_table(lake, TABLE)
        assert table.metadata_location.startswith(f"s3://{warehouse_bucket}/lake/")
        data_files = [task.file.file_path for task in table.scan().plan_files()]
        assert data_files and all(
            p.startswith(f"s3://{warehouse_bucket}/lake/") for p in data_files
        )
        stored = objects(s3_filesystem, f"{warehouse_bucket}/lake")
        assert any(p.endswith(".parquet") and "/data/" in f"/{p}" for p in stored)
        assert any(p.endswith(".metadata.json") for p in stored)
    finally:
        lake.close()
    # Nothing of the table was written to the lake home.
    assert not (home / "warehouse").exists() or not any((home / "warehouse").rglob("*.parquet"))
