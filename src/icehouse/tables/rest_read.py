"""icehouse's own reader of a table through an Iceberg REST catalog, one that applies the
read restrictions ``loadTable`` hands a trusted engine.

Engines that predate the spec's ``read-restrictions`` (PyIceberg 0.12, Spark with
Iceberg 1.10, DuckDB) ignore them and would read every row of the files, which is why
the server gives filtered tables only to principals marked as trusted engines, and why
those must run a reader like this one: it loads the table in one request, scans it with
the required row filter ANDed into the scan's, and leaves out every column a required
projection masks. A restriction it cannot apply fails the read, as the spec asks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import requests
from pyiceberg.catalog.noop import NoopCatalog
from pyiceberg.expressions import AlwaysTrue, And, BooleanExpression
from pyiceberg.io import load_file_io
from pyiceberg.table import Table
from pyiceberg.table.metadata import TableMetadataUtil

from icehouse.errors import (
    Forbidden,
    IcehouseError,
    InvalidInput,
    NoSuchTable,
    NotAuthenticated,
    ServerUnavailable,
)
from icehouse.tables.read_restrictions import decode_row_filter, hidden_fields
from icehouse.tables.row_filters import row_filter_expression

if TYPE_CHECKING:
    import pyarrow as pa

NAMESPACE_SEPARATOR = "\x1f"
"""How the REST spec joins a namespace's levels in a URL path."""


def read_table(
    uri: str,
    table: str,
    *,
    credential: str,
    row_filter: BooleanExpression | None = None,
    properties: dict[str, str] | None = None,
    warehouse: str | None = None,
    timeout: float = 60.0,
) -> pa.Table:
    """Read ``table`` (``namespace.table``) from the Iceberg REST catalog at ``uri`` as
    the principal of ``credential``, applying the read restrictions the catalog sends.

    Args: ``uri``, the catalog's root (``http://host:port``); ``credential``,
    ``CLIENT_ID:CLIENT_SECRET``; ``row_filter``, the caller's own filter, ANDed with the
    required one; ``properties``, PyIceberg FileIO settings to read the files with
    (``s3.endpoint``...), under those the catalog's answer carries; ``warehouse``, the
    catalog to read from when the server serves several (a mounted catalog's name).
    Returns: the rows the principal may read, without the columns it may not.
    Raises: NotAuthenticated, Forbidden (the catalog's refusal, with its message),
    NoSuchTable, InvalidInput (a restriction this reader cannot apply, or a malformed
    credential), ServerUnavailable."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {_token(session, uri, credential, timeout)}"
    prefix = _prefix(session, uri, warehouse, timeout)
    namespace, _, name = table.rpartition(".")
    path = f"/v1/{quote(prefix)}/namespaces/{quote(NAMESPACE_SEPARATOR.join(namespace.split('.')))}"
    answer = _get(session, f"{uri}{path}/tables/{quote(name)}", timeout, table)
    loaded = _restricted_table(answer, table, properties or {})
    restrictions = answer.get("read-restrictions") or {}
    schema = loaded.schema()
    hidden = hidden_fields(restrictions)
    required = decode_row_filter(restrictions, schema)
    scan_filter: BooleanExpression = row_filter or AlwaysTrue()
    if required is not None:
        scan_filter = And(scan_filter, row_filter_expression(required, schema))
    columns = tuple(f.name for f in schema.fields if f.field_id not in hidden)
    return loaded.scan(row_filter=scan_filter, selected_fields=columns).to_arrow()


def _restricted_table(answer: dict[str, Any], table: str, properties: dict[str, str]) -> Table:
    try:
        metadata = TableMetadataUtil.parse_obj(answer["metadata"])
        location = str(answer["metadata-location"])
    except (KeyError, ValueError) as exc:
        raise InvalidInput(f"the catalog's answer for {table} is not a table: {exc}") from exc
    settings = {**properties, **metadata.properties, **(answer.get("config") or {})}
    return Table(
        identifier=tuple(table.split(".")),
        metadata=metadata,
        metadata_location=location,
        io=load_file_io(settings, location=location),
        catalog=NoopCatalog("rest-read"),
    )


def _token(session: requests.Session, uri: str, credential: str, timeout: float) -> str:
    client_id, colon, secret = credential.partition(":")
    if not colon or not client_id or not secret:
        raise InvalidInput("a credential is CLIENT_ID:CLIENT_SECRET")
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    response = _send(session, "POST", f"{uri}/v1/oauth/tokens", timeout, data=form)
    if response.status_code != 200:
        raise NotAuthenticated(f"{uri} refused client id {client_id!r}: {response.text[:200]}")
    return str(response.json()["access_token"])


def _prefix(session: requests.Session, uri: str, warehouse: str | None, timeout: float) -> str:
    asked = "" if warehouse is None else f"?warehouse={quote(warehouse)}"
    config = _get(session, f"{uri}/v1/config{asked}", timeout, "")
    return str((config.get("overrides") or {}).get("prefix", ""))


def _get(session: requests.Session, url: str, timeout: float, table: str) -> dict[str, Any]:
    response = _send(session, "GET", url, timeout)
    if response.status_code == 200:
        answer: dict[str, Any] = response.json()
        return answer
    raise _error(response, table)


def _send(
    session: requests.Session, method: str, url: str, timeout: float, **kwargs: Any
) -> requests.Response:
    try:
        return session.request(method, url, timeout=timeout, **kwargs)
    except requests.RequestException as exc:
        raise ServerUnavailable(url, detail=str(exc)) from exc


def _error(response: requests.Response, table: str) -> IcehouseError:
    """The icehouse error for the catalog's error answer, with its message."""
    try:
        message = str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = f"HTTP {response.status_code}: {response.text[:200]}"
    if response.status_code == 401:
        return NotAuthenticated(message)
    if response.status_code == 403:
        return Forbidden(message, principal="", action="table.load", resource=f"table {table}")
    if response.status_code == 404:
        return NoSuchTable(message, table=table)
    return ServerUnavailable(response.url, detail=message)
