"""Which snapshots a table may forget, and the commit that forgets them.

PyIceberg's commit cost grows with the number of snapshots (a 10 k-row append measured
57 ms at 10 snapshots and 2.36 s at 1,000, PyIceberg 0.12), so an ingester that commits
every few seconds must expire its own old snapshots; maintenance
(``icehouse.maintain.expire``) expires by the table's ``history.expire.*`` policy. Both
choose with ``expirable`` and commit with ``commit_expiry``.

PyIceberg's ``ExpireSnapshots`` commits with no requirement but the table's UUID, and
removing a snapshot also removes every ref that points at it: a rollback that lands
between planning and committing would lose ``main`` itself. ``commit_expiry`` therefore
asserts every ref it saw, and the caller reloads and plans again when one moved.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

from pyiceberg.io import FileIO
from pyiceberg.manifest import DataFile, ManifestContent, ManifestEntryStatus, ManifestFile
from pyiceberg.table import CommitTableResponse, Table
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.snapshots import Operation, ancestors_of
from pyiceberg.table.update import (
    AssertRefSnapshotId,
    AssertTableUUID,
    RemoveSnapshotsUpdate,
    TableRequirement,
)

from icehouse.errors import CommitRaced
from icehouse.tables._compat import update_table_metadata
from icehouse.tables.grace import recent_snapshot_ids
from icehouse.tables.manifest_cache import ManifestCache
from icehouse.tables.retry import commit_races

MAX_SNAPSHOTS_PROPERTY = "icehouse.ingest.max-snapshots"
DEFAULT_MAX_SNAPSHOTS = 100
MAX_AGE_PROPERTY = "history.expire.max-snapshot-age-ms"
MIN_KEEP_PROPERTY = "history.expire.min-snapshots-to-keep"
DEFAULT_MAX_AGE_MS = 5 * 24 * 3600 * 1000
DEFAULT_MIN_KEEP = 1


@dataclass(frozen=True)
class TrimResult:
    expired: int
    manifest_lists_deleted: int


def expirable(
    metadata: TableMetadata,
    *,
    max_age_ms: int,
    min_keep: int,
    now_ms: int,
    max_count: int | None = None,
) -> list[int]:
    """Snapshots older than ``max_age_ms`` (or beyond ``max_count``), never one a branch or
    tag points at, nor one of the newest ``min_keep`` (at least 1), nor one that was
    ``main``'s within the table's reader grace (a reader may be reading it).

    "Newest" follows Iceberg's ``retainLast``: the current snapshot and its ancestors
    first, then any other snapshot (e.g. one rolled back from) by time.
    """
    protected = {ref.snapshot_id for ref in metadata.refs.values()}
    protected |= recent_snapshot_ids(metadata, now_ms)
    lineage = list(ancestors_of(metadata.current_snapshot(), metadata))
    in_lineage = {s.snapshot_id for s in lineage}
    others = [s for s in metadata.snapshots if s.snapshot_id not in in_lineage]
    ordered = lineage + sorted(others, key=lambda s: s.timestamp_ms, reverse=True)
    min_keep = max(1, min_keep)
    expire = []
    for position, snapshot in enumerate(ordered):
        if snapshot.snapshot_id in protected or position < min_keep:
            continue
        too_many = max_count is not None and position >= max(min_keep, max_count)
        if too_many or now_ms - snapshot.timestamp_ms > max_age_ms:
            expire.append(snapshot.snapshot_id)
    return expire


def snapshots_to_expire(table: Table, *, now_ms: int | None = None) -> list[int]:
    """The ingester's choice: ``history.expire.*`` plus its own count cap."""
    properties = table.metadata.properties
    return expirable(
        table.metadata,
        max_age_ms=int(properties.get(MAX_AGE_PROPERTY, DEFAULT_MAX_AGE_MS)),
        min_keep=int(properties.get(MIN_KEEP_PROPERTY, DEFAULT_MIN_KEEP)),
        max_count=int(properties.get(MAX_SNAPSHOTS_PROPERTY, DEFAULT_MAX_SNAPSHOTS)),
        now_ms=now_ms if now_ms is not None else int(time.time() * 1000),
    )


