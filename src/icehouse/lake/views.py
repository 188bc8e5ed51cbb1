"""``lake.views``: Iceberg views (list, create, load, replace, drop, rename).

Like ``lake.iceberg``, it takes namespaces as tuples and names as strings, and gives a
view's metadata as the Iceberg JSON the REST protocol speaks, so that the REST server,
the CLI and Python callers share one path (where authorisation will later sit).
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

from icehouse.tables import catalog_views
from icehouse.tables.catalog_views import NewView, ViewState
from icehouse.tables.namespaces import Namespace

if TYPE_CHECKING:
    from icehouse.lake import Lake

__all__ = ["LakeViews", "NewView", "ViewState"]


class LakeViews:
    """``lake.views``: views as the Iceberg REST protocol handles them. A view's SQL is
    queried like a table by ``lake.sql`` (its ``duckdb`` representation, else its
    ``spark`` one)."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake

    def list(self, namespace: Namespace) -> list[str]:
        """Returns: the namespace's view names, sorted. Raises: NoSuchNamespace."""
        return catalog_views.list_views(self._lake._catalog, namespace)

    def create(self, namespace: Namespace, name: str, new: NewView) -> ViewState:
        """Create a view from its schema and first version (Iceberg JSON).

        Raises: NoSuchNamespace, ViewAlreadyExists (a view or a table has the name),
        InvalidInput."""
        return catalog_views.create_view(self._lake._catalog, namespace, name, new)

    def load(self, namespace: Namespace, name: str) -> ViewState:
        """Raises: NoSuchView."""
        return catalog_views.load_view(self._lake._catalog, namespace, name)

    def exists(self, namespace: Namespace, name: str) -> bool:
        """Whether the view exists (a table of that name is not a view)."""
        return catalog_views.view_exists(self._lake._catalog, namespace, name)

    def replace(
        self,
        namespace: Namespace,
        name: str,
        *,
        requirements: builtins.list[dict[str, Any]],
        updates: builtins.list[dict[str, Any]],
    ) -> ViewState:
        """Apply view updates (a new version, properties...) if every requirement holds.

        Raises: NoSuchView, CommitRaced (nothing landed: reload and retry), InvalidInput."""
        return catalog_views.replace_view(
            self._lake._catalog, namespace, name, requirements=requirements, updates=updates
        )

    def drop(self, namespace: Namespace, name: str) -> None:
        """Raises: NoSuchView."""
        catalog_views.drop_view(self._lake._catalog, namespace, name)

    def rename(self, source: tuple[Namespace, str], destination: tuple[Namespace, str]) -> None:
        """Raises: NoSuchView, NoSuchNamespace, ViewAlreadyExists."""
        catalog_views.rename_view(self._lake._catalog, source, destination)
