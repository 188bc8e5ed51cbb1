"""What fuzzing the REST catalog found answered with a 500, each now a 400 in the spec's
ErrorModel naming what was wrong: a namespace with an empty or blank level (in a URL or
a body), and Iceberg JSON whose values PyIceberg refuses with a ``TypeError`` (a field with
a ``write-default`` and a type that does not exist) when creating a table or a view and in a
commit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import requests

from tests import fixtures_lake, fixtures_server
from tests.fixtures_server import Served

home = fixtures_lake.home
lake = fixtures_lake.lake
served = fixtures_server.served

API = "/v1/icehouse"
SCHEMA = {
    "type": "struct",
    "fields": [{"id": 1, "name": "id", "type": "long", "required": False}],
}
DEFAULTED_UNKNOWN_TYPE = {
    "type": "struct",
    "fields": [{"id": 1, "name": "id", "type": "lng", "required": False, "write-default": 1}],
}
"""A schema whose field has a default but a type that does not exist (PyIceberg cannot
read the default, and says ``TypeError``)."""
VIEW_VERSION = {
    "version-id": 1,
    "timestamp-ms": 1,
    "schema-id": 0,
    "summary": {},
    "representations": [{"type": "sql", "sql": "select 1 as id", "dialect": "spark"}],
    "default-namespace": ["web"],
}


@pytest.fixture
def web(served: Served) -> Served:
    """Namespace ``web`` holds table ``web.hits``."""
    requests.post(served.url(f"{API}/namespaces"), json={"namespace": ["web"]}, timeout=30)
    table = {"name": "hits", "schema": SCHEMA}
    created = requests.post(served.url(f"{API}/namespaces/web/tables"), json=table, timeout=30)
    assert created.status_code == 200, created.text
    return served


def bad_request(response: requests.Response) -> str:
    """The message of a 400 in the spec's ErrorModel."""
    assert response.status_code == 400, response.text
    error: dict[str, Any] = response.json()["error"]
    assert (error["type"], error["code"]) == ("BadRequestException", 400)
    message: str = error["message"]
    return message


@pytest.mark.parametrize(
    "path", ["/namespaces/%20", "/namespaces/%20/tables", "/namespaces/web%1F"]
)
def test_a_url_namespace_with_a_blank_or_empty_level_is_a_400(web: Served, path: str) -> None:
    message = bad_request(requests.get(web.url(API + path), timeout=30))
    assert "has an empty or blank level" in message


@pytest.mark.parametrize(
    ("path", "source", "destination"),
    [
        ("/tables/rename", {"namespace": ["", "web"], "name": "hits"}, ["web"]),
        ("/tables/rename", {"namespace": ["web"], "name": "hits"}, [" "]),
        ("/views/rename", {"namespace": [""], "name": "v"}, ["web"]),
    ],
)
def test_renaming_from_or_to_a_namespace_with_a_blank_level_is_a_400(
    web: Served, path: str, source: dict[str, Any], destination: list[str]
) -> None:
    body = {"source": source, "destination": {"namespace": destination, "name": "moved"}}
    message = bad_request(requests.post(web.url(API + path), json=body, timeout=30))
    assert "namespace" in message and "has an empty or blank level" in message
    tables = requests.get(web.url(f"{API}/namespaces/web/tables"), timeout=30).json()
    assert tables["identifiers"] == [{"namespace": ["web"], "name": "hits"}]


def test_creating_a_namespace_with_a_blank_level_is_a_400_and_creates_nothing(
    web: Served,
) -> None:
    answer = requests.post(web.url(f"{API}/namespaces"), json={"namespace": [" "]}, timeout=30)
    assert "body.namespace" in bad_request(answer)
    listed = requests.get(web.url(f"{API}/namespaces"), timeout=30).json()["namespaces"]
    assert listed == [["web"]]


def test_a_transaction_naming_a_namespace_with_an_empty_level_is_a_400(web: Served) -> None:
    body = {"table-changes": [{"identifier": {"namespace": [""], "name": "hits"}}]}
    answer = requests.post(web.url(f"{API}/transactions/commit"), json=body, timeout=30)
    assert "identifier.namespace" in bad_request(answer)


def test_creating_a_table_with_a_defaulted_field_of_an_unknown_type_is_a_400(web: Served) -> None:
    body = {"name": "misfit", "schema": DEFAULTED_UNKNOWN_TYPE}
    answer = requests.post(web.url(f"{API}/namespaces/web/tables"), json=body, timeout=30)
    assert bad_request(answer).startswith("web.misfit: not a valid Schema")
    exists = requests.head(web.url(f"{API}/namespaces/web/tables/misfit"), timeout=30)
    assert exists.status_code == 404


