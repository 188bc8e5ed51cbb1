"""Commits of one or several tables, all or none, through the catalog's own staging.

PyIceberg's ``SqlCatalog.commit_table`` swaps one table's metadata pointer in its own
database transaction, so a commit of several tables made of such calls could land
halfway. Here every table is staged first (its requirements checked and its next
metadata built by ``LakeCatalog``, which carries the ingestion keys forward), every new
metadata file is written, and then every pointer is swapped in one transaction of the
state database: a pointer that moved since it was read rolls back all of them.

A pointer that moved is not yet a failed commit: the commit is staged again on the
table's new metadata and, if the client's requirements still hold there (another writer
changed something they do not assert), swapped again. Only a requirement that no longer
holds answers the client with a conflict, so that an engine beside a busy table retries
only when it must.

Metadata files written for an attempt that did not land are deleted at once (the
rollback left nothing pointing at them); one whose deletion fails is left for orphan
removal. After an outage of the state database during the swap the outcome is unknown,
so nothing is deleted.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyiceberg.catalog.sql import IcebergTables, SqlCatalog
from pyiceberg.exceptions import NoSuchTableError
from pyiceberg.table import CommitTableRequest, StagedTable, Table
from pyiceberg.table.update import SetLocationUpdate
from sqlalchemy import Update, bindparam, insert, update
from sqlalchemy.exc import IntegrityError

from icehouse.errors import CommitRaced, InvalidInput
from icehouse.tables._compat import stage_commit, table_row, write_metadata
from icehouse.tables.catalog import LakeCatalog
from icehouse.tables.catalog_errors import catalog_errors, dotted, parsed
from icehouse.tables.catalog_tables import TableState, fitting, state_of
from icehouse.tables.locations import checked_location
from icehouse.tables.namespaces import Namespace
from icehouse.tables.prepared import PerCatalog
from icehouse.tables.retry import backoff

logger = logging.getLogger(__name__)

SWAP_ATTEMPTS = 20
"""How often a commit is staged again after losing the swap to a commit its
requirements do not care about, before it answers a conflict."""


@dataclass(frozen=True)
class TableChange:
    """One table's part of a commit: Iceberg requirements and updates, as JSON."""

    namespace: Namespace
    name: str
    requirements: list[dict[str, Any]]
    updates: list[dict[str, Any]]

    @property
    def dotted(self) -> str:
        return dotted((*self.namespace, self.name))

    @property
    def creates(self) -> bool:
        """Whether it asserts that the table does not exist yet: the commit of a staged
        create, which creates the table (and fails if it exists)."""
        return any(r.get("type") == "assert-create" for r in self.requirements)


@dataclass(frozen=True)
class _Staged:
    change: TableChange
    current: Table | None
    staged: StagedTable

    @property
    def unchanged(self) -> bool:
        return self.current is not None and self.staged.metadata == self.current.metadata

    @property
    def location(self) -> str:
        """Where the table's metadata is once this lands: an unchanged table keeps its
        file (staging named a next one, which is never written)."""
        if self.unchanged:
            assert self.current is not None  # unchanged means there is a current table
            return str(self.current.metadata_location)
        return self.staged.metadata_location


class _PointerMoved(Exception):
    """A table's pointer is not where its staging read it: stage again."""


def commit_tables(catalog: SqlCatalog, changes: Sequence[TableChange]) -> list[TableState]:
    """Apply every change if every requirement holds, else none.

    Returns: each table's new state, in the order of ``changes``.
    Raises: NoSuchTable, CommitRaced (a requirement failed: nothing landed),
    TableAlreadyExists, InvalidInput (a change that does not parse or apply, or a table
    named twice)."""
    names = [change.dotted for change in changes]
    twice = sorted({name for name in names if names.count(name) > 1})
    if twice:
        raise InvalidInput(f"a transaction changes each table once; named twice: {twice}")
    requests = [_parsed(change) for change in changes]
    for attempt in range(1, SWAP_ATTEMPTS + 1):
        staged = _attempt(catalog, requests)
        if staged is not None:
            return [state_of(s.location, s.staged.metadata, "all") for s in staged]
        logger.info("commit of %s lost a swap (attempt %d), staging again", names, attempt)
        time.sleep(backoff(attempt))  # jittered: writers that keep colliding spread out
    raise CommitRaced(
        f"{', '.join(names)}: other commits kept landing first ({SWAP_ATTEMPTS} attempts); "
        "reload the tables and retry",
        table=names[0],
    )


