"""``lake.tenants``: tenants (accounts), their administrators, and the principals and
roles inside them.

The server's administrators create and drop tenants and name their administrators; a
tenant's administrator creates its tenant's principals and roles, and re-grants to them
what was shared with the tenant (``lake.governance.grant``, ``GRANT ... TO TENANT``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from icehouse.govern import principals, roles, tenants
from icehouse.govern.principals import Credentials, PrincipalInfo
from icehouse.govern.tenants import TenantInfo
from icehouse.lake.authz_scope import locate_uuid
from icehouse.lake.governed import governed

if TYPE_CHECKING:
    from icehouse.lake import Lake

__all__ = ["LakeTenants", "TenantInfo"]


class LakeTenants:
    """``lake.tenants``: create, list and drop tenants; their administrators, principals
    and roles."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake

    @governed("tenant.create", on="name")
    def create(self, name: str) -> None:
        """Create a tenant, empty: a server administrator then creates its first
        principal and makes it the tenant's administrator.

        Args: ``name``. Raises: TenantAlreadyExists, InvalidInput (an empty name)."""
        tenants.create_tenant(self._lake._engine, name)

    @governed("tenant.drop", on="name")
    def drop(self, name: str) -> None:
        """Drop an empty tenant; what was shared with it, and granted on through the
        shares, is revoked.

        Args: ``name``. Raises: NoSuchTenant, TenantNotEmpty."""
        lake = self._lake
        tenants.drop_tenant(lake._engine, name, lambda uuid: locate_uuid(lake, uuid))

    @governed("tenant.grant_admin", on="tenant")
    def grant_admin(self, tenant: str, principal: str) -> None:
        """Make ``principal``, a principal of ``tenant``, its administrator.

        Args: ``tenant``; ``principal``. Raises: NoSuchTenant, NoSuchPrincipal,
        InvalidInput (a principal of another tenant or of the server)."""
        tenants.grant_admin(self._lake._engine, tenant, principal)

    @governed("tenant.revoke_admin", on="tenant")
    def revoke_admin(self, tenant: str, principal: str) -> None:
        """``principal`` no longer administers ``tenant``; what it granted on from the
        tenant's shares is revoked with it.

        Args: ``tenant``; ``principal``. Raises: NoSuchTenant, NoSuchPrincipal."""
        lake = self._lake
        tenants.revoke_admin(lake._engine, tenant, principal, lambda u: locate_uuid(lake, u))

    @governed("tenant.create_principal", on="tenant")
    def create_principal(self, tenant: str, name: str, *, kind: str = "service") -> Credentials:
        """Create a principal of ``tenant`` (as a server administrator or the tenant's).

        Args: ``tenant``; ``name``; ``kind``, ``service`` or ``user``.
        Returns: the client id and secret (shown this once).
        Raises: NoSuchTenant, PrincipalAlreadyExists, InvalidInput."""
        return principals.create(self._lake._engine, name, admin=False, kind=kind, tenant=tenant)

    @governed("tenant.create_role", on="tenant")
    def create_role(self, tenant: str, name: str) -> None:
        """Create a role of ``tenant`` (as a server administrator or the tenant's).

        Args: ``tenant``; ``name``. Raises: NoSuchTenant, RoleAlreadyExists,
        InvalidInput."""
        roles.create_role(self._lake._engine, name, tenant=tenant)

    @governed("tenant.list_principals", on="tenant")
    def list_principals(self, tenant: str) -> list[PrincipalInfo]:
        """Args: ``tenant``. Returns: the principals of ``tenant`` by name, without
        secrets."""
        return [p for p in principals.list_all(self._lake._engine) if p.tenant == tenant]

    @governed("tenant.list")
    def list(self) -> list[TenantInfo]:
        """Returns: every tenant by name, with its administrators and how many
        principals and roles it has."""
        return tenants.list_tenants(self._lake._engine)
