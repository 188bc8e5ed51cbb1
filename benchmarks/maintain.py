"""Maintenance benchmark: every figure printed beside its reference, one run.

    python benchmarks/maintain.py                             # full scale (15-25 min, 2 cores)
    python benchmarks/maintain.py --rows 1000000 --no-spark   # a quick check
    python benchmarks/maintain.py --rebuild                   # build the table again

The table is demo-like (``demo.requests``: the demo's schema, day partitions, sort order
``customer_id, requested_at``, 2,000 Zipf-skewed tenants) and committed the way a
streaming lake leaves it: every ``--commits-per-day`` window of traffic is one fast
append of ``--files-per-commit`` small files (each sorted by the table order, as
ingestion writes them), with manifest merging off, so the table ends with one manifest
per commit. It is built once into ``--data`` and kept as a pristine copy: every
measurement that changes the table starts from a fresh copy of it (data files
hard-linked, which is safe because no engine rewrites a data file in place).

Sections, all in one run:

- layout: files, bytes, manifests before and after binpack, sort and z-order
  compaction, and for Q1 (one tenant, three days) the bytes and row groups read (counted
  from the Parquet footers of the files the query plans) and the time (median of
  ``--runs``), for the median and the largest tenant.
- planning: a one-day query's planning time (cold: no manifest decoded in this process,
  as in a new one; median of ``--planning-runs``) before and after ``rewrite_manifests``.
- rounds: repeated maintenance rounds on the table as built (no commit between them):
  the autopilot's planning and an orphan scan (dry runs, which change nothing), each
  round with a new manifest cache (before: every round decoded every manifest) against
  rounds through the lake's one cache (now); ``--only rounds`` runs this section alone.
- throughput: icehouse's binpack and sort (proofs included) against the raw limit, the
  fastest plain read (+ sort) + zstd Parquet write of the same files per day with no
  Iceberg and no verification, by pyarrow and by DuckDB; runs interleaved, medians.
- where icehouse's sort compaction spends its time: its stages, run one by one on one
  day's group, beside the plain pyarrow equivalents.
- engines: Spark 3.5's ``rewrite_data_files`` (``benchmarks/spark_rewrite.py`` in its own
  process, ``local[2]``) and iceberg-zamboni (DuckDB), binpack and sort, each on a fresh
  copy of the same table.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import itertools
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import traceback
import uuid
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.expressions import AlwaysTrue
from pyiceberg.table import Table

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import table_print  # noqa: E402
from icehouse.demo.generator import PROVIDERS, cdn_rows  # noqa: E402
from icehouse.demo.workload import SCHEMA, TABLE  # noqa: E402
from icehouse.lake import Lake  # noqa: E402
from icehouse.maintain.autopilot import Autopilot  # noqa: E402
from icehouse.maintain.compact_plan import (  # noqa: E402
    CompactOptions,
    plan_groups,
)
from icehouse.maintain.group_io import fingerprint_written, read_group  # noqa: E402
from icehouse.maintain.ordering import sort_ordering  # noqa: E402
from icehouse.maintain.proof import fingerprint  # noqa: E402
from icehouse.maintain.service import Maintenance  # noqa: E402
from icehouse.tables.append import fast_append  # noqa: E402
from icehouse.tables.catalog import load_table  # noqa: E402
from icehouse.tables.filters import pushdown_filter  # noqa: E402
from icehouse.tables.grammar import parse_sort_order  # noqa: E402
from icehouse.tables.manifest_cache import ManifestCache  # noqa: E402
from icehouse.tables.replace import ManifestIndex, replace_files  # noqa: E402
from icehouse.tables.scan import current_tasks, plan_scan  # noqa: E402
from icehouse.tables.writer import DEFAULT_ROW_GROUP_ROWS, TableWriter  # noqa: E402

SORT = "customer_id, requested_at"
FIRST_DAY = dt.date(2024, 6, 1)
Q1_DAYS = (1, 4)
"""Q1 reads days [1, 4) of the table: three of its seven days."""
PLANNING_DAY = 3
Q1_COLUMNS = ("requested_at", "customer_id", "bytes_sent")
SPARK_SCRIPT = HERE / "spark_rewrite.py"


# -- the table --------------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """What the cached table was built with; a different shape rebuilds it."""

    rows: int
    days: int
    commits_per_day: int
    files_per_commit: int
    late_share: float
    """Rows per commit that belong to one of the 3 previous days (late-arriving logs)."""
    tenants: int = 2_000
    seed: int = 3


@dataclass(frozen=True)
class Built:
    shape: Shape
    build_seconds: float
    largest_tenant: int
    median_tenant: int
    tenant_rows: dict[str, int]


def build(data: Path, shape: Shape) -> Built:
    """Build the table into ``data/lake`` and keep a pristine copy, unless cached."""
    marker = data / "built.json"
    if marker.exists():
        cached = json.loads(marker.read_text())
        if cached.pop("shape") == asdict(shape) and (data / "pristine").exists():
            return Built(shape=shape, **cached)
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    started = time.perf_counter()
    home = data / "lake"
    Lake.init(home)
    with Lake.open(home) as lake:
        lake.tables.create(
            TABLE,
            schema=SCHEMA,
            partition=["day(requested_at)"],
            sort=SORT,
            properties={"commit.manifest-merge.enabled": "false"},
        )
        rng = np.random.default_rng(shape.seed)
        for day in range(shape.days):
            rows = _day_rows(shape, day, rng)
            bounds = np.linspace(0, rows.num_rows, shape.commits_per_day + 1).astype(int)
            for start, end in itertools.pairwise(bounds):
                late = _late_rows(shape, day, end - start, rng)
                _commit_window(lake, rows.slice(start, end - start), late, shape, rng)
            print(f"  built day {day + 1}/{shape.days} ({time.perf_counter() - started:.0f} s)")
    seconds = time.perf_counter() - started
    largest, median, counts = _tenants(home)
    shutil.copytree(home, data / "pristine")
    built = Built(shape, seconds, largest, median, counts)
    marker.write_text(json.dumps(asdict(built)))
    return built


def _day_rows(
    shape: Shape, day: int, rng: np.random.Generator, rows: int | None = None
) -> pa.Table:
    table = cdn_rows(
        rows if rows is not None else shape.rows // shape.days,
        day=FIRST_DAY + dt.timedelta(days=day),
        tenants=shape.tenants,
        rng=rng,
    )
    providers = pa.array(PROVIDERS).take(rng.choice(len(PROVIDERS), table.num_rows))
    return table.append_column("provider", providers)


def _late_rows(shape: Shape, day: int, rows: int, rng: np.random.Generator) -> pa.Table | None:
    count = round(rows * shape.late_share)
    if day == 0 or count == 0:
        return None
    late_days = rng.integers(max(0, day - 3), day, count)
    parts = [
        _day_rows(shape, int(d), rng, rows=int((late_days == d).sum()))
        for d in np.unique(late_days)
    ]
    return pa.concat_tables(parts)


def _commit_window(
    lake: Lake, window: pa.Table, late: pa.Table | None, shape: Shape, rng: np.random.Generator
) -> None:
    """One streaming commit: the window's rows spread over small files, as several edge
    servers' logs would be, each written the way ingestion writes (sorted, zstd); late
    rows land in one more small file per day they belong to, so that the commit's
    manifest spans several days, as a streaming commit's does."""
    table = iceberg_table(lake, TABLE)
    which = rng.integers(0, shape.files_per_commit, window.num_rows)
    files = []
    for number in range(shape.files_per_commit):
        writer = TableWriter(table, name_prefix=f"ingest-{uuid.uuid4().hex}")
        writer.write(window.filter(pa.array(which == number)))
        if late is not None and number == 0:
            writer.write(late)
        files.extend(writer.close())
    fast_append(table, files, properties={})


