"""``lake.links``: resource links, names in one namespace standing for tables in
another (``CREATE LINK analytics.requests FOR cdn.requests``).

Making or dropping a link takes CREATE_TABLE on the link's namespace, as making a table
there would: a tenant's administrator makes links in the namespaces it was granted that
on. A link grants nothing and needs no grant of its own: whoever reads through it reads
its target with the reader's own grants on the target, and whoever may not describe the
target does not see the link at all (not in ``SHOW LINKS``, not in ``SHOW TABLES``).

A link may stand for a table of a mounted catalog (``CREATE LINK analytics.requests FOR
cdn_prod.cdn.requests``): it is kept by the mount's name and the table's name, and
resolved at each query to the table the producer has under that name now, read under
the reader's grants on it (keyed, as every mounted table's, by the mount and the
producer's table UUID). A link whose mount is gone stands for nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from icehouse.errors import CatalogUnavailable, LinkNameTaken, NoSuchNamespace, NoSuchTable
from icehouse.govern import links, mounts
from icehouse.govern.links import LinkInfo
from icehouse.lake.governed import governed
from icehouse.tables.catalog_views import view_exists

if TYPE_CHECKING:
    from icehouse.lake import Lake

__all__ = ["LakeLinks", "LinkInfo", "link_targets"]


class LakeLinks:
    """``lake.links``: create, drop and list resource links."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake

    @governed("link.create", on="name")
    def create(self, name: str, target: str, *, catalog: str = "") -> None:
        """Make ``name`` stand for table ``target``.

        Args: ``name``, ``namespace.name`` (the namespace must exist); ``target``,
        ``namespace.table``, which the caller must be able to describe; ``catalog``,
        the mount the target is in (empty: this lake's).
        Raises: LinkNameTaken (a link, table or view has the name), NoSuchNamespace,
        NoSuchTable (the target, or its mount, is not found or not permitted),
        CatalogUnavailable (the target's producer does not answer)."""
        lake = self._lake
        qualified = f"{catalog}.{target}" if catalog else target
        namespace, _, last = name.rpartition(".")
        if not lake._catalog.namespace_exists((namespace,)):
            raise NoSuchNamespace(f"namespace {namespace!r} does not exist", namespace=namespace)
        if lake._catalog.table_exists((namespace, last)) or view_exists(
            lake._catalog, (namespace,), last
        ):
            raise LinkNameTaken(f"{name} is a table or view; a link needs a name", link=name)
        if not _resolvable(lake, catalog) or not lake._readable_access(qualified).table_uuid:
            raise NoSuchTable(f"table {qualified} is not found or not permitted", table=qualified)
        links.create_link(
            lake._engine, name, target, target_catalog=catalog, created_by=lake.principal.name
        )

    @governed("link.drop", on="name")
    def drop(self, name: str) -> None:
        """Drop link ``name``; its target is untouched.

        Args: ``name``, ``namespace.name``. Raises: NoSuchLink."""
        links.drop_link(self._lake._engine, name)

    @governed("link.list")
    def list(self, namespace: str | None = None) -> list[LinkInfo]:
        """The links whose target this principal may describe (an administrator: every
        link, also one whose target was dropped).

        Args: ``namespace``, only that namespace's links (None: all).
        Returns: the links by name."""
        lake = self._lake
        every = links.list_links(lake._engine, namespace)
        if lake.principal.admin:
            return every
        return [link for link in every if visible_target(lake, link)]


def visible_target(lake: Lake, link: LinkInfo) -> bool:
    """Whether ``lake``'s principal may describe the table ``link`` stands for (never,
    for a target gone, in a mount gone, or in a producer that does not answer)."""
    if not _resolvable(lake, link.target_catalog):
        return False
    try:
        return bool(lake._readable_access(link.qualified_target).table_uuid)
    except CatalogUnavailable:
        return False


def link_targets(lake: Lake) -> dict[str, str]:
    """Every link whose catalog is there, by name, and the table it stands for
    (``namespace.table``, or ``mount.namespace.table`` for a mounted one): what the
    query engine resolves a name that is no table with (and reads under the reader's
    own grants on the target)."""
    mounted = {m.name for m in mounts.list_mounts(lake._engine)}
    return {
        link.name: link.qualified_target
        for link in links.list_links(lake._engine)
        if not link.target_catalog or link.target_catalog in mounted
    }


def _resolvable(lake: Lake, catalog: str) -> bool:
    """Whether ``catalog`` (empty: this lake's own) is there to resolve a link in."""
    return not catalog or mounts.find_mount(lake._engine, catalog) is not None
