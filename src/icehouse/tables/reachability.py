"""Every file a table still references, and every file stored under its location.

Expiry deletes what was reachable before it and is not after; orphan removal deletes
what is stored but not reachable. Both are only as safe as this module is complete, so
it counts, over *all* retained snapshots (every branch and tag points at one of them):
data and delete files (live manifest entries), manifests, manifest lists, statistics and
partition-statistics files, the current metadata file and every file of the metadata
log. Entries marked DELETED are not references: no retained snapshot reads them (as in
Iceberg's own ``ReachableFileCleanup``).

Paths are compared normalised: ``file:///x``, ``file:/x`` and ``/x`` are one local file;
other URIs (``s3://bucket/key``) are compared as they are written.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Literal

import pyarrow.fs as pafs
from pyiceberg.io import FileIO
from pyiceberg.io.pyarrow import PyArrowFileIO
from pyiceberg.manifest import DataFileContent, ManifestFile
from pyiceberg.table import Table
from pyiceberg.table.metadata import TableMetadata
from pyiceberg.table.snapshots import Snapshot

from icehouse.tables.manifest_cache import ManifestCache

Kind = Literal["data", "delete", "manifest", "manifest_list", "statistics", "metadata"]
KINDS: tuple[Kind, ...] = ("data", "delete", "manifest", "manifest_list", "statistics", "metadata")


def normalise_path(path: str) -> str:
    """One spelling per local file (``file://host/x`` included); other URIs unchanged."""
    if path.startswith("file:"):
        rest = path[len("file:") :]
        if rest.startswith("//"):
            rest = rest[rest.find("/", 2) :] if rest.find("/", 2) >= 0 else "/"
        return posixpath.normpath(rest)
    if "://" not in path:
        return posixpath.normpath(path)
    return path


@dataclass(frozen=True)
class FileRef:
    path: str
    """As the metadata spells it (what ``FileIO.delete`` is given)."""
    kind: Kind
    size: int | None
    """Bytes, where the metadata records them (not for manifest lists and metadata)."""


@dataclass(frozen=True)
class Reachable:
    files: Mapping[str, FileRef]
    """Every referenced file, by normalised path."""

    def __contains__(self, path: object) -> bool:
        return isinstance(path, str) and normalise_path(path) in self.files

    def __len__(self) -> int:
        return len(self.files)

    def minus(self, other: Reachable, kinds: tuple[Kind, ...] = KINDS) -> list[FileRef]:
        """Files of ``kinds`` referenced here and not in ``other``."""
        return [f for key, f in self.files.items() if f.kind in kinds and key not in other.files]


class ManifestReader:
    """Reads each manifest list and manifest once, however many snapshots share it (they
    are immutable, so one reader may serve several ``reachable`` calls), through
    ``cache`` (else its own): with the lake's cache, the next expiry or orphan sweep
    decodes only the manifests committed since."""

    def __init__(self, io: FileIO, cache: ManifestCache | None = None) -> None:
        self.io = io
        self._cache = cache if cache is not None else ManifestCache()
        self._refs: dict[str, tuple[FileRef, ...]] = {}

    def manifests(self, snapshot: Snapshot) -> list[ManifestFile]:
        return list(self._cache.manifests(self.io, snapshot))

    def files(self, manifests: list[ManifestFile]) -> Iterator[FileRef]:
        unread = [m for m in manifests if m.manifest_path not in self._refs]
        for manifest, entries in zip(unread, self._cache.entries(self.io, unread), strict=True):
            self._refs[manifest.manifest_path] = tuple(
                FileRef(
                    entry.data_file.file_path,
                    "data" if entry.data_file.content == DataFileContent.DATA else "delete",
                    entry.data_file.file_size_in_bytes,
                )
                for entry in entries
            )
        for manifest in manifests:
            yield from self._refs[manifest.manifest_path]


def reachable(
    metadata: TableMetadata, metadata_location: str | None, reader: ManifestReader
) -> Reachable:
    """Everything ``metadata`` (stored at ``metadata_location``) references."""
    files: dict[str, FileRef] = {}

    def add(path: str, kind: Kind, size: int | None) -> None:
        files.setdefault(normalise_path(path), FileRef(path, kind, size))

    if metadata_location is not None:
        add(metadata_location, "metadata", None)
    for log_entry in metadata.metadata_log:
        add(log_entry.metadata_file, "metadata", None)
    for stats in [*metadata.statistics, *metadata.partition_statistics]:
        add(stats.statistics_path, "statistics", stats.file_size_in_bytes)
    manifests: dict[str, ManifestFile] = {}
    for snapshot in metadata.snapshots:
        add(snapshot.manifest_list, "manifest_list", None)
        for manifest in reader.manifests(snapshot):
            manifests.setdefault(manifest.manifest_path, manifest)
    for manifest in manifests.values():
        add(manifest.manifest_path, "manifest", manifest.manifest_length)
    for ref in reader.files(list(manifests.values())):
        add(ref.path, ref.kind, ref.size)
    return Reachable(files)


def reachable_from(table: Table, reader: ManifestReader | None = None) -> Reachable:
    """Everything ``table`` (as loaded) references."""
    return reachable(table.metadata, table.metadata_location, reader or ManifestReader(table.io))


@dataclass(frozen=True)
class StoredFile:
    path: str
    """A URI for object stores (``s3://bucket/key``), a plain path for local files."""
    size: int
    mtime_ns: int | None
    """None when the store does not say; such a file counts as just written."""


def list_files(io: FileIO, location: str, *, recursive: bool = True) -> list[StoredFile]:
    """Every file under ``location`` (a folder), through pyarrow's filesystem for its
    scheme, so that local folders and object stores are listed the same way."""
    arrow_io = io if isinstance(io, PyArrowFileIO) else PyArrowFileIO(io.properties)
    scheme, netloc, path = arrow_io.parse_location(location, arrow_io.properties)
    filesystem = arrow_io.fs_by_scheme(scheme, netloc)
    selector = pafs.FileSelector(path.rstrip("/"), recursive=recursive, allow_not_found=True)
    if scheme == "file":
        prefix = ""
    elif scheme in ("hdfs", "viewfs"):  # parse_location leaves the netloc out of the path
        prefix = f"{scheme}://{netloc}"
    else:
        prefix = f"{scheme}://"
    return [
        StoredFile(prefix + info.path, info.size or 0, info.mtime_ns)
        for info in filesystem.get_file_info(selector)
        if info.type == pafs.FileType.File
    ]


def remove(io: FileIO, path: str) -> bool:
    """Delete one file; False when it was already gone (another cleaner got there)."""
    try:
        io.delete(path)
    except FileNotFoundError:
        return False
    return True


def stored_size(io: FileIO, ref: FileRef) -> int:
    """The file's size from the metadata, else from storage (0 if it is gone)."""
    if ref.size is not None:
        return ref.size
    try:
        return len(io.new_input(ref.path))
    except FileNotFoundError:
        return 0
