"""The data mesh end to end: three ``icehouse serve`` processes on loopback, each with a
home of its own.

- Producer A holds ``cdn.requests``: the demo's CDN logs, renamed, with a ``client_ip``
  column added (and a few rows that carry one).
- Producer B holds ``billing.invoices``.
- The central server mounts A as ``cdn_a`` and B as ``billing_b``, and holds a table of
  its own, ``ref.countries``. Tenant ``consumer`` has an administrator ``cadmin``, an
  analyst (in role ``analysts``) and a batch job (a service principal).

The story: A's administrator (``cdn_admin``, granted SELECT on ``cdn_a`` with grant
option) shares ``cdn.requests`` with the consumer through data filter ``eu_no_ip`` (EU
countries, without ``client_ip``) with grant option; B's shares ``billing.invoices``
whole. The consumer's administrator links the share into ``analytics.requests`` and
re-grants it to the analysts, and the invoices to the batch job. The analyst queries
through the query API and sees EU rows without ``client_ip``; DuckDB and Spark on the
REST catalog get 403 for the filtered table; the batch job reads the invoices with
Spark, DuckDB and PyIceberg through the mount's REST prefix; a notebook (the Python
client) joins the filtered table with the central table. Then the producers revoke,
and every path fails at once. The audit trail shows each step with its tenant.

Spark starts once for the module (``fixtures_spark``) and only for the tests marked
``spark``; the rest need DuckDB's engine virtualenv (``fixtures_engines``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.exceptions import ForbiddenError, RESTError

import icehouse
from icehouse.lake import Lake
from tests import fixtures_engines
from tests.fixtures_engines import DuckDBEngine, EngineFailed
from tests.fixtures_spark import require_spark, run, spark_session
from tests.test_audit_kill import kill, serve
from tests.test_cli import ok
from tests.test_federation_rest import principal

duckdb_engine = fixtures_engines.duckdb_engine

EU = ("AT", "BE", "DE", "ES", "FR", "IE", "IT", "NL", "PL", "SE")
EU_SQL = ", ".join(f"'{c}'" for c in EU)
IPS = [f"203.0.113.{i}" for i in range(1, 5)]
"""The client IPs of the rows added to A's table: what no consumer may ever see."""

INVOICES = pa.table(
    {
        "invoice_id": pa.array([1, 2, 3], pa.int64()),
        "customer_id": pa.array([7, 8, 7], pa.int64()),
        "amount": pa.array([10.5, 20.0, 5.25], pa.float64()),
    }
)
COUNTRIES = pa.table(
    {
        "country": pa.array(["DE", "FR", "NL"], pa.string()),
        "name": pa.array(["Germany", "France", "Netherlands"], pa.string()),
    }
)


@dataclass
class Mesh:
    """The three servers, and ``CLIENT_ID:SECRET`` of each principal by name."""

    central: str
    central_home: Path
    producer_a: str
    producer_b: str
    credentials: dict[str, str]

    def connect(self, who: str) -> icehouse.Connection:
        """The Python client on the central server, as ``who``."""
        return icehouse.connect(self.central, credential=self.credentials[who])

    def sql(self, who: str, statement: str) -> list[dict[str, Any]]:
        with self.connect(who) as connection:
            rows: list[dict[str, Any]] = connection.sql(statement).to_pylist()
        return rows

    def refusal(self, who: str, statement: str) -> str:
        with self.connect(who) as connection, pytest.raises(icehouse.IcehouseError) as raised:
            connection.sql(statement)
        return raised.value.message

    def catalog(self, who: str, warehouse: str) -> RestCatalog:
        """PyIceberg on the central server's REST catalog, prefix ``warehouse``."""
        return rest_client(self.central, self.credentials[who], warehouse=warehouse)

    def duckdb(self, engine: DuckDBEngine, who: str, warehouse: str, *sql: str) -> Any:
        """DuckDB with the iceberg extension, ``warehouse`` attached as ``ice``."""
        client_id, secret = self.credentials[who].split(":")
        return engine.run(
            f"CREATE SECRET central (TYPE iceberg, CLIENT_ID '{client_id}', "
            f"CLIENT_SECRET '{secret}', OAUTH2_SERVER_URI '{self.central}/v1/oauth/tokens')",
            f"ATTACH '{warehouse}' AS ice (TYPE iceberg, ENDPOINT '{self.central}', "
            "SECRET central, ACCESS_DELEGATION_MODE 'none')",
            *sql,
        )


