"""The synthetic CDN log generator writes what it says it wrote, in each provider's layout.

The demo and the ingestion tests trust ``GeneratedLogs`` as the expected outcome of a
perfect ingestion, so these tests decode every file independently (gzip, zstandard,
csv, json, Parquet) rather than through icehouse's own decoders.
"""

from __future__ import annotations

import csv
import dataclasses
import gzip
import io
import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import zstandard

from icehouse.demo.generator import (
    CDN_SCHEMA,
    PROVIDERS,
    GeneratedFile,
    GeneratedLogs,
    GeneratorConfig,
    cdn_rows,
    generate,
)
from icehouse.errors import InvalidConfig

SMALL = GeneratorConfig(rows=5_000, days=7, tenants=200, malformed_lines=12, late_rows=40)
RFC3339_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
CSV_HEADER = [
    "epoch_ms",
    "customer",
    "country",
    "status",
    "bytes",
    "path",
    "ua",
    "cache",
    "latency_ms",
]
FILE_NAME = re.compile(
    r"^(?P<provider>[a-z]+)-(?P<day>\d{8})-\d\d\.(?P<ext>jsonl\.gz|csv\.zst|parquet)$"
)
EXTENSIONS = {"fastedge": "jsonl.gz", "cloudy": "csv.zst", "parquetcdn": "parquet"}


@dataclass
class Decoded:
    """One file as an independent reader sees it: good rows' fields and the bad lines."""

    timestamps: list[datetime]
    tenants: list[int]
    bad: list[str]
    has_comment: bool = False


def _fastedge_record(line: str) -> tuple[datetime, int] | None:
    """Return (timestamp, tenant) of a well-formed fastedge line, or None if malformed."""
    try:
        rec: Any = json.loads(line)
    except json.JSONDecodeError:
        return None
    ts, tenant = rec.get("ts"), rec.get("tenant")
    if not isinstance(ts, str) or not RFC3339_Z.match(ts):
        return None
    if not isinstance(tenant, int) or isinstance(tenant, bool):
        return None
    country = rec["client"]["country"]
    assert country == country.lower() and len(country) == 2
    assert isinstance(rec["edge"]["response"]["status"], int)
    assert isinstance(rec["edge"]["response"]["bytes"], int)
    assert rec["edge"]["cache"] in {"HIT", "MISS", "EXPIRED", "BYPASS"}
    assert rec["request"]["path"].startswith("/")
    assert isinstance(rec["timing"]["ms"], int | float)
    return datetime.fromisoformat(ts), tenant


def _decode_fastedge(path: Path) -> Decoded:
    out = Decoded([], [], [])
    for line in gzip.decompress(path.read_bytes()).decode().splitlines():
        parsed = _fastedge_record(line)
        if parsed is None:
            out.bad.append(line)
        else:
            out.timestamps.append(parsed[0])
            out.tenants.append(parsed[1])
    return out


def _cloudy_record(fields: list[str]) -> tuple[datetime, int] | None:
    if len(fields) != len(CSV_HEADER):
        return None
    try:
        epoch_ms, customer, _, status, size, *_, latency = fields
        int(status), int(size), float(latency)
        return datetime.fromtimestamp(int(epoch_ms) / 1000, UTC), int(customer)
    except ValueError:
        return None


def _decode_cloudy(path: Path) -> Decoded:
    reader = zstandard.ZstdDecompressor().stream_reader(
        io.BytesIO(path.read_bytes()), read_across_frames=True
    )
    text = io.TextIOWrapper(reader, encoding="utf-8").read()
    lines = text.splitlines()
    out = Decoded([], [], [], has_comment=lines[0].startswith("#"))
    rows = csv.reader(line for line in lines if not line.startswith("#"))
    assert next(rows) == CSV_HEADER
    for fields, line in zip(rows, [ln for ln in lines if not ln.startswith("#")][1:], strict=True):
        parsed = _cloudy_record(fields)
        if parsed is None:
            out.bad.append(line)
        else:
            out.timestamps.append(parsed[0])
            out.tenants.append(parsed[1])
    return out


def _decode_parquet(path: Path) -> Decoded:
    table = pq.read_table(path)
    assert table.schema.remove_metadata() == CDN_SCHEMA
    return Decoded(
        table.column("requested_at").to_pylist(), table.column("customer_id").to_pylist(), []
    )


def decode(file: GeneratedFile) -> Decoded:
    decoders = {"fastedge": _decode_fastedge, "cloudy": _decode_cloudy}
    return decoders.get(file.provider, _decode_parquet)(file.path)


