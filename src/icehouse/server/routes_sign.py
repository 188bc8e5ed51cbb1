"""Remote signing of S3 requests (the Iceberg S3 signer API), one route per table:
``POST /v1/{prefix}/namespaces/{namespace}/tables/{table}/sign``, and the ``config``
a table on S3 is handed with, which points engines to it.

The table is in the path, so a signature is decided for the table the engine loaded,
as the principal of the request's bearer token (PyIceberg and Iceberg Java send the
catalog's own), at the moment of the request.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Response
from fastapi.responses import JSONResponse

from icehouse.lake.storage_signing import StorageRequest, can_sign
from icehouse.server.deps import API, LakeDep, check_prefix
from icehouse.server.models import RequestBody
from icehouse.server.paths import SEPARATOR, namespace_from_path

router = APIRouter(prefix=API, dependencies=[Depends(check_prefix)])

SIGN = "/namespaces/{namespace}/tables/{table}/sign"

PYICEBERG_FILE_IO = "pyiceberg.io.fsspec.FsspecFileIO"
"""PyIceberg's FileIO that can use a remote signer (its default, PyArrow's, cannot)."""

_PASSED_ON = ("s3.endpoint", "s3.region", "s3.path-style-access")
"""The lake's ``[storage]`` settings an engine needs to reach the same S3 (no keys)."""


class SignRequestBody(RequestBody):
    """The S3 signer API's ``S3SignRequest``."""

    region: str
    uri: str
    method: Literal["PUT", "GET", "HEAD", "POST", "DELETE", "PATCH", "OPTIONS"]
    headers: dict[str, list[str]]


@router.post(SIGN)
def sign_request(namespace: str, table: str, body: SignRequestBody, lake: LakeDep) -> Response:
    """The request's URL and headers, signed with the lake's keys: answered with
    ``Cache-Control: no-cache``, so that an engine asks again for each request and a
    revoked grant stops the next one."""
    request = StorageRequest(
        method=body.method, uri=body.uri, headers=body.headers, region=body.region
    )
    signed = lake.storage_signing.sign(namespace_from_path(namespace), table, request)
    return JSONResponse(
        {"uri": signed.uri, "headers": signed.headers}, headers={"Cache-Control": "no-cache"}
    )


def signing_config(
    storage: Mapping[str, str], prefix: str, namespace: tuple[str, ...], table: str, location: str
) -> dict[str, str]:
    """The ``config`` of a ``LoadTableResult`` that turns on remote signing for a table
    at ``location``: for PyIceberg (``s3.signer``, and the FileIO that honours it) and
    Iceberg Java (``s3.remote-signing-enabled``), both sending to this server's route
    for the table. Empty for a table not on S3 or a lake without S3 keys of its own."""
    if not location.startswith(("s3://", "s3a://", "s3n://")) or not can_sign(storage):
        return {}
    path = f"v1/{quote(prefix, safe='')}/namespaces/{quote(SEPARATOR.join(namespace), safe='')}"
    config = {key: storage[key] for key in _PASSED_ON if key in storage}
    config.update(
        {
            "s3.remote-signing-enabled": "true",
            "s3.signer": "S3V4RestSigner",
            "s3.signer.endpoint": f"{path}/tables/{quote(table, safe='')}/sign",
            "py-io-impl": PYICEBERG_FILE_IO,
        }
    )
    return config
