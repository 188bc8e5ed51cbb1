"""The one authorisation decision: may this principal perform this action on this
resource? Every public ``Lake`` method asks it before acting, whichever path (CLI,
Python, REST, the query API) called; so a rule added here holds everywhere at once.

An administrator (the home's owner, a principal created ``--admin``) may do everything.
Anyone else needs the privilege ``RULES`` names for the action, on the resource or on
the namespace it is created in, as the policy (``policy.py``) says it holds:

- reading and changing tables, views and namespaces: DESCRIBE, ALTER, DROP, DELETE on the
  object; creating one: CREATE_TABLE, CREATE_VIEW or CREATE_NAMESPACE on the namespace it
  goes in (the catalog, for a top-level namespace);
- the REST catalog's table loads and commits: DESCRIBE here, then, decided inside once
  the call is known (``lake/rest_access.py``), unfiltered SELECT (a trusted engine may
  be handed filtered access as read restrictions) and, for a commit, the privilege of
  each update (``commit_privileges.py``); a view's load: SELECT on the view;
- running SQL, listing, and connecting: anyone (a query reads each table through
  ``Lake.table_access``, and lists show only what the principal may describe);
- roles, tags, data filters: MANAGE_GRANTS on the catalog; a grant or revoke is decided
  by the grant itself (the granter's grant option), which knows what is granted;
- ingestion sources, quarantine, maintenance, principals, tenants and the lake itself:
  administrators only;
- a tenant's administrator creates the tenant's principals and roles, and manages the
  memberships of its roles (the members' tenant is checked by the method, which knows
  them); it lists, rotates the secrets of, revokes the tokens of and deletes the
  principals of its tenant, never another tenant's nor the server's.

A principal refused on an object it may not describe is told it is "not found or not
permitted", exactly what it is told about an object that does not exist: an error never
says what exists.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from icehouse.errors import Forbidden
from icehouse.govern.objects import Grantee, GranteeKind, Privilege, SecurableKind
from icehouse.govern.policy import Policy
from icehouse.govern.records import ObjectPath


@dataclass(frozen=True)
class Principal:
    """Who is acting: a user or a service, as the state database knows it, or the
    home's owner (whoever opened the lake locally)."""

    name: str
    admin: bool
    kind: str = "service"
    """``user``, ``service``, or ``engine``: a service trusted to enforce the read
    restrictions ``loadTable`` hands it (``trusted_engine``)."""
    tenant: str | None = None
    """The tenant it belongs to (None: the server's own), as the audit records it."""

    @property
    def trusted_engine(self) -> bool:
        """Whether a filtered table may be handed to it with its read restrictions: an
        engine that applies them shows the principal only its rows and columns."""
        return self.kind == "engine"


OWNER = Principal(name="owner", admin=True, kind="user")
"""Whoever opens a lake home locally: its files are theirs, so the lake is too."""


@dataclass(frozen=True)
class Resource:
    """What an action is on: ``kind`` (``lake``, ``table``, ``namespace``, ``source``...)
    and its name (empty for the lake as a whole)."""

    kind: str
    name: str = ""

    def __str__(self) -> str:
        return f"{self.kind} {self.name}" if self.name else self.kind


class Scope(Protocol):
    """What a decision needs from the lake: the current policy, where a named object is
    (its UUID, for a table or view), None when there is no such object, and which
    namespace a table or view (by UUID) is in now."""

    def policy(self) -> Policy: ...

    def locate(self, kind: SecurableKind, name: str) -> ObjectPath | None: ...

    def namespace_of(self, uuid: str) -> tuple[str, ...] | None: ...


@dataclass(frozen=True)
class Needs:
    """The action needs ``privilege`` on its resource, or on the namespace its resource
    is created in (``parent``); ``each``: the resource names several objects, comma
    separated (the tables of a multi-table commit), and it needs it on every one; or
    (``tenant_admin``) to administer the tenant of the role the resource names (no role
    named: any tenant, whose part the method shows)."""

    privilege: Privilege
    parent: bool = False
    each: bool = False
    tenant_admin: bool = False


ANYONE = "anyone"
ADMINS = "administrators"
TENANT_ADMINS = "the tenant's administrators"
"""The resource names a tenant: its administrators may (and the server's)."""
MEMBER_TENANT_ADMINS = "the administrators of the principal's tenant"
"""The resource names a principal: the administrators of its tenant may (and the
server's); a principal of the server is for the server's administrators only."""
ANY_TENANT_ADMIN = "any tenant's administrators"
"""Whoever administers a tenant may (the method shows it only its tenant's part)."""
Rule = Needs | str

