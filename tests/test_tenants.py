"""Tenants in one home, the story of a producer sharing with a consumer: the server's
administrator (the producer) shares ``web.requests`` with tenant ``consumer`` through
data filter ``eu_only`` (rows in eu, no ``cost``) with grant option; the consumer's
administrator re-grants it to its analysts' role; the analyst reads only the filter's
cells, locally and through the query API, and a batch job of the same tenant reads
nothing; the producer revokes the share and every path fails at once. Then what a
tenant's administrator may not do, each refused."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from icehouse.errors import (
    Forbidden,
    GrantNotHeld,
    IcehouseError,
    InvalidInput,
    QueryError,
    TenantNotEmpty,
)
from icehouse.govern import principals, store
from icehouse.govern.authz import Principal
from icehouse.lake import Lake
from icehouse.lake.principals import Credentials
from tests.fixtures_server import serving
from tests.governed_fixtures import IDS, TABLE, make_table, region_of
from tests.test_query_api_governed import via_json

EU = [i for i in IDS if region_of(i) == "eu"]
SECRETS = "web.secrets"


def sql(lake: Lake, statement: str) -> list[dict[str, Any]]:
    return lake.sql(statement).to_pylist()


def status(lake: Lake, statement: str) -> str:
    (row,) = sql(lake, statement)
    return str(row["status"])


def member(name: str, tenant: str | None = "consumer") -> Principal:
    return Principal(name, admin=False, kind="user", tenant=tenant)


@dataclass(frozen=True)
class Mesh:
    """The producer (the home's owner) and the consumer tenant, the share made."""

    lake: Lake
    credentials: dict[str, Credentials]

    def as_(self, name: str, tenant: str | None = "consumer") -> Lake:
        return self.lake.as_principal(member(name, tenant))


def build(lake: Lake) -> Mesh:
    make_table(lake)
    make_table(lake, SECRETS)
    made: dict[str, Credentials] = {}
    assert status(lake, "CREATE TENANT consumer") == "created tenant consumer"
    made["cadmin"] = lake.tenants.create_principal("consumer", "cadmin", kind="user")
    assert status(lake, "GRANT ADMIN ON TENANT consumer TO PRINCIPAL cadmin") == (
        "granted admin on tenant consumer to principal cadmin"
    )
    status(
        lake, f"CREATE DATA FILTER eu_only ON {TABLE} WHERE region = 'eu' EXCLUDING COLUMNS (cost)"
    )
    assert (
        status(lake, "GRANT SELECT ON DATA FILTER eu_only TO TENANT consumer WITH GRANT OPTION")
        == "granted SELECT on data filter eu_only to tenant consumer with grant option"
    )
    cadmin = lake.as_principal(member("cadmin"))
    for name in ("analyst", "batch"):
        made[name] = cadmin.tenants.create_principal("consumer", name, kind="user")
    assert status(cadmin, "CREATE ROLE analysts") == "created role analysts"
    status(cadmin, "GRANT ROLE analysts TO PRINCIPAL analyst")
    return Mesh(lake, made)


@pytest.fixture
def mesh(tmp_path: Path) -> Iterator[Mesh]:
    Lake.init(tmp_path / "lake")
    with Lake.open(tmp_path / "lake") as lake:
        yield build(lake)


def refused(lake: Lake, statement: str) -> str:
    with pytest.raises(IcehouseError) as raised:
        lake.sql(statement)
    return raised.value.message


def test_a_share_re_granted_inside_the_tenant_reads_filtered_until_the_producer_revokes(
    mesh: Mesh,
) -> None:
    analyst = mesh.as_("analyst")
    query = f"SELECT * FROM {TABLE} ORDER BY id"
    assert "not found or not permitted" in refused(analyst, query)  # not re-granted yet

    assert status(mesh.as_("cadmin"), "GRANT SELECT ON DATA FILTER eu_only TO ROLE analysts") == (
        "granted SELECT on data filter eu_only to role analysts"
    )

    rows = sql(analyst, query)
    assert [r["id"] for r in rows] == EU
    assert all("cost" not in r for r in rows)
    assert "not found or not permitted" in refused(mesh.as_("batch"), query)

    status(mesh.lake, "REVOKE SELECT ON DATA FILTER eu_only FROM TENANT consumer")

    assert "not found or not permitted" in refused(analyst, query)
    assert sql(mesh.lake, "SHOW GRANTS TO ROLE analysts") == []


def test_the_query_api_shows_the_analyst_the_filter_and_nothing_after_the_revoke(
    mesh: Mesh,
) -> None:
    status(mesh.as_("cadmin"), "GRANT SELECT ON DATA FILTER eu_only TO ROLE analysts")
    query = f"SELECT * FROM {TABLE} ORDER BY id"
    with serving(mesh.lake, allow_anonymous=False) as served:
        answer = via_json(served, mesh.credentials["analyst"], query)
        assert answer.rows is not None, answer.shown
        assert [r["id"] for r in answer.rows] == EU
        assert {r.get("cost") for r in answer.rows} == {None}
        assert via_json(served, mesh.credentials["batch"], query).rows is None

        status(mesh.lake, "REVOKE SELECT ON DATA FILTER eu_only FROM TENANT consumer")

        after = via_json(served, mesh.credentials["analyst"], query)
    assert after.rows is None
    assert "not found or not permitted" in after.shown


def test_the_re_grant_goes_with_the_share_and_comes_back_only_when_re_granted(
    mesh: Mesh,
) -> None:
    cadmin = mesh.as_("cadmin")
    status(cadmin, "GRANT SELECT ON DATA FILTER eu_only TO ROLE analysts")
    status(mesh.lake, "REVOKE SELECT ON DATA FILTER eu_only FROM TENANT consumer")
    status(mesh.lake, "GRANT SELECT ON DATA FILTER eu_only TO TENANT consumer WITH GRANT OPTION")

    assert "not found or not permitted" in refused(mesh.as_("analyst"), f"SELECT * FROM {TABLE}")


def test_the_tenants_administrator_re_grants_nothing_once_it_no_longer_administers(
    mesh: Mesh,
) -> None:
    status(mesh.as_("cadmin"), "GRANT SELECT ON DATA FILTER eu_only TO ROLE analysts")

    assert status(mesh.lake, "REVOKE ADMIN ON TENANT consumer FROM PRINCIPAL cadmin") == (
        "revoked admin on tenant consumer from principal cadmin"
    )

    assert sql(mesh.lake, "SHOW GRANTS TO ROLE analysts") == []
    with pytest.raises(Forbidden):
        mesh.as_("cadmin").tenants.create_principal("consumer", "someone")


# -- what a tenant's administrator may not do ---------------------------------------------------


def other_tenant(mesh: Mesh) -> None:
    """Tenant ``other`` with administrator ``oadmin``, principal ``oana``, role ``oroles``."""
    status(mesh.lake, "CREATE TENANT other")
    mesh.lake.tenants.create_principal("other", "oadmin")
    status(mesh.lake, "GRANT ADMIN ON TENANT other TO PRINCIPAL oadmin")
    oadmin = mesh.as_("oadmin", "other")
    oadmin.tenants.create_principal("other", "oana")
    status(oadmin, "CREATE ROLE oroles")


REFUSED: dict[str, tuple[str, str, type[IcehouseError], str]] = {
    # (who, statement, error, words of the refusal)
    "widening a filtered share to the table": (
        "cadmin",
        f"GRANT SELECT ON TABLE {TABLE} TO ROLE analysts",
        GrantNotHeld,
        "may not grant SELECT",
    ),
    "granting the producer's other tables": (
        "cadmin",
        f"GRANT SELECT ON TABLE {SECRETS} TO ROLE analysts",
        Forbidden,
        f"table {SECRETS} is not found or not permitted",
    ),
    "granting their columns": (
        "cadmin",
        f"GRANT SELECT ON TABLE {SECRETS} (nope) TO ROLE analysts",
        Forbidden,
        f"column {SECRETS}.nope is not found or not permitted",
    ),
    "granting a data filter it was not shared": (
        "cadmin",
        "GRANT SELECT ON DATA FILTER secret_rows TO ROLE analysts",
        Forbidden,
        "data filter secret_rows is not found or not permitted",
    ),
    "sharing on with another tenant": (
        "cadmin",
        "GRANT SELECT ON DATA FILTER eu_only TO TENANT other",
        Forbidden,
        "grants only to the principals and roles of tenant 'consumer'",
    ),
    "granting to another tenant's principal": (
        "cadmin",
        "GRANT SELECT ON DATA FILTER eu_only TO PRINCIPAL oana",
        Forbidden,
        "may not grant to principal oana",
    ),
    "another tenant's administrator granting the share": (
        "oadmin",
        "GRANT SELECT ON DATA FILTER eu_only TO ROLE oroles",
        Forbidden,
        "data filter eu_only is not found or not permitted",
    ),
    "the producer granting straight to a tenant's role": (
        "sam",
        "GRANT SELECT ON DATA FILTER eu_only TO ROLE analysts",
        Forbidden,
        "may not grant to role analysts",
    ),
    "putting another tenant's principal in its role": (
        "cadmin",
        "GRANT ROLE analysts TO PRINCIPAL oana",
        Forbidden,
        "may not manage principal oana",
    ),
    "managing another tenant's role": (
        "cadmin",
        "GRANT ROLE oroles TO PRINCIPAL analyst",
        Forbidden,
        "may not governance.grant_role on governance oroles",
    ),
    "revoking the share it was given": (
        "cadmin",
        "REVOKE SELECT ON DATA FILTER eu_only FROM TENANT consumer",
        IcehouseError,
        "holds no SELECT on",
    ),
    "creating a tenant": ("cadmin", "CREATE TENANT mine", Forbidden, "only an administrator"),
    "making itself another tenant's administrator": (
        "cadmin",
        "GRANT ADMIN ON TENANT other TO PRINCIPAL cadmin",
        Forbidden,
        "only an administrator",
    ),
    "listing the tenants": ("cadmin", "SHOW TENANTS", Forbidden, "only an administrator"),
    "reading the producer's other tables": (
        "cadmin",
        f"SELECT * FROM {SECRETS}",
        QueryError,
        "not found or not permitted",
    ),
    "a tenant's principal re-granting the share": (
        "analyst",
        "GRANT SELECT ON DATA FILTER eu_only TO PRINCIPAL batch",
        Forbidden,
        "data filter eu_only is not found or not permitted",
    ),
}


@pytest.mark.parametrize(
    ("who", "statement", "error", "words"), REFUSED.values(), ids=REFUSED.keys()
)
def test_a_tenants_administrator_acts_only_inside_its_tenant(
    mesh: Mesh, who: str, statement: str, error: type[IcehouseError], words: str
) -> None:
    other_tenant(mesh)
    status(mesh.lake, f"CREATE DATA FILTER secret_rows ON {SECRETS} WHERE region = 'eu'")
    mesh.lake.principals.create("sam")
    mesh.lake.governance.grant(*_share_option_to_sam())
    tenant = {"oadmin": "other", "sam": None}.get(who, "consumer")
    before = sql(mesh.lake, "SHOW GRANTS")

    with pytest.raises(error) as raised:
        mesh.as_(who, tenant).sql(statement)

    assert words in raised.value.message
    assert sql(mesh.lake, "SHOW GRANTS") == before


def _share_option_to_sam() -> tuple[Any, ...]:
    """``sam``, a principal of the server, holds SELECT on the filter with grant option."""
    from icehouse.govern.objects import Grantee, GranteeKind, Privilege, Securable, SecurableKind

    return (
        [Privilege.SELECT],
        Securable(SecurableKind.DATA_FILTER, "eu_only"),
        Grantee(GranteeKind.PRINCIPAL, "sam"),
    )


@pytest.mark.parametrize(
    "securable", [f"TABLE {SECRETS}", "DATA FILTER secret_rows", f"TABLE {SECRETS} (note)"]
)
def test_a_grant_on_what_it_may_not_see_is_told_as_of_what_does_not_exist(
    mesh: Mesh, securable: str
) -> None:
    status(mesh.lake, f"CREATE DATA FILTER secret_rows ON {SECRETS} WHERE region = 'eu'")
    missing = securable.replace("secret", "absent")
    cadmin = mesh.as_("cadmin")

    told = refused(cadmin, f"GRANT SELECT ON {securable} TO ROLE analysts")

    assert told == refused(cadmin, f"GRANT SELECT ON {missing} TO ROLE analysts").replace(
        "absent", "secret"
    )
    assert "not found or not permitted" in told


def test_a_tenants_administrator_cannot_create_another_tenants_principals(mesh: Mesh) -> None:
    other_tenant(mesh)

    with pytest.raises(Forbidden, match="only an administrator of the server or of tenant other"):
        mesh.as_("cadmin").tenants.create_principal("other", "mole")
    with pytest.raises(Forbidden):
        mesh.as_("cadmin").principals.create("mole")


def test_listings_show_a_tenants_administrator_its_tenant_only(mesh: Mesh) -> None:
    other_tenant(mesh)
    status(mesh.as_("cadmin"), "GRANT SELECT ON DATA FILTER eu_only TO ROLE analysts")
    status(mesh.lake, f"GRANT SELECT ON TABLE {SECRETS} TO ROLE oroles")
    cadmin = mesh.as_("cadmin")

    assert sql(cadmin, "SHOW ROLES") == [{"name": "analysts", "members": ["principal analyst"]}]
    assert [(g["grantee"], g["object"], g["granted_by"]) for g in sql(cadmin, "SHOW GRANTS")] == [
        ("role analysts", "data filter eu_only", "cadmin"),
        ("tenant consumer", "data filter eu_only", "owner"),
    ]
    assert cadmin.tables.list() == [TABLE]
    assert [p.name for p in cadmin.tenants.list_principals("consumer")] == [
        "analyst",
        "batch",
        "cadmin",
    ]


def test_a_tenant_is_dropped_once_empty_with_its_shares(mesh: Mesh) -> None:
    with pytest.raises(TenantNotEmpty, match="still has 3 principal"):
        status(mesh.lake, "DROP TENANT consumer")
    for name in ("analyst", "batch", "cadmin"):
        mesh.lake.principals.delete(name)
    status(mesh.lake, "DROP ROLE analysts")

    assert status(mesh.lake, "DROP TENANT consumer") == "dropped tenant consumer"
    assert sql(mesh.lake, "SHOW TENANTS") == []
    assert sql(mesh.lake, "SHOW GRANTS") == []


def test_a_tenants_administrator_belongs_to_the_tenant(mesh: Mesh) -> None:
    mesh.lake.principals.create("sam")

    with pytest.raises(InvalidInput, match="does not belong to tenant 'consumer'"):
        mesh.lake.tenants.grant_admin("consumer", "sam")
    with pytest.raises(InvalidInput, match="cannot administer the server"):
        principals.create(mesh.lake._engine, "boss", admin=True, kind="user", tenant="consumer")


def test_show_tenants_lists_each_with_its_administrators(mesh: Mesh) -> None:
    assert sql(mesh.lake, "SHOW TENANTS") == [
        {"name": "consumer", "admins": ["cadmin"], "principals": 3, "roles": 1}
    ]


def test_revoking_the_share_revokes_every_re_grant_down_the_chain(mesh: Mesh) -> None:
    """Each re-grant stands on the grant it was made through (its ``via``): the share,
    then the role's grant option; revoking the share takes them all."""
    status(
        mesh.as_("cadmin"),
        "GRANT SELECT ON DATA FILTER eu_only TO ROLE analysts WITH GRANT OPTION",
    )
    status(mesh.as_("analyst"), "GRANT SELECT ON DATA FILTER eu_only TO PRINCIPAL batch")
    grants = {(g.grantee.name, g.granted_by): g for g in store.read_rows(mesh.lake._engine).grants}
    share = grants["consumer", "owner"]
    assert grants["analysts", "cadmin"].via == share.id
    assert grants["batch", "analyst"].via == grants["analysts", "cadmin"].id
    assert [r["id"] for r in sql(mesh.as_("batch"), f"SELECT id FROM {TABLE} ORDER BY id")] == EU

    status(mesh.lake, "REVOKE SELECT ON DATA FILTER eu_only FROM TENANT consumer")

    assert store.read_rows(mesh.lake._engine).grants == ()
    assert "not found or not permitted" in refused(mesh.as_("batch"), f"SELECT id FROM {TABLE}")


def test_a_tenants_administrator_revokes_any_grant_to_its_principals(mesh: Mesh) -> None:
    status(mesh.lake, f"GRANT SELECT ON TABLE {SECRETS} TO PRINCIPAL analyst")
    cadmin = mesh.as_("cadmin")
    assert sql(cadmin, "SHOW GRANTS TO PRINCIPAL analyst") == [
        {
            "grantee": "principal analyst",
            "privilege": "SELECT",
            "object": f"table {SECRETS}",
            "with_grant_option": False,
            "granted_by": "owner",
        }
    ]

    status(cadmin, f"REVOKE SELECT ON TABLE {SECRETS} FROM PRINCIPAL analyst")

    assert sql(mesh.lake, "SHOW GRANTS TO PRINCIPAL analyst") == []
    assert "not found or not permitted" in refused(mesh.as_("analyst"), f"SELECT * FROM {SECRETS}")


def test_a_tenants_administrator_lists_rotates_revokes_and_deletes_its_principals(
    mesh: Mesh,
) -> None:
    other_tenant(mesh)
    mesh.lake.principals.create("sam")
    cadmin = mesh.as_("cadmin")
    old = mesh.credentials["analyst"]
    mesh.lake.principals.issue_token(old.client_id, old.client_secret)

    assert [p.name for p in cadmin.principals.list()] == ["analyst", "batch", "cadmin"]
    new = cadmin.principals.rotate("analyst")
    assert new.client_id == old.client_id and new.client_secret != old.client_secret
    with pytest.raises(IcehouseError, match="wrong client secret"):
        mesh.lake.principals.issue_token(old.client_id, old.client_secret)
    token = mesh.lake.principals.issue_token(new.client_id, new.client_secret).access_token
    assert cadmin.principals.revoke_tokens("analyst") == 1
    with pytest.raises(IcehouseError):
        mesh.lake.principals.authenticate(token)
    assert cadmin.principals.delete("batch") == 0

    assert [p.name for p in cadmin.principals.list()] == ["analyst", "cadmin"]
    assert [p.name for p in mesh.lake.principals.list()] == [
        "analyst",
        "cadmin",
        "oadmin",
        "oana",
        "sam",
    ]


@pytest.mark.parametrize("target", ["oana", "oadmin", "sam"])
@pytest.mark.parametrize("action", ["rotate", "revoke_tokens", "delete"])
def test_a_tenants_administrator_cannot_touch_another_tenants_or_the_servers_principals(
    mesh: Mesh, target: str, action: str
) -> None:
    other_tenant(mesh)
    mesh.lake.principals.create("sam")
    before = mesh.lake.principals.list()

    with pytest.raises(Forbidden) as refused:
        getattr(mesh.as_("cadmin").principals, action)(target)

    assert refused.value.message.endswith(
        f"only an administrator of the server or of principal {target}'s tenant may"
    )
    assert mesh.lake.principals.list() == before


def test_a_principal_that_administers_no_tenant_lists_no_principals(mesh: Mesh) -> None:
    with pytest.raises(Forbidden, match="only an administrator of the server or of a tenant"):
        mesh.as_("analyst").principals.list()
    with pytest.raises(Forbidden):
        mesh.as_("analyst").principals.rotate("batch")
