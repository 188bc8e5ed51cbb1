"""Expire old snapshots and delete the files only they reached.

PyIceberg's ``expire_snapshots()`` (0.12) edits metadata only: it deletes no file and
ignores ``history.expire.*``. Here the expiry is committed first; then the data files,
delete files, manifests, manifest lists and statistics files that were reachable before
and are not reachable from the *committed* metadata are deleted. Computing "after" from
what the catalog returned means a commit that landed in between (e.g. a property change)
is respected, and a crash between the commit and the deletes leaves only orphans, which
orphan removal collects.

Exactly-once ingestion reads what is committed from the current snapshot's summary,
which expiry never removes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any

from pyiceberg.table import Table

from icehouse.errors import CommitConflict, InvalidInput
from icehouse.maintain.scope import DeleteScope
from icehouse.state.clock import SYSTEM_CLOCK, Clock
from icehouse.tables.history import (
    DEFAULT_MAX_AGE_MS,
    DEFAULT_MIN_KEEP,
    MAX_AGE_PROPERTY,
    MIN_KEEP_PROPERTY,
    commit_expiry,
    expirable,
    metadata_after_expiry,
)
from icehouse.tables.manifest_cache import ManifestCache
from icehouse.tables.reachability import (
    FileRef,
    Kind,
    ManifestReader,
    reachable,
    remove,
    stored_size,
)
from icehouse.tables.retry import retry_commit

DELETED_KINDS: tuple[Kind, ...] = ("data", "delete", "manifest", "manifest_list", "statistics")
MAX_ATTEMPTS = 10


@dataclass(frozen=True)
class FileTally:
    files: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class ExpireResult:
    table: str
    dry_run: bool
    expired_snapshot_ids: tuple[int, ...]
    """In a dry run: the snapshots that would be expired."""
    deleted: dict[Kind, FileTally]
    """Per kind of file (``DELETED_KINDS``); in a dry run, what would be deleted."""
    attempts: int
    seconds: float
    kept_outside: int = 0
    """Files only expired snapshots reached that lie outside the deletion scope (the
    table's location and this home's warehouse): left in place."""

    @property
    def files_deleted(self) -> int:
        return sum(t.files for t in self.deleted.values())

    @property
    def bytes_deleted(self) -> int:
        return sum(t.bytes for t in self.deleted.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "dry_run": self.dry_run,
            "expired_snapshot_ids": list(self.expired_snapshot_ids),
            "deleted": {k: {"files": t.files, "bytes": t.bytes} for k, t in self.deleted.items()},
            "files_deleted": self.files_deleted,
            "bytes_deleted": self.bytes_deleted,
            "kept_outside": self.kept_outside,
            "attempts": self.attempts,
            "seconds": round(self.seconds, 3),
        }


def expire_snapshots(
    table: Table,
    *,
    older_than: timedelta | None = None,
    retain_last: int | None = None,
    dry_run: bool = False,
    scope: DeleteScope | None = None,
    on_commit: Callable[[dict[str, Any]], None] | None = None,
    clock: Clock = SYSTEM_CLOCK,
    cache: ManifestCache | None = None,
) -> ExpireResult:
    """Expire snapshots older than ``older_than`` except the newest ``retain_last``
    (defaults: ``history.expire.max-snapshot-age-ms``, 5 days, and
    ``history.expire.min-snapshots-to-keep``, 1), never one a branch or tag points at;
    then delete the files only they reached, those inside ``scope`` only (by default,
    the table's location). ``on_commit`` hears of the expiry once it is committed, before
    anything is deleted. Nothing to expire commits nothing. A snapshot that was ``main``'s
    within the table's ``icehouse.reader-grace`` (by ``clock``) is kept, so that a reader
    that started on it finds its files. Manifests are decoded through ``cache`` (the
    lake's, shared with its other maintenance), else a new one.

    Raises:
        InvalidInput: ``retain_last`` below 1 (the current snapshot is always kept).
        CommitConflict: refs kept moving under the expiry for ``MAX_ATTEMPTS`` attempts.
    """
    if retain_last is not None and retain_last < 1:
        raise InvalidInput(
            f"retain_last must be at least 1 (the current snapshot), got {retain_last}"
        )
    started = time.perf_counter()
    reader = ManifestReader(table.io, cache)

    def attempt(number: int) -> ExpireResult:
        fresh = table.catalog.load_table(table.name())
        expired = _choose(fresh, older_than, retain_last, int(clock() * 1000))
        if not expired:
            return _result(fresh, dry_run, [], {}, number, started)
        before = reachable(fresh.metadata, fresh.metadata_location, reader)
        if dry_run:
            remaining = metadata_after_expiry(fresh.metadata, expired)
            doomed = before.minus(reachable(remaining, None, reader), DELETED_KINDS)
            return _result(fresh, True, expired, _sized(fresh, doomed), number, started)
        response = commit_expiry(fresh, expired)
        after = reachable(response.metadata, response.metadata_location, reader)
        sized = _sized(fresh, before.minus(after, DELETED_KINDS))
        allowed = scope or DeleteScope(fresh.location(), fresh.location())
        outside = [ref for ref in sized if not allowed.allows(ref.path)]
        if on_commit is not None:
            on_commit(
                {
                    "expired_snapshot_ids": sorted(expired),
                    "metadata_location": response.metadata_location,
                    "deleting_files": len(sized) - len(outside),
                }
            )
        deleted = {
            ref: size
            for ref, size in sized.items()
            if allowed.allows(ref.path) and remove(fresh.io, ref.path)
        }
        done = _result(fresh, False, expired, deleted, number, started)
        return replace(done, kept_outside=len(outside))

    def gave_up() -> CommitConflict:
        return CommitConflict(
            f"gave up expiring snapshots after {MAX_ATTEMPTS} attempts: branches or tags kept "
            "moving under the expiry; retry when the table is quieter",
            table=".".join(table.name()),
        )

    return retry_commit(attempt, attempts=MAX_ATTEMPTS, gave_up=gave_up)


def _choose(
    table: Table, older_than: timedelta | None, retain_last: int | None, now_ms: int
) -> list[int]:
    properties = table.metadata.properties
    if older_than is None:
        max_age_ms = int(properties.get(MAX_AGE_PROPERTY, DEFAULT_MAX_AGE_MS))
    else:
        max_age_ms = int(older_than.total_seconds() * 1000)
    if retain_last is None:
        retain_last = int(properties.get(MIN_KEEP_PROPERTY, DEFAULT_MIN_KEEP))
    return expirable(
        table.metadata,
        max_age_ms=max_age_ms,
        min_keep=retain_last,
        now_ms=now_ms,
    )


def _sized(table: Table, refs: list[FileRef]) -> dict[FileRef, int]:
    """Sizes are taken before deleting: manifest lists' sizes are only in storage."""
    return {ref: stored_size(table.io, ref) for ref in refs}


def _result(
    table: Table,
    dry_run: bool,
    expired: list[int],
    files: dict[FileRef, int],
    attempts: int,
    started: float,
) -> ExpireResult:
    tallies: dict[Kind, FileTally] = {kind: FileTally() for kind in DELETED_KINDS}
    for ref, size in files.items():
        tally = tallies[ref.kind]
        tallies[ref.kind] = FileTally(tally.files + 1, tally.bytes + size)
    return ExpireResult(
        table=".".join(table.name()),
        dry_run=dry_run,
        expired_snapshot_ids=tuple(sorted(expired)),
        deleted=tallies,
        attempts=attempts,
        seconds=time.perf_counter() - started,
    )
