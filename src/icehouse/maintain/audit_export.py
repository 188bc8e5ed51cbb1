"""Move the audit trail from the state database into the Iceberg table
``icehouse_system.audit``, exactly once, whoever exports (a server, ``maintain run``)
and however it is interrupted.

Each batch is one append whose snapshot summary names the highest record id it holds
(``icehouse.audit-exported-through``, carried onto every later snapshot). The records
are deleted from the state database only after that commit, and the next batch starts
above the id the table names, not above what the database still holds:

- killed before the commit: nothing landed, the records are still there and go in the
  next batch (the data files written are orphans, removed by ``maintain orphans``);
- killed between the commit and the delete: the table names the batch's last id, so the
  records left behind are skipped and deleted by the next export;
- two exporters at once: they take turns under a lease, and should one start without it
  (its lease ran out), its append asserts the snapshot it read the id from, so the
  second commit of the same records is refused and retried from the new id.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.table import Table
from sqlalchemy import Engine

from icehouse.errors import CommitConflict, CommitRaced, TableAlreadyExists
from icehouse.maintain.leases import Leases
from icehouse.state import audit
from icehouse.state.clock import SYSTEM_CLOCK, Clock
from icehouse.tables import manage
from icehouse.tables.append import fast_append
from icehouse.tables.carry import AUDIT_EXPORTED_KEY
from icehouse.tables.catalog import find_table
from icehouse.tables.grammar import parse_partition_field
from icehouse.tables.writer import TableWriter

AUDIT_TABLE = "icehouse_system.audit"
LEASE_KEY = "audit-export"
BATCH_ROWS = 50_000
"""Records per append: a day of a busy server's requests in a few snapshots, and a
batch's rows held in memory only once."""
MAX_RACES = 5

SCHEMA = pa.schema(
    [
        pa.field("id", pa.int64()),
        pa.field("at", pa.timestamp("us", tz="UTC")),
        pa.field("request_id", pa.string()),
        pa.field("kind", pa.string()),
        pa.field("principal", pa.string()),
        pa.field("action", pa.string()),
        pa.field("resource", pa.string()),
        pa.field("allowed", pa.bool_()),
        pa.field("reason", pa.string()),
        pa.field("filters", pa.list_(pa.string())),
        pa.field("statement", pa.string()),
        pa.field("tables", pa.list_(pa.string())),
        pa.field("rows", pa.int64()),
        pa.field("seconds", pa.float64()),
        pa.field("tenant", pa.string()),
    ]
)
"""``icehouse_system.audit``, as the state database's records (``state/audit.py``).
A table made before a column was added here gains it on the next export."""


@dataclass(frozen=True)
class AuditExport:
    records: int
    """Records appended to the table by this export."""
    snapshots: int
    """Appends committed (one per batch of records)."""
    through: int
    """The highest record id the table holds (0: none yet)."""

    def to_dict(self) -> dict[str, Any]:
        return {"records": self.records, "snapshots": self.snapshots, "through": self.through}


def export_audit(
    engine: Engine,
    catalog: SqlCatalog,
    *,
    faults: Callable[[str], None],
    clock: Clock = SYSTEM_CLOCK,
    batch_rows: int = BATCH_ROWS,
) -> AuditExport:
    """Append every audit record of the state database that the table lacks, then
    delete them from the state database.

    Records written while it works wait for the next export: a busy server writes some
    during every append, and chasing them would append a sliver of records per commit,
    each commit dearer than the last as the table's history grows, for as long as the
    requests keep coming.

    Raises: MaintenanceBusy (another exporter holds the lease), CommitConflict (other
    commits to the table kept winning), CommitUncertain."""
    leases = Leases(engine, clock=clock)
    with leases.hold(LEASE_KEY, table=AUDIT_TABLE):
        table = _audit_table(catalog)
        through = exported_through(table)
        audit.delete_through(engine, through)  # left by an export killed before its delete
        records = snapshots = races = 0
        while rows := audit.rows_after(engine, through, limit=batch_rows):
            last = rows[-1].id
            assert last is not None  # rows read back from the database have their id
            try:
                _append(table, rows, last)
            except CommitRaced:
                races += 1
                if races > MAX_RACES:
                    raise CommitConflict(
                        f"gave up exporting the audit trail after {races} concurrent "
                        "commits to the table; the records stay in the state database "
                        "for the next export",
                        table=AUDIT_TABLE,
                    ) from None
                table = _audit_table(catalog)
                through = exported_through(table)
                continue
            faults("audit.exported")
            audit.delete_through(engine, last)
            records, snapshots, through = records + len(rows), snapshots + 1, last
            if len(rows) < batch_rows:
                break  # that read took every record there was
            table = _audit_table(catalog)
    return AuditExport(records=records, snapshots=snapshots, through=through)


def exported_through(table: Table) -> int:
    """The highest record id ``table`` holds, from its current snapshot's summary."""
    snapshot = table.current_snapshot()
    value = snapshot.summary.get(AUDIT_EXPORTED_KEY) if snapshot and snapshot.summary else None
    return int(value) if value and value.isdigit() else 0


def _append(table: Table, rows: list[audit.AuditRow], last: int) -> None:
    """One snapshot holding ``rows``, naming ``last`` as exported; the data files are
    deleted again when the commit is refused."""
    writer = TableWriter(table)
    writer.write(_arrow(rows))
    files = writer.close()
    try:
        fast_append(table, files, properties={AUDIT_EXPORTED_KEY: str(last)})
    except CommitRaced:
        writer.abort()
        raise


def _arrow(rows: list[audit.AuditRow]) -> pa.Table:
    return pa.table(
        {
            "id": [r.id for r in rows],
            "at": [round(r.at * 1_000_000) for r in rows],
            "request_id": [r.request_id for r in rows],
            "kind": [r.kind for r in rows],
            "principal": [r.principal for r in rows],
            "action": [r.action for r in rows],
            "resource": [r.resource for r in rows],
            "allowed": [r.allowed for r in rows],
            "reason": [r.reason for r in rows],
            "filters": [list(r.filters) for r in rows],
            "statement": [r.statement for r in rows],
            "tables": [list(r.tables) for r in rows],
            "rows": [r.rows for r in rows],
            "seconds": [r.seconds for r in rows],
            "tenant": [r.tenant for r in rows],
        },
        schema=SCHEMA,
    )


def _audit_table(catalog: SqlCatalog) -> Table:
    """The audit table, created (partitioned by day, with the lake's table defaults) the
    first time; by whichever exporter gets there first."""
    table = find_table(catalog, AUDIT_TABLE)
    if table is not None:
        if missing := [f for f in SCHEMA if f.name not in table.schema().column_names]:
            manage.add_columns_for(table, missing)
            table = table.refresh()
        return table
    with contextlib.suppress(TableAlreadyExists):
        return manage.create_table(
            catalog,
            AUDIT_TABLE,
            SCHEMA,
            partition=[parse_partition_field("day(at)")],
            sort=[],
            properties={},
        )
    table = find_table(catalog, AUDIT_TABLE)
    assert table is not None  # another exporter created it just now
    return table
