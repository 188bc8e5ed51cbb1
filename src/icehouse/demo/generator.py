"""Synthetic CDN request logs, in the three shapes real providers hand us.

The demo and the benchmarks need input that looks like the system icehouse follows: many
small compressed files from several CDN providers, each with its own layout, a heavily
skewed tenant distribution, a diurnal traffic curve, a few late-arriving rows and a few
malformed lines. ``generate`` writes such a landing zone; ``cdn_rows`` builds the
canonical flat rows that every provider layout is derived from, so a benchmark can make
rows without touching the file system.

Everything is vectorised with numpy and pyarrow and serialised by DuckDB, because the
demo must generate and ingest 400 k rows in well under a minute on two cores. Output is
byte-for-byte deterministic for a given ``GeneratorConfig`` (and library versions): each
file draws from its own random stream seeded by (seed, provider, day, file number).
"""

from __future__ import annotations

import gzip
import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import zstandard

from icehouse.errors import InvalidConfig

__all__ = [
    "CDN_SCHEMA",
    "PROVIDERS",
    "GeneratedFile",
    "GeneratedLogs",
    "GeneratorConfig",
    "cdn_rows",
    "generate",
]

PROVIDERS: tuple[str, ...] = ("fastedge", "cloudy", "parquetcdn")
"""Provider names, which are also the subdirectory names and file-name prefixes."""

CDN_SCHEMA: pa.Schema = pa.schema(
    [
        pa.field("requested_at", pa.timestamp("us", tz="UTC")),
        pa.field("customer_id", pa.int64()),
        pa.field("country", pa.string()),
        pa.field("status", pa.int32()),
        pa.field("bytes_sent", pa.int64()),
        pa.field("path", pa.string()),
        pa.field("user_agent", pa.string()),
        pa.field("cache_status", pa.string()),
        pa.field("latency_ms", pa.float64()),
    ]
)
"""The canonical flat schema: ``cdn_rows`` output, parquetcdn files and the target table."""

# Share of ``GeneratorConfig.rows`` per provider, in PROVIDERS order (the last takes the rest).
_PROVIDER_SHARES_PERCENT: tuple[int, ...] = (45, 35, 20)

# Late rows go only into files at least this many days after the start, so that even the
# smallest lag (3 days) lands inside the generated window where the demo can query it.
_LATE_MIN_DAYS, _LATE_MAX_DAYS = 3, 10

# Zipf exponent for tenants: with 2,000 tenants the top one gets ~17 % of all requests
# while the median one still gets a few rows a day, like a real multi-tenant CDN.
_TENANT_ZIPF_EXPONENT = 1.1

_COUNTRIES: tuple[tuple[str, float], ...] = (
    ("US", 28), ("DE", 8), ("GB", 7), ("IN", 7), ("BR", 5), ("JP", 5), ("FR", 4.5),
    ("CA", 3.5), ("AU", 2.5), ("NL", 2), ("ES", 2), ("IT", 2), ("MX", 2), ("KR", 1.8),
    ("ID", 1.5), ("SE", 1.2), ("PL", 1.2), ("TR", 1.2), ("VN", 1), ("PH", 1), ("SG", 1),
    ("RU", 1), ("TH", 0.8), ("CH", 0.8), ("ZA", 0.8), ("AR", 0.8), ("NG", 0.7),
    ("EG", 0.6), ("IE", 0.6), ("NO", 0.5),
)  # fmt: skip
_STATUSES: tuple[tuple[int, float], ...] = (
    (200, 86), (304, 8), (404, 4), (500, 1.2), (503, 0.8),
)  # fmt: skip
_USER_AGENTS: tuple[tuple[str, float], ...] = (
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/125.0.0.0 Safari/537.36", 30),
    ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", 22),
    ("Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
     "Chrome/125.0.6422.113 Mobile Safari/537.36", 20),
    ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
     "(KHTML, like Gecko) Version/17.5 Safari/605.1.15", 12),
    ("Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0", 6),
    ("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", 4),
    ("okhttp/4.12.0", 4),
    ("curl/8.7.1", 2),
)  # fmt: skip
# (prefix, suffix, id range, weight): ids are skewed to small numbers, i.e. hot objects.
_PATHS: tuple[tuple[str, str, int, float], ...] = (
    ("/assets/img/", ".jpg", 100_000, 30),
    ("/assets/img/", ".webp", 100_000, 10),
    ("/assets/js/app-", ".js", 500, 10),
    ("/assets/css/site-", ".css", 200, 5),
    ("/api/v1/items/", "", 1_000_000, 20),
    ("/video/hls/", ".ts", 1_000_000, 20),
    ("/static/fonts/font-", ".woff2", 50, 5),
)
# (cache status, weight, median latency ms, log-sigma): misses pay the trip to the origin.
_CACHE: tuple[tuple[str, float, float, float], ...] = (
    ("HIT", 72, 4.0, 0.6),
    ("MISS", 18, 60.0, 0.7),
    ("EXPIRED", 6, 55.0, 0.7),
    ("BYPASS", 4, 120.0, 0.8),
)

