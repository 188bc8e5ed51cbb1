"""``lake.audit``: the audit trail's export into ``icehouse_system.audit``; and the
recording of a query (``audited_query``) and of the decisions a governed statement
implies (``record_read``, ``record_refusal``). A server request's trail is
``request_audit.py``'s.

Decisions are recorded by ``@governed`` and queries by ``Lake.sql`` and
``Lake.explain``; both land in the state database within the request or command that
made them, and stay there until an export (the server's, every few seconds, or
``maintain run``'s) moves them into the Iceberg table, where SQL reads them like any
table: ``SELECT * FROM icehouse_system.audit``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from icehouse.errors import IcehouseError
from icehouse.govern.audit import current_trail
from icehouse.govern.authz import Principal, Resource
from icehouse.lake.governed import governed

if TYPE_CHECKING:
    from icehouse.govern.access import TableAccess
    from icehouse.lake import Lake
    from icehouse.maintain.audit_export import AuditExport
    from icehouse.query.sql import QueryResult


class LakeAudit:
    """``lake.audit``: export the trail the state database holds into its table."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake

    @governed("audit.export")
    def export(self) -> AuditExport:
        """Append the records the state database holds to ``icehouse_system.audit``
        (created the first time), then delete them there; exactly once, even when killed
        half-way or run by two servers at once.

        Returns: how many records and snapshots were appended, and the highest record id
        the table now holds.
        Raises: MaintenanceBusy (another exporter is at it: its export takes these
        records too), CommitConflict, CommitUncertain."""
        from icehouse.maintain.audit_export import export_audit

        lake = self._lake
        return export_audit(lake._engine, lake._catalog, faults=lake._faults, clock=lake._clock)


def audited_query(lake: Lake, statement: str, run: Callable[[], QueryResult]) -> QueryResult:
    """Run a query and record it in the current trail: the tables it read, the rows it
    returned and its duration; a query that fails is recorded with its error."""
    trail = current_trail()
    started = time.perf_counter()
    try:
        result = run()
    except IcehouseError as exc:
        if trail is not None:
            seconds = time.perf_counter() - started
            trail.query(
                lake.principal, statement, tables=(), rows=None, seconds=seconds, error=exc.message
            )
        raise
    if trail is not None:
        tables = list(dict.fromkeys(plan.table for plan in result.plans))
        trail.query(
            lake.principal,
            statement,
            tables=tables,
            rows=result.table.num_rows,
            seconds=time.perf_counter() - started,
        )
    return result


def record_read(
    principal: Principal,
    name: str,
    access: TableAccess | None,
    *,
    view: str | None = None,
    link: str | None = None,
) -> None:
    """A governed read of table or view ``name`` in the current trail: refused (``access``
    None), or allowed with the cell sets (data filters, column grants) it went through;
    ``view``: the view that read it with its definer's rights, which the reason names
    (the principal itself may hold no grant on ``name``); ``link``: the resource link
    the statement named it by, which the reason names too."""
    trail = current_trail()
    if trail is None:
        return
    resource = Resource("table", name)
    definer = None if view is None else f"the definer of view {view}"
    through = "" if link is None else f" through link {link}"
    if access is None:
        refused = f"table {name} not found or not permitted{through}"
        if definer is not None:
            refused = f"{refused} to {definer}"
        trail.decision(principal, "table.select", resource, denied=refused)
        return
    filters = () if access.unrestricted else [c.source for c in access.cell_sets]
    because = f"granted to {definer}" if definer is not None else None
    if link is not None:
        because = f"read{through}"
    trail.decision(
        principal, "table.select", resource, denied=None, filters=filters, because=because
    )


def record_refusal(principal: Principal, action: str, kind: str, name: str, reason: str) -> None:
    """A governed statement refused before it read anything (not a read, or a DELETE its
    read access does not cover), as a denial in the current trail."""
    trail = current_trail()
    if trail is not None:
        trail.decision(principal, action, Resource(kind, name), denied=reason)