def rest_client(url: str, credential: str, **properties: str) -> RestCatalog:
    return RestCatalog(
        "client", uri=url, credential=credential,
        **{"oauth2-server-uri": f"{url}/v1/oauth/tokens", **properties},
    )  # fmt: skip


def central_sql(home: Path, statement: str) -> list[dict[str, Any]]:
    """``icehouse sql`` on the central home, as its administrator (whoever opens it)."""
    rows: list[dict[str, Any]] = json.loads(
        ok("sql", statement, "--format", "json", "--home", str(home)).stdout
    )
    return rows


def producer_a(folder: Path) -> tuple[Path, str]:
    """The demo's logs as ``cdn.requests`` with a ``client_ip`` column: the home and the
    central server's credential there."""
    home = folder / "producer_a"
    ok("demo", "--rows", "600", "--days", "1", "--tenants", "20", "--home", str(home))
    config = home / "icehouse.toml"
    config.write_text(
        config.read_text().replace('table = "demo.requests"', 'table = "cdn.requests"')
    )
    with Lake.open(home) as lake:
        lake.namespaces.create(("cdn",))
    ok("table", "rename", "demo.requests", "cdn.requests", "--home", str(home))
    ok("table", "alter", "cdn.requests", "--add-column", "client_ip:string", "--home", str(home))
    return home, principal(home, "central", "--admin")


def add_client_ips(url: str, credential: str) -> None:
    """Four rows of ``cdn.requests`` again, from EU and elsewhere, now with a client IP."""
    table = rest_client(url, credential).load_table("cdn.requests")
    rows = table.scan(row_filter="country IN ('DE', 'US')", limit=4).to_arrow()
    at = rows.schema.get_field_index("client_ip")
    field = rows.schema.field(at)
    table.append(rows.set_column(at, field, pa.array(IPS[: rows.num_rows], field.type)))


def producer_b(folder: Path) -> tuple[Path, str]:
    home = folder / "producer_b"
    ok("init", "--home", str(home))
    schema = '{"invoice_id": "long", "customer_id": "long", "amount": "double"}'
    ok("table", "create", "billing.invoices", "--schema", schema, "--home", str(home))
    return home, principal(home, "central", "--admin")


def central_home(folder: Path) -> tuple[Path, dict[str, str]]:
    """The central home with its own table, the tenant and the principals; the
    credentials by principal."""
    home = folder / "central"
    ok("init", "--home", str(home))
    schema = '{"country": "string", "name": "string"}'
    ok("table", "create", "ref.countries", "--schema", schema, "--home", str(home))
    ok("tenant", "create", "consumer", "--home", str(home))
    made = {
        "ops": principal(home, "ops", "--admin"),
        "cdn_admin": principal(home, "cdn_admin"),
        "billing_admin": principal(home, "billing_admin"),
        "cadmin": principal(home, "cadmin", "--tenant", "consumer", "--kind", "user"),
        "analyst": principal(home, "analyst", "--tenant", "consumer", "--kind", "user"),
        "batch": principal(home, "batch", "--tenant", "consumer"),
    }
    with Lake.open(home) as lake:
        lake.namespaces.create(("analytics",))
    return home, made


