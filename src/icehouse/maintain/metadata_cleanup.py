"""Delete the table-metadata files a table no longer keeps.

Every commit writes a new ``*.metadata.json``. icehouse's own commits delete the ones
that fall out of the metadata log (``write.metadata.delete-after-commit.enabled``), but a
table written by another engine, or before the property was set, keeps them all. This
deletes, in the folder of the current metadata file only, each ``*.metadata.json`` that
is neither the current file nor among the newest ``write.metadata.previous-versions-max``
entries of the metadata log, nor was current within the table's ``icehouse.reader-grace``
(a reader that loaded it may still be reading).

A file whose version number is not below the current one is never deleted: it may be
the new metadata of a commit in flight (written, not yet swapped in by the catalog).
"""

from __future__ import annotations

import posixpath
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pyiceberg.table import Table

from icehouse.maintain.scope import DeleteScope
from icehouse.state.clock import SYSTEM_CLOCK, Clock
from icehouse.tables.grace import superseded_within_grace
from icehouse.tables.reachability import list_files, normalise_path, remove

METADATA_SUFFIX = ".metadata.json"
PREVIOUS_VERSIONS_PROPERTY = "write.metadata.previous-versions-max"
DEFAULT_PREVIOUS_VERSIONS = 100
PATHS_SHOWN = 100
# "00012-<uuid>.metadata.json" (Java, PyIceberg) or "v12.metadata.json" (Hadoop tables).
_VERSION = re.compile(r"^v?(\d+)[-.]")


@dataclass(frozen=True)
class MetadataCleanupResult:
    table: str
    dry_run: bool
    files_deleted: int
    """In a dry run: the files that would be deleted."""
    bytes_deleted: int
    files_kept: int
    """Metadata files left in place (current, retained log entries, newer versions)."""
    paths: tuple[str, ...]
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "table": self.table,
            "dry_run": self.dry_run,
            "files_deleted": self.files_deleted,
            "bytes_deleted": self.bytes_deleted,
            "files_kept": self.files_kept,
            "paths": list(self.paths[:PATHS_SHOWN]),
            "paths_truncated": len(self.paths) > PATHS_SHOWN,
            "seconds": round(self.seconds, 3),
        }


def metadata_version(path: str) -> int | None:
    match = _VERSION.match(posixpath.basename(path))
    return int(match.group(1)) if match else None


def clean_metadata(
    table: Table,
    *,
    dry_run: bool = False,
    scope: DeleteScope | None = None,
    on_delete: Callable[[dict[str, Any]], None] | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> MetadataCleanupResult:
    """Delete (or, in a dry run, list) the metadata files the table no longer keeps,
    those inside ``scope`` only (by default, the table's location); ``on_delete`` hears
    what is about to go before the first file does.

    The table is reloaded first, so that a stale ``table`` cannot make a newer commit's
    metadata look unreferenced.
    """
    started = time.perf_counter()
    now_ms = int(clock() * 1000)
    fresh = table.catalog.load_table(table.name())
    metadata, location = fresh.metadata, fresh.metadata_location
    keep_count = max(
        1, int(metadata.properties.get(PREVIOUS_VERSIONS_PROPERTY, DEFAULT_PREVIOUS_VERSIONS))
    )
    kept = {normalise_path(e.metadata_file) for e in metadata.metadata_log[-keep_count:]}
    kept.add(normalise_path(location))
    current_version = metadata_version(location)
    stored = [
        f
        for f in list_files(fresh.io, posixpath.dirname(location), recursive=False)
        if f.path.endswith(METADATA_SUFFIX)
    ]
    allowed = scope or DeleteScope(fresh.location(), fresh.location())
    doomed = [
        f
        for f in stored
        if normalise_path(f.path) not in kept
        and _older(f.path, current_version)
        and not superseded_within_grace(metadata, f.path, now_ms)
        and allowed.allows(f.path)
    ]
    if doomed and not dry_run and on_delete is not None:
        on_delete({"deleting_metadata_files": len(doomed)})
    deleted = doomed if dry_run else [f for f in doomed if remove(fresh.io, f.path)]
    return MetadataCleanupResult(
        table=".".join(fresh.name()),
        dry_run=dry_run,
        files_deleted=len(deleted),
        bytes_deleted=sum(f.size for f in deleted),
        files_kept=len(stored) - len(doomed),
        paths=tuple(f.path for f in deleted),
        seconds=time.perf_counter() - started,
    )


def _older(path: str, current_version: int | None) -> bool:
    version = metadata_version(path)
    return current_version is not None and version is not None and version < current_version
