"""Resource links to tables of a mounted catalog: the central lake mounts a real
``icehouse serve`` producer as ``cdn_prod``, shares ``cdn_prod.cdn.requests`` with
tenant ``consumer`` through data filter ``eu`` (rows of fr and de, column ``id`` only)
with grant option; the consumer's administrator links it in as ``analytics.requests``
and re-grants the filter to its analysts' role. The analyst reads through the link,
filtered, locally and through the query API; revoking the share, unmounting the catalog
or dropping the table at the producer makes the link "not found or not permitted",
listed nowhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pyiceberg.catalog.rest import RestCatalog

from icehouse.govern.authz import Principal
from icehouse.lake import Lake
from icehouse.lake.principals import Credentials
from tests.fixtures_federation import REQUESTS, ServedProducer, served_producer
from tests.fixtures_server import serving
from tests.test_audit_kill import kill
from tests.test_query_api_governed import via_client, via_json
from tests.test_tenants import refused, sql, status

LINK = "analytics.requests"
TARGET = "cdn_prod.cdn.requests"
QUERY = f"SELECT * FROM {LINK} ORDER BY id"
EU_ROWS = [{"id": 1}, {"id": 2}]


@pytest.fixture(scope="module")
def producer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedProducer]:
    served = served_producer(tmp_path_factory.mktemp("links-producer"))
    try:
        yield served
    finally:
        kill(served.process)


def as_(lake: Lake, name: str) -> Lake:
    return lake.as_principal(Principal(name, admin=False, kind="user", tenant="consumer"))


@pytest.fixture
def central(tmp_path: Path, producer: ServedProducer) -> Iterator[tuple[Lake, Credentials]]:
    """The central lake with the link made and the share re-granted to the analysts;
    the analyst's credentials."""
    Lake.init(tmp_path / "central")
    with Lake.open(tmp_path / "central") as lake:
        lake.catalogs.mount("cdn_prod", type="rest", uri=producer.url,
                            credential=producer.credential)  # fmt: skip
        status(lake, "CREATE TENANT consumer")
        lake.tenants.create_principal("consumer", "cadmin", kind="user")
        status(lake, "GRANT ADMIN ON TENANT consumer TO PRINCIPAL cadmin")
        status(
            lake, f"CREATE DATA FILTER eu ON {TARGET} WHERE country IN ('fr', 'de') COLUMNS (id)"
        )
        status(lake, "GRANT SELECT ON DATA FILTER eu TO TENANT consumer WITH GRANT OPTION")
        lake.namespaces.create(("analytics",))
        status(lake, "GRANT CREATE TABLE ON NAMESPACE analytics TO PRINCIPAL cadmin")
        cadmin = as_(lake, "cadmin")
        analyst = cadmin.tenants.create_principal("consumer", "analyst", kind="user")
        cadmin.tenants.create_principal("consumer", "batch", kind="user")
        status(cadmin, "CREATE ROLE analysts")
        status(cadmin, "GRANT ROLE analysts TO PRINCIPAL analyst")
        assert status(cadmin, f"CREATE LINK {LINK} FOR {TARGET}") == (
            f"created link {LINK} for {TARGET}"
        )
        status(cadmin, "GRANT SELECT ON DATA FILTER eu TO ROLE analysts")
        yield lake, analyst


def names(lake: Lake) -> list[str]:
    return [row["name"] for row in sql(lake, "SHOW TABLES")]


def test_the_analyst_reads_the_mounted_share_through_the_link_filtered(
    central: tuple[Lake, Credentials],
) -> None:
    lake, _ = central

    assert sql(as_(lake, "analyst"), QUERY) == EU_ROWS
    assert sql(as_(lake, "analyst"), f"SELECT count(*) AS n FROM {LINK} WHERE id > 1") == [{"n": 1}]
    assert sql(lake, QUERY) == REQUESTS.to_pylist()  # the administrator: every row


def test_the_link_is_listed_to_whoever_may_describe_its_mounted_target(
    central: tuple[Lake, Credentials],
) -> None:
    lake, _ = central
    analyst = as_(lake, "analyst")

    assert LINK in names(analyst)
    assert sql(analyst, "SHOW LINKS") == [{"name": LINK, "target": TARGET, "created_by": "cadmin"}]
    assert LINK in names(lake)
    batch = as_(lake, "batch")
    assert LINK not in names(batch)
    assert sql(batch, "SHOW LINKS") == []
    assert "not found or not permitted" in refused(batch, QUERY)


def test_the_query_api_and_the_python_client_read_through_the_link(
    central: tuple[Lake, Credentials],
) -> None:
    lake, analyst = central
    with serving(lake, allow_anonymous=False) as served:
        assert via_json(served, analyst, QUERY).rows == EU_ROWS
        assert via_client(served, analyst, QUERY).rows == EU_ROWS

        status(lake, "REVOKE SELECT ON DATA FILTER eu FROM TENANT consumer")

        after = via_client(served, analyst, QUERY)
    assert after.rows is None
    assert "not found or not permitted" in after.shown


def test_a_revoked_share_makes_the_link_not_found_and_listed_nowhere(
    central: tuple[Lake, Credentials],
) -> None:
    lake, _ = central
    status(lake, "REVOKE SELECT ON DATA FILTER eu FROM TENANT consumer")

    analyst = as_(lake, "analyst")
    message = refused(analyst, QUERY)
    assert "not found or not permitted" in message
    assert TARGET not in message
    assert LINK not in names(analyst)
    assert sql(analyst, "SHOW LINKS") == []


def test_an_unmounted_catalog_makes_the_link_not_found_and_listed_nowhere(
    central: tuple[Lake, Credentials],
) -> None:
    lake, _ = central
    lake.catalogs.unmount("cdn_prod")

    analyst = as_(lake, "analyst")
    assert "not found or not permitted" in refused(analyst, QUERY)
    assert LINK not in names(analyst)
    assert sql(analyst, "SHOW LINKS") == []
    assert LINK not in names(lake)
    assert sql(lake, "SHOW LINKS") == [{"name": LINK, "target": TARGET, "created_by": "cadmin"}]


def test_a_table_dropped_at_the_producer_makes_the_link_not_found_and_listed_nowhere(
    central: tuple[Lake, Credentials], producer: ServedProducer
) -> None:
    lake, _ = central
    client = RestCatalog(
        "producer",
        uri=producer.url,
        credential=producer.credential,
        **{"oauth2-server-uri": f"{producer.url}/v1/oauth/tokens"},
    )
    client.drop_table("cdn.requests")
    try:
        analyst = as_(lake, "analyst")
        assert "not found or not permitted" in refused(analyst, QUERY)
        assert LINK not in names(analyst)
        assert LINK not in names(lake)
    finally:  # the module's other tests read the producer's table
        client.create_table("cdn.requests", schema=REQUESTS.schema).append(REQUESTS)


def test_a_link_to_a_mounted_table_it_may_not_describe_is_refused(
    central: tuple[Lake, Credentials],
) -> None:
    lake, _ = central
    cadmin = as_(lake, "cadmin")

    message = refused(cadmin, "CREATE LINK analytics.other FOR cdn_prod.cdn.missing")
    assert message == "table cdn_prod.cdn.missing is not found or not permitted"
    assert "not found or not permitted" in refused(
        cadmin, "CREATE LINK analytics.other FOR nowhere.cdn.requests"
    )
