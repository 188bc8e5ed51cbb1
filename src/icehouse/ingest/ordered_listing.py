"""Listing a landing location from a key on: what landed since the last poll, where keys
sort by landing time (``listing = "ordered"``).

On S3, one ``ListObjectsV2`` with ``StartAfter`` (pages of 1000 keys): the store skips
what sorts before the key, so a poll costs the keys after it. In a local folder, a walk
that reads only the folders that can hold a later path (with date folders: the current
one and newer ones) and looks up only the later files. Paths are those a full listing
gives (``bucket/key``; the folder's path and the file's below it), so the high-water
key is a path too.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pyarrow.fs as pafs

from icehouse.errors import InvalidConfig
from icehouse.ingest.landing import LandedFile, open_location

S3_PAGE = 1000
"""Keys per ``ListObjectsV2`` answer (S3's maximum)."""


@dataclass(frozen=True)
class Listed:
    """Every file a listing returned, in path order, how many requests it took (LIST
    pages on S3, folders read locally), and the location's path they are under."""

    files: list[LandedFile]
    requests: int
    base: str


def list_after(location: str, storage: Mapping[str, str], start_after: str | None) -> Listed:
    """The files under ``location`` whose path sorts after ``start_after`` (None: all).

    Raises: InvalidConfig (an S3 location without botocore, which lists from a key)."""
    if location.startswith(("s3://", "s3a://")):
        return _s3_after(location.split("://", 1)[1].rstrip("/"), storage, start_after)
    filesystem, base = open_location(location, dict(storage))
    return _local_after(filesystem, base, start_after)


def _local_after(filesystem: pafs.FileSystem, base: str, start_after: str | None) -> Listed:
    later: list[str] = []
    folders = [base]
    requests = 0
    while folders:
        folder = folders.pop()
        requests += 1
        try:
            entries = list(os.scandir(folder))
        except FileNotFoundError:
            continue  # not delivered yet, or removed while walked
        for entry in entries:
            path = f"{folder}/{entry.name}"
            if entry.is_dir():
                if _may_hold_later(path, start_after):
                    folders.append(path)
            elif start_after is None or path > start_after:
                later.append(path)
    # Looked up through the filesystem a full listing uses: the same modification time,
    # to the microsecond, hence the same ledger identity.
    infos = filesystem.get_file_info(sorted(later)) if later else []
    files = [
        LandedFile(path=i.path, size=i.size or 0, mtime=i.mtime.timestamp())
        for i in infos
        if i.type == pafs.FileType.File and i.mtime is not None
    ]
    return Listed(files=files, requests=requests, base=base)


def _may_hold_later(folder: str, start_after: str | None) -> bool:
    """Whether a path below ``folder`` can sort after ``start_after``: not when every
    such path shares a prefix that already sorts before it."""
    prefix = folder + "/"
    return start_after is None or start_after.startswith(prefix) or prefix > start_after


def _s3_after(base: str, storage: Mapping[str, str], start_after: str | None) -> Listed:
    bucket, _, prefix = base.partition("/")
    client = _s3_client(tuple(sorted(storage.items())))
    arguments = {"Bucket": bucket, "Prefix": f"{prefix}/" if prefix else ""}
    if start_after is not None:
        arguments["StartAfter"] = start_after.removeprefix(f"{bucket}/")
    files: list[LandedFile] = []
    requests = 0
    for page in client.get_paginator("list_objects_v2").paginate(
        **arguments, PaginationConfig={"PageSize": S3_PAGE}
    ):
        requests += 1
        files += [
            LandedFile(
                path=f"{bucket}/{item['Key']}",
                size=int(item["Size"]),
                mtime=item["LastModified"].timestamp(),
            )
            for item in page.get("Contents", [])
            if not item["Key"].endswith("/")  # a folder marker
        ]
    return Listed(files=files, requests=requests, base=base)


@functools.lru_cache(maxsize=8)
def _s3_client(storage: tuple[tuple[str, str], ...]) -> Any:
    """A botocore S3 client per ``[storage]`` settings, made once per process: making
    one costs more than a poll that finds nothing new. Clients are thread-safe.

    Raises: InvalidConfig (botocore is not installed)."""
    try:
        from botocore.config import Config
        from botocore.session import get_session
    except ImportError as exc:
        raise InvalidConfig(
            'listing = "ordered" on S3 needs botocore: pip install "icehouse[s3]"',
            where="sources",
        ) from exc
    settings = dict(storage)
    endpoint = settings.get("s3.endpoint") or None
    return get_session().create_client(
        "s3",
        endpoint_url=endpoint,
        region_name=settings.get("s3.region", "us-east-1"),
        aws_access_key_id=settings.get("s3.access-key-id"),
        aws_secret_access_key=settings.get("s3.secret-access-key"),
        config=Config(s3={"addressing_style": "path" if endpoint else "auto"}),
    )
