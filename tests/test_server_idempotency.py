"""``Idempotency-Key`` on every route that changes the catalog: a client that retries a
request whose answer it never saw gets the first answer again, the rows of a commit land
once, and a key is its sender's own."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import requests
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField
from sqlalchemy import select

from icehouse.lake import Lake
from icehouse.lake.principals import Credentials
from icehouse.state.database import migrate, open_engine
from icehouse.state.idempotency import RememberedAnswer, recall, remember
from icehouse.state.models import idempotency_keys
from tests import fixtures_lake, fixtures_server
from tests.fixtures_server import Served, serving
from tests.test_server_auth import token_of
from tests.test_server_transactions import staged_append

home = fixtures_lake.home
lake = fixtures_lake.lake
served = fixtures_server.served

SCHEMA = Schema(NestedField(1, "id", LongType(), required=False))
TABLE_URL = "/v1/icehouse/namespaces/shop/tables/orders"


def blind_append(served: Served, ids: list[int]) -> dict[str, Any]:
    """An append asserting only the table's identity, as an engine that appends
    without reading sends it."""
    served.client().create_namespace("shop")
    table = served.client().create_table("shop.orders", SCHEMA)
    change = staged_append(table, ids)
    change["requirements"] = [{"type": "assert-table-uuid", "uuid": str(table.metadata.table_uuid)}]
    return change


def post(served: Served, path: str, body: dict[str, Any], key: str) -> requests.Response:
    return requests.post(served.url(path), json=body, headers={"Idempotency-Key": key}, timeout=60)


def ids(served: Served) -> list[int]:
    return served.lake.sql("SELECT id FROM shop.orders ORDER BY id").column("id").to_pylist()


def test_the_config_advertises_how_long_a_key_may_be_reused(served: Served) -> None:
    config = requests.get(served.url("/v1/config"), timeout=10).json()
    assert config["idempotency-key-lifetime"] == "PT30M"


def test_a_retried_commit_gets_the_first_answer_and_lands_once(served: Served) -> None:
    change = blind_append(served, [1, 2])
    key = str(uuid.uuid4())

    first = post(served, TABLE_URL, change, key)
    retried = post(served, TABLE_URL, change, key)

    assert (first.status_code, retried.status_code) == (200, 200)
    assert retried.json()["metadata-location"] == first.json()["metadata-location"]
    assert ids(served) == [1, 2]


def test_without_a_key_the_retry_of_a_landed_commit_is_refused(served: Served) -> None:
    """What a key spares the client: told its landed commit failed, it would build the
    append again and land the rows twice."""
    change = blind_append(served, [1, 2])
    answers = [requests.post(served.url(TABLE_URL), json=change, timeout=60) for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 400]
    assert ids(served) == [1, 2]


def test_a_retried_transaction_lands_once(served: Served) -> None:
    change = blind_append(served, [7])
    body = {"table-changes": [change]}
    key = str(uuid.uuid4())

    answers = [post(served, "/v1/icehouse/transactions/commit", body, key) for _ in range(2)]

    assert [a.status_code for a in answers] == [204, 204]
    assert ids(served) == [7]


def test_a_refusal_is_remembered_too(served: Served) -> None:
    """A deterministic 4xx is final: the retry gets it again even after the table
    changed so that the same request would now succeed."""
    change = blind_append(served, [1])
    change["requirements"].append({"type": "assert-current-schema-id", "current-schema-id": 5})
    key = str(uuid.uuid4())

    first = post(served, TABLE_URL, change, key)
    retried = post(served, TABLE_URL, change, key)

    assert (first.status_code, retried.status_code) == (409, 409)
    assert retried.json() == first.json()
    assert ids(served) == []


def test_the_same_key_with_another_request_is_refused(served: Served) -> None:
    change = blind_append(served, [1])
    key = str(uuid.uuid4())
    assert post(served, TABLE_URL, change, key).status_code == 200
    served.client().load_table("shop.orders").append(pa.table({"id": [2]}))
    other = {**change, "updates": change["updates"][:1]}

    answer = post(served, TABLE_URL, other, key)

    assert answer.status_code == 422
    assert answer.json()["error"]["type"] == "UnprocessableEntityException"
    assert f"Idempotency-Key {key} was used for a different request" in answer.text
    assert ids(served) == [1, 2]


def test_a_key_that_is_not_a_uuid_is_a_bad_request(served: Served) -> None:
    change = blind_append(served, [1])
    answer = post(served, TABLE_URL, change, "again")
    assert answer.status_code == 400
    assert "Idempotency-Key must be a UUID" in answer.json()["error"]["message"]
    assert ids(served) == []


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_key_is_forgotten_after_it_expires(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        request.getfixturevalue("postgres_url")
        if backend == "postgres"
        else f"sqlite:///{tmp_path / 'state.db'}"
    )
    engine = open_engine(url)
    migrate(engine)
    answer = RememberedAnswer(status=204, body="")
    remember(engine, "k1", "request-a", answer, principal="ana", now=1000.0, keep_for=60.0)

    assert recall(engine, "k1", "request-a", principal="ana", now=1059.0) == answer
    # expired: free again
    assert recall(engine, "k1", "request-b", principal="ana", now=2000.0) is None
    remember(engine, "k2", "request-c", answer, principal="ana", now=2000.0, keep_for=60.0)
    with engine.connect() as conn:  # the expired key was dropped on the way
        assert len(conn.execute(select(idempotency_keys)).all()) == 1
    refused = RememberedAnswer(409, "{}")
    remember(engine, "k2", "request-c", refused, principal="ana", now=2001.0, keep_for=60.0)
    # the first answer stands
    assert recall(engine, "k2", "request-c", principal="ana", now=2002.0) == answer
    # and it is ana's: the same key is nothing yet for bob
    assert recall(engine, "k2", "request-c", principal="bob", now=2002.0) is None
    engine.dispose()


VIEW_SCHEMA = {
    "type": "struct",
    "schema-id": 0,
    "fields": [{"id": 1, "name": "id", "type": "long", "required": False}],
}
VIEW_VERSION = {
    "version-id": 1,
    "timestamp-ms": 1,
    "schema-id": 0,
    "summary": {},
    "representations": [{"type": "sql", "sql": "select 1 as id", "dialect": "spark"}],
    "default-namespace": ["web"],
}
HITS = {"namespace": ["web"], "name": "hits"}
V = {"namespace": ["web"], "name": "v"}


def catalog_with_a_table_and_a_view(served: Served) -> dict[str, str]:
    """Namespace ``web`` (property ``owner``) with table ``hits`` and view ``v``; empty
    namespace ``empty``; table ``gone`` and view ``gone_view`` were dropped, their
    metadata files kept (to register). Returns those files' locations."""
    api = served.url("/v1/icehouse")
    client = served.client()
    client.create_namespace("web", {"owner": "ana"})
    client.create_namespace("empty")
    client.create_table("web.hits", SCHEMA)
    gone = client.create_table("web.gone", SCHEMA).metadata_location
    client.drop_table("web.gone")
    for name in ("v", "gone_view"):
        view = {"name": name, "schema": VIEW_SCHEMA, "view-version": VIEW_VERSION}
        created = requests.post(f"{api}/namespaces/web/views", json=view, timeout=30)
        assert created.status_code == 200, created.text
    gone_view = requests.get(f"{api}/namespaces/web/views/gone_view", timeout=30)
    requests.delete(f"{api}/namespaces/web/views/gone_view", timeout=30)
    return {"table": gone, "view": gone_view.json()["metadata-location"]}