def mount_and_grant(home: Path, a: tuple[str, str], b: tuple[str, str]) -> None:
    """What the central administrator does on its home once the producers answer: mount
    them, and make each producer's administrator, and the tenant's, what they are."""
    for mount, (url, credential) in {"cdn_a": a, "billing_b": b}.items():
        ok("catalog", "mount", mount, "--type", "rest", "--uri", url,
           "--credential", credential, "--home", str(home))  # fmt: skip
    for statement in (
        "GRANT ADMIN ON TENANT consumer TO PRINCIPAL cadmin",
        "GRANT CREATE TABLE ON NAMESPACE analytics TO PRINCIPAL cadmin",
        "GRANT SELECT ON CATALOG cdn_a TO PRINCIPAL cdn_admin WITH GRANT OPTION",
        "GRANT SELECT ON CATALOG billing_b TO PRINCIPAL billing_admin WITH GRANT OPTION",
        "GRANT SELECT ON TABLE ref.countries TO TENANT consumer WITH GRANT OPTION",
    ):
        central_sql(home, statement)


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mesh]:
    """The three homes made, then served at once (a server takes seconds to start)."""
    folder = tmp_path_factory.mktemp("mesh")
    (home_a, central_at_a), (home_b, central_at_b) = producer_a(folder), producer_b(folder)
    home, made = central_home(folder)
    with ThreadPoolExecutor(3) as pool:
        started = list(pool.map(lambda h: serve(h, h.with_suffix(".log")), (home_a, home_b, home)))
    try:
        (_, url_a), (_, url_b), (_, url) = started
        add_client_ips(url_a, central_at_a)
        rest_client(url_b, central_at_b).load_table("billing.invoices").append(INVOICES)
        mount_and_grant(home, (url_a, central_at_a), (url_b, central_at_b))
        rest_client(url, made["ops"]).load_table("ref.countries").append(COUNTRIES)
        yield Mesh(url, home, url_a, url_b, made)
    finally:
        for process, _ in started:
            kill(process)


STEPS = (
    ("cdn_admin", f"CREATE DATA FILTER eu_no_ip ON cdn_a.cdn.requests WHERE country IN "
     f"({EU_SQL}) EXCLUDING COLUMNS (client_ip)",
     "created data filter eu_no_ip on cdn_a.cdn.requests"),
    ("cdn_admin", "GRANT SELECT ON DATA FILTER eu_no_ip TO TENANT consumer WITH GRANT OPTION",
     "granted SELECT on data filter eu_no_ip to tenant consumer with grant option"),
    ("billing_admin", "GRANT SELECT ON TABLE billing_b.billing.invoices TO TENANT consumer "
     "WITH GRANT OPTION",
     "granted SELECT on table billing_b.billing.invoices to tenant consumer with grant option"),
    ("cadmin", "CREATE LINK analytics.requests FOR cdn_a.cdn.requests",
     "created link analytics.requests for cdn_a.cdn.requests"),
    ("cadmin", "CREATE ROLE analysts", "created role analysts"),
    ("cadmin", "GRANT ROLE analysts TO PRINCIPAL analyst",
     "granted role analysts to principal analyst"),
    ("cadmin", "GRANT SELECT ON DATA FILTER eu_no_ip TO ROLE analysts",
     "granted SELECT on data filter eu_no_ip to role analysts"),
    ("cadmin", "GRANT SELECT ON TABLE ref.countries TO ROLE analysts",
     "granted SELECT on table ref.countries to role analysts"),
    ("cadmin", "GRANT SELECT ON TABLE billing_b.billing.invoices TO PRINCIPAL batch",
     "granted SELECT on table billing_b.billing.invoices to principal batch"),
)  # fmt: skip
"""(who, statement, what it answers): the producers' shares and the consumer's
administrator's work, in docs/mesh.md's order and words."""

REVOKES = (
    ("cdn_admin", "REVOKE SELECT ON DATA FILTER eu_no_ip FROM TENANT consumer"),
    ("billing_admin", "REVOKE SELECT ON TABLE billing_b.billing.invoices FROM TENANT consumer"),
)


@pytest.fixture(scope="module")
def shared(mesh: Mesh) -> Mesh:
    """``STEPS``, each statement as its principal through the query API."""
    for who, statement, said in STEPS:
        assert mesh.sql(who, statement) == [{"status": said}]
    return mesh


@pytest.fixture(scope="module")
def revoked(shared: Mesh) -> Mesh:
    """The producers revoke their shares."""
    for who, statement in REVOKES:
        (row,) = shared.sql(who, statement)
        assert row["status"].startswith("revoked SELECT")
    return shared


EU_COUNT = f"SELECT count(*) AS n FROM cdn_a.cdn.requests WHERE country IN ({EU_SQL})"
NOTEBOOK = (
    "SELECT c.name, count(*) AS requests FROM analytics.requests r "
    "JOIN ref.countries c USING (country) GROUP BY c.name ORDER BY c.name"
)


