"""``lake.governance`` end to end on a real lake: tags gained and lost change access at
once, inheritance and override through the catalog, data filters per cell, renames of
a table and of a column that keep every grant, a view's definer's rights, and the
decision behind every governed action."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from icehouse.errors import Forbidden, GrantNotHeld, InvalidTagValue
from icehouse.govern.access import CellSet
from icehouse.govern.authz import ANYONE, RULES, Needs, Resource, authorize
from icehouse.govern.objects import (
    Grantee,
    GranteeKind,
    Privilege,
    Securable,
    SecurableKind,
    TagCondition,
)
from icehouse.lake import Lake
from icehouse.lake.authz_scope import LakeScope
from icehouse.lake.principals import Principal
from tests import fixtures_lake


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def home(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A new lake home, its state database SQLite or PostgreSQL."""
    if request.param == "postgresql":
        monkeypatch.setenv("ICEHOUSE_STATE_URL", request.getfixturevalue("postgres_url"))
    path = tmp_path / "lake"
    Lake.init(path)
    return path


ANA = Principal("ana", admin=False)
TO_ANA = Grantee(GranteeKind.PRINCIPAL, "ana")
TO_ANALYSTS = Grantee(GranteeKind.ROLE, "analysts")
HITS = Securable(SecurableKind.TABLE, "web.hits")


@pytest.fixture
def lake(home: Path) -> Iterator[Lake]:
    """A lake with table ``web.hits`` (id 1, region 2, secret 3), principal ana in role
    analysts, and tag ``pii`` (yes/no)."""
    with Lake.open(home) as opened:
        opened.namespaces.create(("web",))
        opened.tables.create(
            "web.hits", schema={"id": "long", "region": "string", "secret": "string"}
        )
        opened.principals.create("ana")
        opened.governance.create_role("analysts")
        opened.governance.grant_role("analysts", TO_ANA)
        opened.governance.create_tag("pii", ["yes", "no"])
        yield opened


def ana(lake: Lake) -> Lake:
    return lake.as_principal(ANA)


def tag_grant(*conditions: TagCondition) -> Securable:
    return Securable(SecurableKind.TAG, tags=conditions)


def column(name: str) -> Securable:
    return Securable(SecurableKind.COLUMN, "web.hits", column=name)


def test_a_table_gaining_and_losing_a_tag_gains_and_loses_access_at_once(lake: Lake) -> None:
    governance = lake.governance
    governance.grant([Privilege.SELECT], tag_grant(TagCondition("pii", ("no",))), TO_ANALYSTS)
    with pytest.raises(Forbidden, match="not found or not permitted"):
        ana(lake).table_access("web.hits")

    governance.set_tag(HITS, "pii", "no")
    assert ana(lake).table_access("web.hits").unrestricted

    governance.set_tag(column("secret"), "pii", "yes")
    access = ana(lake).table_access("web.hits")
    assert access.visible_fields({1, 2, 3}) == {1, 2}

    governance.unset_tag(HITS, "pii")
    with pytest.raises(Forbidden, match="not found or not permitted"):
        ana(lake).table_access("web.hits")
    assert "web.hits" not in ana(lake).tables.list()


def test_a_namespace_tag_is_inherited_and_a_table_tag_overrides_it(lake: Lake) -> None:
    governance = lake.governance
    governance.grant([Privilege.SELECT], tag_grant(TagCondition("pii", ("no",))), TO_ANALYSTS)
    governance.set_tag(Securable(SecurableKind.NAMESPACE, "web"), "pii", "no")
    assert ana(lake).table_access("web.hits").unrestricted
    assert ana(lake).tables.list() == ["web.hits"]

    governance.set_tag(HITS, "pii", "yes")

    with pytest.raises(Forbidden):
        ana(lake).table_access("web.hits")
    with pytest.raises(InvalidTagValue, match="allows 'yes', 'no', not 'maybe'"):
        governance.set_tag(HITS, "pii", "maybe")


def test_two_data_filters_give_two_cell_sets_and_never_one_filters_rows_with_the_others_columns(
    lake: Lake,
) -> None:
    governance = lake.governance
    governance.create_data_filter("eu", "web.hits", where="region = 'eu'", columns=["id"])
    governance.create_data_filter("us", "web.hits", where="region = 'us'", columns=["secret"])
    for name in ("eu", "us"):
        governance.grant(
            [Privilege.SELECT], Securable(SecurableKind.DATA_FILTER, name), TO_ANALYSTS
        )

    access = ana(lake).table_access("web.hits")

    eu = {"op": "eq", "field": 2, "value": "eu"}
    us = {"op": "eq", "field": 2, "value": "us"}
    assert sorted(access.cell_sets, key=lambda c: c.source) == [
        CellSet(eu, frozenset({1}), "data filter eu"),
        CellSet(us, frozenset({3}), "data filter us"),
    ]
    assert [f.columns for f in governance.list_data_filters()] == [("id",), ("secret",)]