MUTATIONS = [
    ("POST", "/namespaces", {"namespace": ["shop"]}),
    ("POST", "/namespaces/web/properties", {"removals": ["owner"], "updates": {}}),
    ("DELETE", "/namespaces/empty", None),
    ("POST", "/namespaces/web/tables", {"name": "new", "schema": VIEW_SCHEMA}),
    ("DELETE", "/namespaces/web/tables/hits?purgeRequested=true", None),
    ("POST", "/tables/rename", {"source": HITS, "destination": {**HITS, "name": "moved"}}),
    ("POST", "/namespaces/web/register", {"name": "back", "metadata-location": "table"}),
    (
        "POST",
        "/namespaces/web/views",
        {"name": "new_view", "schema": VIEW_SCHEMA, "view-version": VIEW_VERSION},
    ),
    (
        "POST",
        "/namespaces/web/views/v",
        {
            "updates": [
                {"action": "add-view-version", "view-version": {**VIEW_VERSION, "version-id": 2}},
                {"action": "set-current-view-version", "view-version-id": -1},
            ]
        },
    ),
    ("DELETE", "/namespaces/web/views/v", None),
    ("POST", "/views/rename", {"source": V, "destination": {**V, "name": "moved_view"}}),
    ("POST", "/namespaces/web/register-view", {"name": "back", "metadata-location": "view"}),
]


@pytest.mark.parametrize(("method", "path", "body"), MUTATIONS, ids=lambda x: str(x)[:40])
def test_every_route_that_changes_the_catalog_answers_a_retry_with_the_first_answer(
    served: Served, method: str, path: str, body: dict[str, Any] | None
) -> None:
    """The retry's answer is the first one; the same request without a key, run again,
    answers otherwise (a 409 or 404 for what just worked, or a newer state)."""
    files = catalog_with_a_table_and_a_view(served)
    if body is not None and body.get("metadata-location") in files:
        body = {**body, "metadata-location": files[body["metadata-location"]]}
    url = served.url("/v1/icehouse" + path)
    key = {"Idempotency-Key": str(uuid.uuid4())}

    first, retried = (
        requests.request(method, url, json=body, headers=key, timeout=30) for _ in range(2)
    )
    again_without_key = requests.request(method, url, json=body, timeout=30)

    assert first.status_code in (200, 204), first.text
    assert (retried.status_code, retried.content) == (first.status_code, first.content)
    assert (again_without_key.status_code, again_without_key.content) != (
        first.status_code,
        first.content,
    )


def test_a_key_is_its_senders_own(lake: Lake) -> None:
    """Bob sending the key Ana used is a request of his own: it runs, and he does not
    get Ana's answer."""
    ana = lake.principals.create("ana", admin=True)
    bob = lake.principals.create("bob", admin=True)
    with serving(lake, allow_anonymous=False) as secured:
        url = secured.url("/v1/icehouse/namespaces")
        key = str(uuid.uuid4())

        def create_shop(who: Credentials) -> requests.Response:
            headers = {"Authorization": f"Bearer {token_of(secured, who)}", "Idempotency-Key": key}
            return requests.post(url, json={"namespace": ["shop"]}, headers=headers, timeout=30)

        assert create_shop(ana).status_code == 200
        bobs = create_shop(bob)
        assert bobs.status_code == 409
        assert bobs.json()["error"]["type"] == "AlreadyExistsException"
        assert create_shop(ana).status_code == 200  # Ana's retry still gets her answer
