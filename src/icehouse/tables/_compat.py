"""Every name icehouse takes from a dependency's internals, imported here and nowhere else.

PyIceberg and DuckDB promise nothing about these: they are private by name
(``_InclusiveMetricsEvaluator``), undocumented helpers of a module that is not part of
the public API (``pyiceberg.io.pyarrow``), private methods icehouse overrides
(``SqlCatalog._convert_orm_to_iceberg``), or the shape of a DuckDB function's output
(``json_serialize_sql``). Keeping them in one module means an upgrade that removes or
changes one breaks this file and ``tests/test_compat.py`` (which says which name and
what to do), not a query in production.

Why each is worth its risk:

- ``InclusiveMetricsEvaluator``: PyIceberg's only evaluator of a filter against column
  metrics (min/max, null counts); its own planner uses it. Scan planning and row-group
  counting (``scan.py``, ``row_groups.py``) reuse it so that they follow Iceberg's
  semantics exactly.
- ``ArrowScan``: reads planned tasks into Arrow with deletes applied and columns mapped by
  field id; ``Table.scan`` would plan the files again.
- ``StatsAggregator``: turns Parquet statistics into Iceberg's serialised bounds.
- ``DeleteFileIndex``: matches position delete files to data files as PyIceberg does.
- ``update_table_metadata``: applies metadata updates without committing (dry runs).
- ``compute_statistics_plan``, ``data_file_statistics_from_parquet_metadata``,
  ``parquet_path_to_id_mapping``: a written Parquet file's Iceberg metrics.
- ``SQL_CATALOG_OVERRIDES``: private ``SqlCatalog`` methods ``tables/catalog.py``
  overrides or calls to cache parsed metadata files, to stage every commit (the one
  place all writers' commits pass, whatever client made them), and
  ``_resolve_table_location``, the catalog's own rule for where a new table lives (a
  staged creation must put the table where a direct one would). A commit of several
  tables at once (``multi_commit.py``) stages each table the same way, writes its
  metadata file with ``_write_metadata`` and enters a created table's row with
  ``_create_table_row``, as the catalog's own ``commit_table`` does for one table.
  ``_iceberg_type_filter`` is the catalog's own test that a row is a table and not a
  view, which the REST catalog's plain queries (``catalog_tables.list_tables``,
  ``metadata_reads.metadata_location``) apply as its ORM queries do.
- ``REST_CATALOG_INTERNALS``: what ``load_rest_table`` uses of a ``RestCatalog`` to send
  loadTable with ``If-None-Match`` (PyIceberg has no conditional load): its session (the
  producer's token and pooled connections), its path encoding, its conversion of an
  answer into a ``Table`` (the file IO the answer's config asks for) and its token
  refresh. A mounted producer's unchanged table then costs a 304, not its metadata;
  ``tune_rest_session`` sizes that session's connection pool for concurrent requests.
  The GET goes to that pool through the session's own adapter (its TLS settings and
  retries) but not through ``Session.request``: preparing and merging a request and
  wrapping its answer cost the central server more CPU than the rest of a mounted
  load; a session set up otherwise (another adapter or auth, proxies, cookies) is
  asked the ordinary way.
- ``serialize_sql``: DuckDB's parse tree as JSON (``json_serialize_sql``), whose node
  names (``SELECT_NODE``, ``COMPARE_EQUAL``, ``COLUMN_REF``...) ``filters.py`` reads.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

import duckdb
import requests
import urllib3
from pyiceberg.catalog.rest import Endpoints, RestCatalog, TableResponse
from pyiceberg.catalog.rest.auth import AuthManagerAdapter
from pyiceberg.catalog.rest.response import _handle_non_200_response
from pyiceberg.catalog.sql import SqlCatalog
from pyiceberg.exceptions import AuthorizationExpiredError, NoSuchTableError, UnauthorizedError
from pyiceberg.expressions.visitors import _InclusiveMetricsEvaluator
from pyiceberg.io.pyarrow import (
    ArrowScan,
    StatsAggregator,
    compute_statistics_plan,
    data_file_statistics_from_parquet_metadata,
    parquet_path_to_id_mapping,
)
from pyiceberg.table import StagedTable, Table
from pyiceberg.table.delete_file_index import DeleteFileIndex
from pyiceberg.table.update import TableRequirement, TableUpdate, update_table_metadata
from requests import HTTPError, PreparedRequest, Session
from requests.adapters import HTTPAdapter
from requests.utils import get_environ_proxies
from sqlalchemy import ColumnElement
from urllib3 import Timeout

InclusiveMetricsEvaluator = _InclusiveMetricsEvaluator
"""``(schema, expr, case_sensitive, include_empty_files)``; ``.eval(data_file) -> bool``.
Not thread-safe: it keeps the file being evaluated on itself."""

SQL_CATALOG_OVERRIDES = (
    "_convert_orm_to_iceberg",
    "_load_file_io",
    "_update_and_stage_table",
    "_resolve_table_location",
    "_iceberg_type_filter",
    "_create_table_row",
    "_write_metadata",
)
"""Private ``SqlCatalog`` methods that ``tables/`` overrides or calls."""


def table_location(catalog: SqlCatalog, location: str | None, namespace: str, table: str) -> str:
    """Where ``catalog`` puts a new table: ``location`` if given, else under the
    namespace's ``location`` property, else under the warehouse."""
    resolved: str = catalog._resolve_table_location(location, namespace, table)
    return resolved