_MANAGE = Needs(Privilege.MANAGE_GRANTS)
_MANAGE_ROLE = Needs(Privilege.MANAGE_GRANTS, tenant_admin=True)
RULES: dict[str, Rule] = {
    "table.create": Needs(Privilege.CREATE_TABLE, parent=True),
    "table.register": Needs(Privilege.CREATE_TABLE, parent=True),
    "table.describe": Needs(Privilege.DESCRIBE),
    "table.history": Needs(Privilege.DESCRIBE),
    "table.access": ANYONE,  # decided inside, as table.describe for whoever reads:
    # the principal, or the definer of the view it reads through
    "table.report_metrics": Needs(Privilege.DESCRIBE),
    "table.alter": Needs(Privilege.ALTER),
    "table.rename": Needs(Privilege.ALTER),
    "table.rollback": Needs(Privilege.ALTER),
    "table.drop": Needs(Privilege.DROP),
    "table.delete_rows": Needs(Privilege.DELETE),
    "table.load": Needs(Privilege.DESCRIBE),  # and unfiltered SELECT, decided inside
    # (a trusted engine may get filtered access as read restrictions)
    "table.commit": Needs(Privilege.DESCRIBE),  # and the privilege of each update,
    # decided inside from the updates (``commit_privileges.py``), and what load needs
    "table.sign": Needs(Privilege.DESCRIBE),  # and unfiltered SELECT, and INSERT or
    # DELETE for a write or a delete, decided inside (``lake/storage_signing.py``)
    "table.commit_transaction": Needs(Privilege.DESCRIBE, each=True),  # likewise
    "table.list": ANYONE,
    "view.create": Needs(Privilege.CREATE_VIEW, parent=True),
    "view.register": Needs(Privilege.CREATE_VIEW, parent=True),
    "view.describe": Needs(Privilege.DESCRIBE),
    "view.load": Needs(Privilege.SELECT),
    "view.alter": Needs(Privilege.ALTER),
    "view.rename": Needs(Privilege.ALTER),
    "view.drop": Needs(Privilege.DROP),
    "view.list": ANYONE,
    "namespace.create": Needs(Privilege.CREATE_NAMESPACE, parent=True),
    "namespace.describe": Needs(Privilege.DESCRIBE),
    "namespace.alter": Needs(Privilege.ALTER),
    "namespace.drop": Needs(Privilege.DROP),
    "namespace.list": ANYONE,
    "query.run": ANYONE,
    "lake.connect": ANYONE,
    "catalog.idempotency": ANYONE,
    "catalog.list": ANYONE,  # shows each principal only the mounts it may describe
    "governance.grant": ANYONE,
    "governance.revoke": ANYONE,
    "governance.show": ANYONE,
    "governance.create_role": _MANAGE,
    "governance.drop_role": _MANAGE_ROLE,
    "governance.grant_role": _MANAGE_ROLE,
    "governance.revoke_role": _MANAGE_ROLE,
    "governance.list_roles": _MANAGE_ROLE,
    "governance.create_tag": _MANAGE,
    "governance.drop_tag": _MANAGE,
    "governance.set_tag": _MANAGE,
    "governance.unset_tag": _MANAGE,
    "governance.list_tags": _MANAGE,
    "governance.create_data_filter": ANYONE,  # MANAGE_GRANTS, or SELECT with grant
    # option on the filter's table: decided by the method, which knows the table
    "governance.drop_data_filter": _MANAGE,
    "governance.list_data_filters": _MANAGE,
    "link.create": Needs(Privilege.CREATE_TABLE, parent=True),
    "link.drop": Needs(Privilege.CREATE_TABLE, parent=True),
    "link.list": ANYONE,  # shows each principal only the links whose target it may describe
    "tenant.create_principal": TENANT_ADMINS,
    "tenant.create_role": TENANT_ADMINS,
    "tenant.list_principals": TENANT_ADMINS,
    "principal.list": ANY_TENANT_ADMIN,
    "principal.rotate": MEMBER_TENANT_ADMINS,
    "principal.revoke": MEMBER_TENANT_ADMINS,
    "principal.delete": MEMBER_TENANT_ADMINS,
    "source.land": ANYONE,  # and INSERT on the source's table, decided inside once the
    # source is known (``LakeSources.landed``)
}
"""Action → what a principal that is not an administrator needs for it; an action not
listed (sources, quarantine, maintenance, principals, ``lake.*``) is for administrators
only."""

_KINDS = {
    "table": SecurableKind.TABLE,
    "view": SecurableKind.VIEW,
    "namespace": SecurableKind.NAMESPACE,
    "governance": SecurableKind.CATALOG,
    "link": SecurableKind.TABLE,  # a link is created in a namespace, as a table is
}


