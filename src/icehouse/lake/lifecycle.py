"""Undoing mistakes: dropping and renaming tables, removing sources.

Each is guarded by what would break. A source in ``icehouse.toml`` that writes to a
table would fail on its next ingest if the table went away or moved, and a batch left
open on a table is settled by looking the table up by name; so a table with either is
refused, naming them. A source with a batch open is being ingested by a worker right
now; it is refused, naming the worker.

What the state database keeps about a table by name follows it:

- dropped: its content claims go (a new table given the same name holds none of that
  content) and so does its maintenance history (it would read as the new table's);
  finished batches and the ledger of files stay with the sources that fed it, as
  quarantine records do (they are keyed by source, not by table).
- renamed: its batches, content claims and maintenance history move to the new name,
  so content already in the table stays a duplicate and ``maintain history`` goes on.

Drop and rename run under the table's maintenance lease, so that neither happens under
a compaction or expiry, and a purge never races one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from icehouse.config import remove_source as remove_source_section
from icehouse.errors import SourceInUse, TableInUse
from icehouse.ingest.ledger import BatchLog, FileQueue, OpenBatch
from icehouse.ingest.ledger import batches as batch_log
from icehouse.maintain import reports
from icehouse.maintain.leases import Leases, busy
from icehouse.maintain.purge import PurgeResult, purge_files
from icehouse.maintain.scope import delete_scope
from icehouse.maintain.service import lease_key
from icehouse.tables import lifecycle
from icehouse.tables.catalog import TableName, identifier_of, load_table
from icehouse.tables.catalog_errors import dotted

if TYPE_CHECKING:
    from icehouse.lake import Lake


@dataclass(frozen=True)
class TableDropped:
    table: str
    location: str
    """Where the table's files are (or were, when purged)."""
    metadata_location: str
    """Its last metadata file: registering it again in a catalog brings the table back
    (unless purged)."""
    purged: PurgeResult | None
    """What the purge deleted; None when the files were left."""
    state_rows_removed: int
    """Content claims and maintenance runs of the table deleted from the state database."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "location": self.location,
            "metadata_location": self.metadata_location,
            "purged": None if self.purged is None else self.purged.to_dict(),
            "state_rows_removed": self.state_rows_removed,
        }


@dataclass(frozen=True)
class TableRenamed:
    old: str
    new: str
    location: str
    """Unchanged: a rename moves no file."""
    state_rows_moved: int
    """Batches, content claims and maintenance runs carried to the new name."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "old": self.old,
            "new": self.new,
            "location": self.location,
            "state_rows_moved": self.state_rows_moved,
        }


