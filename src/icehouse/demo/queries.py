"""The CDN analytics workload Q1–Q5 over ``demo.requests``.

These are the questions the lake icehouse follows answers every day, each picked for a
different access pattern, so that one benchmark shows how icehouse fares on all of them:

- Q1 one tenant over a few days (partition *and* tenant pruning: few files, few row groups);
- Q2 one day across all tenants (partition pruning only; a wide result);
- Q3 several days across all tenants (partition pruning; a tiny result);
- Q4 every row, many aggregates per tenant (no pruning possible: a pure scan);
- Q5 two weeks compared bucket by bucket (a scan plus a self-join).

Each function returns DuckDB SQL that runs unchanged through ``lake.sql`` and over any
relation named ``demo.requests`` with the workload's columns (``workload.SCHEMA``), which
is how the benchmark runs the same text on every engine. Filters are plain
``column <op> constant`` terms, the shape icehouse pushes into Iceberg planning.
Timestamps are bucketed in UTC: ``lake.sql`` sets ``TimeZone = 'UTC'``; other
connections must too.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, timedelta

from icehouse.demo.workload import TABLE
from icehouse.errors import InvalidInput

__all__ = [
    "RowRange",
    "WorkloadQuery",
    "cache_efficiency",
    "tenant_access_metrics",
    "tenant_daily_usage",
    "tenant_hourly_traffic",
    "traffic_changes",
    "workload",
]


@dataclass(frozen=True)
class RowRange:
    """The rows a query reads: days ``[first_day, end_day)``, optionally of one tenant.

    Kept apart from the SQL so that a benchmark can give another engine (PyIceberg's
    ``row_filter``) exactly the filter the query applies, and find the files that hold
    matching rows.
    """

    first_day: date | None = None
    end_day: date | None = None
    """Exclusive."""
    customer_id: int | None = None

    def sql(self) -> str:
        """The range as a ``WHERE`` condition (``TRUE`` for every row)."""
        terms = []
        if self.customer_id is not None:
            terms.append(f"customer_id = {int(self.customer_id)}")
        if self.first_day is not None:
            terms.append(f"requested_at >= {_timestamp(self.first_day)}")
        if self.end_day is not None:
            terms.append(f"requested_at < {_timestamp(self.end_day)}")
        return "\n  AND ".join(terms) or "TRUE"


@dataclass(frozen=True)
class WorkloadQuery:
    name: str
    """``Q1`` … ``Q5``."""
    question: str
    """The business question, one line."""
    sql: str
    rows: RowRange
    """Which rows the query reads."""


def _timestamp(day: date) -> str:
    return f"TIMESTAMPTZ '{day.isoformat()} 00:00:00+00'"


def _days(first_day: date, days: int) -> RowRange:
    if days < 1:
        raise InvalidInput(f"a query needs at least one day, got {days}")
    return RowRange(first_day, first_day + timedelta(days=days))


def tenant_daily_usage(customer_id: int, first_day: date, days: int = 7) -> WorkloadQuery:
    """Q1: what did one tenant use each day, and how well was it served?

    The customer-facing usage report (and the basis of an invoice line): requests,
    gigabytes delivered, cache-hit and error percentages and latency per day, one row per
    day, so ``days`` up to 9 keeps the answer under ten rows.
    """
    rows = replace(_days(first_day, days), customer_id=customer_id)
    sql = f"""\
SELECT CAST(requested_at AS DATE) AS day,
       count(*) AS requests,
       sum(bytes_sent) AS bytes_sent,
       round(100.0 * avg(CASE WHEN cache_status = 'HIT' THEN 1 ELSE 0 END), 2) AS hit_pct,
       round(100.0 * avg(CASE WHEN status >= 500 THEN 1 ELSE 0 END), 3) AS error_pct,
       round(avg(latency_ms), 2) AS avg_latency_ms
FROM {TABLE}
WHERE {rows.sql()}
GROUP BY day
ORDER BY day"""
    return WorkloadQuery("Q1", "One tenant's daily usage and service quality", sql, rows)


def tenant_hourly_traffic(day: date) -> WorkloadQuery:
    """Q2: how much traffic did every tenant send in each hour of one day?

    The daily roll-up that feeds per-tenant dashboards and hourly billing: one row per
    tenant and hour, with the requests the origin had to serve (anything but a cache hit)
    and the slowest request of the hour.
    """
    rows = _days(day, 1)
    sql = f"""\