_US_PER_DAY = 86_400_000_000
_EPOCH = date(1970, 1, 1)


def _probabilities(weights: npt.ArrayLike) -> npt.NDArray[np.float64]:
    w = np.asarray(weights, dtype=np.float64)
    p: npt.NDArray[np.float64] = w / w.sum()
    return p


def _diurnal_minute_weights() -> npt.NDArray[np.float64]:
    """Per-minute traffic share of a UTC day: a trough before dawn, a peak in the evening.

    Two harmonics rather than one give the flat-topped working-hours plateau that real
    CDN traffic shows; the peak (~19:00 UTC) is Europe's evening overlapping America's day.
    """
    phase = np.arange(1440, dtype=np.float64) / 1440.0
    shape = 1.0 + 0.6 * np.cos(2 * np.pi * (phase - 0.79)) + 0.15 * np.cos(4 * np.pi * phase)
    return _probabilities(shape)


_MINUTE_P = _diurnal_minute_weights()
_COUNTRY_CODES = pa.array([c for c, _ in _COUNTRIES], pa.string())
_COUNTRY_P = _probabilities([w for _, w in _COUNTRIES])
_STATUS_CODES = np.array([s for s, _ in _STATUSES], dtype=np.int32)
_STATUS_P = _probabilities([w for _, w in _STATUSES])
_UA_STRINGS = pa.array([u for u, _ in _USER_AGENTS], pa.string())
_UA_P = _probabilities([w for _, w in _USER_AGENTS])
_PATH_PREFIXES = pa.array([p for p, _, _, _ in _PATHS], pa.string())
_PATH_SUFFIXES = pa.array([s for _, s, _, _ in _PATHS], pa.string())
_PATH_RANGES = np.array([r for _, _, r, _ in _PATHS], dtype=np.int64)
_PATH_P = _probabilities([w for _, _, _, w in _PATHS])
_CACHE_NAMES = pa.array([c for c, _, _, _ in _CACHE], pa.string())
_CACHE_P = _probabilities([w for _, w, _, _ in _CACHE])
_CACHE_LOG_MEDIAN = np.log(np.array([m for _, _, m, _ in _CACHE]))
_CACHE_SIGMA = np.array([s for _, _, _, s in _CACHE])


@dataclass(frozen=True)
class GeneratorConfig:
    """What to generate; the defaults are the demo's landing zone (~400 k rows, 2 weeks).

    Raises:
        InvalidConfig: a count is negative, ``days``/``tenants``/``files_per_day`` is
            below 1, or ``late_rows`` exceeds ``rows``.
    """

    rows: int = 400_000
    """Good rows in total, over all providers and days."""
    days: int = 14
    tenants: int = 2_000
    start: date = date(2024, 6, 1)
    """First day (UTC)."""
    seed: int = 7
    files_per_day: int = 2
    """Files per provider per day."""
    malformed_lines: int = 12
    """Bad lines in total, only in fastedge and cloudy files (parquetcdn cannot have any)."""
    late_rows: int = 40
    """Good rows whose timestamp lies 3–10 days before the day of the file they are in."""

    def __post_init__(self) -> None:
        for name in ("rows", "malformed_lines", "late_rows", "seed"):
            if getattr(self, name) < 0:
                raise InvalidConfig(f"must be >= 0, got {getattr(self, name)}", where=name)
        for name in ("days", "tenants", "files_per_day"):
            if getattr(self, name) < 1:
                raise InvalidConfig(f"must be >= 1, got {getattr(self, name)}", where=name)
        if self.late_rows > self.rows:
            raise InvalidConfig(
                f"{self.late_rows} late rows cannot fit in {self.rows} rows; "
                "lower late_rows or raise rows",
                where="late_rows",
            )


@dataclass(frozen=True)
class GeneratedFile:
    """One written file and what is in it, so tests and the demo can check ingestion."""

    path: Path
    provider: str
    rows: int
    """Good rows in this file (late rows included)."""
    bad_lines: int
    """Malformed lines in this file, which an ingester must quarantine."""