def authorize(
    principal: Principal, action: str, resource: Resource, scope: Scope | None = None
) -> None:
    """Decide; ``scope`` is asked only for a principal that is not an administrator, and
    only for an action that needs a privilege.

    Raises: Forbidden (with the principal, action and resource) unless allowed."""
    if principal.admin:
        return
    rule = RULES.get(action, ADMINS)
    if rule == ANYONE:
        return
    if (
        rule == TENANT_ADMINS
        and scope is not None
        and resource.name
        and scope.policy().administers(principal.name) == resource.name
    ):
        return
    if scope is not None and _administers_for(principal, rule, resource, scope):
        return
    if not isinstance(rule, Needs) or scope is None:
        who = {
            TENANT_ADMINS: f"administrator of the server or of {resource} may (GRANT ADMIN "
            f"ON TENANT {resource.name} TO PRINCIPAL p makes one)",
            MEMBER_TENANT_ADMINS: f"administrator of the server or of {resource}'s tenant may",
            ANY_TENANT_ADMIN: "administrator of the server or of a tenant may",
        }.get(
            rule if isinstance(rule, str) else ADMINS,
            "administrator may (create one with `icehouse principal create NAME --admin`)",
        )
        raise Forbidden(
            f"principal {principal.name!r} may not {action} on {resource}: only an {who}",
            principal=principal.name,
            action=action,
            resource=str(resource),
        )
    if rule.each:
        names = resource.name.split(",") if resource.name else [""]
        for name in names:
            _decide(principal, action, Resource(resource.kind, name), rule, scope)
        return
    _decide(principal, action, resource, rule, scope)


def require(
    principal: Principal, action: str, resource: Resource, privilege: Privilege, scope: Scope
) -> None:
    """Decide one privilege on ``resource`` beyond what ``RULES`` asks for ``action``:
    what a method decides inside, once it knows what the call does (a commit's updates).

    Raises: Forbidden naming the privilege and the object ("it needs INSERT on table
    web.t"), or "not found or not permitted" to a principal that may not describe it."""
    if not principal.admin:
        _decide(principal, action, resource, Needs(privilege), scope)


def _decide(
    principal: Principal, action: str, resource: Resource, rule: Needs, scope: Scope
) -> None:
    kind = _KINDS[resource.kind]
    if kind is SecurableKind.CATALOG:
        path: ObjectPath | None = ObjectPath()
    elif rule.parent:
        parent = resource.name.rpartition(".")[0]
        path = scope.locate(SecurableKind.NAMESPACE, parent) if parent else ObjectPath()
    else:
        path = scope.locate(kind, resource.name) if resource.name else None
    policy = scope.policy()
    if path is not None:
        if rule.privilege is Privilege.DESCRIBE:
            if policy.may_describe(principal.name, path, scope.namespace_of):
                return
        elif policy.holds(principal.name, rule.privilege, path):
            return
    if rule.tenant_admin and _administers_role(policy, principal.name, resource.name):
        return
    shown = path is not None and (
        not path.namespace or policy.may_describe(principal.name, path, scope.namespace_of)
    )
    reason = (
        f"it needs {rule.privilege.value} on {_where(path, rule)}"
        if shown and path is not None
        else f"{resource} is not found or not permitted"
    )
    raise Forbidden(
        f"principal {principal.name!r} may not {action} on {resource}: {reason}",
        principal=principal.name,
        action=action,
        resource=str(resource),
    )


def _administers_for(principal: Principal, rule: Rule, resource: Resource, scope: Scope) -> bool:
    """Does ``principal`` administer a tenant, and (for ``MEMBER_TENANT_ADMINS``) the
    tenant of the principal ``resource`` names?"""
    if rule not in (MEMBER_TENANT_ADMINS, ANY_TENANT_ADMIN):
        return False
    policy = scope.policy()
    tenant = policy.administers(principal.name)
    if tenant is None:
        return False
    member = Grantee(GranteeKind.PRINCIPAL, resource.name)
    return rule == ANY_TENANT_ADMIN or policy.tenant_of(member) == tenant


def _administers_role(policy: Policy, principal: str, role: str) -> bool:
    tenant = policy.administers(principal)
    if tenant is None:
        return False
    return not role or policy.tenant_of(Grantee(GranteeKind.ROLE, role)) == tenant


def _where(path: ObjectPath, rule: Needs) -> str:
    if not path.namespace:
        return "the catalog"
    if path.uuid:
        return f"{path.kind.value} {path.name}"
    return f"namespace {'.'.join(path.namespace)}"