SELECT customer_id,
       date_trunc('hour', requested_at) AS hour,
       count(*) AS requests,
       sum(bytes_sent) AS bytes_sent,
       count(*) FILTER (WHERE cache_status <> 'HIT') AS origin_requests,
       max(latency_ms) AS max_latency_ms
FROM {TABLE}
WHERE {rows.sql()}
GROUP BY customer_id, hour
ORDER BY customer_id, hour"""
    return WorkloadQuery("Q2", "Every tenant's traffic per hour of one day", sql, rows)


def cache_efficiency(first_day: date, days: int = 7) -> WorkloadQuery:
    """Q3: across all tenants, how much traffic did the cache absorb over some days?

    The capacity-planning view of the edge: per cache outcome (HIT, MISS, EXPIRED,
    BYPASS) its share of requests and of bytes, and its latency (mean and 95th
    percentile), which is what the origin and the network have to be sized for. One row
    per cache outcome: four rows.
    """
    rows = _days(first_day, days)
    sql = f"""\
SELECT cache_status,
       count(*) AS requests,
       round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS request_pct,
       round(100.0 * sum(bytes_sent) / sum(sum(bytes_sent)) OVER (), 2) AS byte_pct,
       round(avg(latency_ms), 2) AS avg_latency_ms,
       round(quantile_cont(latency_ms, 0.95), 2) AS p95_latency_ms
FROM {TABLE}
WHERE {rows.sql()}
GROUP BY cache_status
ORDER BY requests DESC"""
    return WorkloadQuery("Q3", "Cache efficiency across all tenants over several days", sql, rows)


def tenant_access_metrics() -> WorkloadQuery:
    """Q4: how does each tenant use the CDN, over everything we have?

    The account-review report, one row per tenant ranked by traffic: volume, cache-hit
    ratio by requests and by bytes, client (4xx) and server (5xx) error rates, latency
    percentiles, distinct objects, countries and client software, the share of automated
    clients (bots, curl, okhttp), the peak hour against the typical hour, and the country
    sending the most requests. Every row is read and aggregated several ways: this is the
    heavy query of the workload.
    """
    sql = f"""\
WITH base AS (
    SELECT customer_id,
           date_trunc('hour', requested_at) AS hour,
           country,
           status,
           bytes_sent,
           path,
           user_agent,
           latency_ms,
           cache_status = 'HIT' AS hit,
           regexp_matches(user_agent, 'bot|curl|okhttp', 'i') AS automated
    FROM {TABLE}
),
totals AS (
    SELECT customer_id,
           count(*) AS requests,
           sum(bytes_sent) AS bytes_sent,
           avg(CAST(hit AS INTEGER)) AS hit_ratio,
           sum(bytes_sent) FILTER (WHERE hit) / sum(bytes_sent) AS byte_hit_ratio,
           avg(CASE WHEN status BETWEEN 400 AND 499 THEN 1 ELSE 0 END) AS client_error_rate,
           avg(CASE WHEN status >= 500 THEN 1 ELSE 0 END) AS server_error_rate,
           quantile_cont(latency_ms, [0.5, 0.95, 0.99]) AS latency_ms,
           count(DISTINCT path) AS distinct_objects,
           count(DISTINCT country) AS countries,
           count(DISTINCT user_agent) AS client_software,
           avg(CAST(automated AS INTEGER)) AS automated_share
    FROM base
    GROUP BY customer_id
),
hourly AS (
    SELECT customer_id, hour, count(*) AS requests
    FROM base
    GROUP BY customer_id, hour
),
peaks AS (
    SELECT customer_id,
           max(requests) AS peak_hour_requests,
           median(requests) AS median_hour_requests
    FROM hourly
    GROUP BY customer_id
),
by_country AS (
    SELECT customer_id, country, count(*) AS requests
    FROM base
    GROUP BY customer_id, country
),
top_country AS (
    SELECT customer_id,
           arg_max(country, requests) AS top_country,
           max(requests) / sum(requests) AS top_country_share
    FROM by_country
    GROUP BY customer_id
)
SELECT rank() OVER (ORDER BY t.requests DESC) AS traffic_rank,
       t.customer_id,
       t.requests,
       t.bytes_sent,
       round(t.hit_ratio, 4) AS hit_ratio,
       round(t.byte_hit_ratio, 4) AS byte_hit_ratio,
       round(t.client_error_rate, 5) AS client_error_rate,
       round(t.server_error_rate, 5) AS server_error_rate,
       round(t.latency_ms[1], 2) AS p50_latency_ms,
       round(t.latency_ms[2], 2) AS p95_latency_ms,
       round(t.latency_ms[3], 2) AS p99_latency_ms,
       t.distinct_objects,
       t.countries,
       t.client_software,
       round(t.automated_share, 4) AS automated_share,
       p.peak_hour_requests,
       round(p.peak_hour_requests / p.median_hour_requests, 2) AS peak_to_median,
       c.top_country,
       round(c.top_country_share, 4) AS top_country_share
