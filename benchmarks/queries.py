"""Query benchmark: the CDN workload Q1–Q5, icehouse beside every other way.

    python benchmarks/queries.py                         # 50 M rows, 5 runs (builds once)
    python benchmarks/queries.py --rows 2000000 --runs 3 # a quick run

The table ``demo.requests`` (14 days from 2024-06-01, partitioned by day(requested_at),
sorted by customer_id, requested_at, zstd Parquet in 131 k-row groups) is built once
through icehouse's own ``TableWriter`` with one commit per day, which is what ingestion
followed by compaction leaves behind, and kept under ``--data`` for the next run. Week 2
holds two incidents so that Q5 has something to find: an outage (BR loses 90 % of its
requests 13:00–14:00 UTC on 2024-06-11) and a surge (JP triples 20:00–20:30 on 2024-06-13).

Every query's SQL text (``icehouse.demo.queries``) runs unchanged on each option, over a
relation named ``demo.requests``:

- icehouse: ``lake.explain(sql)`` (catalog, pruned planning, DuckDB);
- DuckDB glob: ``read_parquet('<table>/data/**/*.parquet')``, no Iceberg pruning;
- PyIceberg: ``table.scan(row_filter=..., selected_fields=...)`` streamed into DuckDB
  (``to_arrow_batch_reader``: ``to_arrow()`` would hold ~8 GB for Q4 at 50 M rows);
- DuckDB iceberg: ``iceberg_scan('<metadata.json>')`` with duckdb 1.5.5 and
  duckdb-extension-iceberg 1.5.5 in their own virtualenv (icehouse pins duckdb 1.5.6),
  queried through a worker subprocess that answers in JSON;
- limit: DuckDB over exactly the files holding rows the query needs (computed once).

Each option gets a fresh DuckDB connection per query (so no option keeps a warm cache),
loads table metadata inside its timing where it has any, and runs with DuckDB's default
two threads. Files are in the OS page cache after the first run, for every option alike.

Bytes: "MB opened" is the size of the data files an option opens (icehouse: the plan's
bytes; glob: every file; PyIceberg: its planned files; limit: the matching files; DuckDB
iceberg: the files its scans read by DuckDB's profile of one extra run). "MB read()" is
measured: the growth of ``rchar`` in ``/proc/self/io`` of the process running the query
(data, footers, manifests, catalog), so it shows row-group skipping, which "opened"
cannot.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import duckdb  # noqa: E402
import numpy as np  # noqa: E402
import pyarrow as pa  # noqa: E402
import pyarrow.compute as pc  # noqa: E402
from pyiceberg.expressions import (  # noqa: E402
    AlwaysTrue,
    And,
    BooleanExpression,
    EqualTo,
    GreaterThanOrEqual,
    LessThan,
)
from pyiceberg.table import Table  # noqa: E402

from common import table_print  # noqa: E402
from icehouse.demo.generator import PROVIDERS, cdn_rows  # noqa: E402
from icehouse.demo.queries import RowRange, WorkloadQuery, workload  # noqa: E402
from icehouse.demo.workload import SCHEMA, TABLE  # noqa: E402
from icehouse.lake import Lake  # noqa: E402
from icehouse.tables.catalog import load_table  # noqa: E402
from icehouse.tables.commit import append_files  # noqa: E402
from icehouse.tables.writer import TableWriter  # noqa: E402

START = date(2024, 6, 1)
DAYS = 14
TENANTS = 2_000
PROVIDER_SHARES = (0.45, 0.35, 0.20)  # the generator's landing-zone split, in PROVIDERS order
COLUMNS = list(SCHEMA)
DUCKDB_VERSION = "1.5.5"
BUILD_VERSION = 1  # bump when the data layout changes, so cached tables are rebuilt


# -- data ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Incident:
    """A change of one country's traffic in one window of one day of week 2."""

    day: int
    """Days after START."""
    country: str
    start_minute: int
    end_minute: int
    factor: float
    """Share of the window's requests kept (< 1, an outage) or multiplied (> 1, a surge)."""


