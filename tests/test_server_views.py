"""Iceberg views over the REST catalog: PyIceberg's client where it speaks views
(create, load, list, exists, drop), raw HTTP for the rest (replace, rename, errors)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import requests
from pyiceberg.catalog.rest import RestCatalog
from pyiceberg.exceptions import NoSuchViewError, ViewAlreadyExistsError
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField, StringType
from pyiceberg.view.metadata import SQLViewRepresentation, ViewRepresentation, ViewVersion
from typer.testing import CliRunner

from icehouse.cli.app import app
from icehouse.lake import Lake
from tests import fixtures_lake, fixtures_server
from tests.fixtures_server import Served, serving

home = fixtures_lake.home
lake = fixtures_lake.lake
served = fixtures_server.served

SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=False),
    NestedField(2, "country", StringType(), required=False),
)
VIEWS = "/v1/icehouse/namespaces/web/views"


def _version(sql: str, dialect: str = "duckdb") -> ViewVersion:
    return ViewVersion(
        version_id=1,
        schema_id=0,
        summary={"engine-name": "test"},
        representations=[
            ViewRepresentation(SQLViewRepresentation(type="sql", sql=sql, dialect=dialect))
        ],
        default_namespace=["web"],
    )


def _client(served: Served) -> RestCatalog:
    client = served.client()
    if not client.namespace_exists("web"):
        client.create_namespace("web")
    return client


def _version_body(sql: str, schema_id: int = -1) -> dict[str, Any]:
    return {
        "version-id": 2,
        "schema-id": schema_id,
        "timestamp-ms": 1_700_000_000_000,
        "summary": {"engine-name": "test"},
        "representations": [{"type": "sql", "sql": sql, "dialect": "duckdb"}],
        "default-namespace": ["web"],
    }


def test_a_view_created_through_the_client_is_loaded_listed_and_dropped(served: Served) -> None:
    client = _client(served)
    made = client.create_view("web.nl", SCHEMA, _version("SELECT * FROM web.hits"))
    assert made.current_version().representations[0].root.sql == "SELECT * FROM web.hits"

    loaded = served.client().load_view("web.nl")
    assert loaded.metadata.format_version == 1
    assert loaded.metadata.current_version_id == 1
    assert [e.version_id for e in loaded.history()] == [1]
    assert loaded.sql_for("duckdb") is not None
    assert client.list_views("web") == [("web", "nl")]
    assert client.view_exists("web.nl")
    assert client.list_tables("web") == []

    client.drop_view("web.nl")
    assert not client.view_exists("web.nl")
    with pytest.raises(NoSuchViewError):
        client.load_view("web.nl")


def test_view_metadata_lives_in_the_warehouse_and_its_pointer_in_the_state_database(
    served: Served,
) -> None:
    _client(served).create_view("web.nl", SCHEMA, _version("SELECT 1 AS id"))
    answer = requests.get(served.url(VIEWS + "/nl"), timeout=10).json()
    location = answer["metadata-location"]
    assert location.startswith(served.lake.views.load(("web",), "nl").metadata["location"])
    assert Path(location.removeprefix("file://")).is_file()
    assert answer["metadata"]["versions"][0]["representations"][0]["sql"] == "SELECT 1 AS id"


def test_a_replace_adds_a_version_and_logs_it(served: Served) -> None:
    client = _client(served)
    first = client.create_view("web.nl", SCHEMA, _version("SELECT 1 AS id"))
    before = requests.get(served.url(VIEWS + "/nl"), timeout=10).json()
    body = {
        "requirements": [{"type": "assert-view-uuid", "uuid": first.metadata.view_uuid}],
        "updates": [
            {
                "action": "add-schema",
                "schema": {**SCHEMA.model_dump(by_alias=True), "schema-id": 5},
            },
            {"action": "add-view-version", "view-version": _version_body("SELECT 2 AS id")},
            {"action": "set-current-view-version", "view-version-id": -1},
            {"action": "set-properties", "updates": {"comment": "nl only"}},
        ],
    }
    answer = requests.post(served.url(VIEWS + "/nl"), json=body, timeout=10)
    assert answer.status_code == 200, answer.text
    assert answer.json()["metadata-location"] != before["metadata-location"]

    loaded = served.client().load_view("web.nl")
    assert loaded.metadata.current_version_id == 2
    assert [v.version_id for v in loaded.versions] == [1, 2]
    assert [e.version_id for e in loaded.history()] == [1, 2]
    assert loaded.current_version().representations[0].root.sql == "SELECT 2 AS id"
    assert loaded.current_version().schema_id == 0  # the same schema as before, reused
    assert loaded.properties == {"comment": "nl only"}


def test_a_replace_whose_uuid_requirement_fails_is_a_409_and_changes_nothing(
    served: Served,
) -> None:
    _client(served).create_view("web.nl", SCHEMA, _version("SELECT 1 AS id"))
    body = {
        "requirements": [
            {"type": "assert-view-uuid", "uuid": "00000000-0000-0000-0000-000000000000"}
        ],
        "updates": [{"action": "set-properties", "updates": {"comment": "lost"}}],
    }
    answer = requests.post(served.url(VIEWS + "/nl"), json=body, timeout=10)
    assert answer.status_code == 409
    assert answer.json()["error"]["type"] == "CommitFailedException"
    assert "expected view uuid 00000000" in answer.json()["error"]["message"]
    assert served.client().load_view("web.nl").properties == {}


def test_a_renamed_view_answers_under_its_new_name_only(served: Served) -> None:
    client = _client(served)
    client.create_namespace("shop")
    client.create_view("web.nl", SCHEMA, _version("SELECT 1 AS id"))
    rename = {
        "source": {"namespace": ["web"], "name": "nl"},
        "destination": {"namespace": ["shop"], "name": "dutch"},
    }
    answer = requests.post(served.url("/v1/icehouse/views/rename"), json=rename, timeout=10)
    assert answer.status_code == 204, answer.text
    assert client.list_views("web") == []
    assert client.list_views("shop") == [("shop", "dutch")]
    again = requests.post(served.url("/v1/icehouse/views/rename"), json=rename, timeout=10)
    assert again.status_code == 404
    assert again.json()["error"]["type"] == "NoSuchViewException"


def test_a_missing_view_is_a_404_no_such_view(served: Served) -> None:
    _client(served)
    for method in ("get", "delete"):
        answer = requests.request(method, served.url(VIEWS + "/ghost"), timeout=10)
        assert answer.status_code == 404
        assert answer.json()["error"] == {
            "message": "view 'web.ghost' does not exist",
            "type": "NoSuchViewException",
            "code": 404,
        }
    assert requests.head(served.url(VIEWS + "/ghost"), timeout=10).status_code == 404


def test_a_view_and_a_table_cannot_share_a_name(served: Served) -> None:
    client = _client(served)
    client.create_table("web.hits", SCHEMA)
    with pytest.raises(ViewAlreadyExistsError, match="is a table"):
        client.create_view("web.hits", SCHEMA, _version("SELECT 1 AS id"))
    client.create_view("web.nl", SCHEMA, _version("SELECT 1 AS id"))
    with pytest.raises(ViewAlreadyExistsError, match="already exists"):
        client.create_view("web.nl", SCHEMA, _version("SELECT 1 AS id"))
    table_body = {"name": "nl", "schema": SCHEMA.model_dump(by_alias=True)}
    answer = requests.post(
        served.url("/v1/icehouse/namespaces/web/tables"), json=table_body, timeout=10
    )
    assert answer.status_code == 409
    assert not client.table_exists("web.nl")


def test_a_dropped_views_metadata_file_is_registered_as_a_new_view(
    served: Served, tmp_path: Path
) -> None:
    client = _client(served)
    client.create_view("web.nl", SCHEMA, _version("SELECT 1 AS id"))
    location = requests.get(served.url(VIEWS + "/nl"), timeout=10).json()["metadata-location"]
    client.drop_view("web.nl")
    registered = client.register_view("web.again", location)
    assert registered.current_version().representations[0].root.sql == "SELECT 1 AS id"
    assert client.list_views("web") == [("web", "again")]
    other = tmp_path / "other.metadata.json"
    other.write_text('{"not": "view metadata"}')
    not_metadata = {"name": "broken", "metadata-location": other.as_uri()}
    register = served.url("/v1/icehouse/namespaces/web/register-view")
    answer = requests.post(register, json=not_metadata, timeout=10)
    assert answer.status_code == 400
    assert "not a readable Iceberg view metadata file" in answer.json()["error"]["message"]


def test_the_config_lists_the_view_endpoints(served: Served) -> None:
    endpoints = requests.get(served.url("/v1/config"), timeout=10).json()["endpoints"]
    assert "POST /v1/{prefix}/views/rename" in endpoints
    assert "GET /v1/{prefix}/namespaces/{namespace}/views/{view}" in endpoints


@pytest.mark.postgres
def test_views_of_a_postgresql_lake_are_created_replaced_renamed_and_dropped(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ICEHOUSE_STATE_URL", postgres_url)
    Lake.init(tmp_path / "lake")
    with Lake.open(tmp_path / "lake") as opened, serving(opened) as running:
        client = _client(running)
        client.create_table("web.hits", SCHEMA)
        with pytest.raises(ViewAlreadyExistsError):
            client.create_view("web.hits", SCHEMA, _version("SELECT 1 AS id"))
        made = client.create_view("web.nl", SCHEMA, _version("SELECT 1 AS id"))
        body = {
            "requirements": [{"type": "assert-view-uuid", "uuid": made.metadata.view_uuid}],
            "updates": [
                {"action": "add-view-version", "view-version": _version_body("SELECT 7 AS id", 0)},
                {"action": "set-current-view-version", "view-version-id": -1},
            ],
        }
        assert requests.post(running.url(VIEWS + "/nl"), json=body, timeout=10).status_code == 200
        assert opened.sql("SELECT id FROM web.nl").to_pylist() == [{"id": 7}]
        rename = {
            "source": {"namespace": ["web"], "name": "nl"},
            "destination": {"namespace": ["web"], "name": "dutch"},
        }
        answer = requests.post(running.url("/v1/icehouse/views/rename"), json=rename, timeout=10)
        assert answer.status_code == 204
        assert [e.version_id for e in client.load_view("web.dutch").history()] == [1, 2]
        client.drop_view("web.dutch")
        assert client.list_views("web") == []


@pytest.mark.parametrize(
    ("update", "says"),
    [
        ({"action": "set-current-view-version", "view-version-id": 9}, "version 9 does not exist"),
        ({"action": "set-current-view-version", "view-version-id": "x"}, "invalid literal"),
        ({"action": "set-properties", "updates": {"k": ["x"]}}, "must map strings to strings"),
        ({"action": "add-view-version"}, "lacks 'view-version'"),
        ({"action": "set-snapshot-ref"}, "unknown view update 'set-snapshot-ref'"),
        ({"action": "upgrade-format-version", "format-version": 2}, "format-version 2"),
    ],
)
def test_an_update_that_cannot_apply_is_a_400_naming_it_and_changes_nothing(
    served: Served, update: dict[str, Any], says: str
) -> None:
    _client(served).create_view("web.nl", SCHEMA, _version("SELECT 1 AS id"))
    before = requests.get(served.url(VIEWS + "/nl"), timeout=10).json()
    answer = requests.post(served.url(VIEWS + "/nl"), json={"updates": [update]}, timeout=10)
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["type"] == "BadRequestException"
    assert says in answer.json()["error"]["message"]
    assert requests.get(served.url(VIEWS + "/nl"), timeout=10).json() == before


@pytest.mark.parametrize(
    ("sql", "default_catalog"),
    [
        ("SELECT id, 'lake.web.hits' AS source FROM lake.web.hits WHERE id > 1", "lake"),
        ("SELECT id, 'lake.web.hits' AS source FROM icehouse.web.hits WHERE id > 1", None),
    ],
)
def test_icehouse_sql_reads_a_view_whose_sql_names_the_catalog(
    served: Served, sql: str, default_catalog: str | None
) -> None:
    """Spark writes ``lake.web.hits`` when its session calls the REST catalog ``lake``
    (and records ``lake`` as the view's default catalog); ``icehouse`` is the lake's own
    name for its catalog. Either way the name means table ``web.hits``; a string that
    reads the same stays as it is."""
    _client(served).create_table("web.hits", SCHEMA).append(
        pa.table({"id": [1, 2, 3], "country": ["nl", "fr", "nl"]})
    )
    version: dict[str, Any] = {
        "version-id": 1,
        "schema-id": 0,
        "timestamp-ms": 1_700_000_000_000,
        "summary": {"engine-name": "spark"},
        "representations": [{"type": "sql", "sql": sql, "dialect": "spark"}],
        "default-namespace": ["web"],
    }
    if default_catalog is not None:
        version["default-catalog"] = default_catalog
    view_schema = {
        "type": "struct",
        "schema-id": 0,
        "fields": [{"id": 1, "name": "id", "type": "long", "required": False}],
    }
    body = {"name": "later", "schema": view_schema, "view-version": version}
    created = requests.post(served.url(VIEWS), json=body, timeout=30)
    assert created.status_code == 200, created.text

    result = CliRunner().invoke(
        app,
        ["sql", "SELECT id, source FROM web.later ORDER BY id", "--format", "json"],
        env={"ICEHOUSE_HOME": str(served.lake.home)},
    )

    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [
        {"id": 2, "source": "lake.web.hits"},
        {"id": 3, "source": "lake.web.hits"},
    ]
