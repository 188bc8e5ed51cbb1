"""``lake.links``: resource links, names in one namespace standing for tables in
another (``CREATE LINK analytics.requests FOR cdn.requests``).

Making or dropping a link takes CREATE_TABLE on the link's namespace, as making a table
there would: a tenant's administrator makes links in the namespaces it was granted that
on. A link grants nothing and needs no grant of its own: whoever reads through it reads
its target with the reader's own grants on the target, and whoever may not describe the
target does not see the link at all (not in ``SHOW LINKS``, not in ``SHOW TABLES``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from icehouse.errors import InvalidInput, LinkNameTaken, NoSuchNamespace, NoSuchTable
from icehouse.govern import links
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
        NoSuchTable (the target is not found or not permitted), InvalidInput (a target in
        a mounted catalog, which links do not reach yet)."""
        lake = self._lake
        if catalog:
            raise InvalidInput(
                f"links to tables of mounted catalogs are not supported yet: name "
                f"{catalog}.{target} in your query, or link a table of this lake"
            )
        namespace, _, last = name.rpartition(".")
        if not lake._catalog.namespace_exists((namespace,)):
            raise NoSuchNamespace(f"namespace {namespace!r} does not exist", namespace=namespace)
        if lake._catalog.table_exists((namespace, last)) or view_exists(
            lake._catalog, (namespace,), last
        ):
            raise LinkNameTaken(f"{name} is a table or view; a link needs a name", link=name)
        if not lake._readable_access(target).table_uuid:
            raise NoSuchTable(f"table {target} is not found or not permitted", table=target)
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
    for a target gone or in a mounted catalog)."""
    if link.target_catalog:
        return False
    return bool(lake._readable_access(link.target).table_uuid)


def link_targets(lake: Lake) -> dict[str, str]:
    """Every link to a table of this lake, by name, and the ``namespace.table`` it
    stands for: what the query engine resolves a name that is no table with (and reads
    under the reader's own grants on the target)."""
    return {
        link.name: link.target for link in links.list_links(lake._engine) if not link.target_catalog
    }
