"""``Idempotency-Key`` on commits: a client that retries a commit whose answer it never
saw gets the first answer again, and the rows land once."""

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

from icehouse.state.database import migrate, open_engine
from icehouse.state.idempotency import RememberedAnswer, recall, remember
from icehouse.state.models import idempotency_keys
from tests import fixtures_lake, fixtures_server
from tests.fixtures_server import Served
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
    remember(engine, "k1", "request-a", answer, now=1000.0, keep_for=60.0)

    assert recall(engine, "k1", "request-a", now=1059.0) == answer
    assert recall(engine, "k1", "request-b", now=2000.0) is None  # expired: free again
    remember(engine, "k2", "request-c", answer, now=2000.0, keep_for=60.0)
    with engine.connect() as conn:  # the expired key was dropped on the way
        assert [row.key for row in conn.execute(select(idempotency_keys))] == ["k2"]
    remember(engine, "k2", "request-c", RememberedAnswer(409, "{}"), now=2001.0, keep_for=60.0)
    assert recall(engine, "k2", "request-c", now=2002.0) == answer  # the first answer stands
    engine.dispose()