def _tenants(home: Path) -> tuple[int, int, dict[str, int]]:
    """The largest tenant and the median one (by rows: half the tenants have fewer)."""
    glob = home / "warehouse" / "**" / "*.parquet"
    counts = duckdb.sql(
        f"SELECT customer_id, count(*) FROM read_parquet('{glob}') GROUP BY 1 ORDER BY 2, 1"
    ).fetchall()
    return int(counts[-1][0]), int(counts[len(counts) // 2][0]), {str(c): n for c, n in counts}


def reset(data: Path) -> Path:
    """A fresh copy of the pristine table at ``data/lake`` (the paths its metadata holds)."""
    home = data / "lake"
    shutil.rmtree(home, ignore_errors=True)
    shutil.copytree(data / "pristine", home, copy_function=_link_or_copy)
    return home


def _link_or_copy(source: str, target: str) -> None:
    """Data and metadata files are immutable once written: link them. The SQLite state
    database and the config are changed in place: copy them."""
    if Path(source).suffix in (".parquet", ".avro", ".json"):
        os.link(source, target)
    else:
        shutil.copy2(source, target)


# -- what a table and a query look like -------------------------------------------------


@dataclass(frozen=True)
class Layout:
    files: int
    bytes: int
    manifests: int
    rows: int


def layout(table: Table) -> Layout:
    snapshot = table.current_snapshot()
    scan = plan_scan(table, AlwaysTrue(), cache=ManifestCache())
    return Layout(
        files=len(scan.tasks),
        bytes=sum(t.file.file_size_in_bytes for t in scan.tasks),
        manifests=len(snapshot.manifests(table.io)) if snapshot else 0,
        rows=sum(t.file.record_count for t in scan.tasks),
    )


def q1_sql(tenant: int | str) -> str:
    first, end = (FIRST_DAY + dt.timedelta(days=d) for d in Q1_DAYS)
    return (
        "SELECT date_trunc('day', requested_at) AS day, count(*) AS requests, "
        f"sum(bytes_sent) AS bytes_sent FROM {TABLE} WHERE customer_id = {tenant} "
        f"AND requested_at >= '{first}' AND requested_at < '{end}' GROUP BY 1 ORDER BY 1"
    )


def planning_sql() -> str:
    day = FIRST_DAY + dt.timedelta(days=PLANNING_DAY)
    return (
        f"SELECT count(*) FROM {TABLE} WHERE requested_at >= '{day}' "
        f"AND requested_at < '{day + dt.timedelta(days=1)}'"
    )


@dataclass(frozen=True)
class Reads:
    """What Q1 reads, counted from the footers of the files it plans: a row group whose
    min/max statistics exclude the tenant or the days is skipped (DuckDB's zone maps do
    the same); of the others, the compressed chunks of the columns Q1 uses are read."""

    files: int
    row_groups: int
    row_groups_total: int
    bytes: int
    seconds: float
    answer: list[tuple[Any, ...]]
    explain: str = ""
    """icehouse's own ``--explain`` figures (``Lake.explain``)."""


def q1(lake: Lake, tenant: int, runs: int) -> Reads:
    sql = q1_sql(tenant)
    table = iceberg_table(lake, TABLE)
    scan = plan_scan(table, pushdown_filter(sql, TABLE, table.schema()), cache=ManifestCache())
    low, high = (
        dt.datetime.combine(FIRST_DAY + dt.timedelta(days=d), dt.time(), dt.UTC) for d in Q1_DAYS
    )
    groups = total = size = 0
    for task in scan.tasks:
        metadata = pq.read_metadata(task.file.file_path.removeprefix("file://"))
        names = [metadata.schema.column(i).name for i in range(metadata.num_columns)]
        for index in range(metadata.num_row_groups):
            group = metadata.row_group(index)
            chunks = {names[i]: group.column(i) for i in range(group.num_columns)}
            total += 1
            if _excluded(chunks["customer_id"], tenant, tenant) or _excluded(
                chunks["requested_at"], low, high - dt.timedelta(microseconds=1)
            ):
                continue
            groups += 1
            size += sum(chunks[c].total_compressed_size for c in Q1_COLUMNS)
    seconds, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = lake.sql(sql)
        seconds.append(time.perf_counter() - started)
    assert result is not None
    return Reads(
        files=len(scan.tasks),
        row_groups=groups,
        row_groups_total=total,
        bytes=size,
        seconds=statistics.median(seconds),
        answer=[tuple(r.values()) for r in result.to_pylist()],
        explain=_explain(lake, sql),
    )


def _excluded(chunk: Any, low: Any, high: Any) -> bool:
    stats = chunk.statistics
    if stats is None or not stats.has_min_max:
        return False
    return bool(stats.max < low or stats.min > high)


def _explain(lake: Lake, sql: str) -> str:
    """icehouse's own row-group figures (the query engine's ``explain``), if it has them."""
    plans = lake.explain(sql).plans
    plan = plans[0] if plans else None
    groups, size = getattr(plan, "row_groups_read", None), getattr(plan, "bytes_read", None)
    if groups is None or size is None:
        return ""
    return f"{groups} row groups, {size / 1e6:.2f} MB"


# -- compaction runs --------------------------------------------------------------------


@dataclass
class Timed:
    seconds: list[float] = field(default_factory=list)
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.seconds) if self.seconds else float("nan")


def icehouse_compact(data: Path, strategy: str) -> tuple[float, Lake, dict[str, Any]]:
    """Compact a fresh copy; the time covers planning, rewrite, proofs and commit."""
    home = reset(data)
    lake = Lake.open(home)
    options: dict[str, Any] = {"sort": SORT} if strategy == "sort" else {}
    if strategy == "zorder":
        options = {"zorder": SORT}
    started = time.perf_counter()
    result = lake.maintenance.compact(TABLE, strategy, **options)  # type: ignore[arg-type]
    seconds = time.perf_counter() - started
    summary = result.to_dict()
    failed = [g for g in result.groups if g.status != "committed"]
    if failed:
        raise RuntimeError(f"{strategy}: groups not committed: {failed}")
    return seconds, lake, summary


def day_files(table: Table) -> dict[str, list[str]]:
    """The current snapshot's data files by day partition: the raw limit's input."""
    by_day: dict[str, list[str]] = defaultdict(list)
    for task in plan_scan(table, AlwaysTrue(), cache=ManifestCache()).tasks:
        by_day[str(task.file.partition[0])].append(task.file.file_path.removeprefix("file://"))
    return dict(sorted(by_day.items()))


def raw_pyarrow(days: dict[str, list[str]], out: Path, sort: bool) -> None:
    """Two days at a time, as icehouse runs two groups at a time."""
    out.mkdir(parents=True, exist_ok=True)

    def one(day: str, paths: list[str]) -> None:
        rows = pq.read_table(paths)
        if sort:
            rows = rows.sort_by([("customer_id", "ascending"), ("requested_at", "ascending")])
        pq.write_table(
            rows, out / f"{day}.parquet", compression="zstd", row_group_size=DEFAULT_ROW_GROUP_ROWS
        )

    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda item: one(*item), days.items()))