def tables_only(catalog: SqlCatalog) -> ColumnElement[bool] | None:
    """The filter that keeps a query of the catalog's table rows to tables (not views),
    or None when the catalog's schema has no such column."""
    return catalog._iceberg_type_filter()


def stage_commit(
    catalog: SqlCatalog,
    current: Table | None,
    identifier: tuple[str, ...],
    requirements: tuple[TableRequirement, ...],
    updates: tuple[TableUpdate, ...],
) -> StagedTable:
    """The table's next metadata, through the catalog's own staging (requirements checked
    against ``current``; raises ``CommitFailedException`` when one fails)."""
    staged: StagedTable = catalog._update_and_stage_table(
        current, identifier, requirements, updates
    )
    return staged


def write_metadata(staged: StagedTable) -> None:
    """Write the staged metadata file where the catalog would."""
    SqlCatalog._write_metadata(staged.metadata, staged.io, staged.metadata_location)


def table_row(catalog: SqlCatalog, namespace: str, name: str, location: str) -> dict[str, Any]:
    """The catalog row of a table created at metadata ``location``."""
    row: dict[str, Any] = catalog._create_table_row(namespace, name, location)
    return row


REST_CATALOG_INTERNALS = (
    "_session",
    "_split_identifier_for_path",
    "_response_to_table",
    "_refresh_token",
)
"""Private ``RestCatalog`` members ``load_rest_table`` and ``tune_rest_session`` use."""


def load_rest_table(
    catalog: RestCatalog, identifier: tuple[str, ...], etag: str | None
) -> tuple[Table | None, str | None]:
    """loadTable on ``catalog`` as its own ``load_table`` sends it, with
    ``If-None-Match: etag`` when given: (None, ``etag``) when the table is unchanged
    (304), else (the table, the ETag it came with, None if the server sends none). An
    expired or refused token is refreshed and the load tried once more, as
    ``load_table`` does.

    Raises: NoSuchTableError (404), what ``load_table`` raises for other statuses, and
    requests' ConnectionError or Timeout (the server does not answer)."""
    url = catalog.url(
        Endpoints.load_table, prefixed=True, **catalog._split_identifier_for_path(identifier)
    )
    headers = {"If-None-Match": etag} if etag is not None else {}
    for attempt in (1, 2):
        try:
            answer = _get(catalog._session, url, headers)
        except HTTPError as exc:
            try:
                _handle_non_200_response(exc, {404: NoSuchTableError})
            except (AuthorizationExpiredError, UnauthorizedError):
                if attempt == 2:
                    raise
                catalog._refresh_token()
                continue
            raise AssertionError("unreachable: every status it is given raises") from exc
        if answer.status == 304 and etag is not None:
            return None, etag
        loaded = TableResponse.model_validate_json(answer.body)
        table: Table = catalog._response_to_table(identifier, loaded)
        return table, answer.etag
    raise AssertionError("unreachable: the second attempt returns or raises")


@dataclass(frozen=True)
class _Answer:
    """A GET's status (below 400), body and ETag."""

    status: int
    body: bytes
    etag: str | None


def _get(session: Session, url: str, headers: dict[str, str]) -> _Answer:
    """GET ``url`` with the session's headers, auth, TLS settings and pooled
    connections, straight through the urllib3 pool of the session's adapter: what
    ``HTTPAdapter.send`` does, without the request's preparation and the answer's
    wrapping (a status of 400 or more is wrapped, for its error). A session whose
    requests need more than that (another adapter or auth, proxies, cookies) sends
    it itself, and so does a redirect, which it follows.

    Raises: HTTPError (a status of 400 or more), ConnectionError (as requests raises
    it: the server does not answer, or drops the connection)."""
    adapter = session.get_adapter(url)
    auth = session.auth
    if (
        type(adapter) is not HTTPAdapter
        or not isinstance(auth, AuthManagerAdapter)
        or session.proxies
        or session.cookies
    ):
        return _session_get(session, url, headers)
    sent = {k: v for k, v in {**session.headers, **headers}.items() if v is not None}
    authorization = auth.auth_manager.auth_header()
    if authorization:
        sent["Authorization"] = authorization
    request = PreparedRequest()
    request.url = url  # all that finding the pool reads of it
    try:
        pool = adapter.get_connection_with_tls_context(request, session.verify, {}, session.cert)
        adapter.cert_verify(pool, url, session.verify, session.cert)
        raw = pool.urlopen(
            "GET",
            adapter.request_url(request, {}),
            headers=sent,
            redirect=False,
            assert_same_host=False,
            preload_content=False,
            decode_content=False,
            retries=adapter.max_retries,
            timeout=Timeout(connect=None, read=None),
        )
        elsewhere = raw.get_redirect_location()
        body = b"" if elsewhere or raw.status >= 400 else raw.read(decode_content=True)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise requests.ConnectionError(exc) from exc
    if raw.status >= 400:  # requests' own answer, read as an error by its callers
        request.prepare(method="GET", url=url, headers=sent)
        adapter.build_response(request, raw).raise_for_status()
    if elsewhere:
        raw.drain_conn()
        return _session_get(session, url, headers)
    return _Answer(raw.status, body, raw.headers.get("ETag"))


