"""The CDN workload Q1–Q5 answers what it says, checked against plain Python.

The table is written the way the benchmark writes it (icehouse's TableWriter, one commit
per day, day partitions sorted by tenant), from rows the test keeps: every expected
value is computed in Python from those rows, never through DuckDB or icehouse.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from icehouse.demo.generator import PROVIDERS, cdn_rows
from icehouse.demo.queries import (
    WorkloadQuery,
    cache_efficiency,
    tenant_access_metrics,
    tenant_daily_usage,
    tenant_hourly_traffic,
    traffic_changes,
    workload,
)
from icehouse.demo.workload import SCHEMA, TABLE
from icehouse.errors import InvalidInput
from icehouse.govern.authz import Principal
from icehouse.govern.objects import Grantee, GranteeKind, Privilege, Securable, SecurableKind
from icehouse.lake import Lake
from icehouse.tables.commit import append_files
from icehouse.tables.writer import TableWriter
from tests import fixtures_lake

START = date(2024, 6, 1)
SECOND_WEEK = START + timedelta(days=7)
DAYS = 14
ROWS_PER_DAY = 300
TENANTS = 30
DOCS = Path(__file__).resolve().parents[1] / "docs" / "queries.md"


@pytest.fixture(scope="module")
def demo(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Lake, list[dict[str, Any]]]]:
    """(lake with ``demo.requests``, the rows in it as Python dicts)."""
    home = tmp_path_factory.mktemp("lake")
    Lake.init(home)
    lake = Lake.open(home)
    lake.tables.create(
        TABLE, schema=SCHEMA, partition=["day(requested_at)"], sort="customer_id, requested_at"
    )
    written = []
    for index in range(DAYS):
        rng = np.random.default_rng([11, index])
        rows = cdn_rows(ROWS_PER_DAY, day=START + timedelta(days=index), tenants=TENANTS, rng=rng)
        providers = pa.array(PROVIDERS).take(rng.integers(0, len(PROVIDERS), rows.num_rows))
        rows = rows.append_column("provider", providers)
        writer = TableWriter(fixtures_lake.iceberg_table(lake, TABLE), name_prefix=f"d{index:02d}")
        writer.write(rows)
        append_files(
            lambda: fixtures_lake.iceberg_table(lake, TABLE),
            writer.close(),
            batch_id=uuid.uuid4().hex,
            writer_id="test",
            seq=index + 1,
        )
        written.extend(rows.to_pylist())
    yield lake, written
    lake.close()


def run(demo: tuple[Lake, list[dict[str, Any]]], query: WorkloadQuery) -> list[dict[str, Any]]:
    lake, _ = demo
    return lake.sql(query.sql).to_pylist()


def in_days(row: dict[str, Any], first: date, end: date) -> bool:
    return first <= row["requested_at"].date() < end


def approx(value: float, digits: int) -> Any:
    """A value rounded to ``digits`` in SQL (half away from zero) vs Python's rounding."""
    return pytest.approx(value, abs=10**-digits * 0.51)