FROM totals AS t
JOIN peaks AS p USING (customer_id)
JOIN top_country AS c USING (customer_id)
ORDER BY traffic_rank, t.customer_id"""
    return WorkloadQuery("Q4", "Per-tenant access metrics over all data", sql, RowRange())


def traffic_changes(second_week: date, limit: int = 10) -> WorkloadQuery:
    """Q5: where did traffic drop or peak against the same time one week earlier?

    The operator's anomaly report: requests per country per 15-minute bucket of the week
    starting ``second_week``, against the same bucket seven days earlier, listing the
    ``limit`` biggest drops and the ``limit`` biggest peaks by change in requests. A
    bucket with no requests in one of the two weeks counts as zero there (a country gone
    dark is the biggest drop of all). Ties break by country, then bucket.
    """
    if limit < 1:
        raise InvalidInput(f"the report needs a limit of at least 1, got {limit}")
    rows = RowRange(second_week - timedelta(days=7), second_week + timedelta(days=7))
    sql = f"""\
WITH counts AS (
    SELECT country,
           time_bucket(INTERVAL 15 MINUTE, requested_at) AS bucket,
           count(*) AS requests
    FROM {TABLE}
    WHERE {rows.sql()}
    GROUP BY country, bucket
),
this_week AS (
    SELECT country, bucket, requests
    FROM counts
    WHERE bucket >= {_timestamp(second_week)}
),
week_before AS (
    SELECT country, bucket + INTERVAL 7 DAY AS bucket, requests
    FROM counts
    WHERE bucket < {_timestamp(second_week)}
),
compared AS (
    SELECT country,
           bucket,
           coalesce(w.requests, 0) AS week_before,
           coalesce(t.requests, 0) AS requests,
           coalesce(t.requests, 0) - coalesce(w.requests, 0) AS change
    FROM this_week AS t
    FULL OUTER JOIN week_before AS w USING (country, bucket)
),
ranked AS (
    SELECT *,
           row_number() OVER (ORDER BY change, country, bucket) AS drop_rank,
           row_number() OVER (ORDER BY change DESC, country, bucket) AS peak_rank
    FROM compared
)
SELECT CASE WHEN change < 0 THEN 'drop' ELSE 'peak' END AS kind,
       country,
       bucket,
       week_before,
       requests,
       change,
       round(100.0 * change / nullif(week_before, 0), 1) AS change_pct
FROM ranked
WHERE (drop_rank <= {int(limit)} AND change < 0) OR (peak_rank <= {int(limit)} AND change > 0)
ORDER BY kind, abs(change) DESC, country, bucket"""
    return WorkloadQuery("Q5", "Traffic drops and peaks against one week earlier", sql, rows)


def workload(start: date, *, customer_id: int = 42, limit: int = 10) -> list[WorkloadQuery]:
    """Q1–Q5 for a table holding two weeks from ``start``, aimed at its second week.

    Q1 and Q3 cover the second week, Q2 its fourth day, Q4 everything and Q5 compares
    the second week with the first.
    """
    second_week = start + timedelta(days=7)
    return [
        tenant_daily_usage(customer_id, second_week, 7),
        tenant_hourly_traffic(second_week + timedelta(days=3)),
        cache_efficiency(second_week, 7),
        tenant_access_metrics(),
        traffic_changes(second_week, limit),
    ]