def raw_duckdb(days: dict[str, list[str]], out: Path, sort: bool) -> None:
    out.mkdir(parents=True, exist_ok=True)
    conn = duckdb.connect()
    conn.execute("SET threads = 2")
    conn.execute("SET enable_progress_bar = false")
    order = f"ORDER BY {SORT}" if sort else ""
    for day, paths in days.items():
        listing = ", ".join(f"'{p}'" for p in paths)
        conn.execute(
            f"COPY (SELECT * FROM read_parquet([{listing}]) {order}) TO '{out / day}.parquet' "
            f"(FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {DEFAULT_ROW_GROUP_ROWS})"
        )
    conn.close()


@dataclass
class Throughput:
    times: dict[str, Timed]
    after: dict[str, Layout]
    q1_after: dict[str, dict[int, Reads]]
    summaries: dict[str, dict[str, Any]]


def compaction_rounds(data: Path, built: Built, runs: int, q1_runs: int) -> Throughput:
    """icehouse binpack/sort and the raw limits, interleaved ``runs`` times; z-order once.
    The last run of each strategy is measured after (layout and Q1)."""
    with Lake.open(reset(data)) as lake:
        days = day_files(iceberg_table(lake, TABLE))
    out = data / "raw-out"
    raws: dict[str, Callable[[], None]] = {
        "raw pyarrow read+write": lambda: raw_pyarrow(days, out, False),
        "raw DuckDB read+write": lambda: raw_duckdb(days, out, False),
        "raw pyarrow read+sort+write": lambda: raw_pyarrow(days, out, True),
        "raw DuckDB read+sort+write": lambda: raw_duckdb(days, out, True),
    }
    names = [*list(raws)[:2], "icehouse binpack", *list(raws)[2:], "icehouse sort"]
    result = Throughput({n: Timed() for n in [*names, "icehouse zorder"]}, {}, {}, {})
    tenants = (built.median_tenant, built.largest_tenant)
    for round_number in range(runs):
        for name in names:
            if name in raws:
                shutil.rmtree(out, ignore_errors=True)
                started = time.perf_counter()
                raws[name]()
                result.times[name].seconds.append(time.perf_counter() - started)
                continue
            strategy = name.split()[-1]
            seconds, lake, summary = icehouse_compact(data, strategy)
            result.times[name].seconds.append(seconds)
            if round_number == runs - 1:
                _measure_after(result, strategy, lake, summary, tenants, q1_runs)
            lake.close()
        print(f"  compaction round {round_number + 1}/{runs} done")
    shutil.rmtree(out, ignore_errors=True)
    seconds, lake, summary = icehouse_compact(data, "zorder")
    result.times["icehouse zorder"].seconds.append(seconds)
    _measure_after(result, "zorder", lake, summary, tenants, q1_runs)
    lake.close()
    return result


