"""Delete files under a table's location that no retained snapshot or metadata references.

Failed commits, crashed writers and engines that expire without deleting leave files
behind that nothing will ever read (the production lake this follows freed 112 TB so).
A file is an orphan when it is stored under the table's location, unreferenced (see
``icehouse.tables.reachability``) and older than the safety age. The age is what makes
this safe: a writer writes its data files *before* it commits them, so a young
unreferenced file may be part of a commit in flight; deleting it would make that commit
point at a missing file.

The location is listed before the metadata is loaded, so anything committed before the
listing is counted as referenced.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pyiceberg.table import Table

from icehouse.durations import format_duration
from icehouse.errors import UnsafeMaintenance
from icehouse.maintain.choices import DEFAULT_OLDER_THAN
from icehouse.maintain.scope import DeleteScope
from icehouse.tables.manifest_cache import ManifestCache
from icehouse.tables.reachability import (
    ManifestReader,
    StoredFile,
    list_files,
    normalise_path,
    reachable_from,
    remove,
)

MIN_SAFE_AGE = timedelta(hours=1)
PATHS_SHOWN = 100


@dataclass(frozen=True)
class OrphanResult:
    table: str
    dry_run: bool
    older_than: timedelta
    files_listed: int
    files_referenced: int
    """Listed files that the table references (never deleted)."""
    files_found: int
    """Unreferenced files older than the safety age."""
    bytes_found: int
    files_deleted: int
    """Orphans actually deleted (0 in a dry run; fewer if another cleaner was faster)."""
    bytes_freed: int
    kept_too_young: int
    """Unreferenced files younger than the safety age (perhaps a commit in flight)."""
    paths: tuple[str, ...]
    """Every orphan found (deleted unless this is a dry run)."""
    seconds: float
    kept_outside: int = 0
    """Orphans outside the deletion scope (this home's warehouse): left in place."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "dry_run": self.dry_run,
            "older_than": format_duration(self.older_than),
            "files_listed": self.files_listed,
            "files_referenced": self.files_referenced,
            "files_found": self.files_found,
            "bytes_found": self.bytes_found,
            "files_deleted": self.files_deleted,
            "bytes_freed": self.bytes_freed,
            "kept_too_young": self.kept_too_young,
            "paths": list(self.paths[:PATHS_SHOWN]),
            "paths_truncated": len(self.paths) > PATHS_SHOWN,
            "kept_outside": self.kept_outside,
            "seconds": round(self.seconds, 3),
        }


def remove_orphans(
    table: Table,
    *,
    older_than: timedelta = DEFAULT_OLDER_THAN,
    dry_run: bool = False,
    force: bool = False,
    now: datetime | None = None,
    scope: DeleteScope | None = None,
    on_delete: Callable[[dict[str, Any]], None] | None = None,
    cache: ManifestCache | None = None,
) -> OrphanResult:
    """Delete (or, in a dry run, list) the table's orphan files, those inside ``scope``
    only (by default, the table's location). ``on_delete`` hears how many files are about
    to be deleted before the first goes, so that a run killed midway leaves a record.
    Manifests are decoded through ``cache`` (the lake's), else a new one.

    Raises:
        UnsafeMaintenance: ``older_than`` is below one hour and ``force`` is not set.
    """
    name = ".".join(table.name())
    if older_than < MIN_SAFE_AGE and not force:
        raise UnsafeMaintenance(
            f"an orphan safety age of {format_duration(older_than)} is below "
            f"{format_duration(MIN_SAFE_AGE)}: a writer may have written a data file that it "
            "has not committed yet, and deleting it would make that commit point at a "
            "missing file. Use an age above the longest write (default 3d), or insist with "
            "--force when no one writes to the table",
            table=name,
        )
    started = time.perf_counter()
    cutoff_ns = int(((now or datetime.now(UTC)) - older_than).timestamp() * 1e9)
    stored = list_files(table.io, table.location())
    fresh = table.catalog.load_table(table.name())
    references = reachable_from(fresh, ManifestReader(fresh.io, cache))
    unreferenced = [f for f in stored if normalise_path(f.path) not in references.files]
    allowed = scope or DeleteScope(table.location(), table.location())
    old = [f for f in unreferenced if _older(f, cutoff_ns)]
    orphans = [f for f in old if allowed.allows(f.path)]
    if orphans and not dry_run and on_delete is not None:
        on_delete(
            {
                "deleting_orphans": len(orphans),
                "bytes": sum(f.size for f in orphans),
                "paths": [f.path for f in orphans[:PATHS_SHOWN]],
            }
        )
    deleted = [] if dry_run else [f for f in orphans if remove(fresh.io, f.path)]
    return OrphanResult(
        table=name,
        dry_run=dry_run,
        older_than=older_than,
        files_listed=len(stored),
        files_referenced=len(stored) - len(unreferenced),
        files_found=len(orphans),
        bytes_found=sum(f.size for f in orphans),
        files_deleted=len(deleted),
        bytes_freed=sum(f.size for f in deleted),
        kept_too_young=len(unreferenced) - len(old),
        paths=tuple(f.path for f in orphans),
        seconds=time.perf_counter() - started,
        kept_outside=len(old) - len(orphans),
    )


def _older(file: StoredFile, cutoff_ns: int) -> bool:
    """A file whose store gives no time counts as just written."""
    return file.mtime_ns is not None and file.mtime_ns < cutoff_ns