def test_renaming_the_table_and_a_column_keeps_every_grant(lake: Lake) -> None:
    governance = lake.governance
    governance.grant([Privilege.SELECT], column("secret"), TO_ANALYSTS)
    governance.create_data_filter("eu", "web.hits", where="region = 'eu'", excluding=["id"])
    governance.grant([Privilege.SELECT], Securable(SecurableKind.DATA_FILTER, "eu"), TO_ANA)

    lake.tables.rename("web.hits", "web.requests")
    with fixtures_lake.iceberg_table(lake, "web.requests").update_schema() as update:
        update.rename_column("secret", "token")
        update.rename_column("region", "area")

    access = ana(lake).table_access("web.requests")
    assert sorted(access.cell_sets, key=lambda c: c.source) == [
        CellSet(None, frozenset({3}), "columns of web.requests"),
        CellSet({"op": "eq", "field": 2, "value": "eu"}, frozenset({2, 3}), "data filter eu"),
    ]
    shown = [(str(g.grantee), str(g.on)) for g in governance.show_grants()]
    assert shown == [
        ("principal ana", "data filter eu"),
        ("role analysts", "column web.requests.token"),
    ]


def test_a_view_reads_with_what_its_definer_could_grant(lake: Lake) -> None:
    governance = lake.governance
    lake.principals.create("vera")
    governance.grant([Privilege.SELECT], HITS, Grantee(GranteeKind.PRINCIPAL, "vera"))

    assert lake.table_access("web.hits", as_definer="vera").denied

    governance.grant(
        [Privilege.SELECT], HITS, Grantee(GranteeKind.PRINCIPAL, "vera"), with_grant_option=True
    )
    assert lake.table_access("web.hits", as_definer="vera").unrestricted
    assert lake.table_access("web.hits", as_definer="owner").unrestricted


def test_a_view_records_its_creator_as_the_definer_its_tables_are_read_as(lake: Lake) -> None:
    lake.principals.create("vera")
    vera = lake.as_principal(Principal("vera", admin=False))
    web = Securable(SecurableKind.NAMESPACE, "web")
    lake.governance.grant([Privilege.CREATE_VIEW], web, Grantee(GranteeKind.PRINCIPAL, "vera"))
    lake.governance.create_data_filter("eu", "web.hits", where="region = 'eu'")
    lake.governance.grant(
        [Privilege.SELECT],
        Securable(SecurableKind.DATA_FILTER, "eu"),
        Grantee(GranteeKind.PRINCIPAL, "vera"),
        with_grant_option=True,
    )
    lake.views.create_from_sql(("web",), "everything", "SELECT * FROM web.hits")
    vera.views.create_from_sql(("web",), "europe", "SELECT * FROM web.hits")

    assert lake.governance.view_owner("web.everything") == "owner"
    assert vera.governance.view_owner("web.europe") == "vera"
    access = lake.table_access("web.hits", as_definer="vera")
    assert [c.source for c in access.cell_sets] == ["data filter eu"]
    assert lake.table_access("web.hits", as_definer="owner").unrestricted
    with pytest.raises(Forbidden):
        ana(lake).table_access("web.hits")
    through_view = ana(lake).table_access("web.hits", as_definer="vera")
    assert [c.source for c in through_view.cell_sets] == ["data filter eu"]


def test_a_deleted_principal_takes_its_grants_and_what_it_granted_on(lake: Lake) -> None:
    lake.principals.create("bob")
    lake.governance.grant([Privilege.SELECT], HITS, TO_ANA, with_grant_option=True)
    ana(lake).governance.grant([Privilege.SELECT], HITS, Grantee(GranteeKind.PRINCIPAL, "bob"))

    lake.principals.delete("ana")
    lake.principals.create("ana")

    assert lake.governance.show_grants() == []
    assert lake.governance.list_roles()[0].members == ()
    with pytest.raises(Forbidden):
        ana(lake).table_access("web.hits")


def test_a_namespace_dropped_and_created_again_has_no_grants_or_tags(lake: Lake) -> None:
    lake.namespaces.create(("staging",))
    staging = Securable(SecurableKind.NAMESPACE, "staging")
    lake.governance.grant([Privilege.CREATE_TABLE], staging, TO_ANALYSTS)
    lake.governance.set_tag(staging, "pii", "no")

    lake.namespaces.drop(("staging",))
    lake.namespaces.create(("staging",))

    assert lake.governance.show_grants() == []
    with pytest.raises(Forbidden):
        authorize(ANA, "table.create", Resource("table", "staging.t"), LakeScope(lake))