def _measure_after(
    result: Throughput,
    strategy: str,
    lake: Lake,
    summary: dict[str, Any],
    tenants: tuple[int, ...],
    q1_runs: int,
) -> None:
    result.after[strategy] = layout(iceberg_table(lake, TABLE))
    result.q1_after[strategy] = {t: q1(lake, t, q1_runs) for t in tenants}
    result.summaries[strategy] = summary


# -- planning ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Planning:
    before: float
    after: float
    manifests_before: int
    manifests_after: int
    read_before: int
    read_after: int
    rewrite_seconds: float
    target_bytes: int | None
    manifest_bytes: int
    """Bytes of the manifests after the rewrite."""


def planning(data: Path, runs: int, target_bytes: int | None = None) -> Planning:
    """Cold planning (a fresh manifest cache each time, as a new process has; the filter's
    evaluators, bound once per thread, are not what a manifest rewrite changes) of the same
    one-day query at the snapshot before and the one after the manifest rewrite,
    interleaved; ``target_bytes`` sets ``commit.manifest.target-size-bytes`` first."""
    with Lake.open(reset(data)) as lake:
        if target_bytes is not None:
            properties = {"commit.manifest.target-size-bytes": str(target_bytes)}
            lake.tables.alter(TABLE, properties=properties)
        table = iceberg_table(lake, TABLE)
        before_id = table.current_snapshot().snapshot_id  # type: ignore[union-attr]
        rewrite = lake.maintenance.manifests(TABLE)
        table = iceberg_table(lake, TABLE)
        after_id = table.current_snapshot().snapshot_id  # type: ignore[union-attr]
        row_filter = pushdown_filter(planning_sql(), TABLE, table.schema())
        times: dict[int, list[float]] = {before_id: [], after_id: []}
        plans = {}
        for _ in range(runs):
            for snapshot_id in times:
                table = iceberg_table(lake, TABLE)
                started = time.perf_counter()
                plans[snapshot_id] = plan_scan(
                    table, row_filter, snapshot_id=snapshot_id, cache=ManifestCache()
                )
                times[snapshot_id].append(time.perf_counter() - started)
        snapshot = table.snapshot_by_id(after_id)
        manifests = snapshot.manifests(table.io) if snapshot else []
        manifest_bytes = sum(m.manifest_length for m in manifests)
        paths = [sorted(t.file.file_path for t in plans[s].tasks) for s in times]
        if paths[0] != paths[1]:
            raise RuntimeError("the manifest rewrite changed the files a query plans")
    return Planning(
        before=statistics.median(times[before_id]),
        after=statistics.median(times[after_id]),
        manifests_before=rewrite.manifests_before,
        manifests_after=rewrite.manifests_after,
        read_before=plans[before_id].manifests_read,
        read_after=plans[after_id].manifests_read,
        rewrite_seconds=rewrite.seconds,
        target_bytes=target_bytes,
        manifest_bytes=manifest_bytes,
    )


