"""The wire format of the REST catalog: every error is the spec's ErrorModel
``{"error": {"message", "type", "code"}}`` with the spec's status, never a 500 for bad
input; ``/v1/config``, ETags, and one log line per request."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import requests
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField
from sqlalchemy import event

from tests import fixtures_lake, fixtures_server
from tests.fixtures_server import Served

home = fixtures_lake.home
lake = fixtures_lake.lake
served = fixtures_server.served

API = "/v1/icehouse"
SCHEMA = Schema(NestedField(1, "id", LongType(), required=False))


def error_of(response: requests.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"message", "type", "code"}
    assert body["error"]["code"] == response.status_code
    error: dict[str, Any] = body["error"]
    return error


@pytest.fixture
def web(served: Served) -> Served:
    """``web`` holds ``web.hits``."""
    client = served.client()
    client.create_namespace("web")
    client.create_table("web.hits", SCHEMA)
    return served


def test_config_names_the_prefix_and_every_endpoint_served(served: Served) -> None:
    config = requests.get(served.url("/v1/config")).json()
    assert config["overrides"] == {"prefix": "icehouse"}
    assert "POST /v1/{prefix}/namespaces/{namespace}/tables/{table}" in config["endpoints"]
    assert "POST /v1/{prefix}/tables/rename" in config["endpoints"]
    assert requests.get(served.url("/healthz")).json() == {"status": "ok"}


def test_a_missing_namespace_or_table_is_a_404_of_its_own_type(web: Served) -> None:
    namespace = requests.get(web.url(f"{API}/namespaces/nope"))
    assert namespace.status_code == 404
    assert error_of(namespace)["type"] == "NoSuchNamespaceException"
    assert "nope" in error_of(namespace)["message"]

    table = requests.get(web.url(f"{API}/namespaces/web/tables/nope"))
    assert table.status_code == 404
    assert error_of(table)["type"] == "NoSuchTableException"

    listing = requests.get(web.url(f"{API}/namespaces/nope/tables"))
    assert (listing.status_code, error_of(listing)["type"]) == (404, "NoSuchNamespaceException")
    assert requests.head(web.url(f"{API}/namespaces/web/tables/nope")).status_code == 404
    assert requests.head(web.url(f"{API}/namespaces/web/tables/hits")).status_code == 204


def test_creating_what_exists_is_a_409(web: Served) -> None:
    namespace = requests.post(web.url(f"{API}/namespaces"), json={"namespace": ["web"]})
    assert namespace.status_code == 409
    assert error_of(namespace)["type"] == "AlreadyExistsException"

    body = {"name": "hits", "schema": SCHEMA.model_dump(by_alias=True)}
    table = requests.post(web.url(f"{API}/namespaces/web/tables"), json=body)
    assert table.status_code == 409
    assert error_of(table)["type"] == "AlreadyExistsException"
    assert "web.hits" in error_of(table)["message"]


def test_a_namespace_that_holds_tables_is_not_dropped(web: Served) -> None:
    response = requests.delete(web.url(f"{API}/namespaces/web"))
    assert response.status_code == 409
    assert error_of(response)["type"] == "NamespaceNotEmptyException"
    assert web.lake.tables.list() == ["web.hits"]


def test_a_commit_whose_requirement_fails_is_a_409_and_changes_nothing(web: Served) -> None:
    before = requests.get(web.url(f"{API}/namespaces/web/tables/hits")).json()
    body = {
        "requirements": [
            {"type": "assert-table-uuid", "uuid": "00000000-0000-0000-0000-000000000000"}
        ],
        "updates": [{"action": "set-properties", "updates": {"owner": "ana"}}],
    }
    response = requests.post(web.url(f"{API}/namespaces/web/tables/hits"), json=body)
    assert response.status_code == 409
    assert error_of(response)["type"] == "CommitFailedException"
    after = requests.get(web.url(f"{API}/namespaces/web/tables/hits")).json()
    assert after["metadata-location"] == before["metadata-location"]
    assert "owner" not in after["metadata"]["properties"]


def test_a_commit_that_holds_moves_the_table(web: Served) -> None:
    loaded = requests.get(web.url(f"{API}/namespaces/web/tables/hits")).json()
    body = {
        "requirements": [{"type": "assert-table-uuid", "uuid": loaded["metadata"]["table-uuid"]}],
        "updates": [{"action": "set-properties", "updates": {"owner": "ana"}}],
    }
    response = requests.post(web.url(f"{API}/namespaces/web/tables/hits"), json=body)
    assert response.status_code == 200
    assert response.json()["metadata"]["properties"]["owner"] == "ana"
    assert web.lake.tables.get("web.hits").properties["owner"] == "ana"


@pytest.mark.parametrize(
    ("method", "path", "body", "named"),
    [
        ("post", "/namespaces", b"{not json", "body"),
        ("post", "/namespaces", b'{"properties": {}}', "body.namespace"),
        ("post", "/namespaces/web/tables", b'{"name": "t"}', "body.schema"),
        ("post", "/namespaces/web/tables", b'{"name": "t", "schema": {"type": "nope"}}', "type"),
        ("post", "/namespaces/web/tables/hits", b'{"updates": [{"action": "fly"}]}', "fly"),
        ("post", "/namespaces/web/tables/hits", b"[1, 2]", "body"),
        ("post", "/tables/rename", b'{"source": {"namespace": ["web"]}}', "body.source.name"),
        ("get", "/namespaces?pageSize=0", None, "pageSize"),
        ("get", "/namespaces?pageToken=%25%25", None, "pageToken"),
        ("get", "/namespaces/web/tables/hits?snapshots=some", None, "snapshots"),
        ("get", "/namespaces/web/tables/hits?snapshots=", None, "snapshots"),
        ("get", "/namespaces/web/tables?pageSize=0", None, "pageSize"),
        ("get", "/namespaces/web/tables?pageSize=two", None, "pageSize"),
        ("get", "/namespaces/web/tables?pageSize=", None, "pageSize"),
        ("get", "/namespaces/web/tables?pageToken=%25%25", None, "pageToken"),
        ("get", "/namespaces/%20/tables", None, "blank"),
        ("get", "/namespaces/%20/tables/hits", None, "blank"),
    ],
)
def test_bad_input_is_a_400_that_names_what_is_wrong(
    web: Served, method: str, path: str, body: bytes | None, named: str
) -> None:
    response = requests.request(
        method, web.url(API + path), data=body, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400, response.text
    error = error_of(response)
    assert error["type"] == "BadRequestException"
    assert named in error["message"]


def test_an_unchanged_table_answers_304_to_its_etag(web: Served) -> None:
    url = web.url(f"{API}/namespaces/web/tables/hits")
    first = requests.get(url)
    etag = first.headers["ETag"]
    unchanged = requests.get(url, headers={"If-None-Match": etag})
    assert (unchanged.status_code, unchanged.content) == (304, b"")

    web.client().load_table("web.hits").append(__import__("pyarrow").table({"id": [1]}))
    changed = requests.get(url, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag
    assert len(changed.json()["metadata"]["snapshots"]) == 1


def test_snapshots_refs_leaves_out_snapshots_no_branch_points_at(web: Served) -> None:
    table = web.client().load_table("web.hits")
    table.append(pa.table({"id": [1]}))
    table.append(pa.table({"id": [2]}))
    url = web.url(f"{API}/namespaces/web/tables/hits")
    assert len(requests.get(url, params={"snapshots": "all"}).json()["metadata"]["snapshots"]) == 2
    refs = requests.get(url, params={"snapshots": "refs"}).json()["metadata"]
    assert [s["snapshot-id"] for s in refs["snapshots"]] == [refs["current-snapshot-id"]]


def test_an_unknown_prefix_or_route_is_a_404_error_model(served: Served) -> None:
    response = requests.get(served.url("/v1/other/namespaces"))
    assert response.status_code == 404
    assert "GET /v1/config" in error_of(response)["message"]
    assert error_of(requests.get(served.url("/v2/nothing")))["code"] == 404


def test_each_request_is_logged_with_principal_route_status_and_time(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="icehouse.server"):
        requests.get(served.url(f"{API}/namespaces/nope"))
    lines = [r.getMessage() for r in caplog.records if r.name == "icehouse.server"]
    assert len(lines) == 1
    principal, method, route, status, ms, unit = lines[0].split()
    assert (principal, method, route, status, unit) == (
        "owner",  # an anonymous request acts as the lake's owner
        "GET",
        "/v1/{prefix}/namespaces/{namespace}",
        "404",
        "ms",
    )
    assert float(ms) >= 0


TABLES_ROUTE = "/v1/{prefix}/namespaces/{namespace}/tables"


@pytest.mark.parametrize(
    ("path", "logged"),
    [
        ("/namespaces/web/tables", f"owner GET {TABLES_ROUTE} 200"),
        ("/namespaces/nope/tables", f"owner GET {TABLES_ROUTE} 404"),
        ("/namespaces/web/tables/hits", f"owner GET {TABLES_ROUTE}/{{table}} 200"),
        ("/namespaces/web/tables/nope", f"owner GET {TABLES_ROUTE}/{{table}} 404"),
        # refused before anyone is named
        ("/namespaces/web/tables/hits?snapshots=some", f"- GET {TABLES_ROUTE}/{{table}} 400"),
    ],
)
def test_listings_and_loads_are_logged_by_their_route(
    web: Served, caplog: pytest.LogCaptureFixture, path: str, logged: str
) -> None:
    with caplog.at_level(logging.INFO, logger="icehouse.server"):
        requests.get(web.url(API + path))
    lines = [r.getMessage() for r in caplog.records if r.name == "icehouse.server"]
    assert [" ".join(line.split()[:4]) for line in lines] == [logged]


def test_registering_a_file_that_is_not_metadata_is_a_400_and_registers_nothing(
    web: Served, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.metadata.json"
    junk.write_text("not json")
    url = web.url(f"{API}/namespaces/web/register")
    for location in [str(junk), str(tmp_path / "missing.metadata.json")]:
        response = requests.post(url, json={"name": "copy", "metadata-location": location})
        assert response.status_code == 400
        assert "not a readable Iceberg metadata file" in error_of(response)["message"]
    assert web.lake.tables.list() == ["web.hits"]
    assert requests.head(web.url(f"{API}/namespaces/web/tables/copy")).status_code == 404


def test_the_etag_of_a_commit_answers_304_until_the_table_moves_again(web: Served) -> None:
    url = web.url(f"{API}/namespaces/web/tables/hits")
    loaded = requests.get(url).json()
    body = {
        "requirements": [{"type": "assert-table-uuid", "uuid": loaded["metadata"]["table-uuid"]}],
        "updates": [{"action": "set-properties", "updates": {"owner": "ana"}}],
    }
    committed = requests.post(url, json=body)
    etag = committed.headers["ETag"]
    assert requests.get(url, headers={"If-None-Match": etag}).status_code == 304
    refs = requests.get(url, params={"snapshots": "refs"}, headers={"If-None-Match": etag})
    assert refs.status_code == 200  # another representation: another tag


def test_a_property_both_removed_and_set_is_a_422_and_changes_nothing(web: Served) -> None:
    url = web.url(f"{API}/namespaces/web/properties")
    requests.post(url, json={"updates": {"owner": "ana"}})
    response = requests.post(url, json={"removals": ["owner"], "updates": {"owner": "bo"}})
    assert response.status_code == 422
    assert error_of(response)["type"] == "UnprocessableEntityException"
    assert "owner" in error_of(response)["message"]
    assert web.client().load_namespace_properties("web") == {"owner": "ana"}


def test_a_state_database_that_does_not_answer_is_a_503_naming_it(web: Served) -> None:
    """Another process holds the SQLite state database locked past the busy timeout
    (shortened from the lake's 60 s for the test: the outcome is the same)."""
    engine = web.lake._engine
    event.listen(engine, "connect", _short_busy_timeout)
    engine.dispose()  # every connection from now on waits 1 s for a lock, not 60
    state = web.lake.home / "state.db"
    blocker = sqlite3.connect(state, isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        response = requests.post(web.url(f"{API}/namespaces"), json={"namespace": ["late"]})
    finally:
        blocker.close()
    assert response.status_code == 503
    error = error_of(response)
    assert error["type"] == "ServiceUnavailableException"
    assert "state database" in error["message"]
    assert web.client().list_namespaces() == [("web",)]


def _short_busy_timeout(dbapi_connection: Any, _record: object) -> None:
    dbapi_connection.execute("PRAGMA busy_timeout=1000")