def _attempt(
    catalog: SqlCatalog, requests: list[tuple[TableChange, CommitTableRequest]]
) -> list[_Staged] | None:
    """Stage every table, write the new metadata files and swap the pointers.

    Returns: the staged tables, or None when a pointer moved meanwhile (nothing landed,
    and the files written for this attempt are deleted).
    Raises: CommitRaced (a requirement failed), and what staging raises."""
    staged = [_stage(catalog, change, request) for change, request in requests]
    written = [s for s in staged if not s.unchanged]
    if not written:  # every requirement held when read, and nothing changes
        return staged
    for part in written:
        write_metadata(part.staged)
    try:
        _swap(catalog, staged)
    except _PointerMoved:
        _delete_unreferenced(written)
        return None
    if isinstance(catalog, LakeCatalog):
        for part in written:
            catalog.remember(part.staged.metadata_location, part.staged.metadata)
    return staged


def _parsed(change: TableChange) -> tuple[TableChange, CommitTableRequest]:
    request = parsed(
        CommitTableRequest,
        {
            "identifier": {"namespace": list(change.namespace), "name": change.name},
            "requirements": change.requirements,
            "updates": change.updates,
        },
        subject=dotted((*change.namespace, change.name)),
    )
    for moved in request.updates:
        if isinstance(moved, SetLocationUpdate):
            checked_location(moved.location)
    return change, request


def _stage(catalog: SqlCatalog, change: TableChange, request: CommitTableRequest) -> _Staged:
    """Check the requirements on the table's current metadata and build the next one.
    A change asserting that the table does not exist yet creates it."""
    identifier = (*change.namespace, change.name)
    creating = any(r.type == "assert-create" for r in request.requirements)
    with catalog_errors(namespace=change.namespace, table=change.name):
        try:
            current: Table | None = catalog.load_table(identifier)
        except NoSuchTableError:
            if not creating:
                raise
            current = None
        staged = fitting(
            lambda: stage_commit(
                catalog,
                current,
                identifier,
                tuple(request.requirements),
                tuple(request.updates),
            )
        )
    return _Staged(change=change, current=current, staged=staged)


def _swap(catalog: SqlCatalog, staged: list[_Staged]) -> None:
    """Move every pointer in one transaction, tables in name order so that two
    transactions over the same tables lock their rows in the same order (no deadlock on
    PostgreSQL). An unchanged table's pointer is checked the same way when others
    change (set to where it is), so that its requirements are known to still hold when
    they land.

    Raises: _PointerMoved (nothing changed)."""
    with catalog.engine.begin() as conn:
        for part in sorted(staged, key=lambda s: s.change.dotted):
            namespace = dotted(part.change.namespace)
            name = part.change.name
            if part.current is None:
                location = part.staged.metadata_location
                try:
                    with conn.begin_nested():
                        row = table_row(catalog, namespace, name, location)
                        conn.execute(insert(IcebergTables).values(**row))
                except IntegrityError as exc:  # created meanwhile: staging again says so
                    raise _PointerMoved() from exc
                continue
            statement = _checks(catalog) if part.unchanged else _moves(catalog)
            bound = {
                "namespace": namespace,
                "name": name,
                "expected": part.current.metadata_location,
                "location": part.location,
            }
            if conn.execute(statement, bound).rowcount < 1:
                raise _PointerMoved()


def _pointer_update(catalog: SqlCatalog, *, moves: bool) -> Update:
    """The compare-and-swap of a table's pointer, built once per catalog (building it
    cost more than running it); ``moves``: it names a new file, and the one it replaces
    becomes the previous one."""
    statement = update(IcebergTables).where(
        IcebergTables.catalog_name == catalog.name,
        IcebergTables.table_namespace == bindparam("namespace"),
        IcebergTables.table_name == bindparam("name"),
        IcebergTables.metadata_location == bindparam("expected"),
    )
    if not moves:
        return statement.values(metadata_location=bindparam("location"))
    return statement.values(
        metadata_location=bindparam("location"),
        previous_metadata_location=bindparam("expected"),
    )


_moves = PerCatalog(lambda catalog: _pointer_update(catalog, moves=True))
_checks = PerCatalog(lambda catalog: _pointer_update(catalog, moves=False))


def _delete_unreferenced(written: list[_Staged]) -> None:
    for part in written:
        try:
            part.staged.io.delete(part.staged.metadata_location)
        except OSError:
            logger.warning(
                "could not delete %s, written for a commit that did not land; orphan removal will",
                part.staged.metadata_location,
            )


__all__ = ["SWAP_ATTEMPTS", "TableChange", "commit_tables"]