# -- repeated maintenance rounds --------------------------------------------------------


@dataclass(frozen=True)
class Rounds:
    work: str
    fresh: list[float]
    """Seconds per round, each round with a new manifest cache (as before)."""
    shared: list[float]
    """Seconds per round through the lake's cache (the first one cold)."""


def maintenance_rounds(data: Path, runs: int) -> list[Rounds]:
    """``runs`` rounds of each kind of work, interleaved: a new ``Maintenance`` service
    per round (with a new cache) against one wired as the lake wires it (its cache)."""
    with Lake.open(reset(data)) as lake:
        catalog, engine, warehouse = lake._catalog, lake._engine, lake.config.warehouse
        kinds: dict[str, Callable[[Maintenance], object]] = {
            "autopilot plan (dry run)": lambda m: Autopilot(m, catalog).run_once(
                [TABLE], dry_run=True
            ),
            "orphan scan (dry run)": lambda m: m.orphans(TABLE, dry_run=True),
        }
        shared = Maintenance(engine, catalog, warehouse=warehouse, manifests=lake._manifests)
        results = []
        for work, run in kinds.items():
            fresh_times: list[float] = []
            shared_times: list[float] = []
            for _ in range(runs):
                fresh = Maintenance(engine, catalog, warehouse=warehouse)
                for service, times in ((fresh, fresh_times), (shared, shared_times)):
                    started = time.perf_counter()
                    run(service)
                    times.append(time.perf_counter() - started)
            results.append(Rounds(work, fresh_times, shared_times))
    return results


def print_rounds(rounds: list[Rounds]) -> None:
    print("\n## Maintenance rounds on a table with no new commit (seconds per round)\n")
    table_print(
        ["work", "new cache each round (before)", "lake's cache: first, later (now)", "gain"],
        [
            [
                r.work,
                f"{statistics.median(r.fresh):.2f}",
                f"{r.shared[0]:.2f}, {statistics.median(r.shared[1:]):.2f}",
                f"{statistics.median(r.fresh) / statistics.median(r.shared[1:]):.1f}×",
            ]
            for r in rounds
        ],
    )


# -- where the time goes ----------------------------------------------------------------


def stages(data: Path) -> list[tuple[str, float, str]]:
    """icehouse's sort compaction of one day, stage by stage (one group, nothing else
    running), built from the pieces ``maintain/compact.py`` uses (in it, the input's
    fingerprint runs on DuckDB's threads beside the sort and write), and the plain
    pyarrow equivalent of each stage where there is one."""
    lake = Lake.open(reset(data))
    table = iceberg_table(lake, TABLE)
    timings: list[tuple[str, float, str]] = []

    def timed(label: str, work: Callable[[], Any], raw: Callable[[], Any] | None = None) -> Any:
        started = time.perf_counter()
        value = work()
        seconds = time.perf_counter() - started
        reference = ""
        if raw is not None:
            raw_started = time.perf_counter()
            raw()
            reference = f"{time.perf_counter() - raw_started:.2f}"
        timings.append((label, seconds, reference))
        return value

    groups = timed(
        "plan groups (all days)",
        lambda: plan_groups(
            table,
            CompactOptions(strategy="sort", sort=SORT),
            current_tasks(table, ManifestIndex(table.io)),
        ),
    )
    group = max(groups, key=lambda g: g.rows)
    paths = [t.file.file_path.removeprefix("file://") for t in group.tasks]
    chunked = timed(
        f"read {group.files} files (few-valued strings as dictionaries)",
        lambda: read_group(table, group, contiguous=False),
        lambda: pq.read_table(paths),
    )
    rows = timed("combine chunks (for the sort's takes)", chunked.combine_chunks)
    before = timed("fingerprint input (DuckDB, beside the write)", lambda: fingerprint(rows))
    order = timed(
        "sort (pc.sort_indices)",
        lambda: sort_ordering(parse_sort_order(SORT))(rows),
        lambda: rows.sort_by([("customer_id", "ascending"), ("requested_at", "ascending")]),
    )
    writer = TableWriter(
        table,
        name_prefix=f"stages-{uuid.uuid4().hex}",
        buffer_bytes=2 * rows.nbytes + 1,
        ordering=lambda _rows: order,
    )
    sorted_rows = rows.take(order)
    outputs = timed(
        "write (take + zstd Parquet + stats)",
        lambda: (writer.write(rows), writer.close())[1],
        lambda: pq.write_table(
            sorted_rows,
            data / "stage-raw.parquet",
            compression="zstd",
            row_group_size=DEFAULT_ROW_GROUP_ROWS,
        ),
    )
    after = timed(
        "read back + fingerprint output (DuckDB)",
        lambda: fingerprint_written(table, outputs, rows.schema),
    )
    if before.differences(after):
        raise RuntimeError(f"stage rewrite changed rows: {before.differences(after)}")
    timed(
        "commit (replace snapshot)",
        lambda: replace_files(
            table,
            removed=[t.file for t in group.tasks],
            added=outputs,
            started_from=table.current_snapshot().snapshot_id,  # type: ignore[union-attr]
            index=ManifestIndex(table.io),
        ),
    )
    (data / "stage-raw.parquet").unlink(missing_ok=True)
    lake.close()
    timings.insert(0, (f"one day: {group.rows:,} rows, {group.bytes / 1e6:.0f} MB", 0.0, ""))
    return timings


