"""A written batch's data files, stored as Iceberg manifests until its committer commits.

A worker that wrote a batch hands its data files to another process, the table's
committer (as Flink's Iceberg sink hands its writers' files to one committer). A
manifest is how Iceberg itself describes data files (path, partition, metrics), so the
committer reads back exactly the ``DataFile`` values the writer made, as if it had
written them itself. One manifest per partition spec; each lives in the table's metadata
folder, is referenced by no snapshot and is deleted once its batch is settled (orphan
removal collects one a crash left behind).
"""

from __future__ import annotations

import contextlib
import json
from collections import defaultdict

from pyiceberg.manifest import (
    DataFile,
    ManifestContent,
    ManifestEntry,
    ManifestEntryStatus,
    ManifestFile,
    write_manifest,
)
from pyiceberg.table import Table

STAGED_SNAPSHOT_ID = 0
"""The snapshot id a staged manifest's entries carry: none yet (the committer's snapshot
writes them again under its own id)."""


def write_batch_manifests(table: Table, batch_id: str, data_files: list[DataFile]) -> list[str]:
    """Store ``data_files`` as manifests of ``table``; returns what ``read_batch_manifests``
    takes back (one JSON reference per manifest)."""
    by_spec: dict[int, list[DataFile]] = defaultdict(list)
    for data_file in data_files:
        by_spec[data_file.spec_id].append(data_file)
    references = []
    provider = table.location_provider()
    for spec_id, files in sorted(by_spec.items()):
        path = provider.new_metadata_location(f"batch-{batch_id}-s{spec_id}.avro")
        with write_manifest(
            format_version=table.metadata.format_version,
            spec=table.metadata.specs()[spec_id],
            schema=table.schema(),
            output_file=table.io.new_output(path),
            snapshot_id=STAGED_SNAPSHOT_ID,
            avro_compression="deflate",
        ) as writer:
            for data_file in files:
                writer.add(
                    ManifestEntry.from_args(
                        status=ManifestEntryStatus.ADDED,
                        snapshot_id=STAGED_SNAPSHOT_ID,
                        data_file=data_file,
                    )
                )
        manifest = writer.to_manifest_file()
        references.append(
            json.dumps(
                {"path": path, "length": manifest.manifest_length, "spec_id": spec_id},
                sort_keys=True,
            )
        )
    return references


def read_batch_manifests(table: Table, references: list[str]) -> list[DataFile]:
    """The data files stored by ``write_batch_manifests``."""
    found: list[DataFile] = []
    for reference in references:
        stored = json.loads(reference)
        manifest = ManifestFile.from_args(
            manifest_path=stored["path"],
            manifest_length=stored["length"],
            partition_spec_id=stored["spec_id"],
            content=ManifestContent.DATA,
            sequence_number=0,
            min_sequence_number=0,
            added_snapshot_id=STAGED_SNAPSHOT_ID,
        )
        found.extend(e.data_file for e in manifest.fetch_manifest_entry(table.io))
    return found


def delete_batch_manifests(table: Table, references: list[str]) -> None:
    """Delete what ``write_batch_manifests`` stored (gone already is fine)."""
    for reference in references:
        with contextlib.suppress(FileNotFoundError):
            table.io.delete(json.loads(reference)["path"])