@dataclass(frozen=True)
class SourceRemoved:
    source: str
    table: str
    config_path: str
    ledger_files_kept: int
    """Files of the source the ingestion ledger remembers (and will not take again)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "table": self.table,
            "config_path": self.config_path,
            "ledger_files_kept": self.ledger_files_kept,
        }


def check_drop(lake: Lake, name: str, *, purge: bool) -> None:
    """See ``LakeTables.check_drop``."""
    table = load_table(lake._catalog, name)
    _check_unused(lake, name, doing="drop")
    held = Leases(lake._engine, clock=lake._clock).lease(lease_key(name))
    if held is not None:
        raise busy(held, table=name, now=lake._clock())
    if purge:
        delete_scope(table, lake.config.warehouse)


def drop_table(lake: Lake, table_name: TableName, *, purge: bool) -> TableDropped:
    """See ``LakeTables.drop``; the REST catalog names the table by its identifier, whose
    name may hold a dot."""
    name = dotted(table_name)
    table = load_table(lake._catalog, table_name)
    _check_unused(lake, name, doing="drop")
    scope = delete_scope(table, lake.config.warehouse) if purge else None
    leases = Leases(lake._engine, clock=lake._clock)
    with leases.hold(lease_key(name), table=name):
        _check_unused(lake, name, doing="drop")  # again: a batch may have opened meanwhile
        others = _other_locations(lake, table_name) if purge else []
        lifecycle.drop_table(lake._catalog, table_name)
        purged = None if scope is None else purge_files(table, scope, other_locations=others)
        with lake._engine.begin() as conn:
            removed = batch_log.forget_table(conn, name) + reports.forget_table(conn, name)
    return TableDropped(name, table.location(), table.metadata_location, purged, removed)


def rename_table(lake: Lake, old_name: TableName, new_name: TableName) -> TableRenamed:
    """See ``LakeTables.rename``; the REST catalog names the tables by their identifiers."""
    old, new = dotted(old_name), dotted(new_name)
    table = load_table(lake._catalog, old_name)
    _check_unused(lake, old, doing="rename")
    leases = Leases(lake._engine, clock=lake._clock)
    with leases.hold(lease_key(old), table=old):
        _check_unused(lake, old, doing="rename")  # again: a batch may have opened meanwhile
        lifecycle.rename_table(lake._catalog, old_name, new_name)
        # The catalog and these rows cannot change in one transaction (PyIceberg commits
        # on its own connection; SQLite would lock one against the other). Should this
        # step fail, the table has its new name and these rows the old one: ingestion
        # could then take content again that is in the table already.
        with lake._engine.begin() as conn:
            moved = batch_log.rename_table(conn, old, new) + reports.rename_table(conn, old, new)
    return TableRenamed(old, new, table.location(), moved)


def remove_source(lake: Lake, name: str) -> SourceRemoved:
    """See ``LakeSources.remove``."""
    source = lake.sources.get(name)
    busy = BatchLog(lake._engine, clock=lake._clock).open_batches(source=name)
    if busy:
        raise SourceInUse(
            f"source {name!r} has {_batches(busy)} not yet committed ({_holders(busy)}): "
            "a worker is ingesting its files now, or its table's committer has yet to "
            "commit them. Stop that worker, or wait for the batch to commit, then remove "
            "the source; a batch whose worker died is settled by the next `icehouse ingest`",
            source=name,
            holders=[b.owner or b.writer_id for b in busy],
        )
    tally = FileQueue(lake._engine, clock=lake._clock).tally(name, since=0.0)
    remove_source_section(lake.home, name)
    lake.reload_config()
    return SourceRemoved(
        name, source.table, str(lake.config.config_path), sum(tally.by_state.values())
    )


def _other_locations(lake: Lake, name: TableName) -> list[str]:
    """Where the other tables keep their files (those with a dot in their name too): a
    purge leaves what lies under them."""
    catalog, dropped = lake._catalog, identifier_of(name)
    return [
        load_table(catalog, identifier).location()
        for namespace in catalog.list_namespaces()
        for identifier in catalog.list_tables(namespace)
        if identifier != dropped
    ]


def _check_unused(lake: Lake, name: str, *, doing: str) -> None:
    """Raises: TableInUse, naming the sources that write to ``name`` and the workers of
    the batches open on it."""
    sources = [s.name for s in lake.config.sources.values() if s.table == name]
    busy = BatchLog(lake._engine, clock=lake._clock).open_batches(table=name)
    if not sources and not busy:
        return
    reasons = []
    if sources:
        listed = ", ".join(sources)
        one = len(sources) == 1
        them, their = ("it", "its") if one else ("them", "their")
        next_step = (
            f"remove {them} first with `icehouse source remove {sources[0] if one else 'NAME'}`"
            if doing == "drop"
            else f"update {their} `table =` in icehouse.toml to the new name first, or "
            f"remove {them} with `icehouse source remove {sources[0] if one else 'NAME'}`"
        )
        reasons.append(
            f"{'source' if one else 'sources'} {listed} {'writes' if one else 'write'} to it "
            f"({lake.config.config_path}); {next_step}"
        )
    if busy:
        reasons.append(
            f"ingestion has {_batches(busy)} not yet committed on it ({_holders(busy)}); "
            "wait for it to commit (a batch whose worker died is settled by the next "
            "`icehouse ingest`)"
        )
    raise TableInUse(
        f"cannot {doing} {name}: " + "; and ".join(reasons),
        table=name,
        sources=sources,
        open_batches=[b.id for b in busy],
    )


def _batches(busy: list[OpenBatch]) -> str:
    return "1 batch" if len(busy) == 1 else f"{len(busy)} batches"


def _holders(busy: list[OpenBatch]) -> str:
    """``writer w1 held by host:123``, once per writer."""
    seen = dict.fromkeys(f"writer {b.writer_id} held by {b.owner or 'no one'}" for b in busy)
    return ", ".join(seen)