def files_added_since(table: Table, cutoff_ms: float, cache: ManifestCache) -> Iterator[DataFile]:
    """Data files that retained appends and overwrites (not rewrites, which add no new
    rows) committed at or after ``cutoff_ms``, their manifests decoded through ``cache``."""
    added: list[ManifestFile] = []
    for snapshot in table.metadata.snapshots:
        operation = snapshot.summary.operation if snapshot.summary else None
        if snapshot.timestamp_ms < cutoff_ms or operation == Operation.REPLACE:
            continue
        added.extend(
            manifest
            for manifest in cache.manifests(table.io, snapshot)
            if manifest.content == ManifestContent.DATA
            and manifest.added_snapshot_id == snapshot.snapshot_id
        )
    for entries in cache.entries(table.io, added):
        for entry in entries:
            if entry.status == ManifestEntryStatus.ADDED:
                yield entry.data_file


def metadata_after_expiry(metadata: TableMetadata, snapshot_ids: list[int]) -> TableMetadata:
    """``metadata`` as ``commit_expiry`` would leave it, committing nothing (dry runs)."""
    return update_table_metadata(metadata, (RemoveSnapshotsUpdate(snapshot_ids=snapshot_ids),))


def commit_expiry(table: Table, snapshot_ids: list[int]) -> CommitTableResponse:
    """Remove ``snapshot_ids`` from the table in one commit, provided that no ref moved
    since ``table`` was loaded; then honour ``write.metadata.delete-after-commit.enabled``
    (the catalog's ``commit_table`` does not, unlike PyIceberg's ``Transaction``).

    Raises:
        CommitRaced: a ref moved (or another commit won the race); reload the table,
            choose again and retry.
    """
    metadata = table.metadata
    requirements: tuple[TableRequirement, ...] = (
        AssertTableUUID(uuid=metadata.table_uuid),
        *(
            AssertRefSnapshotId(ref=name, snapshot_id=ref.snapshot_id)
            for name, ref in metadata.refs.items()
        ),
    )
    updates = (RemoveSnapshotsUpdate(snapshot_ids=snapshot_ids),)
    with commit_races(table):
        response = table.catalog.commit_table(table, requirements, updates)
    delete_dropped_metadata(table.io, metadata, response.metadata)
    return response


def delete_dropped_metadata(io: FileIO, before: TableMetadata, after: TableMetadata) -> list[str]:
    """With ``write.metadata.delete-after-commit.enabled``, delete the metadata files that
    a commit pushed out of the metadata log (what Iceberg's commits do); returns them."""
    enabled = after.properties.get("write.metadata.delete-after-commit.enabled", "false")
    if enabled.lower() != "true":
        return []
    kept = {entry.metadata_file for entry in after.metadata_log}
    dropped = [e.metadata_file for e in before.metadata_log if e.metadata_file not in kept]
    for path in dropped:
        with contextlib.suppress(FileNotFoundError):
            io.delete(path)
    return dropped


def trim_history(table: Table, *, now_ms: int | None = None, slack: float = 0.1) -> TrimResult:
    """Expire old snapshots once ``slack`` of the cap can go at once (so that the cost
    of an expiry commit is paid once per many appends, not on every one: while the
    reader grace holds a busy table over its cap, one snapshot ages out per append).

    Only the expired snapshots' manifest lists are deleted (nobody else uses them); data
    files and manifests are left to maintenance, which knows what is still reachable.
    A concurrent commit makes this skip its turn: the next append tries again.
    """
    max_count = int(table.metadata.properties.get(MAX_SNAPSHOTS_PROPERTY, DEFAULT_MAX_SNAPSHOTS))
    expire = snapshots_to_expire(table, now_ms=now_ms)
    if len(expire) < max(1, int(max_count * slack)):
        return TrimResult(0, 0)
    lists = {s.snapshot_id: s.manifest_list for s in table.metadata.snapshots}
    try:
        commit_expiry(table, expire)
    except CommitRaced:
        return TrimResult(0, 0)
    deleted = 0
    for snapshot_id in expire:
        try:
            table.io.delete(lists[snapshot_id])
            deleted += 1
        except FileNotFoundError:
            pass
    return TrimResult(len(expire), deleted)
