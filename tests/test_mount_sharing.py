"""Who shares a mounted catalog: the producer's administrator, a principal of the
central server (of no tenant) whom the central administrator granted SELECT on the
mount with grant option. It defines a data filter on a table of its mount, shares the
filter with a consumer tenant with grant option, and revokes the share; it can do
nothing of the kind outside its mount, and a principal whose SELECT has no grant option
defines no filter."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from icehouse.errors import Forbidden, IcehouseError
from icehouse.govern.authz import Principal
from icehouse.lake import Lake
from icehouse.state.audit import rows_after
from tests.fixtures_federation import sql_producer
from tests.test_tenants import refused, sql, status

TABLE = "cdn_prod.cdn.requests"
FILTER = f"CREATE DATA FILTER eu ON {TABLE} WHERE country IN ('fr', 'de') COLUMNS (id)"


def as_(lake: Lake, name: str, tenant: str | None = None) -> Lake:
    return lake.as_principal(Principal(name, admin=False, kind="user", tenant=tenant))


@pytest.fixture
def central(tmp_path: Path) -> Iterator[Lake]:
    """The central lake with ``cdn_prod`` mounted; ``cdn_admin``, the producer's
    administrator, holds SELECT on it with grant option; tenant ``consumer`` has
    administrator ``cadmin`` and principal ``analyst``."""
    Lake.init(tmp_path / "central")
    with Lake.open(tmp_path / "central") as lake:
        lake.catalogs.mount("cdn_prod", type="sql", uri=sql_producer(tmp_path / "producer"))
        lake.principals.create("cdn_admin")
        status(lake, "GRANT SELECT ON CATALOG cdn_prod TO PRINCIPAL cdn_admin WITH GRANT OPTION")
        status(lake, "CREATE TENANT consumer")
        lake.tenants.create_principal("consumer", "cadmin", kind="user")
        status(lake, "GRANT ADMIN ON TENANT consumer TO PRINCIPAL cadmin")
        as_(lake, "cadmin", "consumer").tenants.create_principal("consumer", "analyst")
        yield lake


def test_the_producers_administrator_shares_a_filter_of_its_mount_and_revokes_it(
    central: Lake,
) -> None:
    producer = as_(central, "cdn_admin")
    assert status(producer, FILTER) == f"created data filter eu on {TABLE}"
    assert status(
        producer, "GRANT SELECT ON DATA FILTER eu TO TENANT consumer WITH GRANT OPTION"
    ) == ("granted SELECT on data filter eu to tenant consumer with grant option")
    status(
        as_(central, "cadmin", "consumer"), "GRANT SELECT ON DATA FILTER eu TO PRINCIPAL analyst"
    )
    analyst = as_(central, "analyst", "consumer")
    query = f"SELECT * FROM {TABLE} ORDER BY id"

    assert sql(analyst, query) == [{"id": 1}, {"id": 2}]

    assert status(producer, "REVOKE SELECT ON DATA FILTER eu FROM TENANT consumer") == (
        "revoked SELECT on data filter eu from tenant consumer"
    )
    assert "not found or not permitted" in refused(analyst, query)
    assert sql(central, "SHOW GRANTS TO PRINCIPAL analyst") == []


def test_the_producers_administrator_shares_nothing_outside_its_mount(central: Lake) -> None:
    central.tables.create("web.hits", schema={"id": "long"})
    producer = as_(central, "cdn_admin")

    with pytest.raises(Forbidden, match=r"table web\.hits is not found or not permitted"):
        producer.sql("CREATE DATA FILTER mine ON web.hits COLUMNS (id)")
    with pytest.raises(Forbidden, match=r"table web\.hits is not found or not permitted"):
        producer.sql("GRANT SELECT ON TABLE web.hits TO TENANT consumer")
    assert [f["name"] for f in sql(central, "SHOW DATA FILTERS")] == []


def test_select_without_grant_option_defines_no_filter(central: Lake) -> None:
    central.principals.create("reader")
    status(central, f"GRANT SELECT ON TABLE {TABLE} TO PRINCIPAL reader")

    with pytest.raises(Forbidden) as raised:
        as_(central, "reader").sql(FILTER)

    assert raised.value.message == (
        f"principal 'reader' may not governance.create_data_filter on table {TABLE}: it "
        "needs SELECT with grant option on it, or MANAGE_GRANTS on the catalog"
    )
    denied = [
        r
        for r in rows_after(central._engine, 0, limit=10_000)
        if r.action == "governance.create_data_filter" and not r.allowed
    ]
    assert [(r.principal, r.resource) for r in denied] == [("reader", "governance eu")]


def test_a_tenants_administrator_defines_no_filter_on_what_was_shared_with_it(
    central: Lake,
) -> None:
    status(central, FILTER)
    status(central, "GRANT SELECT ON DATA FILTER eu TO TENANT consumer WITH GRANT OPTION")

    with pytest.raises(IcehouseError, match=r"may not governance\.create_data_filter"):
        as_(central, "cadmin", "consumer").sql(
            f"CREATE DATA FILTER wider ON {TABLE} WHERE country = 'us'"
        )
