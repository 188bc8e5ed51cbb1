"""Scan planning benchmark: a one-day filter on a table of 10,000 data files.

    python benchmarks/planning.py                     # 10,000 files over 40 days
    python benchmarks/planning.py --files 2000 --days 30 --runs 5
    python benchmarks/planning.py --home /tmp/plan     # build once, keep, measure again

The table is day-partitioned and sorted by ``id``; its files are tiny Parquet files
committed one day per append, so each manifest holds one day (manifests clustered by
partition, as an ingesting lake's are). Printed: the median of ``--runs`` planning times
for one day, for PyIceberg's ``plan_files()`` and for icehouse's planner cold (a fresh
process: nothing cached) and warm (manifests already decoded in this process), with the
ratio to PyIceberg, and that both planned the same files.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from pyiceberg.expressions import And, BooleanExpression, GreaterThanOrEqual, LessThan
from pyiceberg.io.pyarrow import (
    compute_statistics_plan,
    data_file_statistics_from_parquet_metadata,
    parquet_path_to_id_mapping,
)
from pyiceberg.manifest import DataFile, DataFileContent, FileFormat
from pyiceberg.table import Table
from pyiceberg.typedef import Record

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from common import table_print  # noqa: E402
from icehouse.lake import Lake  # noqa: E402
from icehouse.query.sql import run_sql  # noqa: E402
from icehouse.tables.append import fast_append  # noqa: E402
from icehouse.tables.catalog import load_table  # noqa: E402
from icehouse.tables.manifest_cache import SHARED_CACHE  # noqa: E402
from icehouse.tables.scan import plan_scan  # noqa: E402

TABLE = "bench.events"
SCHEMA = {"ts": "timestamptz!", "id": "long!", "country": "string", "bytes": "long"}
ROWS_PER_FILE = 8
FIRST_DAY = dt.date(2024, 1, 1)
EPOCH = dt.date(1970, 1, 1)


# -- data ---------------------------------------------------------------------------------


def build(home: Path, *, files: int, days: int) -> None:
    """A lake at ``home`` whose ``bench.events`` holds ``files`` files over ``days`` days,
    one append (one manifest) per day."""
    Lake.init(home)
    lake = Lake.open(home)
    try:
        lake.tables.create(TABLE, schema=SCHEMA, partition=["day(ts)"], sort="id")
        table = iceberg_table(lake, TABLE)
        per_day = [files // days + (1 if d < files % days else 0) for d in range(days)]
        next_id = 0
        for day, count in enumerate(per_day):
            data_files = []
            for _ in range(count):
                data_files.append(_write_file(table, day, next_id))
                next_id += ROWS_PER_FILE
            fast_append(table, data_files, properties={})
            table = iceberg_table(lake, TABLE)
    finally:
        lake.close()


def _write_file(table: Table, day: int, first_id: int) -> DataFile:
    start = dt.datetime.combine(FIRST_DAY + dt.timedelta(days=day), dt.time(), dt.UTC)
    step = dt.timedelta(seconds=86_400 // ROWS_PER_FILE)
    rows = pa.table(
        {
            "ts": [start + i * step for i in range(ROWS_PER_FILE)],
            "id": list(range(first_id, first_id + ROWS_PER_FILE)),
            "country": ["DE"] * ROWS_PER_FILE,
            "bytes": [100] * ROWS_PER_FILE,
        },
        schema=table.schema().as_arrow(),
    )
    path = f"{table.location()}/data/ts_day={FIRST_DAY + dt.timedelta(days=day)}/{first_id}.parquet"
    local = path.removeprefix("file://")
    Path(local).parent.mkdir(parents=True, exist_ok=True)
    writer = pq.ParquetWriter(local, rows.schema, compression="zstd")
    writer.write_table(rows)
    writer.close()
    statistics_ = data_file_statistics_from_parquet_metadata(
        parquet_metadata=writer.writer.metadata,
        stats_columns=compute_statistics_plan(table.schema(), table.metadata.properties),
        parquet_column_mapping=parquet_path_to_id_mapping(table.schema()),
    )
    data_file = DataFile.from_args(
        content=DataFileContent.DATA,
        file_path=path,
        file_format=FileFormat.PARQUET,
        partition=Record((FIRST_DAY - EPOCH).days + day),
        file_size_in_bytes=Path(local).stat().st_size,
        sort_order_id=table.sort_order().order_id,
        **statistics_.to_serialized_dict(),
    )
    data_file.spec_id = table.spec().spec_id
    return data_file


# -- measurements -------------------------------------------------------------------------


def one_day(day: int) -> tuple[BooleanExpression, str]:
    """The filter for ``day`` (0-based) as planning gets it, and as SQL."""
    start = dt.datetime.combine(FIRST_DAY + dt.timedelta(days=day), dt.time(), dt.UTC)
    micros = int(start.timestamp()) * 1_000_000
    expression = And(GreaterThanOrEqual("ts", micros), LessThan("ts", micros + 86_400_000_000))
    end = start + dt.timedelta(days=1)
    sql = (
        f"SELECT count(*) AS n FROM {TABLE} "
        f"WHERE ts >= '{start.isoformat()}' AND ts < '{end.isoformat()}'"
    )
    return expression, sql


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def pyiceberg_files(table: Table, row_filter: BooleanExpression) -> set[str]:
    return {t.file.file_path for t in table.scan(row_filter=row_filter).plan_files()}


def icehouse_files(table: Table, row_filter: BooleanExpression) -> set[str]:
    return {t.file.file_path for t in plan_scan(table, row_filter).tasks}


def child(home: Path, planner: str, day: int) -> None:
    """Plan once in this fresh process and print the seconds planning took (the table's
    metadata is loaded first, outside the measurement, as every query does anyway)."""
    lake = Lake.open(home)
    table = iceberg_table(lake, TABLE)
    row_filter, _ = one_day(day)
    plan = pyiceberg_files if planner == "pyiceberg" else icehouse_files
    print(json.dumps(timed(lambda: plan(table, row_filter))))
    lake.close()


def fresh_process(home: Path, planner: str, day: int) -> float:
    output = subprocess.run(
        [sys.executable, __file__, "--child", planner, "--home", str(home), "--day", str(day)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return float(json.loads(output.strip().splitlines()[-1]))


def measure(home: Path, *, runs: int, day: int) -> list[list[str]]:
    lake = Lake.open(home)
    try:
        table = iceberg_table(lake, TABLE)
        row_filter, sql = one_day(day)
        same = pyiceberg_files(table, row_filter) == icehouse_files(table, row_filter)
        plan = plan_scan(table, row_filter)
        planned = f"{plan.files_after_metrics_pruning} of {plan.files_in_snapshot}"
        times: dict[str, list[float]] = {name: [] for name in _LABELS}
        for _ in range(runs):  # interleaved, so that load on the machine hits all alike
            times["pyiceberg_cold"].append(fresh_process(home, "pyiceberg", day))
            times["icehouse_cold"].append(fresh_process(home, "icehouse", day))
            times["pyiceberg"].append(timed(lambda: pyiceberg_files(table, row_filter)))
            SHARED_CACHE.clear()
            times["icehouse_cleared"].append(timed(lambda: icehouse_files(table, row_filter)))
            times["icehouse_warm"].append(timed(lambda: icehouse_files(table, row_filter)))
            (query_plan,) = run_sql(lake._catalog, sql).plans
            times["icehouse_sql"].append(query_plan.planning_seconds)
    finally:
        lake.close()
    medians = {name: statistics.median(values) for name, values in times.items()}
    rows = []
    for name, label in _LABELS.items():
        reference = medians["pyiceberg_cold" if name.endswith("cold") else "pyiceberg"]
        rows.append(
            [
                label,
                f"{medians[name] * 1000:.1f}",
                f"{reference / medians[name]:.1f}x",
                planned,
            ]
        )
    print(f"same files planned by PyIceberg and icehouse: {same}")
    print(f"manifests read: {plan.manifests_read} of {plan.manifests_in_snapshot}\n")
    return rows


_LABELS = {
    "pyiceberg_cold": "PyIceberg plan_files(), fresh process",
    "icehouse_cold": "icehouse planner, fresh process (cold)",
    "pyiceberg": "PyIceberg plan_files(), same process",
    "icehouse_cleared": "icehouse planner, cache cleared",
    "icehouse_warm": "icehouse planner, warm cache",
    "icehouse_sql": "icehouse lake.explain planning_seconds (warm)",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=40)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--day", type=int, default=19, help="the day planned (0-based)")
    parser.add_argument("--home", type=Path, help="reuse (or build) the lake here")
    parser.add_argument("--child", choices=["pyiceberg", "icehouse"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.home, args.child, args.day)
        return
    home = args.home or Path(tempfile.mkdtemp(prefix="icehouse-planning-")) / "lake"
    try:
        if not (home / "icehouse.toml").exists():
            started = time.perf_counter()
            build(home, files=args.files, days=args.days)
            seconds = time.perf_counter() - started
            print(f"built {args.files:,} files over {args.days} days in {home} ({seconds:.1f} s)")
        print(f"one-day filter, median of {args.runs} interleaved runs\n")
        rows = measure(home, runs=args.runs, day=args.day)
        table_print(["planning", "median ms", "vs PyIceberg", "files planned"], rows)
    finally:
        if args.home is None:
            shutil.rmtree(home.parent)


def iceberg_table(lake: Lake, name: str) -> Table:
    """The raw PyIceberg table under the facade (benchmarks look below it)."""
    return load_table(lake._catalog, name)


if __name__ == "__main__":
    main()
