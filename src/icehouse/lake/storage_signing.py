"""``lake.storage_signing``: S3 requests signed with the lake's own keys for an engine
that holds none (the Iceberg REST catalog's remote signing).

An engine handed a table on S3 reads (and writes) its files itself. Instead of giving it
storage keys, which reach every table of the bucket and cannot be taken back, the
catalog signs each of its S3 requests, one at a time, after deciding it as the request's
principal, now: a grant revoked or a token expired stops the next request. A request is
signed only if it stays inside the table's location, and only for a principal that may
read all of the table (a signed read returns whole files, where no read restriction can
be attached, so a trusted engine with filtered access is refused too); writing needs
INSERT, deleting DELETE, on top.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from icehouse.errors import Forbidden, InvalidInput
from icehouse.govern.audit import current_trail
from icehouse.govern.authz import Resource, require
from icehouse.govern.objects import Privilege
from icehouse.lake.authz_scope import LakeScope
from icehouse.lake.governed import governed
from icehouse.lake.rest_access import check_unfiltered
from icehouse.tables import s3_signing
from icehouse.tables.catalog_tables import load_table_state
from icehouse.tables.namespaces import Namespace
from icehouse.tables.s3_signing import SignedRequest
from icehouse.tables.table_locations import owners_within

if TYPE_CHECKING:
    from icehouse.lake import Lake

__all__ = ["LakeStorageSigning", "SignedRequest", "StorageRequest", "can_sign"]

ACTION = "table.sign"


@dataclass(frozen=True)
class StorageRequest:
    """An S3 request an engine is about to send, as the S3 signer API describes it:
    ``headers`` each with a list of values; ``region`` the engine's (the lake's own
    ``s3.region`` wins, as its keys belong there)."""

    method: str
    uri: str
    headers: dict[str, list[str]]
    region: str


class LakeStorageSigning:
    """``lake.storage_signing``: deciding and signing engines' S3 requests."""

    def __init__(self, lake: Lake) -> None:
        self._lake = lake

    @governed(ACTION, on=("namespace", "name"))
    def sign(self, namespace: Namespace, name: str, request: StorageRequest) -> SignedRequest:
        """Sign ``request`` for the acting principal if it touches only the table's files.

        Args: ``namespace`` and ``name``, the table the engine loaded; ``request``, the
        S3 request it is about to send.
        Returns: the request's URL and headers as they must be sent (valid for that one
        request, for 15 minutes).
        Raises: Forbidden, recorded (no unfiltered SELECT; a write without INSERT or a
        delete without DELETE; a file outside the table's location), NoSuchTable,
        InvalidInput (a method S3 reading and writing does not use, a URL that is not
        an object or a listing on the lake's S3 endpoint, a subresource such as
        ``?acl``, a header that does more than carry bytes such as
        ``x-amz-copy-source``, a lake without S3 keys)."""
        lake = self._lake
        storage = lake.config.storage
        if not can_sign(storage):
            raise InvalidInput(
                "this lake signs no storage requests: that needs s3.access-key-id and "
                "s3.secret-access-key in its [storage], and pip install 'icehouse[s3]'"
            )
        method = request.method.upper()
        needed = _privilege_for(method)
        target = s3_signing.target_of(request.uri, endpoint=storage.get("s3.endpoint"))
        s3_signing.check_headers(request.headers)
        if target.listing and method != "GET":
            raise InvalidInput(f"{method} {request.uri} is neither an object nor a listing")
        check_unfiltered(lake, namespace, name, action=ACTION)
        dotted = ".".join((*namespace, name))
        if needed is not None:
            try:
                require(lake.principal, ACTION, Resource("table", dotted), needed, LakeScope(lake))
            except Forbidden as exc:
                _record(lake, dotted, exc.message)
                raise
        metadata = load_table_state(lake._catalog, namespace, name, snapshots="refs").metadata
        # Only the location: ``write.data.path`` and the like are table properties that
        # anyone with ALTER sets, and would open any prefix of the bucket. And only the
        # files no table nested deeper owns: whoever may create a table could create
        # one at the parent prefix of another's.
        who = f"principal {lake.principal.name!r} may not {ACTION} on table {dotted}"
        key = f"s3://{target.bucket}/{target.key}"
        if not target.lies_under(str(lake.config.warehouse)):
            # beside the warehouse lie what no table owns, such as the landing prefix
            # of raw logs: a table placed there by whoever may create one opens nothing
            _refuse(lake, dotted, f"{who}: {key} lies outside the lake's warehouse")
        if not target.lies_under(metadata["location"]):
            _refuse(lake, dotted, f"{who}: {key} lies outside the table's location")
        owners = owners_within(lake._catalog, metadata["location"], f"{target.bucket}/{target.key}")
        if owners != [(namespace, name)]:
            _refuse(lake, dotted, f"{who}: {key} lies in another table's location too")
        return s3_signing.sign(
            method,
            request.uri,
            request.headers,
            region=storage.get("s3.region") or request.region,
            access_key_id=storage["s3.access-key-id"],
            secret_access_key=storage["s3.secret-access-key"],
            session_token=storage.get("s3.session-token"),
        )


def can_sign(storage: Mapping[str, str]) -> bool:
    """Whether a lake with ``storage`` (its ``[storage]``) can sign: it holds S3 keys,
    and botocore, which signs, is installed (the ``s3`` extra brings it)."""
    keys = storage.get("s3.access-key-id") and storage.get("s3.secret-access-key")
    return bool(keys) and _botocore_installed()


@functools.cache
def _botocore_installed() -> bool:
    """Asked on every loadTable of a lake with S3 keys: looked up once."""
    return importlib.util.find_spec("botocore") is not None


def _privilege_for(method: str) -> Privilege | None:
    """What a request with ``method`` needs beyond unfiltered SELECT.

    Raises: InvalidInput (a method S3 reading and writing does not use)."""
    if method in s3_signing.READ_METHODS:
        return None
    if method in s3_signing.WRITE_METHODS:
        return Privilege.INSERT
    if method in s3_signing.DELETE_METHODS:
        return Privilege.DELETE
    raise InvalidInput(f"no {method} request to storage is signed (GET, HEAD, PUT, POST, DELETE)")


def _refuse(lake: Lake, table: str, message: str) -> NoReturn:
    _record(lake, table, message)
    principal = lake.principal.name
    raise Forbidden(message, principal=principal, action=ACTION, resource=f"table {table}")


def _record(lake: Lake, table: str, message: str) -> None:
    trail = current_trail()
    if trail is not None:
        trail.decision(lake.principal, ACTION, Resource("table", table), denied=message)
