"""What the REST catalog decides inside ``lake.iceberg``'s methods, once it knows what a
call does: whether a principal may be handed a table (``loadTable``, and a commit,
whose answer is the table's metadata too), and whether it holds the privilege of each
update a commit makes.

Handing out a table hands out its files: an engine that loads it reads every row and
column of them, whatever the principal was granted. So a table goes only to a principal
whose SELECT is unfiltered (``TableAccess.unrestricted``). A principal marked as a
trusted engine also gets a table whose access is one row filter and a set of columns,
with those as the spec's read restrictions, which it promises to apply; access made of
several cell sets with different rows (per-cell access) cannot be written as one
filter, and goes to no one. Everyone else is pointed to the query API, which applies
any access on the server.

A commit also names only files its table owns; no principal places a table inside
another table's location (where the new table would own the other's files); and
registering a table from a metadata file (which adopts whatever files it names) needs
DATA_LOCATION_ACCESS on the catalog.

Each refusal is recorded in the request's audit trail before it is raised, as the
``@governed`` check records its own.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, NoReturn

from icehouse.errors import Forbidden
from icehouse.govern.audit import current_trail
from icehouse.govern.authz import Resource, require
from icehouse.govern.commit_privileges import commit_privileges
from icehouse.govern.objects import Privilege, SecurableKind
from icehouse.lake.authz_scope import LakeScope, call_scope

if TYPE_CHECKING:
    from icehouse.govern.access import TableAccess
    from icehouse.lake import Lake
    from icehouse.tables.multi_commit import TableChange
    from icehouse.tables.namespaces import Namespace

QUERY_API = (
    "query it through the query API instead (POST /api/v1/query, "
    "`icehouse sql --server URL`, or icehouse.connect(URL) in Python), which reads it "
    "filtered on the server"
)


def read_restrictions(
    lake: Lake, namespace: Namespace, name: str, metadata: dict[str, Any], *, action: str
) -> dict[str, Any] | None:
    """What the lake's principal must be handed ``namespace.name`` with: None for
    unfiltered access (an administrator, the owner, a plain SELECT grant), else the
    spec's ``read-restrictions`` (a trusted engine with one row filter and a set of
    columns). ``metadata``: the table's, whose current schema names the columns.

    Raises: Forbidden, recorded: no SELECT at all ("it needs SELECT on table ns.t"),
    filtered access to a principal that is not a trusted engine (pointing to the query
    API), per-cell access (to anyone)."""
    from icehouse.tables.read_restrictions import for_metadata

    access = _access(lake, namespace, name, action)
    if access is None or access.unrestricted:
        return None
    _check_readable(lake, access, ".".join((*namespace, name)), action)
    columns = [c.field_ids for c in access.cell_sets]
    visible = None if None in columns else {i for ids in columns if ids is not None for i in ids}
    return for_metadata(metadata, access.cell_sets[0].row_filter, visible)


def check_unfiltered(lake: Lake, namespace: Namespace, name: str, *, action: str) -> None:
    """Refuse the lake's principal anything short of unfiltered SELECT on
    ``namespace.name``, even as a trusted engine: what this guards (a signature for a
    storage request) hands out whole files, where no read restriction can be attached.

    Raises: Forbidden, recorded: no SELECT ("it needs SELECT on table ns.t"), filtered
    access (pointing to the query API)."""
    access = _access(lake, namespace, name, action)
    if access is None or access.unrestricted:
        return
    dotted = ".".join((*namespace, name))
    who = f"principal {lake.principal.name!r} may not {action} on table {dotted}"
    if access.denied:
        _refuse(lake, action, dotted, f"{who}: it needs SELECT on table {dotted}")
    _refuse(
        lake,
        action,
        dotted,
        f"{who}: its SELECT on it is filtered (some rows or columns only), and a signed "
        f"storage request reads whole files; {QUERY_API}",
    )


def check_commit(lake: Lake, change: TableChange) -> None:
    """May the lake's principal make ``change``? It needs the privilege of each of its
    updates (``commit_privileges``), and what a load needs: a commit answers with the
    table's metadata, which names every data file.

    Raises: Forbidden, recorded, naming the first missing privilege ("it needs INSERT
    on table web.t")."""
    if lake.principal.admin:
        return
    resource = Resource("table", change.dotted)
    scope = LakeScope(lake)
    for privilege in commit_privileges(change.updates):
        try:
            require(lake.principal, "table.commit", resource, privilege, scope)
        except Forbidden as exc:
            _record(lake, "table.commit", change.dotted, exc.message)
            raise
    access = _access(lake, change.namespace, change.name, "table.commit", scope)
    if access is not None and not access.unrestricted:
        _check_readable(lake, access, change.dotted, "table.commit")
    for update in change.updates:
        if update.get("action") == "set-location":
            check_location(lake, change.dotted, str(update.get("location")), "table.commit")
    _check_own_files(lake, change)


def check_location(lake: Lake, dotted: str, location: str | None, action: str) -> None:
    """May the lake's principal place table ``dotted`` at ``location`` (None: under the
    warehouse, where the catalog picks a folder no files lie in)? Not inside another
    table's location: the most specific location owns a file, so the new table would own
    the other's files, and be signed reads of them. Nor, inside the warehouse, where
    files already lie (a dropped table's, kept when it was dropped without purge): the
    new table would own those. An administrator places tables freely.

    Raises: Forbidden, recorded (never naming the other table)."""
    from icehouse.tables.new_locations import holds_files
    from icehouse.tables.table_locations import inside_a_table

    if location is None or lake.principal.admin:
        return
    who = f"principal {lake.principal.name!r} may not {action} on table {dotted}"
    if inside_a_table(lake._catalog, location):
        message = f"{who}: location {location} is, or lies inside, another table's location"
        _refuse(lake, action, dotted, message)
    warehouse = str(lake.warehouse).split("://", 1)[-1].rstrip("/") + "/"
    inside = (location.split("://", 1)[-1].rstrip("/") + "/").startswith(warehouse)
    if inside and holds_files(lake._catalog, location):
        message = (
            f"{who}: files already lie at location {location} (a dropped table's, say), "
            "and a table placed there would own them; leave the location out for a "
            "folder of its own"
        )
        _refuse(lake, action, dotted, message)


def check_register(lake: Lake, kind: str, dotted: str) -> None:
    """May the lake's principal register a table or view (``kind``) from a metadata
    file? That adopts whatever the file names (another table's data files, another
    view's definition) and answers with that metadata: it needs DATA_LOCATION_ACCESS on
    the catalog, the privilege of pointing the catalog at storage, beyond CREATE_TABLE
    or CREATE_VIEW on the namespace.

    Raises: Forbidden, recorded ("it needs DATA_LOCATION_ACCESS on the catalog")."""
    action = f"{kind}.register"
    try:
        require(
            lake.principal,
            action,
            Resource("governance"),
            Privilege.DATA_LOCATION_ACCESS,
            LakeScope(lake),
        )
    except Forbidden as exc:
        trail = current_trail()
        if trail is not None:
            trail.decision(lake.principal, action, Resource(kind, dotted), denied=exc.message)
        raise


def _check_own_files(lake: Lake, change: TableChange) -> None:
    """Refuse a commit whose new snapshots name a file the table does not own
    (``tables/commit_files.py``).

    Raises: Forbidden, recorded; InvalidInput (a manifest that cannot be read)."""
    from icehouse.tables.commit_files import foreign_file

    found = foreign_file(
        lake._catalog, change.namespace, change.name, change.updates, warehouse=lake.warehouse
    )
    if found is not None:
        _refuse(
            lake,
            "table.commit",
            change.dotted,
            f"principal {lake.principal.name!r} may not table.commit on table "
            f"{change.dotted}: its snapshot names {found}, which is not this table's (a "
            f"snapshot names only files under its table's location, inside the lake's "
            f"warehouse and under no other table's)",
        )


def _check_readable(lake: Lake, access: TableAccess, dotted: str, action: str) -> None:
    """Refuse filtered ``access`` unless it goes to a trusted engine as one cell set.

    Raises: Forbidden, recorded."""
    who = f"principal {lake.principal.name!r} may not {action} on table {dotted}"
    if access.denied:
        _refuse(lake, action, dotted, f"{who}: it needs SELECT on table {dotted}")
    if len({_key(c.row_filter) for c in access.cell_sets}) > 1:
        _refuse(
            lake,
            action,
            dotted,
            f"{who}: its SELECT on it is per cell (several data filters or grants with "
            f"different rows), which no engine can be handed as one row filter; {QUERY_API}",
        )
    if not lake.principal.trusted_engine:
        _refuse(
            lake,
            action,
            dotted,
            f"{who}: its SELECT on it is filtered (some rows or columns only), and an "
            f"engine handed the table reads all of its files; {QUERY_API}",
        )


def _access(
    lake: Lake, namespace: Namespace, name: str, action: str, scope: LakeScope | None = None
) -> TableAccess | None:
    """The principal's SELECT access to the table; None for an administrator. Without
    ``scope``, decided at the policy version the running call's check decided at."""
    if lake.principal.admin:
        return None
    scope = scope or call_scope(lake)
    dotted = ".".join((*namespace, name))
    path = scope.locate(SecurableKind.TABLE, dotted)
    if path is None:  # the @governed check found it: dropped meanwhile
        _refuse(lake, action, dotted, f"table {dotted} is not found or not permitted")
    found = scope.found[dotted]
    return scope.policy().table_access(lake.principal.name, path, found.all_field_ids)


def _key(row_filter: dict[str, Any] | None) -> str:
    return json.dumps(row_filter, sort_keys=True)


def _refuse(lake: Lake, action: str, table: str, message: str) -> NoReturn:
    _record(lake, action, table, message)
    raise Forbidden(
        message, principal=lake.principal.name, action=action, resource=f"table {table}"
    )


def _record(lake: Lake, action: str, table: str, message: str) -> None:
    trail = current_trail()
    if trail is not None:
        trail.decision(lake.principal, action, Resource("table", table), denied=message)
