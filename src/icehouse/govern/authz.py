"""The one authorisation decision: may this principal perform this action on this
resource? Every public ``Lake`` method asks it before acting, whichever path (CLI,
Python, REST) called; so a rule added here holds everywhere at once.

For now it knows two cases: an administrator may do everything, anyone else nothing.
Grants on namespaces, tables, columns and rows refine the second case later.
"""

from __future__ import annotations

from dataclasses import dataclass

from icehouse.errors import Forbidden


@dataclass(frozen=True)
class Principal:
    """Who is acting: a user or a service, as the state database knows it, or the
    home's owner (whoever opened the lake locally)."""

    name: str
    admin: bool
    kind: str = "service"
    """``user`` or ``service``."""


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


def authorize(principal: Principal, action: str, resource: Resource) -> None:
    """Raises: Forbidden (with the principal, action and resource) unless allowed."""
    if principal.admin:
        return
    raise Forbidden(
        f"principal {principal.name!r} may not {action} on {resource}: only an "
        "administrator may, for now (create one with `icehouse principal create NAME "
        "--admin`)",
        principal=principal.name,
        action=action,
        resource=str(resource),
    )
