"""Ingestion benchmark: every figure printed beside its reference, one run.

    python benchmarks/ingest.py                       # all sections, default sizes
    python benchmarks/ingest.py --sections throughput --rows 1000000
    python benchmarks/ingest.py --sections memory --memory-mb 5000

Sections:
- throughput: icehouse end to end on one core vs the raw limit (the fastest plain
  decode + the same mapping + sort + zstd Parquet write, no Iceberg/ledger/quarantine),
  measured with DuckDB, pyarrow and (if installed) Polars; median of interleaved runs;
  where icehouse's extra time goes.
- streaming: files arriving at a steady rate into ``ingest --follow``; landing-to-visible
  latency percentiles against commit interval + 2 s.
- commits: 1,000 micro-batch commits; first 100 vs last 100 (and PyIceberg alone).
- memory: peak RSS ingesting one big file, against 1 GB.
- hashing: what recognising a delivery by its decompressed content costs, per file
  format and codec: hashing the stored bytes (the old rule) against decompressing and
  hashing (the rule now), and against decoding the same files; then a large compressed
  file (over 4 MB) hashed and decoded, inflated twice (before) against spooled (now).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import resource
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from queue import Empty
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from pyiceberg.table import Table  # noqa: E402

from common import pin_to_one_core, table_print  # noqa: E402
from icehouse.demo.generator import GeneratorConfig, generate  # noqa: E402
from icehouse.demo.workload import SCHEMA, TABLE, demo_sources  # noqa: E402
from icehouse.lake import Lake  # noqa: E402
from icehouse.tables.catalog import load_table  # noqa: E402

SORT = "customer_id, requested_at"
DUCKDB_MAPPING = """
    CAST(ts AS TIMESTAMPTZ) AS requested_at, CAST(tenant AS BIGINT) AS customer_id,
    upper(client.country) AS country, CAST(edge.response.status AS INTEGER) AS status,
    CAST(edge.response.bytes AS BIGINT) AS bytes_sent, request.path AS path,
    client.ua AS user_agent, edge.cache AS cache_status, CAST(timing.ms AS DOUBLE) AS latency_ms,
    'fastedge' AS provider
