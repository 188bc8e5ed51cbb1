"""``lake.views``: Iceberg views (list, create, load, replace, drop, rename, register).

Like ``lake.iceberg``, it takes namespaces as tuples and names as strings, and gives a
view's metadata as the Iceberg JSON the REST protocol speaks, so that the REST server,
the CLI and Python callers share one path (where authorisation will later sit).
"""

from __future__ import annotations

import builtins
import json
from typing import TYPE_CHECKING, Any

from icehouse.govern.objects import SecurableKind
from icehouse.lake.authz_scope import record_owner, visible
from icehouse.lake.governed import governed
from icehouse.lake.rest_access import check_register
from icehouse.tables import catalog_views
from icehouse.tables.arrow_types import schema_from_arrow
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

    @governed("view.list", on="namespace")
    def list(self, namespace: Namespace) -> list[str]:
        """Returns: the namespace's view names, sorted. Raises: NoSuchNamespace."""
        found = catalog_views.list_views(self._lake._catalog, namespace)
        shown = visible(self._lake, SecurableKind.VIEW, [".".join((*namespace, v)) for v in found])
        return [v for v in found if ".".join((*namespace, v)) in shown]

    @governed("view.create", on=("namespace", "name"))
    def create(self, namespace: Namespace, name: str, new: NewView) -> ViewState:
        """Create a view from its schema and first version (Iceberg JSON).

        Raises: NoSuchNamespace, ViewAlreadyExists (a view or a table has the name),
        InvalidInput."""
        state = catalog_views.create_view(self._lake._catalog, namespace, name, new)
        record_owner(self._lake, SecurableKind.VIEW, str(state.metadata["view-uuid"]))
        return state

    @governed("view.create", on=("namespace", "name"))
    def create_from_sql(
        self, namespace: Namespace, name: str, sql: str, *, properties: dict[str, str] | None = None
    ) -> ViewState:
        """Create a view of a DuckDB ``SELECT`` over the lake's tables: its columns are
        what the query returns (run once with ``LIMIT 0``, which also proves it runs).

        Raises: QueryError, NoSuchNamespace, ViewAlreadyExists, InvalidSchema (a column
        type Iceberg has no equivalent for)."""
        columns = self._lake.sql(f"SELECT * FROM ({sql}) AS defined LIMIT 0").schema
        schema = json.loads(schema_from_arrow(columns).model_dump_json())
        version = {
            "version-id": 1,
            "schema-id": schema["schema-id"],
            "timestamp-ms": int(self._lake._clock() * 1000),
            "summary": {"engine-name": "icehouse"},
            "representations": [{"type": "sql", "sql": sql, "dialect": "duckdb"}],
            "default-namespace": list(namespace),
        }
        new = NewView(schema=schema, version=version, properties=properties)
        return self.create(namespace, name, new)

    @governed("view.load", on=("namespace", "name"))
    def load(self, namespace: Namespace, name: str) -> ViewState:
        """The view's definition, for an engine to run: it needs SELECT on the view (the
        tables it reads are decided when it is queried, with its definer's rights).

        Raises: NoSuchView, Forbidden."""
        return catalog_views.load_view(self._lake._catalog, namespace, name)

    @governed("view.describe", on=("namespace", "name"))
    def exists(self, namespace: Namespace, name: str) -> bool:
        """Whether the view exists (a table of that name is not a view)."""
        return catalog_views.view_exists(self._lake._catalog, namespace, name)

    @governed("view.alter", on=("namespace", "name"))
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

    @governed("view.register", on=("namespace", "name"))
    def register(self, namespace: Namespace, name: str, metadata_location: str) -> ViewState:
        """Enter an existing view metadata file as a new view. For a principal that
        does not administer the lake, it needs DATA_LOCATION_ACCESS on the catalog too
        (``rest_access.check_register``): the file may be another view's.

        Raises: NoSuchNamespace, ViewAlreadyExists, InvalidInput, Forbidden."""
        check_register(self._lake, "view", ".".join((*namespace, name)))
        return catalog_views.register_view(self._lake._catalog, namespace, name, metadata_location)

    @governed("view.drop", on=("namespace", "name"))
    def drop(self, namespace: Namespace, name: str) -> None:
        """Raises: NoSuchView."""
        catalog_views.drop_view(self._lake._catalog, namespace, name)

    @governed("view.rename", on="source")
    def rename(self, source: tuple[Namespace, str], destination: tuple[Namespace, str]) -> None:
        """Raises: NoSuchView, NoSuchNamespace, ViewAlreadyExists."""
        catalog_views.rename_view(self._lake._catalog, source, destination)
