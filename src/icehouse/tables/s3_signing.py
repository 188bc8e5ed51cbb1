"""Signing an S3 request on behalf of a client that holds no storage keys: where the
request goes (bucket and key, parsed from its URL), and its AWS Signature Version 4
made with the lake's own keys.

Deciding whether to sign is the caller's job; this module only says what a request
touches and signs it. The body is never seen, so the payload is declared unsigned
(``UNSIGNED-PAYLOAD``), as S3 allows: the signature still binds the method, the URL
(bucket, key, query) and the headers, so it is good for that one request only, and S3
refuses it once its ``X-Amz-Date`` is more than 15 minutes old.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

from icehouse.errors import InvalidInput

READ_METHODS = frozenset({"GET", "HEAD"})
WRITE_METHODS = frozenset({"PUT", "POST"})
DELETE_METHODS = frozenset({"DELETE"})

_SET_BY_SIGNING = frozenset(
    {"authorization", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"}
)
"""Headers the signature makes: a client's own values for them are dropped."""

_LISTING_QUERY = frozenset(
    {
        "list-type",
        "prefix",
        "delimiter",
        "max-keys",
        "continuation-token",
        "start-after",
        "encoding-type",
        "marker",
        "fetch-owner",
    }
)
"""What a listing of objects (ListObjects, ListObjectsV2) may ask."""

_OBJECT_QUERY = frozenset({"partNumber", "uploadId", "uploads", "versionId", "x-id"})
"""What a request for an object may ask beyond the object: a part of a multipart
upload, a version. Subresources (``?acl``, ``?tagging``, ``?retention``...) change or
show more than the object's bytes, and are not signed."""

_AMZ_HEADERS = (
    "x-amz-checksum-",
    "x-amz-sdk-checksum-algorithm",
    "x-amz-meta-",
    "x-amz-server-side-encryption",
    "x-amz-storage-class",
    "x-amz-trailer",
    "x-amz-decoded-content-length",
    "x-amz-expected-bucket-owner",
    "x-amz-request-payer",
    "x-amz-user-agent",
)
"""The ``x-amz-*`` headers signed: about the object's bytes and how they travel. Others
do more than read or write those bytes (``x-amz-copy-source`` copies another key,
possibly another table's file; ``x-amz-acl`` and ``x-amz-grant-*`` open it to others;
``x-amz-object-lock-*`` keeps it from deletion) and are refused."""


@dataclass(frozen=True)
class S3Target:
    """What an S3 request touches: ``key`` is an object's key, or for a listing of the
    bucket (``GET /bucket?prefix=...``) the prefix it lists."""

    bucket: str
    key: str
    listing: bool = False

    def lies_under(self, location: str) -> bool:
        """Whether the target is inside ``location`` (``s3://bucket/prefix``): an
        object below it, or a listing of a prefix below it. ``.`` and ``..`` segments
        are refused beforehand (``target_of``), so a prefix test is a containment test."""
        bucket, prefix = split_location(location)
        return self.bucket == bucket and self.key.startswith(prefix.rstrip("/") + "/")


@dataclass(frozen=True)
class SignedRequest:
    """The request as it must be sent: its URL and every header, each a list of values
    (the S3 signer API's shape)."""

    uri: str
    headers: dict[str, list[str]]


def split_location(location: str) -> tuple[str, str]:
    """``s3://bucket/a/b`` as ``("bucket", "a/b")``.

    Raises: InvalidInput (not an ``s3://`` or ``s3a://`` location)."""
    parts = urlsplit(location)
    if parts.scheme not in {"s3", "s3a", "s3n"} or not parts.netloc:
        raise InvalidInput(f"{location!r} is not an S3 location (s3://bucket/prefix)")
    return parts.netloc, parts.path.lstrip("/")


def target_of(uri: str, *, endpoint: str | None) -> S3Target:
    """The bucket and key of a request to ``uri``, path-style (``http://host/bucket/key``)
    or virtual-hosted (``http://bucket.host/key``). Only URLs to ``endpoint`` (the lake's
    ``s3.endpoint``; without one, AWS's ``*.amazonaws.com``) are understood: the lake's
    keys sign nothing for another host.

    Raises: InvalidInput (another host, no bucket, neither an object nor a listing of a
    prefix, a ``.`` or ``..`` segment in the key)."""
    parts = urlsplit(uri)
    host = (parts.hostname or "").lower()
    path = unquote(parts.path).lstrip("/")
    if endpoint is not None:
        served = urlsplit(endpoint)
        base = (served.hostname or "").lower()
        if (parts.scheme, parts.port) != (served.scheme, served.port):
            raise InvalidInput(f"{uri!r} is not a request to the lake's S3 endpoint {endpoint}")
    elif host.endswith(".amazonaws.com") and (host.startswith("s3.") or ".s3." in host):
        base = host if host.startswith("s3.") else host[host.index(".s3.") + 1 :]
    else:
        raise InvalidInput(f"{uri!r} is not a request to S3")
    if host == base:
        bucket, _, key = path.partition("/")
    elif host.endswith("." + base):
        bucket, key = host[: -len(base) - 1], path
    else:
        raise InvalidInput(f"{uri!r} is not a request to the lake's S3 endpoint")
    if not bucket:
        raise InvalidInput(f"{uri!r} names no bucket")
    query = parse_qs(parts.query, keep_blank_values=True)
    listing = not key
    if listing:
        prefixes = query.get("prefix", [])
        if len(prefixes) != 1 or not prefixes[0]:
            raise InvalidInput(f"{uri!r} is neither an object nor a listing of a prefix")
        key = prefixes[0]
    asked = set(query) - (_LISTING_QUERY if listing else _OBJECT_QUERY)
    if asked:
        raise InvalidInput(f"{uri!r} asks for {', '.join(sorted(asked))}, which is not signed")
    if any(segment in {".", ".."} for segment in key.split("/")):
        raise InvalidInput(f"{uri!r} has a '.' or '..' segment in its key")
    return S3Target(bucket=bucket, key=key, listing=listing)


def check_headers(headers: Mapping[str, list[str]]) -> None:
    """Raises: InvalidInput (an ``x-amz-*`` header that does more than carry an
    object's bytes, ``_AMZ_HEADERS``)."""
    refused = sorted(
        name
        for name in headers
        if name.lower().startswith("x-amz-")
        and name.lower() not in _SET_BY_SIGNING
        and not name.lower().startswith(_AMZ_HEADERS)
    )
    if refused:
        raise InvalidInput(f"the header {', '.join(refused)} is not signed")


def sign(
    method: str,
    uri: str,
    headers: Mapping[str, list[str]],
    *,
    region: str,
    access_key_id: str,
    secret_access_key: str,
    session_token: str | None = None,
) -> SignedRequest:
    """Sign ``method uri`` with ``headers`` (the client's, as it will send them) for S3
    in ``region`` with the given keys (botocore's SigV4 for S3, payload unsigned)."""
    from botocore.auth import S3SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.config import Config
    from botocore.credentials import Credentials

    kept = {k: ", ".join(v) for k, v in headers.items() if k.lower() not in _SET_BY_SIGNING}
    request = AWSRequest(method=method, url=uri, headers=kept)
    request.context["client_config"] = Config(s3={"payload_signing_enabled": False})
    credentials = Credentials(access_key_id, secret_access_key, session_token)
    S3SigV4Auth(credentials, "s3", region).add_auth(request)
    signed: dict[str, list[str]] = {}
    for name, value in request.headers.items():
        signed.setdefault(name, []).append(value)
    return SignedRequest(uri=request.url, headers=signed)
