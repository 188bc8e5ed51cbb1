"""Grants in the state database, on SQLite and PostgreSQL: version 8's tables, the grant
option and re-grant, revokes that cascade through what was granted on (two levels, and
through a role membership removed), another path to the option keeping a grant, nested
roles, and cycles refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import Engine, inspect, text

from icehouse.errors import GrantNotHeld, NoSuchGrant, RoleCycle
from icehouse.govern import grants, principals, roles, store
from icehouse.govern.authz import OWNER, Principal
from icehouse.govern.objects import Grantee, GranteeKind, Privilege, SecurableKind
from icehouse.govern.records import ObjectPath, Target
from icehouse.state.database import SCHEMA_VERSION, current_version, migrate

WEB = Target(SecurableKind.NAMESPACE, "web")
WEB_PATH = ObjectPath(("web",), name="web", kind=SecurableKind.NAMESPACE)
SELECT = [Privilege.SELECT]
PEOPLE = ("alice", "bob", "carol")


def nowhere(uuid: str) -> ObjectPath | None:
    """These grants are on a namespace: no table to locate."""
    return None


@pytest.fixture
def engine(state_engine: Engine) -> Engine:
    opened = state_engine
    migrate(opened)
    for name in PEOPLE:
        principals.create(opened, name, admin=False, kind="user")
    return opened


def user(name: str) -> Grantee:
    return Grantee(GranteeKind.PRINCIPAL, name)


def role(name: str) -> Grantee:
    return Grantee(GranteeKind.ROLE, name)


def as_(name: str) -> Principal:
    return Principal(name, admin=False)


def give(engine: Engine, by: Principal, to: Grantee, *, option: bool = False) -> None:
    grants.grant(engine, SELECT, WEB, WEB_PATH, to, granter=by, with_grant_option=option)


def holders(engine: Engine) -> set[str]:
    policy = store.read_policy(engine)
    return {p for p in PEOPLE if policy.holds(p, Privilege.SELECT, WEB_PATH)}


def test_a_version_7_database_gains_the_governance_tables(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in store_tables():
            conn.execute(text(f"DROP TABLE {table}"))
        conn.execute(text("DELETE FROM icehouse_schema_version"))
        conn.execute(text("INSERT INTO icehouse_schema_version VALUES (7, 0)"))

    migrate(engine)

    assert current_version(engine) == SCHEMA_VERSION
    assert set(store_tables()) <= set(inspect(engine).get_table_names())
    assert store.read_version(engine) == 0
    roles.create_role(engine, "analysts")
    assert store.read_version(engine) == 1


def store_tables() -> list[str]:
    return [
        "gov_roles",
        "gov_role_members",
        "gov_grants",
        "gov_tag_keys",
        "gov_tag_assignments",
        "gov_data_filters",
        "gov_owners",
        "gov_policy_version",
    ]


def test_only_a_holder_of_the_grant_option_grants_on(engine: Engine) -> None:
    give(engine, OWNER, user("alice"), option=True)
    give(engine, as_("alice"), user("bob"))

    with pytest.raises(GrantNotHeld, match="'bob' may not grant SELECT on web"):
        give(engine, as_("bob"), user("carol"))
    with pytest.raises(GrantNotHeld):
        give(engine, as_("carol"), user("carol"))
    assert holders(engine) == {"alice", "bob"}


Step = Callable[[Engine], object]

CASCADES: dict[str, tuple[list[Step], Step, set[str]]] = {
    "revoking a grant revokes what was granted through it, two levels down": (
        [
            lambda e: give(e, OWNER, user("alice"), option=True),
            lambda e: give(e, as_("alice"), user("bob"), option=True),
            lambda e: give(e, as_("bob"), user("carol")),
        ],
        lambda e: grants.revoke(
            e, SELECT, WEB, WEB_PATH, user("alice"), revoker=OWNER, locate=nowhere
        ),
        set(),
    ),
    "revoking the middle grant keeps the one above it": (
        [
            lambda e: give(e, OWNER, user("alice"), option=True),
            lambda e: give(e, as_("alice"), user("bob"), option=True),
            lambda e: give(e, as_("bob"), user("carol")),
        ],
        lambda e: grants.revoke(
            e, SELECT, WEB, WEB_PATH, user("bob"), revoker=as_("alice"), locate=nowhere
        ),
        {"alice"},
    ),
    "a granter who still holds the option another way keeps its grants standing": (
        [
            lambda e: roles.create_role(e, "stewards"),
            lambda e: roles.grant_role(e, "stewards", user("alice")),
            lambda e: give(e, OWNER, role("stewards"), option=True),
            lambda e: give(e, OWNER, user("alice"), option=True),
            lambda e: give(e, as_("alice"), user("bob")),
        ],
        lambda e: grants.revoke(
            e, SELECT, WEB, WEB_PATH, user("alice"), revoker=OWNER, locate=nowhere
        ),
        {"alice", "bob"},
    ),
    "leaving the role that gave the option revokes what was granted with it": (
        [
            lambda e: roles.create_role(e, "stewards"),
            lambda e: roles.grant_role(e, "stewards", user("alice")),
            lambda e: give(e, OWNER, role("stewards"), option=True),
            lambda e: give(e, as_("alice"), user("bob")),
        ],
        lambda e: roles.revoke_role(e, "stewards", user("alice"), nowhere),
        set(),
    ),
    "dropping the role revokes its grants and what they gave": (
        [
            lambda e: roles.create_role(e, "stewards"),
            lambda e: roles.grant_role(e, "stewards", user("alice")),
            lambda e: give(e, OWNER, role("stewards"), option=True),
            lambda e: give(e, as_("alice"), user("carol")),
        ],
        lambda e: roles.drop_role(e, "stewards", nowhere),
        set(),
    ),
}


@pytest.mark.parametrize("case", CASCADES.values(), ids=CASCADES.keys())
def test_revokes_cascade_down_what_was_granted_on(
    engine: Engine, case: tuple[list[Step], Step, set[str]]
) -> None:
    steps, revoke, left = case
    for step in steps:
        step(engine)

    revoke(engine)

    assert holders(engine) == left


def test_a_principal_revokes_only_what_it_granted(engine: Engine) -> None:
    give(engine, OWNER, user("alice"), option=True)
    give(engine, OWNER, user("bob"))

    with pytest.raises(NoSuchGrant, match="granted by you"):
        grants.revoke(
            engine, SELECT, WEB, WEB_PATH, user("bob"), revoker=as_("alice"), locate=nowhere
        )
    assert holders(engine) == {"alice", "bob"}


def test_nested_roles_give_their_grants_until_a_membership_is_removed(engine: Engine) -> None:
    for name in ("analysts", "readers"):
        roles.create_role(engine, name)
    roles.grant_role(engine, "analysts", user("alice"))
    roles.grant_role(engine, "readers", role("analysts"))
    give(engine, OWNER, role("readers"))
    assert holders(engine) == {"alice"}

    roles.revoke_role(engine, "readers", role("analysts"), nowhere)

    assert holders(engine) == set()
    assert roles.list_roles(engine) == [("analysts", [user("alice")], None), ("readers", [], None)]


@pytest.mark.parametrize(
    ("memberships", "role_name", "member"),
    [
        ([], "a", "a"),
        ([("b", "a")], "a", "b"),
        ([("b", "a"), ("c", "b")], "a", "c"),
    ],
    ids=["itself", "its own member", "through another role"],
)
def test_a_role_cannot_be_within_itself(
    engine: Engine, memberships: list[tuple[str, str]], role_name: str, member: str
) -> None:
    for name in ("a", "b", "c"):
        roles.create_role(engine, name)
    for container, inner in memberships:
        roles.grant_role(engine, container, role(inner))

    with pytest.raises(
        RoleCycle, match=f"role {member!r} cannot be a member of role {role_name!r}"
    ):
        roles.grant_role(engine, role_name, role(member))
