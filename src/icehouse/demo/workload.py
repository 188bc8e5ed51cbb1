"""The demo: three CDN providers' logs → ``demo.requests`` → queries.

The demo lives in its own lake home, marked by a ``.icehouse-demo`` file, so that
running it again replaces a previous demo and never touches a real lake.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from icehouse.config import CONFIG_FILE, ColumnMapping, SourceConfig
from icehouse.demo.generator import GeneratedLogs, GeneratorConfig, generate
from icehouse.errors import InvalidInput
from icehouse.ingest.report import IngestProgress, IngestReport
from icehouse.lake import Lake
from icehouse.maintain.compact import CompactResult
from icehouse.query.sql import QueryResult

MARKER = ".icehouse-demo"
TABLE = "demo.requests"
SCHEMA = {
    "requested_at": "timestamptz!",
    "customer_id": "long!",
    "country": "string",
    "status": "int",
    "bytes_sent": "long",
    "path": "string",
    "user_agent": "string",
    "cache_status": "string",
    "latency_ms": "double",
    "provider": "string",
}


def demo_sources(landing: Path) -> list[SourceConfig]:
    """One source per provider, each with its own layout mapped onto one table."""
    return [
        SourceConfig(
            name="fastedge",
            location=str(landing / "fastedge"),
            glob="*.jsonl.gz",
            format="jsonl",
            table=TABLE,
            settle="0s",
            columns={
                "requested_at": ColumnMapping(path="ts", timestamp="rfc3339"),
                "customer_id": ColumnMapping(path="tenant"),
                "country": ColumnMapping(path="client.country", expr="upper(country)"),
                "status": ColumnMapping(path="edge.response.status"),
                "bytes_sent": ColumnMapping(path="edge.response.bytes"),
                "path": ColumnMapping(path="request.path"),
                "user_agent": ColumnMapping(path="client.ua"),
                "cache_status": ColumnMapping(path="edge.cache"),
                "latency_ms": ColumnMapping(path="timing.ms"),
                "provider": ColumnMapping(expr="'fastedge'"),
            },
        ),
        SourceConfig(
            name="cloudy",
            location=str(landing / "cloudy"),
            glob="*.csv.zst",
            format="csv",
            comment="#",
            table=TABLE,
            settle="0s",
            columns={
                "requested_at": ColumnMapping(path="epoch_ms", timestamp="epoch_ms"),
                "customer_id": ColumnMapping(path="customer"),
                "bytes_sent": ColumnMapping(path="bytes"),
                "user_agent": ColumnMapping(path="ua"),
                "cache_status": ColumnMapping(path="cache"),
                "provider": ColumnMapping(expr="'cloudy'"),
            },
        ),
        SourceConfig(
            name="parquetcdn",
            location=str(landing / "parquetcdn"),
            glob="*.parquet",
            format="parquet",
            table=TABLE,
            settle="0s",
            columns={"provider": ColumnMapping(expr="'parquetcdn'")},
        ),
    ]


QUERIES: tuple[tuple[str, str], ...] = (
    (
        "Requests and traffic per provider",
        "SELECT provider, count(*) AS requests, round(sum(bytes_sent) / 1e9, 2) AS gb_sent, "
        "round(avg(latency_ms), 1) AS avg_latency_ms FROM demo.requests GROUP BY provider "
        "ORDER BY requests DESC",
    ),
    (
        "Top 5 tenants by requests",
        "SELECT customer_id, count(*) AS requests, "
        "round(100.0 * avg(CASE WHEN cache_status = 'HIT' THEN 1 ELSE 0 END), 1) AS hit_pct "
        "FROM demo.requests GROUP BY customer_id ORDER BY requests DESC LIMIT 5",
    ),
    (
        "Daily requests and error rate",
        "SELECT CAST(requested_at AS DATE) AS day, count(*) AS requests, "
        "round(100.0 * avg(CASE WHEN status >= 500 THEN 1 ELSE 0 END), 2) AS error_pct "
        "FROM demo.requests GROUP BY day ORDER BY day DESC LIMIT 7",
    ),
)


TENANT_WEEK = (
    "SELECT CAST(requested_at AS DATE) AS day, count(*) AS requests, sum(bytes_sent) AS bytes "
    "FROM demo.requests WHERE customer_id = 42 "
    "AND requested_at >= '2024-06-03' AND requested_at < '2024-06-10' GROUP BY day ORDER BY day"
)
"""One tenant's week: the query shape that sort compaction speeds up most."""

DEMO_BATCH_FILES = 6
"""Files per commit in the demo, so that ingestion leaves the small files a stream would
(several per day), which the demo's compaction then rewrites."""


@dataclass(frozen=True)
class CompactionShowcase:
    result: CompactResult
    before: QueryResult
    after: QueryResult


@dataclass
class DemoResult:
    home: Path
    logs: GeneratedLogs
    report: IngestReport
    results: list[tuple[str, str, pa.Table]] = field(default_factory=list)
    quarantine: dict[str, dict[str, int]] = field(default_factory=dict)
    compaction: CompactionShowcase | None = None
    seconds: float = 0.0


def prepare_home(home: Path) -> None:
    """Empty or previous-demo homes only.

    Raises:
        InvalidInput: the folder holds something that is not a previous demo.
    """
    if home.exists() and any(home.iterdir()):
        if not (home / MARKER).exists():
            raise InvalidInput(
                f"{home} is not empty and not a previous demo; the demo will not touch it. "
                "Run `icehouse demo --home <new folder>`"
            )
        shutil.rmtree(home)
    home.mkdir(parents=True, exist_ok=True)
    (home / MARKER).write_text(
        "made by `icehouse demo`; running the demo again replaces this folder\n"
    )


def run_demo(
    home: Path,
    *,
    config: GeneratorConfig = GeneratorConfig(),
    progress: IngestProgress | None = None,
    step: Callable[[str], None] = lambda _message: None,
) -> DemoResult:
    started = time.perf_counter()
    prepare_home(home)
    Lake.init(home)
    config_file = home / CONFIG_FILE
    config_file.write_text(
        config_file.read_text().replace(
            "[ingest]\n", f"[ingest]\nbatch_files = {DEMO_BATCH_FILES}\n", 1
        )
    )
    step(f"Generating {config.rows:,} CDN requests over {config.days} days from 3 providers…")
    logs = generate(home / "landing", config)
    lake = Lake.open(home)
    try:
        lake.tables.create(
            TABLE, schema=SCHEMA, partition=["day(requested_at)"], sort="customer_id, requested_at"
        )
        for source in demo_sources(home / "landing"):
            lake.sources.add(source)
        step(f"Ingesting {len(logs.files)} files into {TABLE}…")
        report = lake.ingest(progress=progress)
        results = [(title, sql, lake.sql(sql)) for title, sql in QUERIES]
        quarantine = lake.quarantine.summary()
        step("Compacting: sorting each day by customer_id, requested_at…")
        before = lake.explain(TENANT_WEEK)
        compaction = lake.maintenance.compact(TABLE, "sort", min_input_files=2)
        showcase = CompactionShowcase(compaction, before, lake.explain(TENANT_WEEK))
    finally:
        lake.close()
    seconds = time.perf_counter() - started
    return DemoResult(home, logs, report, results, quarantine, showcase, seconds)
