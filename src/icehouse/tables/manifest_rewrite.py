"""Regroup a table's data-file entries into manifests clustered by partition.

Streaming appends leave one small manifest per commit, each spanning whatever partitions
its batch touched, so a one-day query must open them all. Rewritten in partition order, at
most ``commit.manifest.target-size-bytes`` each and cut at partition boundaries once they
hold a hundred entries, each manifest covers a narrow range of partitions and its
partition summary in the manifest list lets planning skip it unopened. The data
files are unchanged; the snapshot is a ``replace`` carrying the ingestion summary keys.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from typing import Any

from pyiceberg.manifest import ManifestContent, ManifestEntry, ManifestFile
from pyiceberg.table import CommitTableResponse, Table
from pyiceberg.table.snapshots import Operation, Summary

from icehouse.errors import CommitConflict
from icehouse.tables.append import (
    DEFAULT_MANIFEST_TARGET_BYTES,
    SnapshotWrites,
    commit_manifests,
    commit_writing,
)
from icehouse.tables.carry import SUMMARY_KEYS
from icehouse.tables.manifest_cache import ManifestCache
from icehouse.tables.retry import retry_commit

MAX_ATTEMPTS = 10
MIN_ENTRIES_PER_MANIFEST = 100
_TOTALS = (
    "total-data-files",
    "total-delete-files",
    "total-records",
    "total-files-size",
    "total-position-deletes",
    "total-equality-deletes",
)


@dataclass(frozen=True)
class ManifestRewriteResult:
    manifests_before: int
    manifests_after: int
    entries: int
    snapshot_id: int | None
    seconds: float
    dry_run: bool
    changed: bool = True
    """False when the manifests already are as a rewrite would make them: then nothing
    is committed (in a dry run: nothing would be)."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def rewrite_manifests(
    table: Table,
    *,
    dry_run: bool = False,
    on_commit: Callable[[dict[str, Any]], None] | None = None,
    cache: ManifestCache | None = None,
) -> ManifestRewriteResult:
    """Rewrite the current snapshot's data manifests, unless they already hold exactly
    the entries a rewrite would group together (then nothing is committed: three runs
    on a settled table must not add three snapshots). ``on_commit`` hears of the new
    snapshot as soon as it is committed. Manifests are decoded through ``cache`` (the
    lake's, so that checking a settled table again decodes nothing), else a new one.

    Raises: CommitConflict when ``main`` kept moving through every attempt."""
    started = time.perf_counter()
    name = ".".join(table.name())
    manifest_cache = cache if cache is not None else ManifestCache()

    def attempt(number: int) -> ManifestRewriteResult:
        fresh = table if number == 1 else table.catalog.load_table(table.name())
        return _rewrite_once(fresh, dry_run, on_commit, started, manifest_cache)

    def gave_up() -> CommitConflict:
        return CommitConflict(
            f"main kept moving through {MAX_ATTEMPTS} attempts to rewrite manifests", table=name
        )

    return retry_commit(attempt, attempts=MAX_ATTEMPTS, gave_up=gave_up)


def _rewrite_once(
    table: Table,
    dry_run: bool,
    on_commit: Callable[[dict[str, Any]], None] | None,
    started: float,
    cache: ManifestCache,
) -> ManifestRewriteResult:
    """One attempt on ``table`` as loaded. Raises: CommitRaced."""
    snapshot = table.current_snapshot()
    if snapshot is None:
        return ManifestRewriteResult(0, 0, 0, None, time.perf_counter() - started, dry_run)
    manifests = list(cache.manifests(table.io, snapshot))
    data = [m for m in manifests if m.content == ManifestContent.DATA]
    entries = _entries_by_spec(data, cache.entries(table.io, data))
    target = int(
        table.metadata.properties.get(
            "commit.manifest.target-size-bytes", DEFAULT_MANIFEST_TARGET_BYTES
        )
    )
    groups = {
        spec_id: _cluster(spec_entries, _entries_per_manifest(data, target))
        for spec_id, spec_entries in entries.items()
    }
    after = sum(len(g) for g in groups.values()) + len(manifests) - len(data)
    count = sum(len(e) for e in entries.values())
    unchanged = after == len(manifests) and _same_grouping(table, data, groups, cache)
    if dry_run or unchanged:
        return ManifestRewriteResult(
            len(manifests),
            len(manifests) if unchanged else after,
            count,
            None,
            time.perf_counter() - started,
            dry_run,
            changed=not unchanged,
        )
    snapshot_id = table.metadata.new_snapshot_id()
    response = commit_writing(table, partial(_commit, table, snapshot_id, manifests, groups))
    written = response.metadata.snapshot_by_id(snapshot_id)
    if on_commit is not None:
        on_commit({"snapshot_id": snapshot_id})
    return ManifestRewriteResult(
        len(manifests),
        len(cache.manifests(table.io, written)) if written else after,
        count,
        snapshot_id,
        time.perf_counter() - started,
        False,
    )