def test_the_analyst_reads_the_share_through_the_link_eu_rows_and_no_client_ip(
    shared: Mesh,
) -> None:
    (expected,) = central_sql(shared.central_home, EU_COUNT)

    by_country = shared.sql(
        "analyst", "SELECT country, count(*) AS n FROM analytics.requests GROUP BY country"
    )

    assert {r["country"] for r in by_country} <= set(EU)
    assert sum(r["n"] for r in by_country) == expected["n"] > 0
    rows = shared.sql("analyst", "SELECT * FROM analytics.requests")
    assert "client_ip" not in rows[0]
    assert not any(ip in repr(rows) for ip in IPS)
    assert shared.sql("analyst", "SELECT count(*) AS n FROM cdn_a.cdn.requests") == [expected]
    assert "not found or not permitted" in shared.refusal(
        "batch", "SELECT count(*) FROM analytics.requests"
    )


def test_engines_get_403_for_the_filtered_table_pointing_to_the_query_api(
    shared: Mesh, duckdb_engine: DuckDBEngine
) -> None:
    with pytest.raises(ForbiddenError, match="query API"):
        shared.catalog("analyst", "cdn_a").load_table("cdn.requests")
    with pytest.raises(EngineFailed, match=r"403|query API"):
        shared.duckdb(duckdb_engine, "analyst", "cdn_a", "SELECT count(*) FROM ice.cdn.requests")


def test_the_batch_job_reads_the_unfiltered_share_through_the_mounts_prefix(
    shared: Mesh, duckdb_engine: DuckDBEngine
) -> None:
    table = shared.catalog("batch", "billing_b").load_table("billing.invoices")
    assert table.scan().to_arrow().sort_by("invoice_id") == INVOICES
    results = shared.duckdb(
        duckdb_engine, "batch", "billing_b", "SELECT sum(amount) FROM ice.billing.invoices"
    )
    assert results[-1] == [[35.75]]


def test_a_notebook_joins_the_filtered_share_with_a_central_table(shared: Mesh) -> None:
    with shared.connect("analyst") as notebook:
        joined = notebook.sql(NOTEBOOK).to_pylist()
    (expected,) = central_sql(
        shared.central_home,
        "SELECT count(*) AS n FROM cdn_a.cdn.requests WHERE country IN ('DE', 'FR', 'NL')",
    )

    assert [r["name"] for r in joined] == ["France", "Germany", "Netherlands"]
    assert sum(r["requests"] for r in joined) == expected["n"]