def file_day(file: GeneratedFile) -> date:
    match = FILE_NAME.match(file.path.name)
    assert match is not None, file.path.name
    return datetime.strptime(match["day"], "%Y%m%d").date()


@pytest.fixture(scope="module")
def logs(tmp_path_factory: pytest.TempPathFactory) -> GeneratedLogs:
    return generate(tmp_path_factory.mktemp("landing"), SMALL)


@pytest.fixture(scope="module")
def decoded(logs: GeneratedLogs) -> dict[Path, Decoded]:
    return {f.path: decode(f) for f in logs.files}


def test_each_provider_writes_its_own_directory_with_its_own_file_names(
    logs: GeneratedLogs,
) -> None:
    per_provider = Counter(f.provider for f in logs.files)
    assert per_provider == dict.fromkeys(PROVIDERS, SMALL.days * SMALL.files_per_day)
    for f in logs.files:
        match = FILE_NAME.match(f.path.name)
        assert match is not None, f.path.name
        assert f.path.parent.name == f.provider == match["provider"]
        assert match["ext"] == EXTENSIONS[f.provider]
    days = sorted({file_day(f) for f in logs.files})
    assert days[0] == SMALL.start and len(days) == SMALL.days


def test_no_temporary_files_are_left_behind(logs: GeneratedLogs) -> None:
    root = logs.files[0].path.parent.parent
    written = {p for p in root.rglob("*") if p.is_file()}
    assert written == {f.path for f in logs.files}


def test_every_file_decodes_in_its_format(decoded: dict[Path, Decoded]) -> None:
    # Decoding happened in the fixture with gzip/json, zstandard/csv and Parquet.
    assert all(d.timestamps for d in decoded.values())


def test_good_rows_add_up_to_the_total_and_per_provider(
    logs: GeneratedLogs, decoded: dict[Path, Decoded]
) -> None:
    for f in logs.files:
        assert len(decoded[f.path].timestamps) == f.rows, f.path.name
    assert logs.rows == sum(f.rows for f in logs.files) == SMALL.rows
    by_provider = logs.rows_by_provider()
    assert sum(by_provider.values()) == SMALL.rows
    for provider, share in zip(PROVIDERS, (0.45, 0.35, 0.20), strict=True):
        assert by_provider[provider] == sum(f.rows for f in logs.files if f.provider == provider)
        assert by_provider[provider] == pytest.approx(share * SMALL.rows, abs=1)


def test_rows_are_spread_evenly_over_days(logs: GeneratedLogs) -> None:
    for provider in PROVIDERS:
        per_day = Counter[date]()
        for f in logs.files:
            if f.provider == provider:
                per_day[file_day(f)] += f.rows
        assert max(per_day.values()) - min(per_day.values()) <= SMALL.files_per_day


def test_bad_lines_are_counted_per_file_and_really_malformed(
    logs: GeneratedLogs, decoded: dict[Path, Decoded]
) -> None:
    for f in logs.files:
        assert len(decoded[f.path].bad) == f.bad_lines, f.path.name
    assert logs.bad_lines == SMALL.malformed_lines
    assert all(f.bad_lines == 0 for f in logs.files if f.provider == "parquetcdn")
    assert sum(f.bad_lines for f in logs.files if f.provider == "fastedge") > 0
    assert sum(f.bad_lines for f in logs.files if f.provider == "cloudy") > 0


def test_bad_lines_cover_every_kind_of_damage(
    logs: GeneratedLogs, decoded: dict[Path, Decoded]
) -> None:
    json_bad = [
        line for f in logs.files if f.provider == "fastedge" for line in decoded[f.path].bad
    ]
    csv_bad = [line for f in logs.files if f.provider == "cloudy" for line in decoded[f.path].bad]
    assert any(_is_invalid_json(line) for line in json_bad)
    assert any('"ts": "not a time"' in line for line in json_bad)
    assert any('"tenant": "' in line for line in json_bad)
    field_counts = {len(next(csv.reader([line]))) for line in csv_bad}
    assert any(n < len(CSV_HEADER) for n in field_counts)
    assert any(n > len(CSV_HEADER) for n in field_counts)
    assert any(next(csv.reader([line]))[4] == "abc" for line in csv_bad)


def _is_invalid_json(line: str) -> bool:
    try:
        json.loads(line)
    except json.JSONDecodeError:
        return True
    return False


def test_some_cloudy_files_start_with_a_comment_line(
    logs: GeneratedLogs, decoded: dict[Path, Decoded]
) -> None:
    comments = [decoded[f.path].has_comment for f in logs.files if f.provider == "cloudy"]
    assert any(comments) and not all(comments)


