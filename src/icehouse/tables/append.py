"""A fast append: one snapshot adding data files, committed with one catalog call.

PyIceberg's ``Transaction.fast_append`` deep-copies the whole table metadata about a
dozen times per commit (measured: ~85 % of an append's time, PyIceberg 0.12), so its
cost grows with the table's history. This builds the same snapshot from PyIceberg's
public manifest and update APIs (manifest, manifest list, summary, ``AddSnapshotUpdate``
plus a ``main`` ref update, guarded by ``AssertRefSnapshotId``) and hands it to the
catalog once.

Manifests are merged as Iceberg's ``commit.manifest-merge.enabled`` asks: once a spec
has ``commit.manifest.min-count-to-merge`` manifests, small ones are bin-packed up to
``commit.manifest.target-size-bytes`` into new manifests (their entries kept as
``EXISTING`` with their original snapshot ids and sequence numbers).
"""

from __future__ import annotations

import contextlib
import uuid
from collections import defaultdict
from collections.abc import Callable
from typing import cast

from pyiceberg.avro.codecs import AvroCompressionCodec
from pyiceberg.exceptions import CommitFailedException
from pyiceberg.manifest import (
    DataFile,
    ManifestEntry,
    ManifestEntryStatus,
    ManifestFile,
    ManifestWriter,
    write_manifest,
    write_manifest_list,
)
from pyiceberg.table import CommitTableResponse, Table
from pyiceberg.table.refs import MAIN_BRANCH, SnapshotRefType
from pyiceberg.table.snapshots import (
    Operation,
    Snapshot,
    SnapshotSummaryCollector,
    Summary,
    update_snapshot_summaries,
)
from pyiceberg.table.update import (
    AddSnapshotUpdate,
    AssertRefSnapshotId,
    AssertTableUUID,
    SetSnapshotRefUpdate,
)

from icehouse.errors import CommitUncertain
from icehouse.tables.carry import icehouse_writer
from icehouse.tables.history import delete_dropped_metadata
from icehouse.tables.outcome import Outcome, commit_outcome
from icehouse.tables.retry import commit_races

DEFAULT_MIN_COUNT_TO_MERGE = 100
DEFAULT_MANIFEST_TARGET_BYTES = 8 * 1024 * 1024


def _avro_codec(name: str) -> AvroCompressionCodec:
    """``write.avro.compression-codec`` as PyIceberg's manifest writers take it. They map
    Iceberg's names (``gzip``, ``zstd``, ``uncompressed``) to Avro's themselves, but are
    annotated with Avro's names only."""
    return cast(AvroCompressionCodec, name)


