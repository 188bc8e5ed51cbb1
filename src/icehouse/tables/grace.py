"""Readers in flight: nothing a recently current snapshot reaches is deleted.

An engine reads a table in steps: it loads a metadata file, then that snapshot's
manifest list, manifests and data files, over milliseconds (a pinned DuckDB
``iceberg_scan``) or minutes (a Spark job). A table that commits every ten seconds and
keeps ``write.metadata.previous-versions-max=10`` drops a metadata file from its log
about 100 s after it was current, and trims old snapshots as fast: a reader that started
earlier would find its files gone. So every deleter keeps what a snapshot or metadata
file that was current within the table's ``icehouse.reader-grace`` (default 15 minutes)
reaches:

- the catalog keeps such metadata files in the metadata log beyond
  ``write.metadata.previous-versions-max``, so the cleanup after a commit (icehouse's
  and PyIceberg's), metadata cleanup and orphan removal all count them as referenced;
- expiry never expires a snapshot that was ``main``'s within the grace, so its manifest
  list, manifests and data files stay reachable.

Times are the metadata's own: a metadata-log entry and a snapshot-log entry say when a
metadata file and a snapshot became current, and each was current until the next entry.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.snapshots import MetadataLogEntry

from icehouse.tables.reachability import normalise_path

READER_GRACE_PROPERTY = "icehouse.reader-grace"
DEFAULT_READER_GRACE_MS = 15 * 60 * 1000
_UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")


def reader_grace_ms(properties: Mapping[str, str]) -> int:
    """The table's ``icehouse.reader-grace`` (``30s``, ``15m``, ``2h``; a bare number is
    seconds). Another engine may have set anything: an unreadable value counts as the
    default rather than failing every commit of the table."""
    match = _DURATION.match(properties.get(READER_GRACE_PROPERTY, ""))
    if match is None:
        return DEFAULT_READER_GRACE_MS
    value, unit = match.groups()
    return int(float(value) * _UNITS_MS[unit or "s"])


def recent_snapshot_ids(metadata: TableMetadata, now_ms: int) -> set[int]:
    """The snapshots that were ``main``'s at some time within the reader grace: the
    current one, every one committed within it and the one each of those replaced."""
    cutoff = now_ms - reader_grace_ms(metadata.properties)
    recent = set() if metadata.current_snapshot_id is None else {metadata.current_snapshot_id}
    log = metadata.snapshot_log
    for position, entry in enumerate(log):
        until = log[position + 1].timestamp_ms if position + 1 < len(log) else now_ms
        if until >= cutoff:
            recent.add(entry.snapshot_id)
    for snapshot in metadata.snapshots:
        if snapshot.timestamp_ms >= cutoff:
            recent.add(snapshot.snapshot_id)
            if snapshot.parent_snapshot_id is not None:
                recent.add(snapshot.parent_snapshot_id)
    return recent


def graced_metadata_log(
    before: TableMetadata, before_location: str, after: TableMetadata, now_ms: int
) -> list[MetadataLogEntry]:
    """The metadata log for ``after``, a commit on ``before`` (stored at
    ``before_location``): what the commit kept (``previous-versions-max``), extended back
    to the oldest metadata file that was current within the reader grace."""
    full = [
        *before.metadata_log,
        MetadataLogEntry.model_validate(
            {"metadata-file": before_location, "timestamp-ms": before.last_updated_ms}
        ),
    ]
    cutoff = now_ms - reader_grace_ms(after.properties)
    start = max(0, len(full) - len(after.metadata_log))
    for position in range(start):
        until = full[position + 1].timestamp_ms if position + 1 < len(full) else now_ms
        if until >= cutoff:
            start = position
            break
    return full[start:]


def superseded_within_grace(metadata: TableMetadata, metadata_file: str, now_ms: int) -> bool:
    """Whether ``metadata_file``, a metadata file of this table other than the current
    one, may have been current within the reader grace. One in the log was current until
    the next entry; one no longer in it, at the latest until the oldest entry still there
    became current."""
    cutoff = now_ms - reader_grace_ms(metadata.properties)
    log = metadata.metadata_log
    times = [*(e.timestamp_ms for e in log[1:]), metadata.last_updated_ms]
    wanted = normalise_path(metadata_file)
    for entry, until in zip(log, times, strict=True):
        if normalise_path(entry.metadata_file) == wanted:
            return until >= cutoff
    oldest = log[0].timestamp_ms if log else metadata.last_updated_ms
    return oldest >= cutoff