# -- other engines ------------------------------------------------------------------------


def spark_missing(catalog: str = "jdbc") -> str | None:
    """Why Spark cannot run here, with what to install; None when it can (only the
    JDBC catalog needs the SQLite driver)."""
    needs = []
    if importlib.util.find_spec("pyspark") is None:
        needs.append("pip install 'pyspark==3.5.9'")
    if importlib.util.find_spec("snowpark_connect_deps_iceberg") is None:
        needs.append("pip install 'snowpark-connect-deps-iceberg==1.0.2'")
    if catalog == "jdbc" and not Path("/usr/share/java/sqlite-jdbc.jar").exists():
        needs.append("apt-get install -y libxerial-sqlite-jdbc-java")
    if shutil.which("java") is None:
        needs.append("a Java 17 runtime")
    return "; ".join(needs) or None


def spark_rewrite(data: Path, strategy: str, catalog: str = "jdbc") -> dict[str, Any]:
    """One ``rewrite_data_files`` call in a Spark session of its own, on a fresh copy:
    through Iceberg's JDBC catalog on the state database, or (``rest``) as ``icehouse
    maintain compact --engine spark`` through the served lake."""
    home = reset(data)
    script = [sys.executable, str(SPARK_SCRIPT), "--home", str(home), "--strategy", strategy]
    completed = subprocess.run(
        [*script, "--catalog", catalog],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if completed.returncode != 0 or not lines:
        tail = "\n".join(completed.stderr.splitlines()[-15:])
        raise RuntimeError(f"spark_rewrite.py failed ({completed.returncode}):\n{tail}")
    result: dict[str, Any] = json.loads(lines[-1])
    with Lake.open(home) as lake:
        result["layout"] = asdict(layout(iceberg_table(lake, TABLE)))
    return result


def zamboni_missing() -> str | None:
    if importlib.util.find_spec("zamboni") is None:
        return "pip install iceberg-zamboni"
    return None


def zamboni_compact(data: Path, strategy: str) -> dict[str, Any]:
    """Zamboni's compactor (DuckDB, 2 threads) through its library API on icehouse's own
    catalog: its CLI builds a SqlCatalog named ``local`` on ``<warehouse>/catalog.db``,
    which cannot see a table registered under the catalog name ``icehouse``."""
    from zamboni.compactor import TableCompactor
    from zamboni.config import CompactionConfig
    from zamboni.session import CatalogSession

    home = reset(data)
    with Lake.open(home) as lake:
        session = CatalogSession.from_catalog(lake._catalog, threads=2)
        config = CompactionConfig(
            min_input_files=5,
            skip_partitions_newer_than_windows=None,
            sort_expression=SORT if strategy == "sort" else None,
        )
        started = time.perf_counter()
        result = TableCompactor(session, TABLE, config).execute()
        seconds = time.perf_counter() - started
        return {
            "call_seconds": seconds,
            "summary": result.describe(),
            "layout": asdict(layout(iceberg_table(lake, TABLE))),
        }


def engines(
    data: Path, *, spark: bool, zamboni: bool, runs: int
) -> tuple[dict[str, Timed], list[str]]:
    times: dict[str, Timed] = {}
    notes: list[str] = []
    contenders: list[tuple[str, str | None, Callable[[str], dict[str, Any]]]] = []
    if spark:
        contenders.append(("Spark 3.5", spark_missing(), lambda s: spark_rewrite(data, s)))
        contenders.append(
            ("Spark 3.5 REST", spark_missing("rest"), lambda s: spark_rewrite(data, s, "rest"))
        )
    else:
        notes.append("Spark: skipped (--no-spark)")
    if zamboni:
        contenders.append(("zamboni", zamboni_missing(), lambda s: zamboni_compact(data, s)))
    else:
        notes.append("zamboni: skipped (--no-zamboni)")
    for engine, missing, run in contenders:
        if missing:
            notes.append(f"{engine}: skipped: install {missing}")
            continue
        for strategy in ("binpack", "sort"):
            name = f"{engine} {strategy}"
            times[name] = Timed()
            for _ in range(runs):
                try:
                    result = run(strategy)
                except Exception as exc:  # a competitor's failure is a finding, not a crash
                    times[name].note = f"failed: {type(exc).__name__}: {exc}".splitlines()[0]
                    notes.append(f"{name}: {traceback.format_exc(limit=3)}")
                    break
                times[name].seconds.append(result["call_seconds"])
                after = result["layout"]
                extra = result.get("session_seconds")
                times[name].note = f"→ {after['files']} files, {after['manifests']} manifests" + (
                    f"; session start {extra:.0f} s (excluded)" if extra else ""
                )
            print(f"  {name}: {times[name].median:.1f} s {times[name].note}")
    return times, notes


def own_against_spark(data: Path, *, runs: int) -> None:
    """``--only engines``: icehouse's own binpack and sort against Spark's (through the
    JDBC catalog, and through the REST catalog as ``--engine spark``), each on a fresh
    copy of the same table."""
    print("\n## icehouse's compaction against Spark's, each on a fresh copy\n")
    for strategy in ("binpack", "sort"):
        timed = Timed()
        for _ in range(runs):
            seconds, lake, _summary = icehouse_compact(data, strategy)
            timed.seconds.append(seconds)
            after = layout(iceberg_table(lake, TABLE))
            timed.note = f"→ {after.files} files, {after.manifests} manifests"
            lake.close()
        print(f"  icehouse {strategy}: {timed.median:.1f} s {timed.note}")
    _, notes = engines(data, spark=True, zamboni=False, runs=runs)
    for note in notes:
        print(f"  {note}")


# -- the report -------------------------------------------------------------------------


def mark(ok: bool | None) -> str:
    return "" if ok is None else ("PASS" if ok else "MISS")


def mb(value: float) -> str:
    return f"{value / 1e6:,.1f} MB"


def report(
    built: Built,
    before: Layout,
    q1_before: dict[int, Reads],
    rounds: Throughput,
    plans: list[Planning],
    others: dict[str, Timed],
) -> list[list[str]]:
    rows: list[list[str]] = []

    def add(figure: str, value: str, reference: str, ok: bool | None = None) -> None:
        rows.append([figure, value, reference, mark(ok)])

    add("table rows", f"{before.rows:,}", "≥ 20,000,000", before.rows >= 20_000_000)
    add("table data files", f"{before.files:,}", "≥ 2,000", before.files >= 2_000)
    add("table manifests", f"{before.manifests:,}", "≥ 300", before.manifests >= 300)
    add("table bytes", mb(before.bytes), "")
    tenants = {"median": built.median_tenant, "largest": built.largest_tenant}
    for strategy in ("binpack", "sort", "zorder"):
        after = rounds.after[strategy]
        add(
            f"{strategy}: data files (manifests)",
            f"{before.files:,} ({before.manifests}) → {after.files:,} ({after.manifests})",
            "fewer files",
        )
        add(f"{strategy}: bytes", f"{mb(before.bytes)} → {mb(after.bytes)}", "")
        for label, tenant in tenants.items():
            was, now = q1_before[tenant], rounds.q1_after[strategy][tenant]
            share = built.tenant_rows[str(tenant)] / before.rows
            goal = strategy == "sort"
            ratio = now.bytes / was.bytes if was.bytes else float("nan")
            add(
                f"{strategy}: Q1 {label} tenant ({tenant}) bytes read",
                f"{mb(was.bytes)} → {mb(now.bytes)} ({ratio:.1%})",
                f"≤ 10 % (the tenant holds {share:.2%} of rows)" if goal else "(info)",
                ratio <= 0.10 if goal else None,
            )
            add(
                f"{strategy}: Q1 {label} tenant row groups",
                f"{was.row_groups}/{was.row_groups_total} → {now.row_groups}/"
                f"{now.row_groups_total}",
                "(info)",
            )
            speedup = was.seconds / now.seconds
            add(
                f"{strategy}: Q1 {label} tenant time",
                f"{was.seconds * 1000:.0f} → {now.seconds * 1000:.0f} ms ({speedup:.1f}×)",
                "≥ 3× faster" if goal else "(info)",
                speedup >= 3 if goal else None,
            )
            if was.answer != now.answer:
                add(f"{strategy}: Q1 {label} tenant answer", "DIFFERS", "identical", False)
    for plan, label in zip(plans, ("", " (info)"), strict=False):
        setting = f"; target-size-bytes {plan.target_bytes:,}" if plan.target_bytes else ""
        add(
            f"one-day planning, cold{label}",
            f"{plan.before * 1000:.0f} → {plan.after * 1000:.0f} ms "
            f"({plan.before / plan.after:.1f}×)",
            "≥ 3× faster after manifest rewrite" if not label else "(info)",
            plan.before / plan.after >= 3 if not label else None,
        )
        add(
            f"  manifests (read by that plan){label}",
            f"{plan.manifests_before} ({plan.read_before}) → {plan.manifests_after} "
            f"({plan.read_after})",
            f"rewrite took {plan.rewrite_seconds:.1f} s{setting}",
        )
    times = rounds.times
    for strategy, raw in (("binpack", "read+write"), ("sort", "read+sort+write")):
        ours = times[f"icehouse {strategy}"].median
        fastest = min(
            (times[f"raw {engine} {raw}"].median, engine) for engine in ("pyarrow", "DuckDB")
        )
        add(
            f"icehouse {strategy} wall (proofs included)",
            f"{ours:.1f} s",
            f"raw limit {fastest[0]:.1f} s ({fastest[1]} {raw}): "
            f"{fastest[0] / ours:.0%} of it, goal ≥ 70 %",
            fastest[0] / ours >= 0.7,
        )
        for engine in ("Spark 3.5", "Spark 3.5 REST", "zamboni"):
            theirs = others.get(f"{engine} {strategy}")
            if theirs is None or not theirs.seconds:
                note = theirs.note if theirs else "not run"
                add(f"{engine} {strategy} wall", note, "> icehouse's")
                continue
            add(
                f"{engine} {strategy} wall",
                f"{theirs.median:.1f} s {theirs.note}",
                f"> icehouse's {ours:.1f} s (theirs/ours {theirs.median / ours:.2f})",
                ours < theirs.median,
            )
    add("icehouse zorder wall", f"{times['icehouse zorder'].median:.1f} s", "(info)")
    return rows


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=20_300_000)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--commits-per-day", type=int, default=48)
    parser.add_argument("--files-per-commit", type=int, default=7)
    parser.add_argument("--late-share", type=float, default=0.0001)
    parser.add_argument("--runs", type=int, default=3, help="compaction runs (medians)")
    parser.add_argument("--q1-runs", type=int, default=3)
    parser.add_argument("--planning-runs", type=int, default=7)
    parser.add_argument("--engine-runs", type=int, default=1, help="Spark and zamboni runs")
    parser.add_argument("--no-spark", action="store_true")
    parser.add_argument("--no-zamboni", action="store_true")
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--rounds", type=int, default=5, help="maintenance rounds per kind")
    parser.add_argument("--only", choices=["rounds", "engines"], help="run this one section")
    parser.add_argument("--data", type=Path, default=Path("/tmp/icehouse-bench-maintain"))
    return parser.parse_args()


