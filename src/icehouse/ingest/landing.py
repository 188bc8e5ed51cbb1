"""Landing locations: list the complete files of a source, local or on S3.

A file is *complete* when its name is not a dotfile, ``*.tmp`` or ``*.part`` (the usual
names of files still being written), it matches the source's glob, and, on a local
disk, its size and mtime have not changed for the settle time. Object stores publish
an object only once it is whole, so S3 objects are complete when listed.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

import pyarrow.fs as pafs

from icehouse.config import SourceConfig

IGNORED_SUFFIXES = (".tmp", ".part", ".crdownload", ".partial")


@dataclass(frozen=True)
class LandedFile:
    path: str
    size: int
    mtime: float

    @property
    def fingerprint(self) -> str:
        return f"{self.size}:{int(self.mtime * 1_000_000)}"


def open_location(location: str, storage: dict[str, str]) -> tuple[pafs.FileSystem, str]:
    """A pyarrow filesystem and the path inside it; S3 settings come from ``[storage]``."""
    if location.startswith(("s3://", "s3a://")):
        endpoint = storage.get("s3.endpoint", "")
        scheme = "http" if endpoint.startswith("http://") else "https"
        filesystem = pafs.S3FileSystem(
            access_key=storage.get("s3.access-key-id"),
            secret_key=storage.get("s3.secret-access-key"),
            region=storage.get("s3.region", "us-east-1"),
            endpoint_override=endpoint.split("://", 1)[-1] or None,
            scheme=scheme,
            allow_bucket_creation=False,
        )
        return filesystem, location.split("://", 1)[1].rstrip("/")
    return pafs.LocalFileSystem(), location.removeprefix("file://").rstrip("/")


def relative_path(base: str, path: str) -> str:
    """``path`` (as listed under ``base``) relative to the source location: the name a
    file keeps however the location is spelled (what ``meta = "file"`` columns hold)."""
    return path[len(base) :].lstrip("/") if path.startswith(base) else path


def is_candidate(relative: str, glob: str) -> bool:
    parts = PurePosixPath(relative).parts
    if any(p.startswith(".") for p in parts) or relative.endswith(IGNORED_SUFFIXES):
        return False
    if "/" in glob:
        return fnmatch.fnmatch(relative, glob)
    return fnmatch.fnmatch(parts[-1], glob)


def list_landed(
    filesystem: pafs.FileSystem,
    base: str,
    source: SourceConfig,
    *,
    now: float,
) -> tuple[list[LandedFile], list[LandedFile]]:
    """(complete files, files still settling at ``now``, the ingester's clock), oldest
    first.

    A missing landing folder lists as empty: a provider may not have delivered yet.
    """
    selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
    listed = [
        LandedFile(
            path=info.path,
            size=info.size or 0,
            mtime=info.mtime.timestamp() if info.mtime is not None else now,
        )
        for info in filesystem.get_file_info(selector)
        if info.type == pafs.FileType.File
    ]
    return settled(
        listed, base, source, now=now, local=isinstance(filesystem, pafs.LocalFileSystem)
    )


def settled(
    listed: Sequence[LandedFile], base: str, source: SourceConfig, *, now: float, local: bool
) -> tuple[list[LandedFile], list[LandedFile]]:
    """The candidates among ``listed`` as (complete, still settling), oldest first: only
    a local file can still be written to once its name is visible."""
    settle = source.settle_time.total_seconds() if local else 0.0
    ready: list[LandedFile] = []
    settling: list[LandedFile] = []
    for landed in listed:
        if is_candidate(relative_path(base, landed.path), source.glob):
            (settling if now - landed.mtime < settle else ready).append(landed)
    ready.sort(key=lambda f: (f.mtime, f.path))
    settling.sort(key=lambda f: (f.mtime, f.path))
    return ready, settling