@pytest.fixture(scope="module")
def spark(mesh: Mesh, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One SparkSession: catalog ``lake`` is the central server's own prefix as the batch
    job; ``billing`` its mount ``billing_b`` as the batch job; ``cdn`` the mount
    ``cdn_a`` as the analyst."""
    require_spark()
    with spark_session(
        mesh.central, mesh.credentials["batch"], tmp_path_factory.mktemp("spark-warehouse")
    ) as session:
        for name, who, warehouse in (
            ("billing", "batch", "billing_b"),
            ("cdn", "analyst", "cdn_a"),
        ):
            catalog = f"spark.sql.catalog.{name}"
            for key, value in {
                "": "org.apache.iceberg.spark.SparkCatalog",
                ".type": "rest",
                ".uri": mesh.central,
                ".warehouse": warehouse,
                ".rest.auth.type": "oauth2",
                ".credential": mesh.credentials[who],
                ".oauth2-server-uri": f"{mesh.central}/v1/oauth/tokens",
                ".cache-enabled": "false",
            }.items():
                session.conf.set(catalog + key, value)
        yield session


def spark_refusal(spark: Any, sql: str) -> str:
    with pytest.raises(Exception) as raised:  # py4j's error carries the server's
        run(spark, sql)
    return str(raised.value)


@pytest.mark.spark
def test_spark_reads_the_batch_jobs_share_and_gets_403_for_the_filtered_one(
    shared: Mesh, spark: Any
) -> None:
    assert run(spark, "SELECT sum(amount) AS total FROM billing.billing.invoices") == [
        {"total": 35.75}
    ]
    refusal = spark_refusal(spark, "SELECT count(*) FROM cdn.cdn.requests")
    assert "ForbiddenException" in refusal or "403" in refusal


def test_after_the_revoke_every_path_fails_at_once(
    revoked: Mesh, duckdb_engine: DuckDBEngine
) -> None:
    for statement in (
        "SELECT count(*) FROM analytics.requests",
        "SELECT count(*) FROM cdn_a.cdn.requests",
    ):
        assert "not found or not permitted" in revoked.refusal("analyst", statement)
    assert "analytics.requests" in revoked.refusal("analyst", NOTEBOOK)  # as a missing table
    assert revoked.sql("analyst", "SHOW LINKS") == []
    assert "not found or not permitted" in revoked.refusal(
        "batch", "SELECT count(*) FROM billing_b.billing.invoices"
    )
    with pytest.raises(RESTError, match=r"not found or not permitted|no catalog is mounted"):
        revoked.catalog("batch", "billing_b").load_table("billing.invoices")
    with pytest.raises(EngineFailed):
        revoked.duckdb(
            duckdb_engine, "batch", "billing_b", "SELECT count(*) FROM ice.billing.invoices"
        )
    assert central_sql(revoked.central_home, "SHOW GRANTS TO ROLE analysts") == [
        {"grantee": "role analysts", "privilege": "SELECT", "object": "table ref.countries",
         "with_grant_option": False, "granted_by": "cadmin"},
    ]  # fmt: skip


@pytest.mark.spark
def test_after_the_revoke_spark_reads_nothing(revoked: Mesh, spark: Any) -> None:
    refusal = spark_refusal(spark, "SELECT count(*) FROM billing.billing.invoices")
    assert "ForbiddenException" in refusal or "NoSuchTable" in refusal


def test_the_audit_shows_every_step_with_its_tenant(revoked: Mesh) -> None:
    ok("maintain", "run", "--home", str(revoked.central_home))

    statements = central_sql(
        revoked.central_home,
        "SELECT principal, tenant, statement FROM icehouse_system.audit WHERE kind = 'query' "
        "AND reason IS NULL AND regexp_matches(statement, '^(CREATE|GRANT|REVOKE)') ORDER BY id",
    )
    reads = central_sql(
        revoked.central_home,
        "SELECT DISTINCT principal, tenant, action, allowed, resource FROM icehouse_system.audit "
        "WHERE action IN ('table.select', 'table.load') AND principal IN ('analyst', 'batch')",
    )

    steps = [(r["principal"], r["tenant"], r["statement"].split(" ON ")[0]) for r in statements]
    assert [s for s in steps if s[0] != "owner"] == [
        ("cdn_admin", None, "CREATE DATA FILTER eu_no_ip"),
        ("cdn_admin", None, "GRANT SELECT"),
        ("billing_admin", None, "GRANT SELECT"),
        ("cadmin", "consumer", "CREATE LINK analytics.requests FOR cdn_a.cdn.requests"),
        ("cadmin", "consumer", "CREATE ROLE analysts"),
        ("cadmin", "consumer", "GRANT ROLE analysts TO PRINCIPAL analyst"),
        ("cadmin", "consumer", "GRANT SELECT"),
        ("cadmin", "consumer", "GRANT SELECT"),
        ("cadmin", "consumer", "GRANT SELECT"),
        ("cdn_admin", None, "REVOKE SELECT"),
        ("billing_admin", None, "REVOKE SELECT"),
    ]
    seen = {(r["principal"], r["tenant"], r["action"], r["allowed"], r["resource"]) for r in reads}
    assert {
        ("analyst", "consumer", "table.select", True, "table cdn_a.cdn.requests"),
        ("analyst", "consumer", "table.select", False, "table cdn_a.cdn.requests"),
        ("analyst", "consumer", "table.load", False, "table cdn_a.cdn.requests"),
        ("batch", "consumer", "table.load", True, "table billing_b.billing.invoices"),
        ("analyst", "consumer", "table.select", True, "table ref.countries"),
    } <= seen