@dataclass(frozen=True)
class GeneratedLogs:
    """Everything ``generate`` wrote: the expected totals after a perfect ingestion."""

    files: tuple[GeneratedFile, ...]
    rows: int
    bad_lines: int

    def rows_by_provider(self) -> dict[str, int]:
        """Good rows per provider (every provider listed, in ``PROVIDERS`` order)."""
        totals = dict.fromkeys(PROVIDERS, 0)
        for f in self.files:
            totals[f.provider] = totals.get(f.provider, 0) + f.rows
        return totals


def cdn_rows(n: int, *, day: date, tenants: int, rng: np.random.Generator) -> pa.Table:
    """Build ``n`` canonical CDN request rows on ``day``, sorted by ``requested_at``.

    Tenant ids follow a Zipf law over 1..``tenants``: id 1 is the biggest tenant, id 2
    the next, and so on, every id possible. Benchmarks rely on that to pick a hot or a
    cold tenant without scanning. Sorted timestamps mimic a provider's rolling log file.
    """
    ranks = np.arange(1, tenants + 1, dtype=np.float64)
    tenant_p = _probabilities(ranks**-_TENANT_ZIPF_EXPONENT)
    minute = rng.choice(1440, size=n, p=_MINUTE_P).astype(np.int64)
    micros = minute * 60_000_000 + rng.integers(0, 60_000_000, size=n)
    day_start = (day - _EPOCH).days * _US_PER_DAY
    requested_at = np.sort(micros) + day_start
    status = _STATUS_CODES[rng.choice(len(_STATUS_CODES), size=n, p=_STATUS_P)]
    # A 200 carries a body (median ~8 KB, heavy tail); other statuses carry headers only.
    body = rng.lognormal(mean=9.0, sigma=1.5, size=n)
    headers = rng.lognormal(mean=5.6, sigma=0.3, size=n)
    bytes_sent = np.where(status == 200, body, headers).astype(np.int64)
    cache = rng.choice(len(_CACHE_P), size=n, p=_CACHE_P)
    latency = rng.lognormal(_CACHE_LOG_MEDIAN[cache], _CACHE_SIGMA[cache])
    columns = [
        pa.array(requested_at, pa.timestamp("us", tz="UTC")),
        pa.array(rng.choice(tenants, size=n, p=tenant_p).astype(np.int64) + 1),
        _COUNTRY_CODES.take(rng.choice(len(_COUNTRY_P), size=n, p=_COUNTRY_P)),
        pa.array(status, pa.int32()),
        pa.array(bytes_sent),
        _paths(n, rng),
        _UA_STRINGS.take(rng.choice(len(_UA_P), size=n, p=_UA_P)),
        _CACHE_NAMES.take(cache),
        # Microsecond precision: round-trips exactly through JSON and CSV text.
        pa.array(np.round(latency, 3)),
    ]
    return pa.Table.from_arrays(columns, schema=CDN_SCHEMA)


def _paths(n: int, rng: np.random.Generator) -> pa.Array:
    """Request paths like ``/assets/img/1234.jpg``; cubing a uniform skews to hot objects."""
    kind = rng.choice(len(_PATH_P), size=n, p=_PATH_P)
    ids = (rng.random(n) ** 3 * _PATH_RANGES[kind]).astype(np.int64)
    prefix = _PATH_PREFIXES.take(kind)
    suffix = _PATH_SUFFIXES.take(kind)
    return pc.binary_join_element_wise(prefix, pc.cast(pa.array(ids), pa.string()), suffix, "")


@dataclass(frozen=True)
class _FilePlan:
    provider: str
    day_index: int
    number: int
    rows: int
    late: int
    bad: int
    bad_first: int
    """Index of this file's first bad line among its provider's, so kinds keep cycling."""


def generate(out_dir: Path, config: GeneratorConfig = GeneratorConfig()) -> GeneratedLogs:
    """Write the landing zone under ``out_dir/<provider>/`` and say what is in it.

    Each file appears atomically under its final name (written to a dot-prefixed
    temporary name first), so an ingester watching ``out_dir`` never reads half a file.
    Existing files with the same names are replaced; other files are left alone.
    """
    out_dir = Path(out_dir)
    con = duckdb.connect()
    try:
        # strftime on TIMESTAMPTZ renders in the session time zone; pin it to UTC.
        con.execute("SET TimeZone = 'UTC'")
        files = tuple(_write_file(out_dir, plan, config, con) for plan in _plan(config))
    finally:
        con.close()
    return GeneratedLogs(
        files=files,
        rows=sum(f.rows for f in files),
        bad_lines=sum(f.bad_lines for f in files),
    )