@pytest.mark.parametrize("route", ["table", "transaction"])
def test_a_commit_adding_a_schema_with_a_defaulted_field_of_an_unknown_type_is_a_400(
    web: Served, route: str
) -> None:
    updates = [{"action": "add-schema", "schema": DEFAULTED_UNKNOWN_TYPE}]
    if route == "table":
        url, body = f"{API}/namespaces/web/tables/hits", {"updates": updates}
    else:
        change = {"identifier": {"namespace": ["web"], "name": "hits"}, "updates": updates}
        url, body = f"{API}/transactions/commit", {"table-changes": [change]}
    answer = requests.post(web.url(url), json=body, timeout=30)
    assert bad_request(answer).startswith("web.hits: not a valid CommitTableRequest")
    loaded = requests.get(web.url(f"{API}/namespaces/web/tables/hits"), timeout=30).json()
    assert len(loaded["metadata"]["schemas"]) == 1


def test_creating_a_view_with_a_defaulted_field_of_an_unknown_type_is_a_400(web: Served) -> None:
    body = {"name": "v", "schema": DEFAULTED_UNKNOWN_TYPE, "view-version": VIEW_VERSION}
    answer = requests.post(web.url(f"{API}/namespaces/web/views"), json=body, timeout=30)
    assert bad_request(answer).startswith("not a valid Schema")
    exists = requests.head(web.url(f"{API}/namespaces/web/views/v"), timeout=30)
    assert exists.status_code == 404


@pytest.mark.parametrize("kind", ["tables", "views"])
def test_creating_at_a_relative_location_is_a_400_and_writes_nothing(
    web: Served, kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A relative location would be resolved against the server's working directory."""
    started_in = tmp_path / "started-in"
    started_in.mkdir()
    monkeypatch.chdir(started_in)
    body: dict[str, Any] = {"name": "here", "schema": SCHEMA, "location": "here/and/there"}
    if kind == "views":
        body["view-version"] = VIEW_VERSION
    answer = requests.post(web.url(f"{API}/namespaces/web/{kind}"), json=body, timeout=30)
    assert "location 'here/and/there' is relative" in bad_request(answer)
    assert list(started_in.iterdir()) == []
    assert (
        requests.head(web.url(f"{API}/namespaces/web/{kind}/here"), timeout=30).status_code == 404
    )


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("snapshot-id", -(2**63) - 1),  # beyond the 64-bit column
        ("snapshot-id", 2**63),
        ("report-type", "scan\u0000report"),  # PostgreSQL text holds no NUL
        ("operation", {"not": "a string"}),
        ("operation", "x" * 41),
    ],
)
def test_a_metrics_report_that_cannot_be_kept_is_a_400_and_keeps_nothing(
    web: Served, field: str, value: object
) -> None:
    report = {"report-type": "commit-report", "snapshot-id": 1, "table-name": "web.hits"}
    report[field] = value
    response = requests.post(
        web.url(f"{API}/namespaces/web/tables/hits/metrics"), json=report, timeout=30
    )
    assert field in bad_request(response)
    assert web.lake.metrics.list() == []


@pytest.mark.parametrize("kind", ["tables", "views"])
def test_moving_to_a_relative_location_is_a_400_and_the_location_stays(
    web: Served, kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``set-location`` update is held to what a creation is: a URL or an absolute
    path, whichever way the commit arrives."""
    started_in = tmp_path / "started-in"  # where a relative location would resolve
    started_in.mkdir()
    monkeypatch.chdir(started_in)
    url = web.url(f"{API}/namespaces/web/{kind}/hits")
    if kind == "views":
        body = {"name": "v", "schema": SCHEMA, "view-version": VIEW_VERSION}
        created = requests.post(web.url(f"{API}/namespaces/web/views"), json=body, timeout=30)
        assert created.status_code == 200, created.text
        url = web.url(f"{API}/namespaces/web/views/v")
    before = requests.get(url, timeout=30).json()["metadata"]["location"]
    move = {"requirements": [], "updates": [{"action": "set-location", "location": "elsewhere"}]}

    answer = requests.post(url, json=move, timeout=30)
    assert "location 'elsewhere' is relative" in bad_request(answer)
    assert requests.get(url, timeout=30).json()["metadata"]["location"] == before
    assert list(started_in.iterdir()) == []


def test_a_relative_location_in_a_transaction_is_a_400_and_nothing_lands(
    web: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started_in = tmp_path / "started-in"
    started_in.mkdir()
    monkeypatch.chdir(started_in)
    change = {
        "identifier": {"namespace": ["web"], "name": "hits"},
        "requirements": [],
        "updates": [{"action": "set-location", "location": "../../outside"}],
    }
    answer = requests.post(
        web.url(f"{API}/transactions/commit"), json={"table-changes": [change]}, timeout=30
    )
    assert "location '../../outside' is relative" in bad_request(answer)
    loaded = requests.get(web.url(f"{API}/namespaces/web/tables/hits"), timeout=30).json()
    assert loaded["metadata"]["location"].startswith("file:///")
    assert list(started_in.iterdir()) == []