def print_details(rounds: Throughput, stage_times: list[tuple[str, float, str]]) -> None:
    print("\n## Where icehouse's sort compaction spends its time (one day, stage by stage)\n")
    table_print(
        ["stage", "icehouse s", "plain pyarrow s"],
        [[label, f"{s:.2f}" if s else "", raw] for label, s, raw in stage_times],
    )
    print("\n## Compaction wall times (seconds)\n")
    table_print(
        ["run", "median", "runs"],
        [
            [n, f"{t.median:.2f}", " ".join(f"{s:.1f}" for s in t.seconds)]
            for n, t in rounds.times.items()
        ],
    )
    for strategy, summary in rounds.summaries.items():
        print(
            f"  icehouse {strategy}: {len(summary['groups'])} groups (2 at a time), seconds "
            + ", ".join(f"{g['seconds']:.1f}" for g in summary["groups"])
        )


def iceberg_table(lake: Lake, name: str) -> Table:
    """The raw PyIceberg table under the facade (benchmarks look below it)."""
    return load_table(lake._catalog, name)


def main() -> None:
    args = arguments()
    started = time.perf_counter()
    if args.rebuild:
        shutil.rmtree(args.data, ignore_errors=True)
    shape = Shape(
        args.rows, args.days, args.commits_per_day, args.files_per_commit, args.late_share
    )
    print(f"icehouse maintenance benchmark · {os.cpu_count()} cores · data {args.data}")
    built = build(args.data, shape)
    print(
        f"table: {shape.rows:,} rows, {shape.days} days × {shape.commits_per_day} commits × "
        f"{shape.files_per_commit} files, built in {built.build_seconds:.0f} s (cached); "
        f"tenants: largest {built.largest_tenant}, median {built.median_tenant}\n"
        f"Q1: {q1_sql('<tenant>')}"
    )
    if args.only == "engines":
        own_against_spark(args.data, runs=args.engine_runs)
        return
    print_rounds(maintenance_rounds(args.data, args.rounds))
    if args.only == "rounds":
        return
    tenants = (built.median_tenant, built.largest_tenant)
    with Lake.open(reset(args.data)) as lake:
        before = layout(iceberg_table(lake, TABLE))
        q1_before = {t: q1(lake, t, args.q1_runs) for t in tenants}
    for label, tenant in zip(("median", "largest"), tenants, strict=True):
        if q1_before[tenant].explain:
            print(f"  icehouse explain, Q1 {label} tenant: {q1_before[tenant].explain}")
    plans = [planning(args.data, args.planning_runs)]
    # The same rewrite with manifests sized to about one day each (information only).
    per_day = plans[0].manifest_bytes // args.days + 1
    plans.append(planning(args.data, args.planning_runs, target_bytes=per_day))
    print(f"  layout and planning measured ({time.perf_counter() - started:.0f} s)")
    rounds = compaction_rounds(args.data, built, args.runs, args.q1_runs)
    print_details(rounds, stages(args.data))
    print("\n## Other engines, each on a fresh copy of the same table\n")
    others, notes = engines(
        args.data, spark=not args.no_spark, zamboni=not args.no_zamboni, runs=args.engine_runs
    )
    for note in notes:
        print(f"  {note}")
    print(f"\n## Summary ({time.perf_counter() - started:.0f} s in all)\n")
    table_print(
        ["figure", "value", "reference / goal", "mark"],
        report(built, before, q1_before, rounds, plans, others),
    )


if __name__ == "__main__":
    main()