def _plan(config: GeneratorConfig) -> list[_FilePlan]:
    """Decide every file's row, late-row and bad-line counts before writing any."""
    per_provider = [config.rows * share // 100 for share in _PROVIDER_SHARES_PERCENT[:-1]]
    per_provider.append(config.rows - sum(per_provider))
    n_files = config.days * config.files_per_day
    # Split bad lines between the two text providers, then space them out over the days.
    bad_per_provider = [(config.malformed_lines + 1) // 2, config.malformed_lines // 2, 0]
    slots = [(d, k) for d in range(config.days) for k in range(config.files_per_day)]
    rows: dict[tuple[str, int, int], int] = {}
    bad: dict[tuple[str, int, int], tuple[int, int]] = {}
    for provider, total, bad_total in zip(PROVIDERS, per_provider, bad_per_provider, strict=True):
        row_counts = _even_split(total, n_files)
        bad_counts = _spaced_counts(bad_total, n_files)
        bad_first = np.cumsum([0, *bad_counts[:-1]])
        for (d, k), r, b, b0 in zip(slots, row_counts, bad_counts, bad_first, strict=True):
            rows[provider, d, k] = r
            bad[provider, d, k] = (b, int(b0))
    # Interleave providers within a day so that late rows reach every provider's files.
    keys = [(p, d, k) for d, k in slots for p in PROVIDERS]
    late = _late_counts(config, keys, rows)
    return [
        _FilePlan(p, d, k, rows[p, d, k], late.get((p, d, k), 0), *bad[p, d, k])
        for p in PROVIDERS
        for d, k in slots
    ]


def _late_counts(
    config: GeneratorConfig,
    keys: list[tuple[str, int, int]],
    rows: dict[tuple[str, int, int], int],
) -> dict[tuple[str, int, int], int]:
    """Spread late rows over files from day 3 on (over all files if those are too small)."""
    eligible = [key for key in keys if key[1] >= _LATE_MIN_DAYS]
    if sum(rows[key] for key in eligible) < config.late_rows:
        eligible = keys
    capacity = [rows[key] for key in eligible]
    shares = _spaced_counts(config.late_rows, len(eligible))
    counts = [min(share, cap) for share, cap in zip(shares, capacity, strict=True)]
    # Files too small for their share hand the rest to files with room, in order.
    missing = config.late_rows - sum(counts)
    for i, cap in enumerate(capacity):
        take = min(missing, cap - counts[i])
        counts[i] += take
        missing -= take
    return dict(zip(eligible, counts, strict=True))


def _even_split(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` counts differing by at most one."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def _spaced_counts(total: int, parts: int) -> list[int]:
    """``total`` items spread evenly over ``parts`` slots, spaced out rather than front-loaded."""
    if total == 0:
        return [0] * parts
    slots = (np.arange(total, dtype=np.int64) * parts) // total
    return [int(c) for c in np.bincount(slots, minlength=parts)]


def _write_file(
    out_dir: Path, plan: _FilePlan, config: GeneratorConfig, con: duckdb.DuckDBPyConnection
) -> GeneratedFile:
    provider_index = PROVIDERS.index(plan.provider)
    rng = np.random.default_rng([config.seed, provider_index, plan.day_index, plan.number])
    day = config.start + timedelta(days=plan.day_index)
    table = cdn_rows(plan.rows, day=day, tenants=config.tenants, rng=rng)
    table = _make_late(table, plan.late, rng)
    directory = out_dir / plan.provider
    directory.mkdir(parents=True, exist_ok=True)
    extension = {"fastedge": "jsonl.gz", "cloudy": "csv.zst", "parquetcdn": "parquet"}
    name = f"{plan.provider}-{day:%Y%m%d}-{plan.number:02d}.{extension[plan.provider]}"
    final = directory / name
    partial = directory / f".{name}.partial"
    bad = range(plan.bad_first, plan.bad_first + plan.bad)
    if plan.provider == "fastedge":
        _write_fastedge(con, table, partial, _bad_json_lines(day, bad))
    elif plan.provider == "cloudy":
        # Only the first file of a day has the comment, so decoders meet both variants.
        _write_cloudy(con, table, partial, _bad_csv_lines(day, bad), with_comment=plan.number == 0)
    else:
        pq.write_table(table, partial, compression="zstd")
    os.replace(partial, final)
    return GeneratedFile(path=final, provider=plan.provider, rows=plan.rows, bad_lines=plan.bad)


def _make_late(table: pa.Table, late: int, rng: np.random.Generator) -> pa.Table:
    """Move ``late`` random rows 3–10 whole days back, left in place like stragglers."""
    if late == 0:
        return table
    ts = table.column("requested_at").to_numpy().astype("datetime64[us]").astype(np.int64)
    where = rng.choice(len(ts), size=late, replace=False)
    ts[where] -= rng.integers(_LATE_MIN_DAYS, _LATE_MAX_DAYS + 1, size=late) * _US_PER_DAY
    return table.set_column(0, CDN_SCHEMA.field(0), pa.array(ts, CDN_SCHEMA.field(0).type))


def _sql_path(path: Path) -> str:
    return "'" + str(path).replace("'", "''") + "'"


def _write_fastedge(
    con: duckdb.DuckDBPyConnection, table: pa.Table, path: Path, bad: list[str]
) -> None:
    """Nested JSON lines, gzip; lower-case countries and RFC 3339 ``Z`` timestamps."""
    con.register("rows_", table)
    try:
        con.execute(f"""
            COPY (
                SELECT strftime(requested_at, '%Y-%m-%dT%H:%M:%S.%fZ') AS ts,
                       customer_id AS tenant,
                       {{'country': lower(country), 'ua': user_agent}} AS client,
                       {{'response': {{'status': status, 'bytes': bytes_sent}},
                         'cache': cache_status}} AS edge,
                       {{'path': path}} AS request,
                       {{'ms': latency_ms}} AS timing
                FROM rows_
            ) TO {_sql_path(path)} (FORMAT json, COMPRESSION gzip)
        """)
    finally:
        con.unregister("rows_")
    if bad:
        lines = "".join(line + "\n" for line in bad)
        with path.open("ab") as f:
            # A second gzip member: concatenated members are one valid gzip stream.
            f.write(gzip.compress(lines.encode(), mtime=0))


def _write_cloudy(
    con: duckdb.DuckDBPyConnection,
    table: pa.Table,
    path: Path,
    bad: list[str],
    *,
    with_comment: bool,
) -> None:
    """CSV with header, zstd; epoch milliseconds; a leading comment line in some files."""
    con.register("rows_", table)
    try:
        con.execute(f"""
            COPY (
                SELECT epoch_ms(requested_at) AS epoch_ms, customer_id AS customer, country,
                       status, bytes_sent AS bytes, path, user_agent AS ua,
                       cache_status AS cache, latency_ms
                FROM rows_
            ) TO {_sql_path(path)} (FORMAT csv, HEADER, COMPRESSION zstd)
        """)
    finally:
        con.unregister("rows_")
    if not (bad or with_comment):
        return
    compressor = zstandard.ZstdCompressor()
    body = path.read_bytes()
    head = compressor.compress(b"# generated by cloudy\n") if with_comment else b""
    tail = compressor.compress("".join(line + "\n" for line in bad).encode()) if bad else b""
    # Extra zstd frames: concatenated frames are one valid zstd stream.
    path.write_bytes(head + body + tail)


def _bad_json_lines(day: date, which: range) -> list[str]:
    """Invalid JSON and wrongly typed records, cycling through the kinds."""
    ts = f"{day:%Y-%m-%d}T08:15:00.000000Z"
    rest = (
        '"client": {"country": "us", "ua": "curl/8.7.1"}, '
        '"edge": {"response": {"status": 200, "bytes": 512}, "cache": "HIT"}, '
        '"request": {"path": "/index.html"}, "timing": {"ms": 3.5}}'
    )
    kinds = [
        f'{{"ts": "{ts}", "tenant": ',  # truncated mid-record
        f'{{"ts": "not a time", "tenant": 42, {rest}',  # unparseable timestamp
        f'{{"ts": "{ts}", "tenant": "acme-corp", {rest}',  # string where an int belongs
    ]
    return [kinds[i % len(kinds)] for i in which]


def _bad_csv_lines(day: date, which: range) -> list[str]:
    """Wrong field counts and an unparseable number, cycling through the kinds."""
    epoch_ms = int(datetime(day.year, day.month, day.day, 8, 15, tzinfo=UTC).timestamp() * 1000)
    head = f"{epoch_ms},42,US,200"
    tail = "/index.html,curl/8.7.1,HIT,3.5"
    kinds = [
        f"{head},512",  # too few fields
        f"{head},abc,{tail}",  # bytes is not a number
        f"{head},512,/index.html,Mozilla/5.0 (KHTML, like Gecko),HIT,3.5",  # unquoted comma
    ]
    return [kinds[i % len(kinds)] for i in which]