def test_a_principal_grants_on_only_what_it_holds_with_grant_option(lake: Lake) -> None:
    lake.governance.grant([Privilege.SELECT], HITS, TO_ANA)

    with pytest.raises(GrantNotHeld, match=r"may not grant SELECT on web\.hits"):
        ana(lake).governance.grant([Privilege.SELECT], HITS, TO_ANALYSTS)

    lake.governance.grant([Privilege.SELECT], HITS, TO_ANA, with_grant_option=True)
    ana(lake).governance.grant([Privilege.SELECT], HITS, TO_ANALYSTS)
    granted = {(str(g.grantee), g.granted_by) for g in ana(lake).governance.show_grants()}
    assert granted == {("principal ana", "owner"), ("role analysts", "ana")}


def test_forbidden_says_the_same_for_a_hidden_table_and_a_missing_one(lake: Lake) -> None:
    with pytest.raises(Forbidden) as hidden:
        ana(lake).tables.get("web.hits")
    with pytest.raises(Forbidden) as missing:
        ana(lake).tables.get("web.nothing")

    assert hidden.value.message.replace("hits", "X") == missing.value.message.replace(
        "nothing", "X"
    )
    assert "not found or not permitted" in hidden.value.message


# -- every action's decision -------------------------------------------------------------

KINDS = {
    "table": (SecurableKind.TABLE, "web.hits"),
    "view": (SecurableKind.VIEW, "web.v"),
    "namespace": (SecurableKind.NAMESPACE, "web"),
    "governance": (SecurableKind.CATALOG, ""),
    "link": (SecurableKind.TABLE, "web.link"),
}


def needed_on(action: str, rule: Needs) -> tuple[Resource, Securable]:
    """The resource an action is asked on, and the object its privilege is needed on."""
    kind = action.split(".")[0]
    securable_kind, name = KINDS[kind]
    if rule.parent:
        created = {"table": "web.new", "view": "web.new", "namespace": "web.sub"}.get(
            kind, "web.new"
        )
        return Resource(kind, created), Securable(SecurableKind.NAMESPACE, "web")
    if securable_kind is SecurableKind.CATALOG:
        return Resource(kind), Securable(SecurableKind.CATALOG, "icehouse")
    return Resource(kind, name), Securable(securable_kind, name)


NEEDS = {action: rule for action, rule in RULES.items() if isinstance(rule, Needs)}


@pytest.mark.parametrize("action", sorted(NEEDS))
def test_each_action_needs_its_privilege_on_its_object(lake: Lake, action: str) -> None:
    lake.views.create_from_sql(("web",), "v", "SELECT id FROM web.hits")
    rule = NEEDS[action]
    resource, securable = needed_on(action, rule)

    with pytest.raises(Forbidden):
        authorize(ANA, action, resource, LakeScope(lake))

    lake.governance.grant([rule.privilege], securable, TO_ANALYSTS)
    authorize(ANA, action, resource, LakeScope(lake))


@pytest.mark.parametrize(
    "action",
    ["source.add", "quarantine.replay", "table.compact", "principal.create", "lake.maintain"],
)
def test_sources_quarantine_maintenance_and_principals_are_for_administrators(
    lake: Lake, action: str
) -> None:
    everything = [p for p in Privilege if p is not Privilege.MANAGE_GRANTS]
    lake.governance.grant(everything, Securable(SecurableKind.NAMESPACE, "web"), TO_ANALYSTS)

    with pytest.raises(Forbidden, match="only an administrator may"):
        authorize(ANA, action, Resource(action.split(".")[0], "web.hits"), LakeScope(lake))
    authorize(Principal("ops", admin=True), action, Resource("table"), LakeScope(lake))


def test_anyone_may_run_sql_list_and_connect(lake: Lake) -> None:
    opened = sorted(action for action, rule in RULES.items() if rule == ANYONE)

    for action in opened:
        authorize(ANA, action, Resource(action.split(".")[0]), LakeScope(lake))
    assert {"query.run", "table.list", "namespace.list", "view.list"} <= set(opened)


def test_a_decision_reads_only_the_policy_version_while_the_policy_is_unchanged(
    lake: Lake,
) -> None:
    from sqlalchemy import event

    lake.governance.grant(
        [Privilege.MANAGE_GRANTS], Securable(SecurableKind.CATALOG, "icehouse"), TO_ANALYSTS
    )
    authorize(ANA, "governance.create_tag", Resource("governance"), LakeScope(lake))  # reads it
    statements: list[str] = []

    def record(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    engine = fixtures_lake.engine_of(lake)
    event.listen(engine, "before_cursor_execute", record)
    try:
        for _ in range(3):
            authorize(ANA, "governance.create_tag", Resource("governance"), LakeScope(lake))
    finally:
        event.remove(engine, "before_cursor_execute", record)

    assert len(statements) == 3
    assert all("gov_policy_version" in s for s in statements)