class SnapshotWrites:
    """The files one attempt wrote, deleted again only if the attempt provably did not
    commit (see ``commit_writing``)."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.commit_uuid = uuid.uuid4()
        self.paths: list[str] = []
        self.submitted: int | None = None
        """The snapshot id handed to the catalog; None while the catalog was not called."""
        self._count = 0

    def new_path(self, name: str | None = None) -> str:
        self._count += 1
        file_name = name or f"{self.commit_uuid}-m{self._count}.avro"
        path = self.table.location_provider().new_metadata_location(file_name)
        self.paths.append(path)
        return path

    def manifest_writer(self, spec_id: int, snapshot_id: int, compression: str) -> ManifestWriter:
        return write_manifest(
            format_version=self.table.metadata.format_version,
            spec=self.table.metadata.specs()[spec_id],
            schema=self.table.schema(),
            output_file=self.table.io.new_output(self.new_path()),
            snapshot_id=snapshot_id,
            avro_compression=_avro_codec(compression),
        )

    def outcome(self) -> Outcome:
        """Whether this attempt's commit landed: not if the catalog was never called,
        else as the table re-read from the catalog tells."""
        if self.submitted is None:
            return Outcome.NOT_LANDED
        return commit_outcome(self.table, self.submitted)

    def discard(self) -> None:
        for path in self.paths:
            with contextlib.suppress(FileNotFoundError):
                self.table.io.delete(path)


def fast_append(
    table: Table, data_files: list[DataFile], *, properties: dict[str, str]
) -> CommitTableResponse:
    """Commit ``data_files`` as one ``append`` snapshot on ``main``.

    Raises:
        CommitRaced: ``main`` moved since ``table`` was loaded (the caller reloads and
            retries); nothing written by this attempt is left behind.
        CommitUncertain: see ``commit_writing``.
    """
    return commit_writing(table, lambda writes: _commit(table, data_files, properties, writes))


def commit_writing(
    table: Table, commit: Callable[[SnapshotWrites], CommitTableResponse]
) -> CommitTableResponse:
    """Run ``commit`` with a fresh set of writes; old metadata is deleted (as the table's
    properties ask) if it succeeds.

    When an exception escapes, the writes are deleted only if the commit provably did
    not land (``SnapshotWrites.outcome``): an error or interrupt after the catalog
    accepted it leaves the files of what is now the current snapshot in place, and so
    does any doubt (orphan removal collects files that turn out unreferenced). The
    exception is re-raised either way, PyIceberg's ``CommitFailedException`` as
    ``CommitRaced``.

    Raises:
        CommitRaced: the catalog refused the commit (another commit won the race).
        CommitUncertain: the catalog reported a conflict (``CommitFailedException``) but
            the commit is in the table, or the table could not be re-read: the caller's
            retry on conflict could commit the same change twice, so it must not retry.
    """
    writes = SnapshotWrites(table)
    try:
        response = commit(writes)
    except BaseException as exc:
        outcome = writes.outcome()
        if outcome is Outcome.NOT_LANDED:
            writes.discard()
        elif isinstance(exc, CommitFailedException) and writes.submitted is not None:
            raise CommitUncertain(
                f"the catalog reported a conflict, but snapshot {writes.submitted} is "
                f"{outcome.value}; not retrying. Ingestion settles its batch on the next "
                "run; files nothing references are removed by `icehouse maintain orphans`",
                table=".".join(table.name()),
                snapshot_id=writes.submitted,
            ) from exc
        with commit_races(table):
            raise
    delete_old_metadata(table, response)
    return response


def _commit(
    table: Table, data_files: list[DataFile], properties: dict[str, str], writes: SnapshotWrites
) -> CommitTableResponse:
    metadata = table.metadata
    snapshot_id = metadata.new_snapshot_id()
    parent = table.current_snapshot()
    sequence_number = metadata.next_sequence_number()
    compression = metadata.properties.get("write.avro.compression-codec", "gzip")
    added = write_added_manifests(table, data_files, snapshot_id, compression, writes)
    # A manifest left with only deleted entries (by a rewrite or delete) has done its job
    # in its own snapshot; Iceberg's appends do not carry it forward.
    existing = [
        m
        for m in (parent.manifests(table.io) if parent is not None else [])
        if m.has_added_files() or m.has_existing_files()
    ]
    manifests = merge_manifests(table, [*added, *existing], snapshot_id, compression, writes)
    summary = _summary(table, data_files, properties)
    return commit_manifests(table, snapshot_id, sequence_number, manifests, summary, writes)


def commit_manifests(
    table: Table,
    snapshot_id: int,
    sequence_number: int,
    manifests: list[ManifestFile],
    summary: Summary,
    writes: SnapshotWrites,
) -> CommitTableResponse:
    """Write the manifest list and commit the snapshot as ``main``'s next one, guarded
    by ``main`` still pointing at the snapshot ``table`` was loaded at, as one of
    icehouse's own writers (its ``icehouse.*`` summary keys are kept)."""
    metadata = table.metadata
    parent = table.current_snapshot()
    compression = metadata.properties.get("write.avro.compression-codec", "gzip")
    list_path = writes.new_path(f"snap-{snapshot_id}-0-{writes.commit_uuid}.avro")
    with write_manifest_list(
        format_version=metadata.format_version,
        output_file=table.io.new_output(list_path),
        snapshot_id=snapshot_id,
        parent_snapshot_id=parent.snapshot_id if parent else None,
        sequence_number=sequence_number,
        avro_compression=_avro_codec(compression),
    ) as writer:
        writer.add_manifests(manifests)
    snapshot = Snapshot(
        snapshot_id=snapshot_id,
        parent_snapshot_id=parent.snapshot_id if parent else None,
        manifest_list=list_path,
        sequence_number=sequence_number,
        summary=summary,
        schema_id=metadata.current_schema_id,
    )
    updates = (
        AddSnapshotUpdate(snapshot=snapshot),
        SetSnapshotRefUpdate(
            snapshot_id=snapshot_id,
            ref_name=MAIN_BRANCH,
            type=SnapshotRefType.BRANCH,
            # The defaults, spelled out: pydantic's mypy plugin misses a default given
            # inside ``Annotated[..., Field(default=None)]``.
            max_ref_age_ms=None,
            max_snapshot_age_ms=None,
            min_snapshots_to_keep=None,
        ),
    )
    requirements = (
        AssertTableUUID(uuid=metadata.table_uuid),
        AssertRefSnapshotId(snapshot_id=parent.snapshot_id if parent else None, ref=MAIN_BRANCH),
    )
    writes.submitted = snapshot_id
    with icehouse_writer():
        return table.catalog.commit_table(table, requirements, updates)