def _commit(
    table: Table,
    snapshot_id: int,
    manifests: list[ManifestFile],
    groups: dict[int, list[list[ManifestEntry]]],
    writes: SnapshotWrites,
) -> CommitTableResponse:
    compression = table.metadata.properties.get("write.avro.compression-codec", "gzip")
    rewritten = []
    for spec_id, spec_groups in groups.items():
        for group in spec_groups:
            with writes.manifest_writer(spec_id, snapshot_id, compression) as writer:
                for entry in group:
                    writer.existing(entry)
            rewritten.append(writer.to_manifest_file())
    rewritten.extend(m for m in manifests if m.content != ManifestContent.DATA)
    parent = table.current_snapshot()
    summary = _summary(parent.summary if parent else None, len(manifests), len(rewritten))
    return commit_manifests(
        table, snapshot_id, table.metadata.next_sequence_number(), rewritten, summary, writes
    )


def _entries_by_spec(
    manifests: list[ManifestFile], entries: list[list[ManifestEntry]]
) -> dict[int, list[ManifestEntry]]:
    """The live ``entries`` of each of ``manifests``, by spec, in partition order."""
    by_spec: dict[int, list[ManifestEntry]] = defaultdict(list)
    for manifest, manifest_entries in zip(manifests, entries, strict=True):
        by_spec[manifest.partition_spec_id].extend(manifest_entries)
    for spec_entries in by_spec.values():
        spec_entries.sort(key=lambda e: (_sortable(e.data_file.partition), e.data_file.file_path))
    return by_spec


def _same_grouping(
    table: Table,
    data: list[ManifestFile],
    groups: dict[int, list[list[ManifestEntry]]],
    cache: ManifestCache,
) -> bool:
    """The data manifests hold exactly the planned groups of live entries (no deleted
    entries left to drop), so a rewrite would change nothing."""
    if any(m.deleted_files_count for m in data):
        return False
    existing = {
        frozenset(e.data_file.file_path for e in entries)
        for entries in cache.entries(table.io, data)
    }
    planned = {
        frozenset(e.data_file.file_path for e in group)
        for spec_groups in groups.values()
        for group in spec_groups
    }
    return existing == planned


def _cluster(entries: list[ManifestEntry], per_manifest: int) -> list[list[ManifestEntry]]:
    """Entries (in partition order) cut into manifests of at most ``per_manifest``, and
    also at every partition boundary once a manifest holds ``MIN_ENTRIES_PER_MANIFEST``:
    a query on one partition then decodes that partition's entries, not the table's,
    while partitions of a few files still share a manifest."""
    groups: list[list[ManifestEntry]] = []
    previous: Any = object()
    for entry in entries:
        partition = _sortable(entry.data_file.partition)
        if (
            not groups
            or len(groups[-1]) >= per_manifest
            or (partition != previous and len(groups[-1]) >= MIN_ENTRIES_PER_MANIFEST)
        ):
            groups.append([])
        groups[-1].append(entry)
        previous = partition
    return groups


def _sortable(partition: Any) -> tuple[tuple[bool, str, Any], ...]:
    """Partition values in order, nulls first, comparable across types."""
    values = [partition[i] for i in range(len(partition))]
    return tuple((v is not None, type(v).__name__, v if v is not None else 0) for v in values)


def _entries_per_manifest(manifests: list[ManifestFile], target: int) -> int:
    """How many entries fill ``target`` bytes, from the entry size of existing manifests."""
    entries = sum(
        (m.added_files_count or 0) + (m.existing_files_count or 0) + (m.deleted_files_count or 0)
        for m in manifests
    )
    size = sum(m.manifest_length for m in manifests)
    per_entry = size / entries if entries else 1024
    return max(1, int(target / max(per_entry, 1)))


def _summary(previous: Summary | None, before: int, after: int) -> Summary:
    carried = {
        k: previous[k] for k in (*SUMMARY_KEYS, *_TOTALS) if previous and previous[k] is not None
    }
    return Summary(
        operation=Operation.REPLACE,
        **carried,
        **{"manifests-replaced": str(before), "manifests-created": str(after)},
    )
