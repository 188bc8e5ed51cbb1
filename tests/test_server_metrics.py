"""``POST .../metrics``: engines' scan and commit reports are kept in the state database
and read back with SQL as ``icehouse.metrics``, from Python and from ``icehouse sql``."""

from __future__ import annotations

import json
from typing import Any

import requests
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField
from typer.testing import CliRunner

from icehouse.cli.app import app
from tests import fixtures_lake, fixtures_server
from tests.fixtures_server import Served

home = fixtures_lake.home
lake = fixtures_lake.lake
served = fixtures_server.served

SCHEMA = Schema(NestedField(1, "id", LongType(), required=False))
METRICS_URL = "/v1/icehouse/namespaces/shop/tables/orders/metrics"

SCAN_REPORT: dict[str, Any] = {
    "report-type": "scan-report",
    "table-name": "icehouse.shop.orders",
    "snapshot-id": 42,
    "filter": True,
    "schema-id": 0,
    "projected-field-ids": [1],
    "projected-field-names": ["id"],
    "metrics": {
        "total-planning-duration": {"count": 1, "time-unit": "nanoseconds", "total-duration": 9},
        "result-data-files": {"unit": "count", "value": 3},
    },
}
COMMIT_REPORT: dict[str, Any] = {
    "report-type": "commit-report",
    "table-name": "icehouse.shop.orders",
    "snapshot-id": 43,
    "sequence-number": 2,
    "operation": "append",
    "metrics": {"added-records": {"unit": "count", "value": 100}},
}


def with_table(served: Served) -> None:
    client = served.client()
    client.create_namespace("shop")
    client.create_table("shop.orders", SCHEMA)


def test_reports_are_kept_and_queryable_with_sql(served: Served) -> None:
    with_table(served)
    for report in (SCAN_REPORT, COMMIT_REPORT):
        answer = requests.post(served.url(METRICS_URL), json=report, timeout=10)
        assert answer.status_code == 204

    rows = served.lake.sql(
        "SELECT table_name, report_type, snapshot_id, operation, "
        "json_extract(report, '$.metrics.result-data-files.value')::INT AS files, "
        "json_extract(report, '$.metrics.added-records.value')::INT AS added "
        "FROM icehouse.metrics ORDER BY id"
    )
    assert rows.to_pylist() == [
        {
            "table_name": "shop.orders",
            "report_type": "scan-report",
            "snapshot_id": 42,
            "operation": None,
            "files": 3,
            "added": None,
        },
        {
            "table_name": "shop.orders",
            "report_type": "commit-report",
            "snapshot_id": 43,
            "operation": "append",
            "files": None,
            "added": 100,
        },
    ]
    assert served.lake.metrics.list()[0].report["projected-field-names"] == ["id"]


def test_icehouse_sql_reads_the_reports(served: Served) -> None:
    with_table(served)
    requests.post(served.url(METRICS_URL), json=COMMIT_REPORT, timeout=10)

    result = CliRunner().invoke(
        app,
        [
            "sql",
            "SELECT table_name, operation FROM icehouse.metrics",
            "--format",
            "json",
            "--home",
            str(served.lake.home),
        ],
        env={"ICEHOUSE_HOME": ""},
    )

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [{"table_name": "shop.orders", "operation": "append"}]


def test_a_report_of_a_table_not_created_yet_is_kept(served: Served) -> None:
    """Spark's CREATE TABLE AS SELECT reports its commit before the table exists."""
    with_table(served)
    url = served.url("/v1/icehouse/namespaces/shop/tables/not_yet/metrics")
    answer = requests.post(url, json=COMMIT_REPORT, timeout=10)
    assert answer.status_code == 204, answer.text
    assert [(r.table_name, r.operation) for r in served.lake.metrics.list()] == [
        ("shop.not_yet", "append")
    ]


def test_a_report_in_a_namespace_that_does_not_exist_is_404(served: Served) -> None:
    with_table(served)
    url = served.url("/v1/icehouse/namespaces/nowhere/tables/orders/metrics")
    answer = requests.post(url, json=COMMIT_REPORT, timeout=10)
    assert answer.status_code == 404
    assert answer.json()["error"]["type"] == "NoSuchNamespaceException"
    assert served.lake.metrics.list() == []


def test_a_report_without_a_type_is_a_bad_request(served: Served) -> None:
    with_table(served)
    report = {k: v for k, v in COMMIT_REPORT.items() if k != "report-type"}
    answer = requests.post(served.url(METRICS_URL), json=report, timeout=10)
    assert answer.status_code == 400
    assert "report-type" in answer.json()["error"]["message"]