def test_q1_is_one_tenants_usage_per_day(demo: tuple[Lake, list[dict[str, Any]]]) -> None:
    _, rows = demo
    end = SECOND_WEEK + timedelta(days=7)
    per_day: dict[date, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["customer_id"] == 1 and in_days(row, SECOND_WEEK, end):
            per_day[row["requested_at"].date()].append(row)

    got = run(demo, tenant_daily_usage(1, SECOND_WEEK, 7))

    assert [r["day"] for r in got] == sorted(per_day) and len(got) == 7
    for result in got:
        day = per_day[result["day"]]
        n = len(day)
        assert result["requests"] == n
        assert result["bytes_sent"] == sum(r["bytes_sent"] for r in day)
        hits = sum(r["cache_status"] == "HIT" for r in day)
        assert result["hit_pct"] == approx(100 * hits / n, 2)
        assert result["error_pct"] == approx(100 * sum(r["status"] >= 500 for r in day) / n, 3)
        assert result["avg_latency_ms"] == approx(sum(r["latency_ms"] for r in day) / n, 2)


def test_q2_is_every_tenant_per_hour_of_one_day(demo: tuple[Lake, list[dict[str, Any]]]) -> None:
    _, rows = demo
    day = SECOND_WEEK + timedelta(days=3)
    groups: dict[tuple[int, datetime], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if in_days(row, day, day + timedelta(days=1)):
            hour = row["requested_at"].replace(minute=0, second=0, microsecond=0)
            groups[row["customer_id"], hour].append(row)
    expected = [
        {
            "customer_id": tenant,
            "hour": hour,
            "requests": len(group),
            "bytes_sent": sum(r["bytes_sent"] for r in group),
            "origin_requests": sum(r["cache_status"] != "HIT" for r in group),
            "max_latency_ms": max(r["latency_ms"] for r in group),
        }
        for (tenant, hour), group in sorted(groups.items())
    ]

    assert run(demo, tenant_hourly_traffic(day)) == expected


def test_q3_is_a_few_rows_of_cache_outcomes(demo: tuple[Lake, list[dict[str, Any]]]) -> None:
    _, rows = demo
    week = [r for r in rows if in_days(r, SECOND_WEEK, SECOND_WEEK + timedelta(days=7))]
    counts = Counter(r["cache_status"] for r in week)

    got = run(demo, cache_efficiency(SECOND_WEEK, 7))

    assert len(got) < 10
    assert {r["cache_status"]: r["requests"] for r in got} == counts
    assert [r["requests"] for r in got] == sorted(counts.values(), reverse=True)
    assert sum(r["request_pct"] for r in got) == pytest.approx(100, abs=0.02)
    hits = next(r for r in got if r["cache_status"] == "HIT")
    latencies = [r["latency_ms"] for r in week if r["cache_status"] == "HIT"]
    assert hits["p95_latency_ms"] == approx(float(np.percentile(latencies, 95)), 2)
    assert hits["request_pct"] == approx(100 * counts["HIT"] / len(week), 2)


def test_q4_ranks_every_tenant_with_its_metrics(demo: tuple[Lake, list[dict[str, Any]]]) -> None:
    _, rows = demo
    by_tenant: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_tenant[row["customer_id"]].append(row)

    got = run(demo, tenant_access_metrics())

    assert len(got) == len(by_tenant)
    assert [r["requests"] for r in got] == sorted(
        (len(v) for v in by_tenant.values()), reverse=True
    )
    top = got[0]
    assert top["traffic_rank"] == 1
    mine = by_tenant[top["customer_id"]]
    assert top["requests"] == len(mine) == max(len(v) for v in by_tenant.values())
    assert top["bytes_sent"] == sum(r["bytes_sent"] for r in mine)
    assert top["distinct_objects"] == len({r["path"] for r in mine})
    assert top["countries"] == len({r["country"] for r in mine})
    assert top["client_software"] == len({r["user_agent"] for r in mine})
    latencies = [r["latency_ms"] for r in mine]
    assert top["p50_latency_ms"] == approx(float(np.percentile(latencies, 50)), 2)
    assert top["p99_latency_ms"] == approx(float(np.percentile(latencies, 99)), 2)
    automated = sum(
        any(w in r["user_agent"].lower() for w in ("bot", "curl", "okhttp")) for r in mine
    )
    assert top["automated_share"] == approx(automated / len(mine), 4)
    hourly = Counter(r["requested_at"].replace(minute=0, second=0, microsecond=0) for r in mine)
    assert top["peak_hour_requests"] == max(hourly.values())
    countries = Counter(r["country"] for r in mine)
    assert countries[top["top_country"]] == max(countries.values())


def expected_changes(rows: list[dict[str, Any]], limit: int) -> list[tuple[Any, ...]]:
    """Q5 in plain Python: 15-minute buckets of week 2 against the same bucket of week 1."""
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    counts: Counter[tuple[str, datetime]] = Counter()
    for row in rows:
        if in_days(row, START, START + timedelta(days=14)):
            minutes = (row["requested_at"] - epoch) // timedelta(minutes=15)
            counts[row["country"], epoch + minutes * timedelta(minutes=15)] += 1
    second = datetime(SECOND_WEEK.year, SECOND_WEEK.month, SECOND_WEEK.day, tzinfo=UTC)
    this_week = {key: n for key, n in counts.items() if key[1] >= second}
    before = {(c, b + timedelta(days=7)): n for (c, b), n in counts.items() if b < second}
    compared = [
        (country, bucket, before.get((country, bucket), 0), this_week.get((country, bucket), 0))
        for country, bucket in set(this_week) | set(before)
    ]
    changes = [(c, b, w, n, n - w) for c, b, w, n in compared]
    drops = sorted(changes, key=lambda x: (x[4], x[0], x[1]))[:limit]
    peaks = sorted(changes, key=lambda x: (-x[4], x[0], x[1]))[:limit]
    report = [("drop", *x) for x in drops if x[4] < 0] + [("peak", *x) for x in peaks if x[4] > 0]
    return sorted(report, key=lambda x: (x[0], -abs(x[5]), x[1], x[2]))


def test_q5_lists_the_biggest_drops_and_peaks_against_last_week(
    demo: tuple[Lake, list[dict[str, Any]]],
) -> None:
    _, rows = demo

    got = run(demo, traffic_changes(SECOND_WEEK, limit=5))

    expected = expected_changes(rows, 5)
    assert len(expected) == 10  # five of each: the data is noisy enough to have both
    assert [
        (r["kind"], r["country"], r["bucket"], r["week_before"], r["requests"], r["change"])
        for r in got
    ] == expected
    for r in got:
        pct = None if r["week_before"] == 0 else 100 * r["change"] / r["week_before"]
        assert r["change_pct"] == (None if pct is None else approx(pct, 1))


def test_a_country_gone_dark_counts_as_a_drop_to_zero(
    demo: tuple[Lake, list[dict[str, Any]]],
) -> None:
    _, rows = demo
    got = run(demo, traffic_changes(SECOND_WEEK, limit=50))
    vanished = [r for r in got if r["kind"] == "drop" and r["requests"] == 0]
    assert vanished, "sparse buckets: some country must have had traffic only a week earlier"
    assert all(r["change"] == -r["week_before"] and r["change_pct"] == -100.0 for r in vanished)
    second = datetime(SECOND_WEEK.year, SECOND_WEEK.month, SECOND_WEEK.day, tzinfo=UTC)
    for r in vanished:
        assert not any(
            x["country"] == r["country"]
            and r["bucket"] <= x["requested_at"] < r["bucket"] + timedelta(minutes=15)
            for x in rows
        )
        assert r["bucket"] >= second


@pytest.mark.parametrize("query", ["Q1", "Q2"])
def test_q1_and_q2_read_only_their_days_files(
    demo: tuple[Lake, list[dict[str, Any]]], query: str
) -> None:
    lake, _ = demo
    chosen = {q.name: q for q in workload(START, customer_id=1)}[query]

    result = lake.explain(chosen.sql)

    (plan,) = result.plans
    days = 7 if query == "Q1" else 1
    assert plan.files_in_snapshot == DAYS
    assert plan.files_planned == days < plan.files_in_snapshot
    assert result.table == lake.sql(chosen.sql, prune=False)


def test_the_workload_aims_at_the_second_week() -> None:
    queries = workload(START, customer_id=7)
    assert [q.name for q in queries] == ["Q1", "Q2", "Q3", "Q4", "Q5"]
    q1, q2, q3, q4, q5 = (q.rows for q in queries)
    assert (q1.customer_id, q1.first_day, q1.end_day) == (7, SECOND_WEEK, date(2024, 6, 15))
    assert (q2.first_day, q2.end_day) == (date(2024, 6, 11), date(2024, 6, 12))
    assert q3.customer_id is None and q3.first_day == SECOND_WEEK
    assert q4.sql() == "TRUE"
    assert (q5.first_day, q5.end_day) == (START, date(2024, 6, 15))


def test_a_query_over_no_days_is_refused() -> None:
    with pytest.raises(InvalidInput, match="at least one day"):
        tenant_daily_usage(1, START, 0)
    with pytest.raises(InvalidInput, match="limit of at least 1"):
        traffic_changes(SECOND_WEEK, limit=0)


def test_the_docs_show_the_sql_the_code_runs() -> None:
    docs = DOCS.read_text()
    for query in workload(START):
        assert f"```sql\n{query.sql}\n```" in docs, f"{query.name} differs in {DOCS}"


def test_row_filters_render_as_pushable_terms() -> None:
    q1 = tenant_daily_usage(3, START, 2)
    assert q1.rows.sql() == (
        "customer_id = 3\n"
        "  AND requested_at >= TIMESTAMPTZ '2024-06-01 00:00:00+00'\n"
        "  AND requested_at < TIMESTAMPTZ '2024-06-03 00:00:00+00'"
    )
    assert f"WHERE {q1.rows.sql()}\n" in q1.sql


@pytest.mark.parametrize("who", ["plain", "filtered"])
def test_a_governed_principal_reads_every_workload_querys_files_natively(
    demo: tuple[Lake, list[dict[str, Any]]], who: str
) -> None:
    """The benchmark's two governed lines (a SELECT grant; a row filter every row
    passes) answer Q1-Q5 as the administrator does, each from the planned data files
    read by DuckDB itself whenever it reads any (the sandbox last used may read files):
    a statement shape that fell back to a copy or a pyarrow dataset would be slower
    than the administrator's."""
    lake, _ = demo
    rules = lake.governance
    name = f"workload-{who}"
    if not any(p.name == name for p in lake.principals.list()):
        lake.principals.create(name)
        grantee = Grantee(GranteeKind.PRINCIPAL, name)
        if who == "plain":
            rules.grant([Privilege.SELECT], Securable(SecurableKind.TABLE, TABLE), grantee)
        else:
            rules.create_data_filter("workload_every_row", TABLE, where="customer_id >= 0")
            rules.grant(
                [Privilege.SELECT],
                Securable(SecurableKind.DATA_FILTER, "workload_every_row"),
                grantee,
            )
    principal = lake.as_principal(Principal(name, admin=False))
    for query in workload(START):
        expected = lake.sql(query.sql)
        assert principal.sql(query.sql) == expected, query.name
        if expected.num_rows:  # a plan of no file has nothing to read natively
            last_sandbox = next(reversed(lake._queries.local.sandboxes))
            assert last_sandbox, f"{query.name} was not read natively"
