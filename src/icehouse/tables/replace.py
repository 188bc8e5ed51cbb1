"""Swap data files for their rewrite in one Iceberg ``replace`` snapshot.

A rewrite (compaction) reads files at one snapshot and commits later, while ingestion
keeps appending. Iceberg's rule for ``rewrite_data_files`` is followed: the rewrite
commits on top of whatever ``main`` is *now*, so concurrent appends survive, but only if
every file it read is still live and no delete file was added since it started
(otherwise rows deleted meanwhile would come back). A conflicting rewrite raises
``RewriteConflict``; the caller deletes what it wrote.

The ingestion summary keys (``SUMMARY_KEYS``) are copied from the snapshot the replace
is built on, so exactly-once recovery, which reads only the current snapshot, sees the
same batches committed before and after a rewrite.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from pyiceberg.io import FileIO
from pyiceberg.manifest import DataFile, ManifestContent, ManifestEntry, ManifestFile
from pyiceberg.table import CommitTableResponse, Table
from pyiceberg.table.snapshots import (
    Operation,
    Snapshot,
    SnapshotSummaryCollector,
    Summary,
    update_snapshot_summaries,
)

from icehouse.errors import RewriteConflict
from icehouse.tables.append import (
    SnapshotWrites,
    commit_manifests,
    commit_writing,
    merge_manifests,
    write_added_manifests,
)
from icehouse.tables.carry import SUMMARY_KEYS
from icehouse.tables.manifest_cache import ManifestCache

ENTRIES_PER_MANIFEST = 50_000
"""Roughly Iceberg's 8 MiB manifest target at ~150 bytes per compressed entry."""


class ManifestIndex:
    """The manifests of snapshots and the live entries and data-file paths of each
    manifest, decoded through the index's manifest cache (``cache``, else its own): a
    rewrite that commits group by group re-reads nothing, and with the lake's cache
    neither does the next maintenance round."""

    def __init__(self, io: FileIO, cache: ManifestCache | None = None) -> None:
        self._io = io
        self._cache = cache if cache is not None else ManifestCache()
        self._live: dict[str, frozenset[str]] = {}

    def manifests(self, snapshot: Snapshot) -> list[ManifestFile]:
        """The manifests ``snapshot``'s manifest list names."""
        return list(self._cache.manifests(self._io, snapshot))

    def entries(self, manifest: ManifestFile) -> list[ManifestEntry]:
        return self._cache.entries(self._io, [manifest])[0]

    def entries_of(self, manifests: list[ManifestFile]) -> list[list[ManifestEntry]]:
        """Several manifests' entries; those not decoded yet are read in parallel."""
        return self._cache.entries(self._io, manifests)

    def live_paths(self, manifest: ManifestFile) -> frozenset[str]:
        paths = self._live.get(manifest.manifest_path)
        if paths is None:
            paths = frozenset(e.data_file.file_path for e in self.entries(manifest))
            self._live[manifest.manifest_path] = paths
        return paths


def live_data_paths(table: Table, index: ManifestIndex) -> set[str]:
    """Every data file live in ``table``'s current snapshot."""
    snapshot = table.current_snapshot()
    if snapshot is None:
        return set()
    manifests = index.manifests(snapshot)
    return set().union(
        *(index.live_paths(m) for m in manifests if m.content == ManifestContent.DATA)
    )


def replace_files(
    table: Table,
    *,
    removed: Sequence[DataFile],
    added: Sequence[DataFile],
    started_from: int | None,
    index: ManifestIndex,
    operation: Operation = Operation.REPLACE,
    properties: dict[str, str] | None = None,
) -> CommitTableResponse:
    """Commit ``added`` in place of ``removed`` on ``main`` as ``table`` has it now.

    A compaction's snapshot is a ``replace`` (same rows); a swap that changes rows passes
    ``Operation.OVERWRITE``. ``properties`` join the summary (over the carried keys).

    Raises:
        RewriteConflict: a removed file is no longer live, or delete files were committed
            after snapshot ``started_from`` (the snapshot the rewrite read).
        CommitRaced: ``main`` moved while this commit was written (reload the
            table and call again).
        CommitUncertain: a reported conflict that may have landed (do not call again).
    """
    parent = table.current_snapshot()
    name = ".".join(table.name())
    if parent is None:
        raise RewriteConflict("the table has no snapshot any more", table=name, files=[])
    _check_no_new_deletes(table, started_from, name)
    removed_paths = {f.file_path for f in removed}
    current = index.manifests(parent)
    touched = [
        m
        for m in current
        if m.content == ManifestContent.DATA and index.live_paths(m) & removed_paths
    ]
    live = set().union(*(index.live_paths(m) & removed_paths for m in touched))
    if missing := sorted(removed_paths - live):
        raise RewriteConflict(
            f"{len(missing)} input file(s) were removed or rewritten by a concurrent commit, "
            f"e.g. {missing[0]}",
            table=name,
            files=missing,
        )
    return commit_writing(
        table,
        lambda writes: _commit(
            table,
            removed,
            added,
            removed_paths,
            current,
            touched,
            index,
            writes,
            operation,
            properties or {},
        ),
    )