"""


# -- data ---------------------------------------------------------------------------------


def make_landing(root: Path, rows: int) -> tuple[list[Path], int]:
    """gzip JSON-lines files of the fastedge provider, no bad lines (the raw-limit readers
    would stop at one)."""
    config = GeneratorConfig(
        rows=int(rows / 0.45) + 1, days=7, malformed_lines=0, late_rows=0, files_per_day=2
    )
    logs = generate(root, config)
    files = [f.path for f in logs.files if f.provider == "fastedge"]
    return files, sum(f.rows for f in logs.files if f.provider == "fastedge")


def fresh_lake(home: Path, landing: Path, glob: str = "*.jsonl.gz", **ingest: str) -> None:
    if home.exists():
        shutil.rmtree(home)
    Lake.init(home)
    config = home / "icehouse.toml"
    text = config.read_text()
    for key, value in ingest.items():
        text = text.replace(f"{key} = ", f"# {key} = ", 1) + ""
        text = text.replace("[ingest]\n", f"[ingest]\n{key} = {json.dumps(value)}\n", 1)
    config.write_text(text)
    lake = Lake.open(home)
    lake.tables.create(TABLE, schema=SCHEMA, partition=["day(requested_at)"], sort=SORT)
    source = next(s for s in demo_sources(landing) if s.name == "fastedge")
    lake.sources.add(
        source.model_copy(update={"location": str(landing / "fastedge"), "glob": glob})
    )
    lake.close()


# -- one-core runs in child processes ---------------------------------------------------


def _child(target: Callable[..., dict[str, Any]], args: tuple[Any, ...], queue: Any) -> None:
    pin_to_one_core()
    started = time.perf_counter()
    before = resource.getrusage(resource.RUSAGE_SELF)
    result = target(*args)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    result.update(
        wall=time.perf_counter() - started,
        cpu=usage.ru_utime + usage.ru_stime - before.ru_utime - before.ru_stime,
        max_rss_mb=usage.ru_maxrss / 1024,
    )
    queue.put(result)


def run_isolated(target: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    context = mp.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_child, args=(target, args, queue))
    process.start()
    while True:
        try:
            result = queue.get(timeout=1.0)
            break
        except Empty:
            if not process.is_alive():
                raise RuntimeError(f"{target.__name__} failed in its child process") from None
    process.join()
    return result


def raw_duckdb(files: list[str], out: str) -> dict[str, Any]:
    import duckdb

    conn = duckdb.connect()
    conn.execute("SET threads = 1")
    conn.execute("SET enable_progress_bar = false")
    listing = ", ".join(f"'{f}'" for f in files)
    conn.execute(
        f"COPY (SELECT {DUCKDB_MAPPING}, CAST(ts AS TIMESTAMPTZ)::DATE AS day "
        f"FROM read_json([{listing}], format = 'newline_delimited') ORDER BY day, {SORT}) "
        f"TO '{out}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 131072, "
        "PARTITION_BY (day), OVERWRITE_OR_IGNORE)"
    )
    return {}


def raw_pyarrow(files: list[str], out: str) -> dict[str, Any]:
    import duckdb
    import pyarrow as pa
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    pa.set_cpu_count(1)
    conn = duckdb.connect()
    conn.execute("SET threads = 1")
    os.makedirs(out, exist_ok=True)
    for i, path in enumerate(files):
        table = pj.read_json(
            path, read_options=pj.ReadOptions(use_threads=False, block_size=4 << 20)
        )
        conn.register("src", table)
        mapped = conn.execute(
            f"SELECT {DUCKDB_MAPPING} FROM src ORDER BY CAST(ts AS TIMESTAMPTZ)::DATE, {SORT}"
        ).to_arrow_table()
        conn.unregister("src")
        pq.write_table(mapped, f"{out}/{i}.parquet", compression="zstd", row_group_size=131072)
    return {}


def raw_polars(files: list[str], out: str) -> dict[str, Any]:
    import polars as pl

    os.makedirs(out, exist_ok=True)
    for i, path in enumerate(files):
        frame = pl.read_ndjson(path)
        mapped = frame.select(
            pl.col("ts").str.to_datetime(time_zone="UTC").alias("requested_at"),
            pl.col("tenant").cast(pl.Int64).alias("customer_id"),
            pl.col("client").struct.field("country").str.to_uppercase().alias("country"),
            pl.col("edge")
            .struct.field("response")
            .struct.field("status")
            .cast(pl.Int32)
            .alias("status"),
            pl.col("edge")
            .struct.field("response")
            .struct.field("bytes")
            .cast(pl.Int64)
            .alias("bytes_sent"),
            pl.col("request").struct.field("path").alias("path"),
            pl.col("client").struct.field("ua").alias("user_agent"),
            pl.col("edge").struct.field("cache").alias("cache_status"),
            pl.col("timing").struct.field("ms").cast(pl.Float64).alias("latency_ms"),
            pl.lit("fastedge").alias("provider"),
        ).sort([pl.col("requested_at").dt.date(), "customer_id", "requested_at"])
        mapped.write_parquet(f"{out}/{i}.parquet", compression="zstd", row_group_size=131072)
    return {}


def icehouse_ingest(home: str) -> dict[str, Any]:
    import pyarrow as pa

    pa.set_cpu_count(1)
    lake = Lake.open(Path(home))
    report = lake.ingest()
    lake.close()
    return {"rows": report.rows, "timings": report.timings, "batches": report.batches}


# -- sections -------------------------------------------------------------------------------


def throughput(work: Path, rows: int, runs: int) -> None:
    files, total = make_landing(work / "landing", rows)
    raw_bytes = sum(p.stat().st_size for p in files)
    names = [str(p) for p in files]
    print(
        f"\n## Throughput on one core: {total:,} CDN rows in {len(files)} gzip JSON-lines "
        f"files ({raw_bytes / 1e6:.1f} MB compressed)\n"
    )
    contenders: dict[str, Callable[[], dict[str, Any]]] = {
        "raw limit: DuckDB read_json+map+sort+write": lambda: run_isolated(
            raw_duckdb, names, str(work / "out-duckdb")
        ),
        "raw limit: pyarrow decode+map+sort+write": lambda: run_isolated(
            raw_pyarrow, names, str(work / "out-pyarrow")
        ),
    }
    try:
        import polars  # noqa: F401

        contenders["raw limit: Polars decode+map+sort+write"] = lambda: run_isolated(
            raw_polars, names, str(work / "out-polars")
        )
    except ImportError:
        print("(Polars not installed: its raw-limit row is skipped)")

    def icehouse() -> dict[str, Any]:
        fresh_lake(work / "lake", work / "landing")
        return run_isolated(icehouse_ingest, str(work / "lake"))

    contenders["icehouse ingest (Iceberg, ledger, quarantine, hashing)"] = icehouse
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in contenders}
    for _ in range(runs):
        for name, run in contenders.items():
            for out in work.glob("out-*"):
                shutil.rmtree(out)
            results[name].append(run())
    rows_out = []
    medians = {}
    for name, samples in results.items():
        wall = statistics.median(s["wall"] for s in samples)
        cpu = statistics.median(s["cpu"] for s in samples)
        medians[name] = wall
        rows_out.append(
            [
                name,
                f"{wall:.2f}",
                f"{cpu:.2f}",
                f"{total / wall:,.0f}",
                f"{raw_bytes / 1e6 / wall:.1f}",
            ]
        )
    table_print([f"run (median of {runs})", "wall s", "CPU s", "rows/s", "MB/s (gz)"], rows_out)
    best_raw = min(v for k, v in medians.items() if k.startswith("raw"))
    ours = medians["icehouse ingest (Iceberg, ledger, quarantine, hashing)"]
    print(
        f"\nicehouse / fastest raw limit: {best_raw / ours:.0%} of the raw throughput "
        f"(goal ≥ 85 %); {total / ours:,.0f} rows/s per core (goal ≈ 270,000)"
    )
    timings = results["icehouse ingest (Iceberg, ledger, quarantine, hashing)"][-1]["timings"]
    print(
        "where icehouse's time goes (last run): "
        + ", ".join(f"{k} {v:.2f} s" for k, v in sorted(timings.items(), key=lambda kv: -kv[1]))
    )


def streaming(work: Path, seconds: float, files_per_second: float, interval: str) -> None:
    import datetime as dt

    import duckdb
    import numpy as np
    from sqlalchemy import select

    from icehouse.config import ColumnMapping  # noqa: F401
    from icehouse.demo.generator import cdn_rows
    from icehouse.state.models import batches, files

    landing = work / "stream-landing"
    (landing / "fastedge").mkdir(parents=True, exist_ok=True)
    fresh_lake(work / "stream-lake", landing, glob="*.jsonl", commit_interval=interval)
    rng = np.random.default_rng(1)
    block = cdn_rows(3000, day=dt.date(2024, 6, 1), tenants=2000, rng=rng)
    conn = duckdb.connect()
    conn.register("b", block)
    template = work / "template.jsonl"
    conn.execute(
        "COPY (SELECT strftime(requested_at, '%Y-%m-%dT%H:%M:%S.%fZ') AS ts, "
        "customer_id AS tenant, "
        "{'country': lower(country), 'ua': user_agent} AS client, "
        "{'response': {'status': status, 'bytes': bytes_sent}, 'cache': cache_status} AS edge, "
        "{'path': path} AS request, {'ms': latency_ms} AS timing FROM b) "
        f"TO '{template}' (FORMAT json)"
    )
    payload = template.read_bytes()
    print(
        f"\n## Streaming: {files_per_second:g} files/s of {len(payload) / 1e6:.1f} MB "
        f"({3000} rows) for {seconds:g} s, commit interval {interval}\n"
    )
    stop = threading.Event()
    lake = Lake.open(work / "stream-lake")
    follower = threading.Thread(target=lambda: lake.ingest(follow=True, stop=stop))
    follower.start()
    started = time.time()
    count = 0
    while time.time() - started < seconds:
        unique = payload.replace(b'"tenant":', f'"seq":{count},"tenant":'.encode(), 1)
        part = landing / "fastedge" / f".f{count:05d}.part"
        part.write_bytes(unique)
        part.rename(landing / "fastedge" / f"f{count:05d}.jsonl")
        count += 1
        time.sleep(max(0.0, started + count / files_per_second - time.time()))
    deadline = time.time() + 60
    while time.time() < deadline:
        with lake._engine.connect() as c:
            done = c.execute(select(files.c.id).where(files.c.state == "committed")).all()
        if len(done) >= count:
            break
        time.sleep(0.5)
    stop.set()
    follower.join()
    with lake._engine.connect() as c:
        rows = c.execute(
            select(files.c.mtime, batches.c.committed_at)
            .join(batches, batches.c.id == files.c.batch_id)
            .where(files.c.state == "committed")
        ).all()
    latencies = sorted(committed - landed for landed, committed in rows)
    q = statistics.quantiles(latencies, n=100)
    goal = float(interval.rstrip("s")) + 2
    table_print(
        ["files", "p50 s", "p95 s", "max s", "goal p95 ≤ s"],
        [
            [
                str(len(latencies)),
                f"{q[49]:.2f}",
                f"{q[94]:.2f}",
                f"{latencies[-1]:.2f}",
                f"{goal:g}",
            ]
        ],
    )
    lake.close()


def commits(work: Path, count: int, pyiceberg_count: int) -> None:
    import gzip

    import pyarrow as pa

    from icehouse.ingest.report import NoProgress

    landing = work / "commit-landing"
    (landing / "fastedge").mkdir(parents=True, exist_ok=True)
    for i in range(count):
        line = json.dumps({"ts": "2024-06-01T00:00:00Z", "tenant": i, "client": {"country": "us"}})
        (landing / "fastedge" / f"f{i:05d}.jsonl.gz").write_bytes(
            gzip.compress(line.encode() + b"\n")
        )
    fresh_lake(work / "commit-lake", landing, batch_files="1")
    text = (
        (work / "commit-lake" / "icehouse.toml")
        .read_text()
        .replace('batch_files = "1"', "batch_files = 1")
    )
    (work / "commit-lake" / "icehouse.toml").write_text(text)

    class Timings(NoProgress):
        def __init__(self) -> None:
            self.seconds: list[float] = []

        def batch_committed(
            self, table: str, rows: int, files: int, seconds: float, lag: float | None
        ) -> None:
            self.seconds.append(seconds)

    timings = Timings()
    lake = Lake.open(work / "commit-lake")
    lake.ingest(progress=timings)
    snapshots = len(iceberg_table(lake, TABLE).metadata.snapshots)
    lake.close()
    first, last = statistics.mean(timings.seconds[:100]), statistics.mean(timings.seconds[-100:])

    ref_home = work / "pyiceberg-only"
    Lake.init(ref_home)
    ref = Lake.open(ref_home)
    ref.tables.create("ref.t", schema={"a": "long"})
    table = iceberg_table(ref, "ref.t")
    arrow = pa.table({"a": pa.array([1], pa.int64())})
    ref_seconds = []
    for _ in range(pyiceberg_count):
        started = time.perf_counter()
        table.append(arrow)
        ref_seconds.append(time.perf_counter() - started)
    ref.close()
    ref_first = statistics.mean(ref_seconds[:100])
    ref_last = statistics.mean(ref_seconds[-100:])
    print(f"\n## {len(timings.seconds):,} micro-batch commits in a row\n")
    table_print(
        [
            "writer",
            "commits",
            "first 100 ms",
            "last 100 ms",
            "last/first",
            "goal",
            "snapshots kept",
        ],
        [
            [
                "icehouse",
                str(len(timings.seconds)),
                f"{first * 1000:.0f}",
                f"{last * 1000:.0f}",
                f"{last / first:.2f}×",
                "≤ 2×",
                str(snapshots),
            ],
            [
                "PyIceberg table.append alone",
                str(pyiceberg_count),
                f"{ref_first * 1000:.0f}",
                f"{ref_last * 1000:.0f}",
                f"{ref_last / ref_first:.2f}×",
                "(reference)",
                str(pyiceberg_count),
            ],
        ],
    )


def memory(work: Path, megabytes: int) -> None:
    landing = work / "memory-landing"
    files, _ = make_landing(work / "memory-seed", 100_000)
    import gzip

    seed = gzip.decompress(files[0].read_bytes())
    (landing / "fastedge").mkdir(parents=True, exist_ok=True)
    big = landing / "fastedge" / "big.jsonl"
    written = 0
    with big.open("wb") as out:
        while written < megabytes * 1_000_000:
            out.write(seed)
            written += len(seed)
    fresh_lake(work / "memory-lake", landing, glob="*.jsonl")
    result = run_isolated(icehouse_ingest, str(work / "memory-lake"))
    print(f"\n## Memory: one {written / 1e6:,.0f} MB JSON-lines file\n")
    table_print(
        ["rows", "wall s", "peak RSS MB", "goal"],
        [
            [
                f"{result['rows']:,}",
                f"{result['wall']:.1f}",
                f"{result['max_rss_mb']:.0f}",
                "< 1,000 MB",
            ]
        ],
    )


def decode_only(engine: str, fmt: str, files: list[str]) -> dict[str, Any]:
    """Decode the files to Arrow with one engine, nothing else (one core)."""
    import duckdb
    import pyarrow as pa
    import pyarrow.csv as pcsv
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    pa.set_cpu_count(1)
    conn = duckdb.connect()
    conn.execute("SET threads = 1")
    rows = 0
    for path in files:
        if engine == "pyarrow":
            if fmt == "parquet":
                table = pq.read_table(path)
            else:
                codec = "gzip" if path.endswith(".gz") else "zstd"
                stream = pa.CompressedInputStream(pa.OSFile(path), codec)
                if fmt == "jsonl":
                    table = pj.read_json(stream, read_options=pj.ReadOptions(use_threads=False))
                else:
                    table = pcsv.read_csv(
                        stream,
                        read_options=pcsv.ReadOptions(use_threads=False),
                        parse_options=pcsv.ParseOptions(invalid_row_handler=lambda row: "skip"),
                    )
            rows += table.num_rows
        elif engine == "duckdb":
            reader = {"jsonl": "read_json", "csv": "read_csv", "parquet": "read_parquet"}[fmt]
            options = ", ignore_errors = true" if fmt != "parquet" else ""
            rows += (
                conn.execute(f"SELECT * FROM {reader}('{path}'{options})").to_arrow_table().num_rows
            )
        else:
            import polars as pl

            if fmt == "parquet":
                frame = pl.read_parquet(path)
            else:
                codec = "gzip" if path.endswith(".gz") else "zstd"
                data = pa.CompressedInputStream(pa.OSFile(path), codec).read()
                frame = (
                    pl.read_ndjson(data, ignore_errors=True)
                    if fmt == "jsonl"
                    else pl.read_csv(
                        data, comment_prefix="#", ignore_errors=True, truncate_ragged_lines=True
                    )
                )
            rows += frame.to_arrow().num_rows
    return {"rows": rows}


def decoders(work: Path, rows: int) -> None:
    logs = generate(work / "decoders", GeneratorConfig(rows=rows, days=7, malformed_lines=0))
    by_format = {
        "jsonl (gzip)": ("jsonl", [str(f.path) for f in logs.files if f.provider == "fastedge"]),
        "csv (zstd)": ("csv", [str(f.path) for f in logs.files if f.provider == "cloudy"]),
        "parquet": ("parquet", [str(f.path) for f in logs.files if f.provider == "parquetcdn"]),
    }
    engines = ["pyarrow", "duckdb"]
    try:
        import polars  # noqa: F401

        engines.append("polars")
    except ImportError:
        print("(Polars not installed: its column is skipped)")
    print(f"\n## Decoders on one core (decode to Arrow only), {rows:,} demo rows\n")
    body = []
    for label, (fmt, files) in by_format.items():
        walls = {}
        for engine in engines:
            samples = [run_isolated(decode_only, engine, fmt, files)["wall"] for _ in range(3)]
            walls[engine] = statistics.median(samples)
        best = min(walls, key=walls.get)  # type: ignore[arg-type]
        body.append([label, *(f"{walls[e]:.2f}" for e in engines), best, "pyarrow"])
    table_print(["format", *(f"{e} s" for e in engines), "fastest", "icehouse uses"], body)


def hash_only(rule: str, paths: list[str]) -> dict[str, Any]:
    """Hash the files the way ``rule`` says (one core)."""
    import pyarrow as pa
    import pyarrow.fs as pafs
    import xxhash

    from icehouse.ingest.content import read_content

    pa.set_cpu_count(1)
    filesystem = pafs.LocalFileSystem()
    for path in paths:
        if rule == "stored":
            xxhash.xxh3_128_hexdigest(Path(path).read_bytes())
        else:
            read_content(filesystem, path, "auto", whole=rule == "decompressed, kept whole")
    return {}


def hashing(work: Path, rows: int) -> None:
    logs = generate(work / "hashing", GeneratorConfig(rows=rows, days=7, malformed_lines=0))
    by_format = {
        "jsonl (gzip)": ("jsonl", [str(f.path) for f in logs.files if f.provider == "fastedge"]),
        "csv (zstd)": ("csv", [str(f.path) for f in logs.files if f.provider == "cloudy"]),
    }
    rules = ["stored", "decompressed, streamed", "decompressed, kept whole"]
    print(f"\n## Hashing a delivery on one core, {rows:,} demo rows\n")
    body = []
    for label, (fmt, paths) in by_format.items():
        walls = {
            rule: statistics.median(run_isolated(hash_only, rule, paths)["wall"] for _ in range(3))
            for rule in rules
        }
        decode = statistics.median(
            run_isolated(decode_only, "pyarrow", fmt, paths)["wall"] for _ in range(3)
        )
        body.append(
            [
                label,
                *(f"{walls[r]:.3f}" for r in rules),
                f"{decode:.2f}",
                f"{(walls['decompressed, streamed'] - walls['stored']) / decode:.0%}",
            ]
        )
    table_print(
        ["files", *(f"{r} s" for r in rules), "pyarrow decode s", "extra / decode"],
        body,
    )
    print(
        "Files up to 4 MB compressed (32 MB plain) are read and decompressed once, then "
        "hashed and decoded from the same bytes: their extra cost is the hash alone. The "
        "'extra' column is what a second decompression would cost a larger compressed file."
    )
    large_compressed(work / "hashing-large", by_format["jsonl (gzip)"][1])


def hash_then_read(rule: str, path: str, decode: bool) -> dict[str, Any]:
    """Hash a large compressed JSON-lines file as ingestion does, then hand its content to
    the decoder (``decode``) or only read it as the decoder would (one core). ``rule``:
    ``inflate twice`` (the file is read and decompressed again after hashing, as before)
    or ``spool`` (what was hashed was spooled, and the spool is read)."""
    import pyarrow as pa
    import pyarrow.fs as pafs

    from icehouse.ingest.batch import MAX_WHOLE_BYTES
    from icehouse.ingest.compression import open_decompressed
    from icehouse.ingest.content import HASH_BLOCK, read_content
    from icehouse.ingest.decode import FormatOptions, decode_file

    pa.set_cpu_count(1)
    filesystem = pafs.LocalFileSystem()
    whole = Path(path).stat().st_size <= MAX_WHOLE_BYTES
    spool = rule == "spool"
    rows = 0
    with read_content(filesystem, path, "auto", whole=whole, spool=spool) as content:
        if decode:
            options = FormatOptions("jsonl")
            for chunk in decode_file(filesystem, path, options, spool=content.spool):
                rows += chunk.table.num_rows
        else:
            spooled = content.spool
            stream = spooled.open() if spooled else open_decompressed(filesystem, path)
            with stream:
                while stream.read(HASH_BLOCK):
                    pass
    return {"rows": rows}


def large_compressed(folder: Path, paths: list[str]) -> None:
    """The demo's JSON lines as one file, gzip'd and zstd'd: both over 4 MB as stored, so
    ingestion does not keep their decompressed content in memory."""
    import gzip

    import pyarrow as pa

    folder.mkdir(parents=True, exist_ok=True)
    plain = b"".join(gzip.decompress(Path(p).read_bytes()) for p in paths)
    files = {
        "jsonl (gzip)": folder / "large.jsonl.gz",
        "jsonl (zstd)": folder / "large.jsonl.zst",
    }
    files["jsonl (gzip)"].write_bytes(gzip.compress(plain))
    files["jsonl (zstd)"].write_bytes(pa.compress(plain, codec="zstd", asbytes=True))
    rules = ["inflate twice", "spool"]
    print("\n## A large compressed file: hashed, then read by the decoder (one core)\n")
    body = []
    for label, path in files.items():
        for decode in (False, True):
            walls = {
                rule: statistics.median(
                    run_isolated(hash_then_read, rule, str(path), decode)["wall"] for _ in range(3)
                )
                for rule in rules
            }
            body.append(
                [
                    label,
                    f"{path.stat().st_size / 1e6:.1f} → {len(plain) / 1e6:.1f} MB",
                    "hash + decode" if decode else "hash + read decompressed",
                    *(f"{walls[r]:.3f}" for r in rules),
                    f"{walls['spool'] / walls['inflate twice']:.0%}",
                ]
            )
    table_print(
        ["file", "stored → plain", "work", *(f"{r} s" for r in rules), "spool / twice"], body
    )
    print(
        "Before: the file was read and decompressed to hash it, then again to decode it. "
        "Now what is hashed is spooled to a temporary file and "
        "decoded from there."
    )


def iceberg_table(lake: Lake, name: str) -> Table:
    """The raw PyIceberg table under the facade (benchmarks look below it)."""
    return load_table(lake._catalog, name)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sections", default="decoders,throughput,hashing,streaming,commits,memory"
    )
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--stream-seconds", type=float, default=30)
    parser.add_argument("--files-per-second", type=float, default=20)
    parser.add_argument("--commit-interval", default="5s")
    parser.add_argument("--commits", type=int, default=1000)
    parser.add_argument("--pyiceberg-commits", type=int, default=300)
    parser.add_argument("--memory-mb", type=int, default=1000)
    parser.add_argument("--work", type=Path, default=None, help="work folder (default: a temp dir)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="icehouse-bench-"))
    sections = args.sections.split(",")
    print(f"icehouse ingestion benchmark · {os.cpu_count()} cores · work dir {work}")
    if "decoders" in sections:
        decoders(work, args.rows)
    if "throughput" in sections:
        throughput(work, args.rows, args.runs)
    if "hashing" in sections:
        hashing(work, args.rows)
    if "streaming" in sections:
        streaming(work, args.stream_seconds, args.files_per_second, args.commit_interval)
    if "commits" in sections:
        commits(work, args.commits, args.pyiceberg_commits)
    if "memory" in sections:
        memory(work, args.memory_mb)
    if args.work is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
