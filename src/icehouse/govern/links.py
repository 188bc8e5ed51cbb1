"""Resource links in the state database: ``namespace.name`` standing for a table
elsewhere, so that a consumer finds a shared table among its own (``analytics.requests``
for the producer's ``cdn.requests``).

A link is a name and nothing more: it carries no grant, and it is resolved at each
query under the reader's own grants on its target, so that revoking a share or dropping
the target takes effect through every link at once. The target is kept by name, as Lake
Formation keeps a resource link's: a table dropped and created again under that name is
what the link reaches next.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sqlalchemy import Engine, delete, insert, select
from sqlalchemy.exc import IntegrityError

from icehouse.errors import LinkNameTaken, NoSuchLink
from icehouse.state import models


@dataclass(frozen=True)
class LinkInfo:
    """A link as listed: its name, what it stands for, and who made it."""

    name: str
    """``namespace.name``."""
    target: str
    """``namespace.table``, in ``target_catalog``."""
    target_catalog: str
    """Empty for this lake's own tables, else the mount the target is in."""
    created_by: str
    created_at: float

    @property
    def qualified_target(self) -> str:
        """The target as a query names it (``mount.ns.t`` for a mounted one)."""
        return f"{self.target_catalog}.{self.target}" if self.target_catalog else self.target


def create_link(
    engine: Engine, name: str, target: str, *, target_catalog: str, created_by: str
) -> None:
    """Record link ``name`` (``namespace.name``) to ``target``.

    Raises: LinkNameTaken (a link of that name exists)."""
    namespace, _, last = name.rpartition(".")
    try:
        with engine.begin() as conn:
            conn.execute(
                insert(models.links).values(
                    namespace=namespace,
                    name=last,
                    target_catalog=target_catalog,
                    target=target,
                    created_by=created_by,
                    created_at=time.time(),
                )
            )
    except IntegrityError:
        raise LinkNameTaken(f"link {name} already exists", link=name) from None


def drop_link(engine: Engine, name: str) -> None:
    """Raises: NoSuchLink."""
    namespace, _, last = name.rpartition(".")
    links = models.links
    with engine.begin() as conn:
        gone = conn.execute(
            delete(links).where(links.c.namespace == namespace, links.c.name == last)
        )
    if not gone.rowcount:
        raise NoSuchLink(f"there is no link {name}", link=name)


def list_links(engine: Engine, namespace: str | None = None) -> list[LinkInfo]:
    """Every link (of ``namespace`` only, when given), by name."""
    links = models.links
    query = select(links).order_by(links.c.namespace, links.c.name)
    if namespace is not None:
        query = query.where(links.c.namespace == namespace)
    with engine.connect() as conn:
        rows = conn.execute(query).all()
    return [
        LinkInfo(
            name=f"{row.namespace}.{row.name}",
            target=row.target,
            target_catalog=row.target_catalog,
            created_by=row.created_by,
            created_at=row.created_at,
        )
        for row in rows
    ]
