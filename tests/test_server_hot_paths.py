"""The fast paths of loadTable and listTables answer exactly what the slow ones did: a
table changed behind the server's back (by the lake itself, or by another server process
sharing its state database) is never served from what was kept of an older version."""

from __future__ import annotations

import json

import pyarrow as pa
import requests
from pyiceberg.table import Table

from icehouse.lake.iceberg import TableState
from icehouse.server.load_bodies import LoadBodies
from tests import fixtures_lake, fixtures_server
from tests.fixtures_server import Served

home = fixtures_lake.home
lake = fixtures_lake.lake
served = fixtures_server.served
events = fixtures_lake.events

EVENTS_URL = "/v1/icehouse/namespaces/logs/tables/events"


def test_a_commit_made_outside_the_server_is_loaded_with_a_new_etag(
    served: Served, events: Table
) -> None:
    first = requests.get(served.url(EVENTS_URL))
    etag = first.headers["ETag"]
    assert requests.get(served.url(EVENTS_URL), headers={"If-None-Match": etag}).status_code == 304

    fixtures_lake.append_batches(served.lake, days=(1,), per_day=1)

    again = requests.get(served.url(EVENTS_URL), headers={"If-None-Match": etag})
    assert again.status_code == 200
    assert again.headers["ETag"] != etag
    assert len(again.json()["metadata"]["snapshots"]) == 1
    assert first.json()["metadata"].get("snapshots", []) == []


def test_both_renderings_of_one_version_are_kept_apart(served: Served, events: Table) -> None:
    fixtures_lake.append_batches(served.lake, days=(1, 2), per_day=1)
    every = requests.get(served.url(EVENTS_URL)).json()["metadata"]["snapshots"]
    refs = requests.get(served.url(EVENTS_URL), params={"snapshots": "refs"}).json()
    again = requests.get(served.url(EVENTS_URL)).json()["metadata"]["snapshots"]
    assert (len(every), len(refs["metadata"]["snapshots"]), len(again)) == (2, 1, 2)


def test_listing_tables_names_tables_only_and_refuses_a_missing_namespace(
    served: Served,
) -> None:
    client = served.client()
    client.create_namespace("web")
    assert requests.get(served.url("/v1/icehouse/namespaces/web/tables")).json() == {
        "identifiers": [],
        "next-page-token": None,
    }
    schema = pa.schema([("id", pa.int64())])
    for name in ("b", "a"):
        client.create_table(f"web.{name}", schema)

    listed = requests.get(served.url("/v1/icehouse/namespaces/web/tables")).json()
    missing = requests.get(served.url("/v1/icehouse/namespaces/nope/tables"))

    assert [t["name"] for t in listed["identifiers"]] == ["a", "b"]
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "NoSuchNamespaceException"


def test_a_kept_load_answer_is_the_table_as_loaded_and_its_etag(
    served: Served, events: Table
) -> None:
    first = requests.get(served.url(EVENTS_URL))
    again = requests.get(served.url(EVENTS_URL))

    assert first.status_code == again.status_code == 200
    assert again.content == first.content
    assert again.headers["ETag"] == first.headers["ETag"]
    assert again.headers["Content-Type"] == "application/json"
    assert again.json()["metadata-location"] == events.metadata_location
    assert again.json()["metadata"]["table-uuid"] == str(events.metadata.table_uuid)
    assert again.json()["config"] == {}


def test_answers_that_differ_in_config_are_kept_apart(served: Served, events: Table) -> None:
    """Should a load's config ever depend on who asks, nobody gets another's answer."""
    state = served.lake.iceberg.load(("logs",), "events")
    bodies = LoadBodies()

    plain = bodies.get(state, "all", {})
    credentialed = bodies.get(state, "all", {"s3.session-token": "for-alice"})

    assert json.loads(plain.content)["config"] == {}
    assert json.loads(credentialed.content)["config"] == {"s3.session-token": "for-alice"}
    assert bodies.get(state, "all", {}) == plain


def test_an_answer_is_reused_only_for_the_document_it_was_made_from(
    served: Served, events: Table
) -> None:
    """Should the metadata of one version ever be rendered for who asks, each rendering
    gets its own answer."""
    fixtures_lake.append_batches(served.lake, days=(1,), per_day=1)
    state = served.lake.iceberg.load(("logs",), "events")
    restricted = TableState(state.metadata_location, {**state.metadata, "snapshots": []})
    bodies = LoadBodies()

    bodies.get(state, "all", {})
    answer = bodies.get(restricted, "all", {})

    assert len(state.metadata["snapshots"]) == 1
    assert json.loads(answer.content)["metadata"]["snapshots"] == []