def _session_get(session: Session, url: str, headers: dict[str, str]) -> _Answer:
    """``_get`` as ``Session.get`` sends it. Raises: as ``_get``."""
    response = session.get(url, headers=headers)
    response.raise_for_status()
    return _Answer(response.status_code, response.content, response.headers.get("ETag"))


def tune_rest_session(catalog: RestCatalog, connections: int) -> None:
    """Keep up to ``connections`` open connections to ``catalog``'s server in its
    session (requests keeps 10 per host), so that as many concurrent requests reuse one
    rather than each opening and dropping its own; and read the environment's proxy and
    CA bundle settings for that server once, where requests reads (and scans) the whole
    environment on every request."""
    session = catalog._session
    session.mount(catalog.uri, HTTPAdapter(pool_connections=1, pool_maxsize=connections))
    session.proxies.update(get_environ_proxies(catalog.uri))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle and session.verify is True:
        session.verify = bundle
    session.trust_env = False


_SERIALIZED: dict[str, str] = {}
"""``json_serialize_sql``'s text by statement: a query's text is parsed for its columns,
its pushed filter and, when governed, its references, and DuckDB's serialisation costs
0.5-5 ms a time where reading the JSON back costs a tenth of that."""
SERIALIZED_KEPT = 256


def serialize_sql(conn: duckdb.DuckDBPyConnection, sql: str) -> dict[str, Any]:
    """DuckDB's parse of ``sql`` as JSON (``{"error": ..., "statements": [...]}``), a
    fresh copy for each call (the parse needs no catalog: any connection gives it)."""
    text = _SERIALIZED.get(sql)
    if text is None:
        row = conn.execute("SELECT json_serialize_sql(?)", [sql]).fetchone()
        assert row is not None  # a scalar function returns one row
        text = row[0]
        if len(_SERIALIZED) >= SERIALIZED_KEPT:
            _SERIALIZED.clear()  # statements repeat in bursts: a refill costs little
        _SERIALIZED[sql] = text
    parsed: dict[str, Any] = json.loads(text)
    return parsed


def render_expression(conn: duckdb.DuckDBPyConnection, node: dict[str, Any]) -> str | None:
    """One expression node of ``serialize_sql``'s output as SQL text (DuckDB's own
    ``json_deserialize_sql``), None if DuckDB cannot render it."""
    statement = {
        "error": False,
        "statements": [
            {
                "node": {
                    "type": "SELECT_NODE",
                    "modifiers": [],
                    "cte_map": {"map": []},
                    "select_list": [node],
                    "from_table": {"type": "EMPTY", "alias": "", "sample": None},
                    "where_clause": None,
                    "group_expressions": [],
                    "group_sets": [],
                    "aggregate_handling": "STANDARD_HANDLING",
                    "having": None,
                    "sample": None,
                    "qualify": None,
                }
            }
        ],
    }
    try:
        row = conn.execute("SELECT json_deserialize_sql(?::JSON)", [json.dumps(statement)])
        text = row.fetchone()
    except duckdb.Error:
        return None
    if not text or not isinstance(text[0], str) or not text[0].startswith("SELECT "):
        return None
    rendered = text[0].removeprefix("SELECT ")
    if rendered.startswith("(") and rendered.endswith(")"):
        rendered = rendered[1:-1]
    return rendered


__all__ = [
    "REST_CATALOG_INTERNALS",
    "SQL_CATALOG_OVERRIDES",
    "ArrowScan",
    "DeleteFileIndex",
    "InclusiveMetricsEvaluator",
    "StatsAggregator",
    "compute_statistics_plan",
    "data_file_statistics_from_parquet_metadata",
    "load_rest_table",
    "parquet_path_to_id_mapping",
    "render_expression",
    "serialize_sql",
    "stage_commit",
    "table_location",
    "table_row",
    "tune_rest_session",
    "update_table_metadata",
    "write_metadata",
]
