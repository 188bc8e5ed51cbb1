"""Can this warehouse hold tables? Asked once, by ``icehouse init``, before a home is written.

A warehouse that cannot be written shows itself only at the first commit, long after
whoever set it up has gone, and as a storage error in the middle of ingestion. So
``init`` creates the bucket if it is missing (and the keys may), then writes, reads back
and deletes a probe object under the warehouse through the same FileIO the lake's
commits use. Whatever fails is said in the store's own terms: unreachable, keys refused,
permission missing, bucket missing and not creatable.
"""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pyarrow.fs as pafs
from pyiceberg.io import load_file_io

from icehouse.errors import SetupFailed
from icehouse.state.home import warehouse_uri

PROBE = b"icehouse warehouse probe\n"
_REQUEST_ID = re.compile(r"\s*\(Request ID: [^)]*\)")

_UNREACHABLE = ("NETWORK_CONNECTION", "curlCode:", "Could not connect", "Connection refused")
_KEYS_REFUSED = (
    "INVALID_ACCESS_KEY_ID",
    "SIGNATURE_DOES_NOT_MATCH",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "EXPIRED_TOKEN",
    "InvalidToken",
)
_DENIED = ("ACCESS_DENIED", "AccessDenied", "Permission denied")
_NO_BUCKET = ("NO_SUCH_BUCKET", "NoSuchBucket")


@dataclass(frozen=True)
class WarehouseChecked:
    """What the check found and did."""

    uri: str
    """The warehouse as a URI (``s3://bucket/prefix``, ``file:///...``)."""
    bucket: str | None
    """The bucket of an object-store warehouse; None for a local folder."""
    created_bucket: bool
    """Whether the check created the bucket (it is then left in place, even on failure)."""


def check_warehouse(warehouse: str, storage: Mapping[str, str]) -> WarehouseChecked:
    """Make sure tables can be written under ``warehouse`` with the ``[storage]`` settings.

    Raises:
        SetupFailed: the store is unreachable, refuses the keys, denies a write, read or
            delete under the warehouse, or the bucket is missing and cannot be created.
    """
    uri = warehouse_uri(warehouse)
    bucket = _bucket_of(uri)
    if uri.startswith("file://"):
        _make_folder(uri)
    created = bucket is not None and _ensure_bucket(uri, bucket, storage)
    try:
        _probe(uri, storage)
    except SetupFailed as exc:
        if created:
            raise exc.leaving((f"bucket {bucket}, created by this check",)) from exc
        raise
    return WarehouseChecked(uri=uri, bucket=bucket, created_bucket=created)


def _bucket_of(uri: str) -> str | None:
    scheme, found, rest = uri.partition("://")
    if not found or scheme not in ("s3", "s3a", "s3n"):
        return None
    return rest.split("/", 1)[0]


def _make_folder(uri: str) -> None:
    """A local warehouse's folder, made as the catalog would make it on first open."""
    try:
        Path(urlparse(uri).path).mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _failed(uri, exc) from exc


def _bucket_filesystem(storage: Mapping[str, str]) -> pafs.S3FileSystem:
    """The store, as PyIceberg's FileIO reaches it, allowed to create a bucket (which a
    FileIO never does). Keys left out of ``[storage]`` come from the AWS SDK's own chain
    (``AWS_ACCESS_KEY_ID``..., a profile, an instance role), as they will for the lake."""
    endpoint = storage.get("s3.endpoint", "")
    return pafs.S3FileSystem(
        access_key=storage.get("s3.access-key-id"),
        secret_key=storage.get("s3.secret-access-key"),
        session_token=storage.get("s3.session-token"),
        region=storage.get("s3.region", "us-east-1"),
        endpoint_override=endpoint.split("://", 1)[-1] or None,
        scheme="http" if endpoint.startswith("http://") else "https",
        allow_bucket_creation=True,
    )


def _ensure_bucket(uri: str, bucket: str, storage: Mapping[str, str]) -> bool:
    """Create ``bucket`` if it is missing; True when this call created it."""
    filesystem = _bucket_filesystem(storage)
    try:
        found = filesystem.get_file_info(bucket)
    except OSError as exc:
        if _matches(exc, _DENIED):
            # HeadBucket answers a bare 403 both to wrong keys and to keys without the
            # right: the probe's write gets the store's full answer and names the cause.
            return False
        raise _failed(uri, exc) from exc
    if found.type != pafs.FileType.NotFound:
        return False
    try:
        filesystem.create_dir(bucket)
    except OSError as exc:
        raise SetupFailed(
            service="storage",
            where=uri,
            detail=f"bucket {bucket} does not exist and could not be created "
            f"({_first_line(exc)}); create it, or give keys that may create buckets",
        ) from exc
    return True


def _probe(uri: str, storage: Mapping[str, str]) -> None:
    """Write, read back and delete one small object under the warehouse."""
    io = load_file_io(dict(storage), uri)
    key = f"{uri.rstrip('/')}/.icehouse-probe-{secrets.token_hex(8)}"
    written = False
    try:
        with io.new_output(key).create(overwrite=True) as out:
            out.write(PROBE)
        written = True
        with io.new_input(key).open() as stream:
            back = stream.read()
        io.delete(key)
        written = False
    except OSError as exc:
        raise _failed(uri, exc) from exc
    finally:
        if written:  # the read failed: do not leave the probe behind if it can be helped
            with contextlib.suppress(OSError):
                io.delete(key)
    if back != PROBE:
        raise SetupFailed(
            service="storage",
            where=uri,
            detail=f"a probe object read back as {len(back)} bytes, not the {len(PROBE)} "
            "written; check that s3.endpoint is an S3-compatible store",
        )


def _matches(exc: BaseException, markers: tuple[str, ...]) -> bool:
    return any(marker in str(exc) for marker in markers)


def _failed(uri: str, exc: OSError) -> SetupFailed:
    """``exc`` as the store's answer a person can act on."""
    line = _first_line(exc)
    if isinstance(exc, ConnectionError | TimeoutError) or _matches(exc, _UNREACHABLE):
        detail = f"unreachable ({line}); check s3.endpoint and that the store is running"
    elif _matches(exc, _KEYS_REFUSED):
        detail = (
            f"the keys were refused ({line}); check s3.access-key-id and "
            "s3.secret-access-key (or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
        )
    elif _matches(exc, _NO_BUCKET):
        detail = f"the bucket does not exist ({line})"
    elif isinstance(exc, PermissionError) or _matches(exc, _DENIED):
        detail = (
            f"permission denied ({line}); the keys must be allowed to write, read and "
            "delete objects under the warehouse"
        )
    else:
        detail = line
    return SetupFailed(service="storage", where=uri, detail=detail)


def _first_line(exc: BaseException) -> str:
    """The store's answer, without the request id that only its operator could use."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    line = _REQUEST_ID.sub("", lines[0]) if lines else type(exc).__name__
    return line[:300]