def _commit(
    table: Table,
    removed: Sequence[DataFile],
    added: Sequence[DataFile],
    removed_paths: set[str],
    current: list[ManifestFile],
    touched: list[ManifestFile],
    index: ManifestIndex,
    writes: SnapshotWrites,
    operation: Operation,
    properties: dict[str, str],
) -> CommitTableResponse:
    metadata = table.metadata
    snapshot_id = metadata.new_snapshot_id()
    compression = metadata.properties.get("write.avro.compression-codec", "gzip")
    manifests = write_added_manifests(table, list(added), snapshot_id, compression, writes)
    # The touched manifests of each spec become one manifest (per ``ENTRIES_PER_MANIFEST``)
    # holding their remaining entries and the removed ones marked deleted: a rewrite of
    # 2,000 files spread over 300 manifests writes a handful, not 300.
    by_spec: dict[int, list[ManifestFile]] = defaultdict(list)
    for manifest in touched:
        by_spec[manifest.partition_spec_id].append(manifest)
    for spec_id, spec_manifests in by_spec.items():
        entries = [e for m in spec_manifests for e in index.entries(m)]
        for start in range(0, len(entries), ENTRIES_PER_MANIFEST):
            with writes.manifest_writer(spec_id, snapshot_id, compression) as out:
                for entry in entries[start : start + ENTRIES_PER_MANIFEST]:
                    if entry.data_file.file_path in removed_paths:
                        out.delete(entry)
                    else:
                        out.existing(entry)
            manifests.append(out.to_manifest_file())
    touched_paths = {m.manifest_path for m in touched}
    manifests.extend(
        m
        for m in current
        if m.manifest_path not in touched_paths and (m.has_added_files() or m.has_existing_files())
    )
    manifests = merge_manifests(table, manifests, snapshot_id, compression, writes)
    summary = _summary(table, removed, added, operation, properties)
    return commit_manifests(
        table, snapshot_id, metadata.next_sequence_number(), manifests, summary, writes
    )


def _check_no_new_deletes(table: Table, started_from: int | None, name: str) -> None:
    snapshot = table.current_snapshot()
    while snapshot is not None and snapshot.snapshot_id != started_from:
        summary = snapshot.summary
        if summary is not None and int(summary.get("added-delete-files") or 0) > 0:
            raise RewriteConflict(
                f"snapshot {snapshot.snapshot_id} added delete files after the rewrite "
                "started; its rows could come back",
                table=name,
                files=[],
            )
        if snapshot.parent_snapshot_id is None:
            return
        snapshot = table.snapshot_by_id(snapshot.parent_snapshot_id)


def _summary(
    table: Table,
    removed: Sequence[DataFile],
    added: Sequence[DataFile],
    operation: Operation,
    properties: dict[str, str],
) -> Summary:
    specs = table.metadata.specs()
    schema = table.schema()
    collector = SnapshotSummaryCollector()
    for data_file in added:
        collector.add_file(data_file, schema=schema, partition_spec=specs[data_file.spec_id])
    for data_file in removed:
        collector.remove_file(data_file, schema=schema, partition_spec=specs[data_file.spec_id])
    parent = table.current_snapshot()
    previous = parent.summary if parent is not None and parent.summary else None
    carried = {k: previous[k] for k in SUMMARY_KEYS if previous and previous[k] is not None}
    carried.update(properties)
    # PyIceberg computes running totals only for append/overwrite/delete; the totals of a
    # replace follow the same arithmetic, so compute them as an overwrite.
    totals = update_snapshot_summaries(
        summary=Summary(operation=Operation.OVERWRITE, **collector.build(), **carried),
        previous_summary=previous,
    )
    return Summary(
        operation=operation,
        **{k: v for k, v in totals.model_dump().items() if k != "operation"},
    )
