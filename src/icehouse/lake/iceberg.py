"""``lake.namespaces`` and ``lake.iceberg``: the Iceberg catalog as engines see it.

The REST server (and any Python caller that wants the protocol's view) goes through
these, never through PyIceberg: they take and give namespaces as tuples, names as
strings and Iceberg metadata as plain JSON-able dicts, so that authorisation can later
sit here for every path at once.
"""

from __future__ import annotations

import builtins
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from icehouse.govern.objects import SecurableKind
from icehouse.lake import lifecycle
from icehouse.lake.authz_scope import LakeScope, locate_uuid, record_owner, visible
from icehouse.lake.governed import governed
from icehouse.lake.rest_access import (
    check_commit,
    check_location,
    check_register,
    read_restrictions,
)
from icehouse.tables import catalog_tables, catalog_views, multi_commit, namespaces
from icehouse.tables.catalog_tables import NewTable, SnapshotsMode, TableState
from icehouse.tables.multi_commit import TableChange
from icehouse.tables.namespaces import Namespace, PropertiesChange

if TYPE_CHECKING:
    from icehouse.lake import Lake

__all__ = [
    "LakeIceberg",
    "LakeNamespaces",
    "Namespace",
    "NewTable",
    "PropertiesChange",
    "SnapshotsMode",
    "TableChange",
    "TableState",
]


