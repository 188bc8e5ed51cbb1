"""The grant algebra, decided from memory: inheritance down catalog → namespaces →
table → column, nested roles, tags inherited and overridden, tag expressions (keys
ANDed, values ORed), and per-cell access through several data filters."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from icehouse.govern.access import CellSet
from icehouse.govern.objects import Grantee, GranteeKind, Privilege, SecurableKind
from icehouse.govern.policy import CATALOG_KEY, Policy
from icehouse.govern.records import (
    DataFilterRow,
    GrantRow,
    ObjectPath,
    PolicyRows,
    TagRow,
    Target,
    tag_expression_key,
)

ANA = "ana"
TABLE = ObjectPath(("web", "logs"), "uuid-1", "web.logs.hits", SecurableKind.TABLE)
COLUMN = ObjectPath(("web", "logs"), "uuid-1", "web.logs.hits", SecurableKind.TABLE, 3)
OTHER = ObjectPath(("billing",), "uuid-2", "billing.invoices", SecurableKind.TABLE)


def to(kind: str, name: str) -> Grantee:
    return Grantee(GranteeKind(kind), name)


def on(kind: SecurableKind, key: str, field_id: int = 0) -> Target:
    return Target(kind, key, field_id)


def tag(**conditions: tuple[str, ...]) -> Target:
    return Target(SecurableKind.TAG, tag_expression_key(tuple(conditions.items())))


def ns_tag(namespace: str, key: str, value: str) -> TagRow:
    return TagRow(SecurableKind.NAMESPACE, namespace, 0, key, value)


def table_tag(key: str, value: str, field_id: int = 0) -> TagRow:
    return TagRow(SecurableKind.TABLE, "uuid-1", field_id, key, value)


@dataclass
class Case:
    grants: list[tuple[Grantee, Target]]
    path: ObjectPath
    allowed: bool
    members: list[tuple[str, Grantee]] = field(default_factory=list)
    tags: list[TagRow] = field(default_factory=list)


CASES = {
    "a catalog grant holds on every table": Case(
        [(to("principal", ANA), on(SecurableKind.CATALOG, CATALOG_KEY))], TABLE, True
    ),
    "a grant on a parent namespace holds on its children's tables": Case(
        [(to("principal", ANA), on(SecurableKind.NAMESPACE, "web"))], TABLE, True
    ),
    "a grant on the table holds on its columns": Case(
        [(to("principal", ANA), on(SecurableKind.TABLE, "uuid-1"))], COLUMN, True
    ),
    "a grant on one column does not hold on the table": Case(
        [(to("principal", ANA), on(SecurableKind.COLUMN, "uuid-1", 3))], TABLE, False
    ),
    "a grant on another namespace holds nothing here": Case(
        [(to("principal", ANA), on(SecurableKind.NAMESPACE, "billing"))], TABLE, False
    ),
    "a grant to a role reaches the role's members through nested roles": Case(
        [(to("role", "readers"), on(SecurableKind.TABLE, "uuid-1"))],
        TABLE,
        True,
        members=[("analysts", to("principal", ANA)), ("readers", to("role", "analysts"))],
    ),
    "a grant to a role its member is not in holds nothing": Case(
        [(to("role", "readers"), on(SecurableKind.TABLE, "uuid-1"))],
        TABLE,
        False,
        members=[("analysts", to("principal", ANA))],
    ),
    "a namespace's tag is its tables'": Case(
        [(to("principal", ANA), tag(pii=("no",)))], TABLE, True, tags=[ns_tag("web", "pii", "no")]
    ),
    "a child namespace's tag overrides its parent's": Case(
        [(to("principal", ANA), tag(pii=("no",)))],
        TABLE,
        False,
        tags=[ns_tag("web", "pii", "no"), ns_tag("web.logs", "pii", "yes")],
    ),
    "a table's tag overrides its namespace's": Case(
        [(to("principal", ANA), tag(pii=("no",)))],
        TABLE,
        False,
        tags=[ns_tag("web", "pii", "no"), table_tag("pii", "yes")],
    ),
    "a column's tag overrides its table's": Case(
        [(to("principal", ANA), tag(pii=("no",)))],
        COLUMN,
        False,
        tags=[table_tag("pii", "no"), table_tag("pii", "yes", field_id=3)],
    ),
    "values within a key are ORed": Case(
        [(to("principal", ANA), tag(dept=("cdn", "billing")))],
        TABLE,
        True,
        tags=[table_tag("dept", "billing")],
    ),
    "keys are ANDed: one missing key fails": Case(
        [(to("principal", ANA), tag(dept=("cdn",), pii=("no",)))],
        TABLE,
        False,
        tags=[table_tag("dept", "cdn")],
    ),
    "keys are ANDed: both present match": Case(
        [(to("principal", ANA), tag(dept=("cdn",), pii=("no",)))],
        TABLE,
        True,
        tags=[table_tag("dept", "cdn"), ns_tag("web", "pii", "no")],
    ),
    "an untagged table matches no tag grant": Case(
        [(to("principal", ANA), tag(pii=("no",)))], OTHER, False, tags=[table_tag("pii", "no")]
    ),
}


def policy_of(case: Case, privilege: Privilege = Privilege.SELECT) -> Policy:
    grants = tuple(
        GrantRow(i, grantee, privilege, target, False, "owner", None)
        for i, (grantee, target) in enumerate(case.grants, start=1)
    )
    return Policy(
        PolicyRows(version=1, grants=grants, memberships=tuple(case.members), tags=tuple(case.tags))
    )


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_a_decision_follows_inheritance_roles_and_tags(case: Case) -> None:
    policy = policy_of(case)

    assert policy.holds(ANA, Privilege.SELECT, case.path) is case.allowed
    assert policy.holds(ANA, Privilege.DROP, case.path) is False
    assert policy.holds("bob", Privilege.SELECT, case.path) is False


def test_a_tag_grant_on_a_table_shows_only_the_columns_whose_own_tag_still_matches() -> None:
    case = Case(
        [(to("principal", ANA), tag(pii=("no",)))],
        TABLE,
        True,
        tags=[ns_tag("web", "pii", "no"), table_tag("pii", "yes", field_id=3)],
    )

    access = policy_of(case).table_access(ANA, TABLE, {1, 2, 3})

    assert [c.field_ids for c in access.cell_sets] == [frozenset({1, 2})]
    assert not access.unrestricted


EU = {"op": "eq", "field": 2, "value": "eu"}
US = {"op": "eq", "field": 2, "value": "us"}


def test_two_data_filters_stay_two_cell_sets_so_no_row_of_one_shows_a_column_of_the_other() -> None:
    filters = (
        DataFilterRow(1, "eu_ids", "uuid-1", EU, "include", frozenset({1})),
        DataFilterRow(2, "us_secrets", "uuid-1", US, "include", frozenset({3})),
        DataFilterRow(3, "not_mine", "uuid-1", None, "all", frozenset()),
    )
    grants = tuple(
        GrantRow(
            i,
            to("principal", ANA),
            Privilege.SELECT,
            on(SecurableKind.DATA_FILTER, str(i)),
            False,
            "owner",
            None,
        )
        for i in (1, 2)
    )
    policy = Policy(PolicyRows(version=1, grants=grants, data_filters=filters))

    access = policy.table_access(ANA, TABLE, {1, 2, 3})

    assert sorted(access.cell_sets, key=lambda c: c.source) == [
        CellSet(EU, frozenset({1}), "data filter eu_ids"),
        CellSet(US, frozenset({3}), "data filter us_secrets"),
    ]
    assert not any(c.row_filter == EU and 3 in (c.field_ids or ()) for c in access.cell_sets)
    assert access.visible_fields({1, 2, 3}) == {1, 3}


def test_an_excluding_filter_shows_every_other_column_the_table_has_had() -> None:
    filters = (DataFilterRow(1, "no_secret", "uuid-1", EU, "exclude", frozenset({3})),)
    grants = (
        GrantRow(
            1,
            to("principal", ANA),
            Privilege.SELECT,
            on(SecurableKind.DATA_FILTER, "1"),
            False,
            "owner",
            None,
        ),
    )
    policy = Policy(PolicyRows(version=1, grants=grants, data_filters=filters))

    assert policy.table_access(ANA, TABLE, {1, 2, 3, 4}).cell_sets == (
        CellSet(EU, frozenset({1, 2, 4}), "data filter no_secret"),
    )
    assert policy.table_access("bob", TABLE, {1, 2, 3}).denied