def test_late_rows_lie_three_to_ten_days_before_their_files_day(
    logs: GeneratedLogs, decoded: dict[Path, Decoded]
) -> None:
    late_lags: list[int] = []
    for f in logs.files:
        day = file_day(f)
        for ts in decoded[f.path].timestamps:
            lag = (day - ts.astimezone(UTC).date()).days
            if lag != 0:
                late_lags.append(lag)
    assert len(late_lags) == SMALL.late_rows
    assert all(3 <= lag <= 10 for lag in late_lags)


def test_late_rows_reach_every_provider(logs: GeneratedLogs, decoded: dict[Path, Decoded]) -> None:
    providers = {
        f.provider
        for f in logs.files
        if any(ts.astimezone(UTC).date() != file_day(f) for ts in decoded[f.path].timestamps)
    }
    assert providers == set(PROVIDERS)


def test_top_tenant_has_at_least_twenty_times_the_median_tenants_rows(
    logs: GeneratedLogs, decoded: dict[Path, Decoded]
) -> None:
    counts = Counter(t for d in decoded.values() for t in d.tenants)
    per_tenant = [counts.get(t, 0) for t in range(1, SMALL.tenants + 1)]
    assert set(counts) <= set(range(1, SMALL.tenants + 1))
    assert max(per_tenant) >= 20 * max(float(np.median(per_tenant)), 1.0)


def test_same_seed_writes_identical_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    config = GeneratorConfig(rows=2_000, days=4, tenants=100, malformed_lines=4, late_rows=5)
    first = generate(tmp_path / "a", config)
    second = generate(tmp_path / "b", config)
    other = generate(tmp_path / "c", dataclasses.replace(config, seed=8))
    for a, b, c in zip(first.files, second.files, other.files, strict=True):
        assert a.path.read_bytes() == b.path.read_bytes(), a.path.name
        assert a.path.read_bytes() != c.path.read_bytes(), a.path.name
        assert (a.rows, a.bad_lines) == (b.rows, b.bad_lines) == (c.rows, c.bad_lines)


def test_cdn_rows_has_the_canonical_schema_and_plausible_values() -> None:
    day = date(2024, 6, 3)
    table = cdn_rows(20_000, day=day, tenants=500, rng=np.random.default_rng(1))
    assert table.schema == CDN_SCHEMA
    assert table.num_rows == 20_000
    rows = table.to_pydict()
    assert {ts.date() for ts in rows["requested_at"]} == {day}
    assert rows["requested_at"] == sorted(rows["requested_at"])
    assert all(1 <= c <= 500 for c in rows["customer_id"])
    assert all(re.fullmatch(r"[A-Z]{2}", c) for c in rows["country"])
    assert 20 <= len(set(rows["country"])) <= 40
    assert Counter(rows["country"]).most_common(1)[0][0] == "US"
    assert set(rows["status"]) == {200, 304, 404, 500, 503}
    assert Counter(rows["status"])[200] > 0.7 * table.num_rows
    assert set(rows["cache_status"]) == {"HIT", "MISS", "EXPIRED", "BYPASS"}
    assert all(p.startswith(("/assets/", "/api/v1/", "/video/", "/static/")) for p in rows["path"])
    assert 3 <= len(set(rows["user_agent"])) <= 12
    assert min(rows["bytes_sent"]) > 0 and min(rows["latency_ms"]) > 0


def test_cdn_rows_can_produce_every_tenant_id() -> None:
    table = cdn_rows(100_000, day=date(2024, 6, 1), tenants=50, rng=np.random.default_rng(2))
    assert set(table.column("customer_id").to_pylist()) == set(range(1, 51))


def test_cdn_rows_follow_a_diurnal_curve() -> None:
    table = cdn_rows(50_000, day=date(2024, 6, 1), tenants=10, rng=np.random.default_rng(3))
    hours = Counter(ts.hour for ts in table.column("requested_at").to_pylist())
    assert max(hours.values()) > 2 * min(hours.values())


def test_cdn_rows_with_zero_rows_is_an_empty_table_of_the_schema() -> None:
    table = cdn_rows(0, day=date(2024, 6, 1), tenants=10, rng=np.random.default_rng(0))
    assert table.num_rows == 0 and table.schema == CDN_SCHEMA
    assert isinstance(table, pa.Table)


@pytest.mark.parametrize(
    "changes",
    [{"late_rows": 10, "rows": 5}, {"days": 0}, {"files_per_day": 0}, {"rows": -1}],
)
def test_impossible_configs_are_rejected_with_the_field_named(changes: dict[str, Any]) -> None:
    with pytest.raises(InvalidConfig) as err:
        dataclasses.replace(GeneratorConfig(), **changes)
    assert err.value.where in changes