INCIDENTS = (
    Incident(day=10, country="BR", start_minute=13 * 60, end_minute=14 * 60, factor=0.1),
    Incident(day=12, country="JP", start_minute=20 * 60, end_minute=20 * 60 + 30, factor=3.0),
)


def day_rows(index: int, rows: int, seed: int) -> pa.Table:
    """One day of demo rows in ``SCHEMA`` (provider added), incidents applied."""
    rng = np.random.default_rng([seed, index])
    table = cdn_rows(rows, day=START + timedelta(days=index), tenants=TENANTS, rng=rng)
    providers = pa.array(PROVIDERS).take(rng.choice(len(PROVIDERS), rows, p=PROVIDER_SHARES))
    table = table.append_column("provider", providers)
    for incident in INCIDENTS:
        if incident.day == index:
            table = _apply(table, incident, rng)
    return table


def _apply(table: pa.Table, incident: Incident, rng: np.random.Generator) -> pa.Table:
    micros = pc.cast(table.column("requested_at"), pa.int64()).to_numpy()
    minute = (micros // 60_000_000) % 1440
    inside = (
        (table.column("country").to_numpy(zero_copy_only=False) == incident.country)
        & (minute >= incident.start_minute)
        & (minute < incident.end_minute)
    )
    if incident.factor < 1:
        keep = ~inside | (rng.random(len(inside)) < incident.factor)
        return table.filter(pa.array(keep))
    extra = table.filter(pa.array(inside))
    return pa.concat_tables([table, *[extra] * (round(incident.factor) - 1)])


def build_table(home: Path, rows: int, seed: int) -> None:
    """The demo table at ``rows`` rows, unless ``home`` already holds exactly that."""
    marker = home / "bench-queries.json"
    wanted = {"rows": rows, "seed": seed, "days": DAYS, "tenants": TENANTS, "v": BUILD_VERSION}
    if marker.exists() and json.loads(marker.read_text()) == wanted:
        return
    if home.exists():
        shutil.rmtree(home)
    Lake.init(home)
    lake = Lake.open(home)
    started = time.perf_counter()
    try:
        lake.tables.create(
            TABLE, schema=SCHEMA, partition=["day(requested_at)"], sort="customer_id, requested_at"
        )
        per_day = [rows // DAYS + (1 if i < rows % DAYS else 0) for i in range(DAYS)]
        for index, count in enumerate(per_day):
            table = day_rows(index, count, seed)
            # One sorted run per day: the buffer never flushes before close().
            writer = TableWriter(
                iceberg_table(lake, TABLE), name_prefix=f"d{index:02d}", buffer_bytes=1 << 40
            )
            writer.write(table)
            files = writer.close()
            append_files(
                lambda: iceberg_table(lake, TABLE),
                files,
                batch_id=uuid.uuid4().hex,
                writer_id="benchmarks/queries.py",
                seq=index + 1,
                summary={"icehouse.rows": str(table.num_rows)},
            )
            print(
                f"  day {index + 1:2d}/{DAYS}: {table.num_rows:,} rows, {len(files)} files, "
                f"{sum(f.file_size_in_bytes for f in files) / 1e6:,.0f} MB "
                f"({time.perf_counter() - started:,.0f} s)",
                flush=True,
            )
    finally:
        lake.close()
    marker.write_text(json.dumps(wanted))


# -- the options --------------------------------------------------------------------------


@dataclass
class Sample:
    seconds: float
    rows: int
    read_bytes: int
    result: pa.Table | None = None
    planning: float = 0.0
    execution: float = 0.0
    opened_bytes: int | None = None


def rchar() -> int:
    """Bytes this process has read through read()/pread() so far (page cache included)."""
    with open("/proc/self/io") as io:
        for line in io:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise RuntimeError("no rchar in /proc/self/io")


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def duckdb_view(source: str, arrow: Any = None) -> duckdb.DuckDBPyConnection:
    """A fresh connection where ``demo.requests`` is ``source`` (a table function call)."""
    conn = duckdb.connect()
    conn.execute("SET enable_progress_bar = false")
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("CREATE SCHEMA demo")
    columns = ", ".join(COLUMNS)
    if arrow is not None:  # PyIceberg's projection: only the columns the query uses
        conn.register("scanned", arrow)
        columns = "*"
    conn.execute(f"CREATE VIEW {TABLE} AS SELECT {columns} FROM {source}")
    return conn


def timed(run: Callable[[], tuple[pa.Table, dict[str, Any]]]) -> Sample:
    before = rchar()
    started = time.perf_counter()
    result, extra = run()
    seconds = time.perf_counter() - started
    return Sample(seconds, result.num_rows, rchar() - before, result, **extra)


def over_files(paths: list[str]) -> Callable[[str], Sample]:
    listing = "[" + ", ".join(_quote(p) for p in paths) + "]"

    def run(sql: str) -> Sample:
        def query() -> tuple[pa.Table, dict[str, Any]]:
            conn = duckdb_view(f"read_parquet({listing}, hive_partitioning = false)")
            try:
                return conn.execute(sql).to_arrow_table(), {}
            finally:
                conn.close()

        return timed(query)

    return run


def icehouse(lake: Lake) -> Callable[[str], Sample]:
    def run(sql: str) -> Sample:
        def query() -> tuple[pa.Table, dict[str, Any]]:
            result = lake.explain(sql)
            planned = sum(getattr(p, "bytes_read", None) or p.bytes_planned for p in result.plans)
            return result.table, {
                "planning": sum(p.planning_seconds for p in result.plans),
                "execution": result.execution_seconds,
                "opened_bytes": planned,
            }

        return timed(query)

    return run


def pyiceberg_filter(rows: RowRange) -> BooleanExpression:
    terms: list[BooleanExpression] = []
    if rows.customer_id is not None:
        terms.append(EqualTo("customer_id", rows.customer_id))
    if rows.first_day is not None:
        terms.append(GreaterThanOrEqual("requested_at", f"{rows.first_day}T00:00:00+00:00"))
    if rows.end_day is not None:
        terms.append(LessThan("requested_at", f"{rows.end_day}T00:00:00+00:00"))
    if not terms:
        return AlwaysTrue()
    return terms[0] if len(terms) == 1 else And(*terms)


def used_columns(sql: str) -> tuple[str, ...]:
    words = set(sql.replace("(", " ").replace(")", " ").replace(",", " ").split())
    return tuple(c for c in COLUMNS if c in words)


def pyiceberg(lake: Lake, query: WorkloadQuery) -> Callable[[str], Sample]:
    def run(sql: str) -> Sample:
        def scan() -> tuple[pa.Table, dict[str, Any]]:
            table = iceberg_table(lake, TABLE)
            reader = table.scan(
                row_filter=pyiceberg_filter(query.rows), selected_fields=used_columns(sql)
            ).to_arrow_batch_reader()
            conn = duckdb_view("scanned", arrow=reader)
            try:
                return conn.execute(sql).to_arrow_table(), {}
            finally:
                conn.close()

        return timed(scan)

    return run


WORKER = r"""
import glob, json, os, site, sys, time
import duckdb

extensions, metadata = sys.argv[1], sys.argv[2]
config = {"extension_directory": extensions}
setup = duckdb.connect(config=config)
for name in ("avro", "iceberg"):
    for root in site.getsitepackages():
        pattern = os.path.join(root, f"duckdb_extension_{name}", "extensions", "*",
                               f"{name}.duckdb_extension")
        for path in glob.glob(pattern):
            setup.execute("INSTALL '" + path.replace("'", "''") + "'")
setup.execute("LOAD iceberg")
setup.close()
print(json.dumps({"ready": duckdb.__version__}), flush=True)

def rchar():
    with open("/proc/self/io") as io:
        return next(int(l.split()[1]) for l in io if l.startswith("rchar:"))

def scans(node):  # (files read, names listed) per ICEBERG_SCAN; DuckDB lists at most five
    found = []
    if node.get("operator_name") == "ICEBERG_SCAN":
        info = node.get("extra_info") or {}
        names = [n.strip() for n in info.get("Filename(s)", "").split(",")]
        found.append((int(info.get("Total Files Read", 0)), [n for n in names if n != "..."]))
    return found + [s for child in node.get("children", []) for s in scans(child)]

for line in sys.stdin:
    request = json.loads(line)
    sql, profile = request["sql"], request.get("profile")
    conn = duckdb.connect(config=config)
    conn.execute("LOAD iceberg")
    conn.execute("SET enable_progress_bar = false")
    if profile:
        conn.execute("PRAGMA enable_profiling = 'json'")
        conn.execute("PRAGMA profiling_output = '" + profile.replace("'", "''") + "'")
    before = rchar()
    started = time.perf_counter()
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("CREATE SCHEMA demo")
    conn.execute("CREATE VIEW demo.requests AS SELECT * FROM iceberg_scan('"
                 + metadata.replace("'", "''") + "')")
    result = conn.execute(sql).to_arrow_table()
    seconds = time.perf_counter() - started
    conn.close()
    answer = {"seconds": seconds, "rows": result.num_rows, "read_bytes": rchar() - before}
    if profile:
        with open(profile) as f:
            answer["scans"] = scans(json.load(f))
    print(json.dumps(answer), flush=True)
"""


class IcebergExtension:
    """duckdb 1.5.5 with its iceberg extension, in its own virtualenv and process."""

    def __init__(self, data: Path, metadata: str) -> None:
        venv = data / f"duckdb-{DUCKDB_VERSION}-venv"
        python = venv / "bin" / "python"
        packages = [
            f"duckdb=={DUCKDB_VERSION}",
            f"duckdb-extension-iceberg=={DUCKDB_VERSION}",
            f"duckdb-extension-avro=={DUCKDB_VERSION}",
            "pyarrow",
        ]
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        check = subprocess.run(
            [str(python), "-c", "import duckdb, pyarrow, duckdb_extension_iceberg"],
            capture_output=True,
        )
        if check.returncode != 0:
            print(f"  installing {', '.join(packages)} into {venv} …", flush=True)
            subprocess.run(
                [str(python), "-m", "pip", "install", "-q", *packages],
                check=True,
                capture_output=True,
            )
        self._command = [str(python), "-c", WORKER, str(data / "duckdb-extensions"), metadata]
        self._profile = data / "duckdb-iceberg-profile.json"
        self.version = self._ask(None)["ready"]

    def _ask(self, request: dict[str, str] | None) -> dict[str, Any]:
        """One request, one process: a long-lived worker grew past 23 GB RSS over the
        50 M-row runs and was killed, so each query gets a fresh process (started
        outside the timing, like every option's fresh connection)."""
        lines = "" if request is None else json.dumps(request) + "\n"
        done = subprocess.run(self._command, input=lines, capture_output=True, text=True)
        answers = done.stdout.splitlines()
        if done.returncode != 0 or len(answers) != (1 if request is None else 2):
            raise RuntimeError(f"the DuckDB iceberg worker failed: {done.stderr.strip()}")
        answer: dict[str, Any] = json.loads(answers[-1])
        return answer

    def run(self, sql: str) -> Sample:
        answer = self._ask({"sql": sql})
        return Sample(answer["seconds"], answer["rows"], answer["read_bytes"])

    def opened_bytes(self, sql: str, sizes: dict[str, int], planned: list[str]) -> int:
        """Bytes of the data files the extension's scans read, from DuckDB's profile.

        The profile counts every file but names at most five; when it names fewer, the
        files are PyIceberg's plan if the counts agree and the named ones are in it
        (both prune by the same partition values and metrics), else an estimate.
        """
        answer = self._ask({"sql": sql, "profile": str(self._profile)})
        total = 0
        for count, names in answer["scans"]:
            listed = [str(n).removeprefix("file://") for n in names]
            if len(listed) == count:
                total += sum(sizes[p] for p in listed)
            elif count == len(planned) and set(listed) <= set(planned):
                total += sum(sizes[p] for p in planned)
            else:
                total += count * sum(sizes.values()) // len(sizes)
        return total


# -- measuring ---------------------------------------------------------------------------


ICEHOUSE, GLOB, PYICEBERG, EXTENSION, LIMIT = (
    "icehouse",
    "DuckDB glob",
    "PyIceberg+DuckDB",
    "DuckDB iceberg",
    "limit",
)
REAL_OPTIONS = (GLOB, PYICEBERG, EXTENSION)


@dataclass
class QueryBench:
    query: WorkloadQuery
    runners: dict[str, Callable[[str], Sample]]
    opened: dict[str, int]
    """Bytes of data files each option opens (known before running)."""
    samples: dict[str, list[Sample]] = field(default_factory=dict)
    files: dict[str, int] = field(default_factory=dict)


def matching_files(all_files: list[str], rows: RowRange) -> list[str]:
    """The data files holding at least one row in ``rows``: what an oracle would read."""
    conn = duckdb.connect()
    conn.execute("SET TimeZone = 'UTC'")
    listing = "[" + ", ".join(_quote(p) for p in all_files) + "]"
    found = conn.execute(
        f"SELECT DISTINCT filename FROM read_parquet({listing}, filename = true, "
        f"hive_partitioning = false) WHERE {rows.sql()}"
    ).fetchall()
    conn.close()
    return sorted(f for (f,) in found)


def prepare(lake: Lake, extension: IcebergExtension | None, tenant: int) -> list[QueryBench]:
    table = iceberg_table(lake, TABLE)
    sizes = {
        t.file.file_path.removeprefix("file://"): t.file.file_size_in_bytes
        for t in table.scan().plan_files()
    }
    all_files = sorted(sizes)
    benches = []
    for query in workload(START, customer_id=tenant):
        planned = [
            t.file.file_path.removeprefix("file://")
            for t in table.scan(row_filter=pyiceberg_filter(query.rows)).plan_files()
        ]
        limit = matching_files(all_files, query.rows)
        runners: dict[str, Callable[[str], Sample]] = {
            ICEHOUSE: icehouse(lake),
            GLOB: over_files(all_files),
            PYICEBERG: pyiceberg(lake, query),
        }
        opened = {
            GLOB: sum(sizes.values()),
            PYICEBERG: sum(sizes[p] for p in planned),
            LIMIT: sum(sizes[p] for p in limit),
        }
        if extension is not None:
            runners[EXTENSION] = extension.run
            opened[EXTENSION] = extension.opened_bytes(query.sql, sizes, planned)
        runners[LIMIT] = over_files(limit)
        bench = QueryBench(query, runners, opened)
        bench.files = {"snapshot": len(all_files), "planned": len(planned), "limit": len(limit)}
        benches.append(bench)
    return benches


def same_answer(a: pa.Table, b: pa.Table) -> bool:
    """Equal rows, floats equal to the rounding the queries apply (sums run in any order)."""
    if a.num_rows != b.num_rows or a.column_names != b.column_names:
        return False
    for x, y in zip(a.to_pylist(), b.to_pylist(), strict=True):
        for key, u in x.items():
            v = y[key]
            if isinstance(u, float) and isinstance(v, float):
                if not math.isclose(u, v, rel_tol=1e-9, abs_tol=0.0101):
                    return False
            elif u != v:
                return False
    return True


def measure(benches: list[QueryBench], runs: int) -> None:
    for run in range(1, runs + 1):
        started = time.perf_counter()
        for bench in benches:
            for name, runner in bench.runners.items():
                sample = runner(bench.query.sql)
                bench.samples.setdefault(name, []).append(sample)
                reference = bench.samples[ICEHOUSE][0]
                if sample.rows != reference.rows or (
                    sample.result is not None
                    and reference.result is not None
                    and not same_answer(sample.result, reference.result)
                ):
                    raise RuntimeError(f"{bench.query.name}: {name} answered differently")
                sample.result = None  # keep memory flat over runs
        print(f"  run {run}/{runs}: {time.perf_counter() - started:,.1f} s", flush=True)


# -- report ---------------------------------------------------------------------------------


def median(samples: list[Sample], attribute: str = "seconds") -> float:
    return statistics.median(getattr(s, attribute) for s in samples)


def report(benches: list[QueryBench], runs: int) -> None:
    names = [n for n in (ICEHOUSE, *REAL_OPTIONS, LIMIT) if n in benches[0].runners]
    print(f"\n## Time, ms (median of {runs} interleaved runs)\n")
    rows = []
    for b in benches:
        ms = {n: median(b.samples[n]) * 1000 for n in names}
        best_name = min((n for n in REAL_OPTIONS if n in ms), key=ms.__getitem__)
        vs_best = ms[ICEHOUSE] / ms[best_name]
        vs_limit = ms[ICEHOUSE] / ms[LIMIT]
        rows.append(
            [
                b.query.name,
                f"{b.samples[ICEHOUSE][0].rows:,}",
                *(f"{ms[n]:,.0f}" for n in names),
                f"{vs_best:.2f} ({best_name})",
                "yes" if vs_best <= 1.05 else "NO",
                f"{vs_limit:.2f}",
                "yes" if vs_limit <= 1.2 else "NO",
            ]
        )
    table_print(
        [
            "query",
            "rows out",
            *names,
            "icehouse/best real",
            "≤ 1.05?",
            "icehouse/limit",
            "≤ 1.2?",
        ],
        rows,
    )
    print("\n## Bytes: MB of data files opened / MB read() by the process (medians)\n")
    rows = []
    for b in benches:
        ice = b.samples[ICEHOUSE]
        opened = {ICEHOUSE: median(ice, "opened_bytes"), **b.opened}
        rows.append(
            [
                b.query.name,
                *(
                    f"{opened[n] / 1e6:,.1f} / {median(b.samples[n], 'read_bytes') / 1e6:,.1f}"
                    for n in names
                ),
            ]
        )
    table_print(["query", *names], rows)
    print(
        "\n## Where icehouse's time goes (medians; rest = catalog, parsing the query for "
        "pushdown, connecting) and what it planned\n"
    )
    rows = []
    for b in benches:
        ice = b.samples[ICEHOUSE]
        rest = statistics.median(s.seconds - s.planning - s.execution for s in ice)
        rows.append(
            [
                b.query.name,
                b.query.question,
                f"{median(ice, 'planning') * 1000:,.0f}",
                f"{median(ice, 'execution') * 1000:,.0f}",
                f"{rest * 1000:,.0f}",
                f"{b.files['planned']}/{b.files['snapshot']}",
                str(b.files["limit"]),
            ]
        )
    table_print(
        [
            "query",
            "question",
            "planning ms",
            "execution ms",
            "rest ms",
            "files planned/all",
            "files limit",
        ],
        rows,
    )


def iceberg_table(lake: Lake, name: str) -> Table:
    """The raw PyIceberg table under the facade (benchmarks look below it)."""
    return load_table(lake._catalog, name)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("/tmp/icehouse-bench-queries"))
    parser.add_argument("--rows", type=int, default=50_000_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tenant", type=int, default=42, help="Q1's customer_id")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    args.data.mkdir(parents=True, exist_ok=True)
    home = args.data / f"lake-{args.rows}"
    print(
        f"icehouse query benchmark · {os.cpu_count()} cores · duckdb {duckdb.__version__} · "
        f"{args.rows:,} rows over {DAYS} days · data {home}"
    )
    build_table(home, args.rows, args.seed)
    lake = Lake.open(home)
    metadata = iceberg_table(lake, TABLE).metadata_location.removeprefix("file://")
    extension: IcebergExtension | None
    try:
        extension = IcebergExtension(args.data, metadata)
        print(f"  DuckDB iceberg column: duckdb {extension.version} in its own virtualenv")
    except (OSError, subprocess.CalledProcessError, RuntimeError, ValueError) as exc:
        extension = None
        print(f"  DuckDB iceberg column skipped: could not set up duckdb {DUCKDB_VERSION} ({exc})")
    benches = prepare(lake, extension, args.tenant)
    measure(benches, args.runs)
    report(benches, args.runs)
    lake.close()


if __name__ == "__main__":
    main()
