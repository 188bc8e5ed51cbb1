"""``lake.principals``: who may use the lake through the server, and their tokens.

Managing principals is an administrator's action like any other; a tenant's
administrator lists, rotates, revokes and deletes its own tenant's principals (creating
them goes through ``lake.tenants.create_principal``). Checking a secret or
a token happens before a request has a principal: the server asks the lake it opened
(as the home's owner) to do it, and then acts as whoever the token names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from icehouse.errors import NotAuthenticated
from icehouse.govern import principals, tokens
from icehouse.govern.authz import Principal
from icehouse.govern.principals import Credentials, PrincipalInfo
from icehouse.govern.tokens import DEFAULT_LIFETIME, IssuedToken
from icehouse.lake.governed import governed

if TYPE_CHECKING:
    from icehouse.lake import Lake

__all__ = ["Credentials", "IssuedToken", "LakePrincipals", "Principal", "PrincipalInfo"]


class LakePrincipals:
    """``lake.principals``: create, list, rotate and delete principals; hand out and
    check bearer tokens."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake

    @governed("principal.create", on="name")
    def create(self, name: str, *, admin: bool = False, kind: str = "service") -> Credentials:
        """Returns: the client id and secret (shown this once; only its hash is kept).

        Raises: PrincipalAlreadyExists, InvalidInput."""
        return principals.create(self._lake._engine, name, admin=admin, kind=kind)

    @governed("principal.list")
    def list(self) -> list[PrincipalInfo]:
        """Returns: every principal by name, without secrets; to a tenant's
        administrator, its tenant's principals only.

        Raises: Forbidden (neither an administrator of the server nor of a tenant)."""
        from icehouse.lake.authz_scope import LakeScope

        lake = self._lake
        found = principals.list_all(lake._engine)
        if lake.principal.admin:
            return found
        tenant = LakeScope(lake).policy().administers(lake.principal.name)
        return [p for p in found if tenant is not None and p.tenant == tenant]

    @governed("principal.rotate", on="name")
    def rotate(self, name: str) -> Credentials:
        """Give a principal a new secret; the old one and every token stop working.

        Raises: NoSuchPrincipal; Forbidden (a tenant's administrator naming a principal
        outside its tenant)."""
        return principals.rotate(self._lake._engine, name)

    @governed("principal.delete", on="name")
    def delete(self, name: str) -> int:
        """Delete a principal; its tokens stop working at once.

        Its grants and role memberships go too, and what it granted on.

        Returns: how many tokens were deleted with it. Raises: NoSuchPrincipal;
        Forbidden (a tenant's administrator naming a principal outside its tenant)."""
        from icehouse.govern.roles import forget_principal
        from icehouse.lake.authz_scope import locate_uuid

        lake = self._lake
        removed = principals.remove(lake._engine, name)
        forget_principal(lake._engine, name, lambda uuid: locate_uuid(lake, uuid))
        return removed

    @governed("principal.revoke", on="name")
    def revoke_tokens(self, name: str) -> int:
        """Revoke every token the principal holds (its secret still gets new ones).

        Returns: how many live tokens were revoked. Raises: NoSuchPrincipal; Forbidden
        (a tenant's administrator naming a principal outside its tenant)."""
        return tokens.revoke_all(self._lake._engine, name)

    @governed("principal.authenticate")
    def issue_token(
        self, client_id: str, client_secret: str, *, lifetime: float = DEFAULT_LIFETIME
    ) -> IssuedToken:
        """OAuth2 client credentials: a bearer token for a current client secret.

        Raises: NotAuthenticated (unknown client id or wrong secret: which, not said)."""
        lake = self._lake
        found = principals.check_secret(lake._engine, client_id, client_secret)
        if found is None:
            raise NotAuthenticated("unknown client id or wrong client secret")
        return tokens.issue(lake._engine, found[0], now=lake._clock(), lifetime=lifetime)

    @governed("principal.authenticate")
    def authenticate(self, token: str) -> Principal:
        """Returns: the principal a bearer token stands for.

        Raises: NotAuthenticated (unknown, expired or revoked token, or deleted principal)."""
        return tokens.principal_for(self._lake._engine, token, now=self._lake._clock())