def write_added_manifests(
    table: Table,
    data_files: list[DataFile],
    snapshot_id: int,
    compression: str,
    writes: SnapshotWrites,
) -> list[ManifestFile]:
    by_spec: dict[int, list[DataFile]] = defaultdict(list)
    for data_file in data_files:
        by_spec[data_file.spec_id].append(data_file)
    manifests = []
    for spec_id, files in by_spec.items():
        with writes.manifest_writer(spec_id, snapshot_id, compression) as writer:
            for data_file in files:
                writer.add(
                    ManifestEntry.from_args(
                        status=ManifestEntryStatus.ADDED,
                        snapshot_id=snapshot_id,
                        data_file=data_file,
                    )
                )
        manifests.append(writer.to_manifest_file())
    return manifests


def merge_manifests(
    table: Table,
    manifests: list[ManifestFile],
    snapshot_id: int,
    compression: str,
    writes: SnapshotWrites,
) -> list[ManifestFile]:
    properties = table.metadata.properties
    if properties.get("commit.manifest-merge.enabled", "true").lower() != "true":
        return manifests
    min_count = int(
        properties.get("commit.manifest.min-count-to-merge", DEFAULT_MIN_COUNT_TO_MERGE)
    )
    target = int(properties.get("commit.manifest.target-size-bytes", DEFAULT_MANIFEST_TARGET_BYTES))
    by_spec: dict[int, list[ManifestFile]] = defaultdict(list)
    for manifest in manifests:
        by_spec[manifest.partition_spec_id].append(manifest)
    merged: list[ManifestFile] = []
    for spec_id, group in by_spec.items():
        if len(group) < min_count:
            merged.extend(group)
            continue
        for members in _pack(group, target):
            if len(members) == 1:
                merged.extend(members)
            else:
                merged.append(_rewrite(table, spec_id, members, snapshot_id, compression, writes))
    return merged


def _pack(manifests: list[ManifestFile], target: int) -> list[list[ManifestFile]]:
    """Consecutive bins of at most ``target`` bytes (a manifest at or over it stays alone)."""
    bins: list[list[ManifestFile]] = []
    size = 0
    for manifest in manifests:
        if not bins or size + manifest.manifest_length > target:
            bins.append([])
            size = 0
        bins[-1].append(manifest)
        size += manifest.manifest_length
    return bins


def _rewrite(
    table: Table,
    spec_id: int,
    manifests: list[ManifestFile],
    snapshot_id: int,
    compression: str,
    writes: SnapshotWrites,
) -> ManifestFile:
    with writes.manifest_writer(spec_id, snapshot_id, compression) as writer:
        for manifest in manifests:
            for entry in manifest.fetch_manifest_entry(table.io, discard_deleted=True):
                if entry.status == ManifestEntryStatus.ADDED and entry.snapshot_id == snapshot_id:
                    writer.add(entry)
                else:
                    writer.existing(entry)
    return writer.to_manifest_file()


def _summary(table: Table, data_files: list[DataFile], properties: dict[str, str]) -> Summary:
    metadata = table.metadata
    limit = int(metadata.properties.get("write.summary.partition-limit", 0))
    collector = SnapshotSummaryCollector(partition_summary_limit=limit)
    specs = metadata.specs()
    schema = table.schema()
    for data_file in data_files:
        collector.add_file(data_file, schema=schema, partition_spec=specs[data_file.spec_id])
    parent = table.current_snapshot()
    return update_snapshot_summaries(
        summary=Summary(operation=Operation.APPEND, **collector.build(), **properties),
        previous_summary=parent.summary if parent is not None else None,
    )


def delete_old_metadata(table: Table, response: CommitTableResponse) -> None:
    """Honour ``write.metadata.delete-after-commit.enabled`` as PyIceberg's own commit does."""
    delete_dropped_metadata(table.io, table.metadata, response.metadata)
