"""The tenant rules, decided from memory: a share with a tenant is held by its
administrators for granting on and describing, never for reading; re-granting stays
inside the tenant and never widens the share; a tenant's administrator manages only its
tenant's principals, roles and grants; the server's administrators alone create tenants.

The tenants: ``consumer`` (administrator ``cadmin``, principals ``analyst`` and
``batch``, role ``analysts``) and ``other`` (administrator ``oadmin``, role
``oroles``); the server's own principal ``sam`` and role ``staff``. The producer shared
data filter ``eu_only`` on ``web.requests`` with ``consumer``, with grant option."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from icehouse.errors import Forbidden
from icehouse.govern.authz import Principal, Resource, authorize
from icehouse.govern.objects import Grantee, GranteeKind, Privilege, SecurableKind
from icehouse.govern.policy import Policy
from icehouse.govern.records import DataFilterRow, GrantRow, ObjectPath, PolicyRows, Target

REQUESTS = ObjectPath(("web",), "uuid-1", "web.requests", SecurableKind.TABLE)
SECRETS = ObjectPath(("web",), "uuid-2", "web.secrets", SecurableKind.TABLE)
EU = {"op": "eq", "field": 2, "value": "eu"}
EU_ONLY = DataFilterRow(7, "eu_only", "uuid-1", EU, "exclude", frozenset({5}))
FILTER = Target(SecurableKind.DATA_FILTER, "7")
TABLE = Target(SecurableKind.TABLE, "uuid-1")
SHARE_ID = 1


def principal(name: str) -> Grantee:
    return Grantee(GranteeKind.PRINCIPAL, name)


def role(name: str) -> Grantee:
    return Grantee(GranteeKind.ROLE, name)


def tenant(name: str) -> Grantee:
    return Grantee(GranteeKind.TENANT, name)


TENANTS = {
    principal("cadmin"): "consumer",
    principal("analyst"): "consumer",
    principal("batch"): "consumer",
    role("analysts"): "consumer",
    principal("oadmin"): "other",
    role("oroles"): "other",
}


def policy(*extra: GrantRow, grant_option: bool = True) -> Policy:
    share = GrantRow(
        SHARE_ID, tenant("consumer"), Privilege.SELECT, FILTER, grant_option, "owner", None
    )
    return Policy(
        PolicyRows(
            version=1,
            grants=(share, *extra),
            memberships=(("analysts", principal("analyst")),),
            data_filters=(EU_ONLY,),
            tenants=TENANTS,
            tenant_admins=(("consumer", "cadmin"), ("other", "oadmin")),
        )
    )


def regrant(grant_id: int = 2) -> GrantRow:
    """``cadmin`` re-granted the share to role ``analysts``, through the share."""
    return GrantRow(grant_id, role("analysts"), Privilege.SELECT, FILTER, False, "cadmin", SHARE_ID)


# -- granting on ----------------------------------------------------------------------------


@dataclass(frozen=True)
class GrantCase:
    granter: str
    target: Target
    path: ObjectPath
    via: int | None
    """The grant it would grant through; None: it may not grant."""
    grant_option: bool = True


GRANTING = {
    "the tenant's administrator re-grants the share through it": GrantCase(
        "cadmin", FILTER, REQUESTS, SHARE_ID
    ),
    "a share through a filter never widens to the whole table": GrantCase(
        "cadmin", TABLE, REQUESTS, None
    ),
    "the producer's other tables are not the tenant's to grant": GrantCase(
        "cadmin", Target(SecurableKind.TABLE, "uuid-2"), SECRETS, None
    ),
    "a principal of the tenant that does not administer it grants nothing": GrantCase(
        "analyst", FILTER, REQUESTS, None
    ),
    "another tenant's administrator grants nothing of the share": GrantCase(
        "oadmin", FILTER, REQUESTS, None
    ),
    "a share without grant option is not granted on": GrantCase(
        "cadmin", FILTER, REQUESTS, None, grant_option=False
    ),
}


@pytest.mark.parametrize("case", GRANTING.values(), ids=GRANTING.keys())
def test_a_share_is_granted_on_by_the_tenants_administrators_only(case: GrantCase) -> None:
    found = policy(grant_option=case.grant_option).authority(
        case.granter, Privilege.SELECT, case.target, case.path
    )

    assert (None if found is None else found.via) == case.via


# -- reading and seeing -----------------------------------------------------------------------


@pytest.mark.parametrize("who", ["cadmin", "analyst", "batch", "oadmin"])
def test_a_share_reads_as_nothing_until_it_is_re_granted(who: str) -> None:
    assert policy().table_access(who, REQUESTS, {1, 2, 3, 4, 5}).denied


def test_a_re_granted_share_reads_as_the_filter_and_no_more() -> None:
    access = policy(regrant()).table_access("analyst", REQUESTS, {1, 2, 3, 4, 5})

    assert [(c.row_filter, c.field_ids) for c in access.cell_sets] == [(EU, {1, 2, 3, 4})]
    assert not access.unrestricted
    assert policy(regrant()).table_access("batch", REQUESTS, {1, 2, 3, 4, 5}).denied


@pytest.mark.parametrize(
    ("who", "path", "seen"),
    [
        ("cadmin", REQUESTS, True),
        ("cadmin", SECRETS, False),
        ("analyst", REQUESTS, False),
        ("oadmin", REQUESTS, False),
    ],
)
def test_the_tenants_administrator_sees_what_was_shared_and_nothing_else(
    who: str, path: ObjectPath, seen: bool
) -> None:
    assert policy().may_describe(who, path) is seen


# -- whom one grants to, whom one manages -----------------------------------------------------


REACH = {
    "a tenant's administrator grants to its tenant's roles": ("cadmin", role("analysts"), True),
    "... and principals": ("cadmin", principal("batch"), True),
    "... not to another tenant's principals": ("cadmin", principal("oadmin"), False),
    "... nor roles": ("cadmin", role("oroles"), False),
    "... nor to the server's": ("cadmin", principal("sam"), False),
    "... nor shares on with another tenant": ("cadmin", tenant("other"), False),
    "a principal of the server shares with a tenant": ("sam", tenant("consumer"), True),
    "... and grants to the server's roles": ("sam", role("staff"), True),
    "... but not straight to a tenant's principal": ("sam", principal("analyst"), False),
    "... nor to a tenant's role": ("sam", role("analysts"), False),
}


@pytest.mark.parametrize(("granter", "grantee", "allowed"), REACH.values(), ids=REACH.keys())
def test_a_grant_reaches_only_inside_the_granters_tenant(
    granter: str, grantee: Grantee, allowed: bool
) -> None:
    assert policy().reaches(granter, grantee) is allowed


MANAGES = {
    "its tenant's principal": ("cadmin", principal("analyst"), True),
    "its tenant's role": ("cadmin", role("analysts"), True),
    "another tenant's principal": ("cadmin", principal("oadmin"), False),
    "another tenant's role": ("cadmin", role("oroles"), False),
    "a principal of the server": ("cadmin", principal("sam"), False),
    "the share itself (the producer's)": ("cadmin", tenant("consumer"), False),
    "a principal that administers nothing": ("analyst", principal("batch"), False),
}


@pytest.mark.parametrize(("who", "grantee", "managed"), MANAGES.values(), ids=MANAGES.keys())
def test_a_tenants_administrator_manages_its_tenant_only(
    who: str, grantee: Grantee, managed: bool
) -> None:
    assert policy().manages(who, grantee) is managed


# -- actions ----------------------------------------------------------------------------------


class _Scope:
    """What ``authorize`` asks of a lake: here, the policy alone (these actions locate
    no table)."""

    def __init__(self, policy: Policy) -> None:
        self._policy = policy

    def policy(self) -> Policy:
        return self._policy

    def locate(self, kind: SecurableKind, name: str) -> ObjectPath | None:
        return None


ACTIONS = {
    "creates its tenant's principals": ("cadmin", "tenant.create_principal", "consumer", True),
    "creates its tenant's roles": ("cadmin", "tenant.create_role", "consumer", True),
    "lists its tenant's principals": ("cadmin", "tenant.list_principals", "consumer", True),
    "not another tenant's principals": ("cadmin", "tenant.create_principal", "other", False),
    "not another tenant's roles": ("cadmin", "tenant.create_role", "other", False),
    "manages its tenant's role's members": ("cadmin", "governance.grant_role", "analysts", True),
    "not another tenant's role's": ("cadmin", "governance.grant_role", "oroles", False),
    "not the server's roles": ("cadmin", "governance.revoke_role", "staff", False),
    "drops its tenant's roles": ("cadmin", "governance.drop_role", "analysts", True),
    "lists roles (its own, the method scopes)": ("cadmin", "governance.list_roles", "", True),
    "creates no tenant": ("cadmin", "tenant.create", "new", False),
    "drops no tenant": ("cadmin", "tenant.drop", "consumer", False),
    "names no administrator": ("cadmin", "tenant.grant_admin", "consumer", False),
    "creates no principal of the server": ("cadmin", "principal.create", "x", False),
    "creates no tag": ("cadmin", "governance.create_tag", "pii", False),
    "a principal of the tenant creates no principal": (
        "analyst",
        "tenant.create_principal",
        "consumer",
        False,
    ),
    "... and manages no role": ("analyst", "governance.grant_role", "analysts", False),
}


@pytest.mark.parametrize(("who", "action", "name", "allowed"), ACTIONS.values(), ids=ACTIONS.keys())
def test_a_tenants_administrator_acts_on_its_tenant_only(
    who: str, action: str, name: str, allowed: bool
) -> None:
    actor = Principal(who, admin=False, tenant=TENANTS.get(principal(who)))
    resource = Resource(action.split(".")[0], name)

    if allowed:
        authorize(actor, action, resource, _Scope(policy()))
    else:
        with pytest.raises(Forbidden):
            authorize(actor, action, resource, _Scope(policy()))


def test_the_servers_administrator_may_everything_on_every_tenant() -> None:
    admin = Principal("root", admin=True)
    for _, action, name, _ in ACTIONS.values():
        authorize(admin, action, Resource(action.split(".")[0], name), _Scope(policy()))
