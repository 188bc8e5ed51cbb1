"""Resource links, the link part of the mesh story in one home: the producer (the home's
owner) shares ``web.requests`` with tenant ``consumer`` through data filter ``eu_only``;
the consumer's administrator, granted CREATE_TABLE on namespace ``analytics``, links the
share in as ``analytics.requests`` and re-grants the share to its analysts' role; the
analyst reads through the link, filtered. A link grants nothing: revoking the share or
dropping the target makes the link "not found or not permitted", listed nowhere."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from icehouse.errors import Forbidden, LinkNameTaken, NoSuchLink, NoSuchTable
from icehouse.lake import Lake
from icehouse.state.audit import rows_after
from tests.governed_fixtures import TABLE
from tests.test_tenants import EU, SECRETS, Mesh, build, refused, sql, status

LINK = "analytics.requests"
QUERY = f"SELECT * FROM {LINK} ORDER BY id"


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[Mesh]:
    """The tenants' story with the link made and the share re-granted to the analysts."""
    Lake.init(tmp_path / "lake")
    with Lake.open(tmp_path / "lake") as lake:
        made = build(lake)
        lake.namespaces.create(("analytics",))
        status(lake, "GRANT CREATE TABLE ON NAMESPACE analytics TO PRINCIPAL cadmin")
        cadmin = made.as_("cadmin")
        assert status(cadmin, f"CREATE LINK {LINK} FOR {TABLE}") == (
            f"created link {LINK} for {TABLE}"
        )
        status(cadmin, "GRANT SELECT ON DATA FILTER eu_only TO ROLE analysts")
        yield made


def names(lake: Lake, statement: str = "SHOW TABLES") -> list[str]:
    return [row["name"] for row in sql(lake, statement)]


def test_the_analyst_reads_the_share_through_the_link_filtered(mesh: Mesh) -> None:
    rows = sql(mesh.as_("analyst"), QUERY)

    assert [r["id"] for r in rows] == EU
    assert all("cost" not in r for r in rows)
    assert sql(mesh.lake, f"SELECT count(*) AS n FROM {LINK}") == [{"n": 12}]  # the owner


def test_the_link_is_listed_to_whoever_may_describe_its_target(mesh: Mesh) -> None:
    analyst = mesh.as_("analyst")

    assert LINK in names(analyst)
    assert sql(analyst, "SHOW LINKS") == [{"name": LINK, "target": TABLE, "created_by": "cadmin"}]
    columns = sql(
        analyst,
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'analytics' ORDER BY column_name",
    )
    assert [c["column_name"] for c in columns] == ["id", "note", "region", "status"]
    batch = mesh.as_("batch")
    assert LINK not in names(batch)
    assert sql(batch, "SHOW LINKS IN analytics") == []
    assert LINK in names(mesh.lake)


def test_a_link_grants_nothing_to_whoever_holds_no_grant_on_its_target(mesh: Mesh) -> None:
    assert "not found or not permitted" in refused(mesh.as_("batch"), QUERY)


def test_a_revoked_share_makes_the_link_not_found_and_listed_nowhere(mesh: Mesh) -> None:
    status(mesh.lake, "REVOKE SELECT ON DATA FILTER eu_only FROM TENANT consumer")

    analyst = mesh.as_("analyst")
    message = refused(analyst, QUERY)
    assert "not found or not permitted" in message
    assert TABLE not in message
    assert LINK not in names(analyst)
    assert sql(analyst, "SHOW LINKS") == []


def test_a_dropped_target_makes_the_link_not_found_and_listed_nowhere(mesh: Mesh) -> None:
    mesh.lake.tables.drop(TABLE)

    analyst = mesh.as_("analyst")
    assert "not found or not permitted" in refused(analyst, QUERY)
    assert LINK not in names(analyst)
    assert LINK not in names(mesh.lake)
    assert sql(mesh.lake, "SHOW LINKS") == [{"name": LINK, "target": TABLE, "created_by": "cadmin"}]


def test_the_audit_names_the_link_and_the_target(mesh: Mesh) -> None:
    sql(mesh.as_("analyst"), QUERY)

    (read,) = [
        r
        for r in rows_after(mesh.lake._engine, 0, limit=10_000)
        if r.principal == "analyst" and r.action == "table.select"
    ]
    assert (read.resource, read.allowed) == (f"table {TABLE}", True)
    assert read.reason == f"granted, read through link {LINK}"


def test_who_may_make_and_drop_links(mesh: Mesh) -> None:
    analyst = mesh.as_("analyst")
    with pytest.raises(Forbidden, match=r"may not link\.create on link analytics\.mine"):
        analyst.links.create("analytics.mine", SECRETS)
    with pytest.raises(Forbidden):
        analyst.links.drop(LINK)
    cadmin = mesh.as_("cadmin")
    with pytest.raises(NoSuchTable, match="not found or not permitted"):
        cadmin.links.create("analytics.secrets", SECRETS)  # not shared with the tenant
    with pytest.raises(LinkNameTaken):
        cadmin.links.create(LINK, TABLE)
    with pytest.raises(NoSuchTable, match="not found or not permitted"):
        cadmin.links.create("analytics.m", TABLE, catalog="cdn_prod")  # no such mount

    assert status(cadmin, f"DROP LINK {LINK}") == f"dropped link {LINK}"

    assert "not found or not permitted" in refused(analyst, QUERY)
    with pytest.raises(NoSuchLink):
        cadmin.links.drop(LINK)