class LakeNamespaces:
    """``lake.namespaces``: list, create, describe, alter and drop namespaces."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake

    @governed("namespace.list", on="parent")
    def list(self, parent: Namespace = ()) -> list[Namespace]:
        """Returns: the namespaces directly under ``parent`` (default: the top level),
        sorted. Raises: NoSuchNamespace."""
        found = namespaces.list_namespaces(self._lake._catalog, parent)
        shown = visible(self._lake, SecurableKind.NAMESPACE, [".".join(n) for n in found])
        return [n for n in found if ".".join(n) in shown]

    @governed("namespace.create", on="namespace")
    def create(
        self, namespace: Namespace, properties: dict[str, str] | None = None
    ) -> dict[str, str]:
        """Returns: its properties as stored. Raises: NamespaceAlreadyExists, InvalidInput,
        MountNameTaken (a top-level namespace named like a mounted catalog)."""
        from icehouse.lake.catalogs import refuse_mount_name

        refuse_mount_name(self._lake, namespace[:1])
        return namespaces.create_namespace(self._lake._catalog, namespace, properties or {})

    @governed("namespace.describe", on="namespace")
    def properties(self, namespace: Namespace) -> dict[str, str]:
        """Raises: NoSuchNamespace."""
        return namespaces.namespace_properties(self._lake._catalog, namespace)

    @governed("namespace.describe", on="namespace")
    def exists(self, namespace: Namespace) -> bool:
        """Whether the namespace exists (an empty or malformed name does not)."""
        return namespaces.namespace_exists(self._lake._catalog, namespace)

    @governed("namespace.drop", on="namespace")
    def drop(self, namespace: Namespace) -> None:
        """Drop an empty namespace, with the grants and tags on it (a namespace created
        later under its name starts with none).

        Raises: NoSuchNamespace, NamespaceNotEmpty (it still holds tables or views)."""
        from icehouse.govern.grants import forget_namespace

        lake = self._lake
        if namespaces.namespace_exists(lake._catalog, namespace):
            catalog_views.check_no_views(lake._catalog, namespace)
        namespaces.drop_namespace(lake._catalog, namespace)
        forget_namespace(lake._engine, ".".join(namespace), lambda uuid: locate_uuid(lake, uuid))

    @governed("namespace.alter", on="namespace")
    def update(
        self,
        namespace: Namespace,
        *,
        removals: set[str] | None = None,
        updates: dict[str, str] | None = None,
    ) -> PropertiesChange:
        """Remove and set properties in one step.

        Returns: which keys were removed, updated, and asked to be removed but missing.
        Raises: NoSuchNamespace, ConflictingProperties (a key both removed and set)."""
        return namespaces.update_namespace_properties(
            self._lake._catalog, namespace, removals=removals or set(), updates=updates or {}
        )


class LakeIceberg:
    """``lake.iceberg``: tables as the Iceberg REST protocol handles them (metadata as
    Iceberg JSON; commits as requirements and updates)."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake

    @governed("table.list", on="namespace")
    def list(self, namespace: Namespace) -> list[str]:
        """Returns: the namespace's table names, sorted. Raises: NoSuchNamespace.

        A principal that is not an administrator is shown the tables it may describe,
        decided with one read of the policy and of the namespace's tables; the decisions
        are kept with the policy for that principal and those very tables (the same
        names on the same metadata files), so listing an unchanged namespace again under
        an unchanged policy decides nothing again."""
        lake = self._lake
        if lake.principal.admin:
            return catalog_tables.list_tables(lake._catalog, namespace)
        rows = catalog_tables.list_table_rows(lake._catalog, namespace)
        scope = LakeScope(lake)
        key = ("table.list", lake.principal.name, namespace, tuple(rows))
        shown = scope.policy().remembered(key, lambda: self._visible(namespace, rows, scope))
        return builtins.list(shown)

    def _visible(
        self, namespace: Namespace, rows: builtins.list[tuple[str, str | None]], scope: LakeScope
    ) -> tuple[str, ...]:
        """The names among ``rows`` (sorted) that the principal may describe."""
        lake = self._lake
        scope.found.update(lake._uuids.namespace_tables(lake._catalog, namespace, rows))
        names = [name for name, _ in rows]
        shown = visible(
            lake, SecurableKind.TABLE, [".".join((*namespace, t)) for t in names], scope
        )
        return tuple(t for t in names if ".".join((*namespace, t)) in shown)

    @governed("table.create", on=("namespace", "name"))
    def create(
        self, namespace: Namespace, name: str, new: NewTable, *, stage: bool = False
    ) -> TableState:
        """Create a table (icehouse's table defaults apply; the request's properties
        win); with ``stage``, only describe the table a later commit will create.

        A principal that does not administer the lake may not place it inside another
        table's location (``rest_access.check_location``).

        Raises: NoSuchNamespace, TableAlreadyExists, InvalidInput, Forbidden."""
        check_location(self._lake, ".".join((*namespace, name)), new.location, "table.create")
        state = catalog_tables.create_table(self._lake._catalog, namespace, name, new, stage=stage)
        if not stage:
            record_owner(self._lake, SecurableKind.TABLE, str(state.metadata["table-uuid"]))
        return state

    @governed("table.load", on=("namespace", "name"))
    def load(
        self, namespace: Namespace, name: str, *, snapshots: SnapshotsMode = "all"
    ) -> TableState:
        """The table, for an engine to read and write its files: handed only to a
        principal that may read all of it, or to a trusted engine with the read
        restrictions it must apply (``rest_access.py``).

        Raises: NoSuchTable, Forbidden (filtered access: the message points to the query
        API; no SELECT: it names SELECT)."""
        state = catalog_tables.load_table_state(
            self._lake._catalog, namespace, name, snapshots=snapshots
        )
        restrictions = read_restrictions(
            self._lake, namespace, name, state.metadata, action="table.load"
        )
        return state if not restrictions else replace(state, read_restrictions=restrictions)

    @governed("table.describe", on=("namespace", "name"))
    def exists(self, namespace: Namespace, name: str) -> bool:
        """Whether the table exists."""
        return catalog_tables.table_exists(self._lake._catalog, namespace, name)

    @governed("table.commit", on=("namespace", "name"))
    def commit(
        self,
        namespace: Namespace,
        name: str,
        *,
        requirements: builtins.list[dict[str, Any]],
        updates: builtins.list[dict[str, Any]],
    ) -> TableState:
        """Apply Iceberg updates if every requirement holds on the current metadata. A
        commit that loses the swap to another commit is staged again on the newer
        metadata, and lands if its requirements still hold there.

        It needs the privilege of each update (an append INSERT, a delete DELETE, a
        schema change ALTER...: ``govern/commit_privileges.py``) and what ``load`` needs.

        Raises: NoSuchTable, CommitRaced (nothing landed: reload and retry),
        TableAlreadyExists, InvalidInput, Forbidden (naming the missing privilege)."""
        change = TableChange(namespace, name, requirements=requirements, updates=updates)
        check_commit(self._lake, change)
        return multi_commit.commit_tables(self._lake._catalog, [change])[0]

    @governed("table.create", on=("namespace", "name"))
    def create_staged(
        self,
        namespace: Namespace,
        name: str,
        *,
        requirements: builtins.list[dict[str, Any]],
        updates: builtins.list[dict[str, Any]],
    ) -> TableState:
        """The commit of a staged create (``create(stage=True)``, then a commit whose
        requirements assert that the table does not exist, as Spark's CTAS makes it): it
        needs what a direct create needs, CREATE_TABLE on the namespace, and makes the
        principal the table's owner as a direct create does, so that the rows it writes
        with the creation need no privilege on a table that did not exist.

        Raises: InvalidInput (no ``assert-create`` requirement: a commit to an existing
        table goes through ``commit``), CommitConflict (the table exists already),
        NoSuchNamespace, Forbidden (no CREATE_TABLE on the namespace)."""
        from icehouse.errors import InvalidInput

        change = TableChange(namespace, name, requirements=requirements, updates=updates)
        if not change.creates:
            raise InvalidInput(
                f"a staged create of {change.dotted} asserts that it does not exist yet "
                "(requirement assert-create); commit to an existing table otherwise"
            )
        state = multi_commit.commit_tables(self._lake._catalog, [change])[0]
        record_owner(self._lake, SecurableKind.TABLE, str(state.metadata["table-uuid"]))
        return state

    @governed("table.commit_transaction", on="changes")
    def commit_transaction(self, changes: builtins.list[TableChange]) -> None:
        """Commit changes to several tables atomically: every table's requirements hold
        and all land, or none does. Each table's changes need what a commit to it alone
        needs.

        Raises: NoSuchTable, CommitRaced (nothing landed: reload and retry),
        TableAlreadyExists, InvalidInput (including a table named twice), Forbidden."""
        for change in changes:
            check_commit(self._lake, change)
        multi_commit.commit_tables(self._lake._catalog, changes)

    @governed("table.drop", on=("namespace", "name"))
    def drop(self, namespace: Namespace, name: str, *, purge: bool = False) -> None:
        """Drop as ``lake.tables.drop`` does, with its guards: a table a source writes to,
        or with a batch open, is refused; ``purge`` deletes its files under the
        maintenance lease.

        Raises: NoSuchTable, TableInUse, MaintenanceLocked, OutsideWarehouse."""
        lifecycle.drop_table(self._lake, (*namespace, name), purge=purge)

    @governed("table.rename", on="source")
    def rename(self, source: tuple[Namespace, str], destination: tuple[Namespace, str]) -> None:
        """Rename as ``lake.tables.rename`` does, with its guards and the table's
        ingestion and maintenance state carried to the new name.

        Raises: NoSuchTable, NoSuchNamespace, TableAlreadyExists, TableInUse."""
        catalog_tables.check_renamable(self._lake._catalog, source, destination)
        lifecycle.rename_table(
            self._lake, (*source[0], source[1]), (*destination[0], destination[1])
        )

    @governed("table.register", on=("namespace", "name"))
    def register(self, namespace: Namespace, name: str, metadata_location: str) -> TableState:
        """Adopt the table whose current metadata file is ``metadata_location``. For a
        principal that does not administer the lake, it needs DATA_LOCATION_ACCESS on the
        catalog too (``rest_access.check_register``): the file may name any table's data.

        Raises: NoSuchNamespace, TableAlreadyExists, InvalidInput, Forbidden."""
        check_register(self._lake, "table", ".".join((*namespace, name)))
        return catalog_tables.register_table(
            self._lake._catalog, namespace, name, metadata_location
        )
