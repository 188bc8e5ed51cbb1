"""PyIceberg's own REST client against a real icehouse server: what one engine writes,
the lake and every other client read."""

from __future__ import annotations

import threading
from pathlib import Path

import pyarrow as pa
import requests
from pyiceberg.schema import Schema
from pyiceberg.types import LongType, NestedField, StringType

from tests import fixtures_lake, fixtures_server
from tests.fixtures_server import Served

home = fixtures_lake.home
lake = fixtures_lake.lake
served = fixtures_server.served

SCHEMA = Schema(
    NestedField(1, "id", LongType(), required=False),
    NestedField(2, "country", StringType(), required=False),
)
ROWS = pa.table({"id": [1, 2, 3], "country": ["nl", "fr", "nl"]})


def test_a_table_written_through_the_server_is_read_by_the_client_and_by_the_lake(
    served: Served,
) -> None:
    client = served.client()
    client.create_namespace("web", {"owner": "ana"})
    table = client.create_table("web.hits", SCHEMA)
    table.append(ROWS)

    again = served.client().load_table("web.hits")
    assert sorted(again.scan().to_arrow()["id"].to_pylist()) == [1, 2, 3]
    counted = served.lake.sql("SELECT country, count(*) AS n FROM web.hits GROUP BY 1 ORDER BY 1")
    assert counted.to_pylist() == [{"country": "fr", "n": 1}, {"country": "nl", "n": 2}]
    assert client.load_namespace_properties("web") == {"owner": "ana"}
    assert client.list_tables("web") == [("web", "hits")]


def test_new_tables_get_the_lakes_table_defaults_unless_the_request_says_otherwise(
    served: Served,
) -> None:
    client = served.client()
    client.create_namespace("web")
    made = client.create_table(
        "web.hits", SCHEMA, properties={"write.parquet.compression-codec": "snappy"}
    )
    assert made.properties["write.metadata.previous-versions-max"] == "10"
    assert made.properties["write.parquet.compression-codec"] == "snappy"
    assert served.lake.tables.get("web.hits").name == "web.hits"


def test_a_staged_creation_lands_on_commit_with_the_defaults(served: Served) -> None:
    client = served.client()
    client.create_namespace("web")
    with client.create_table_transaction("web.staged", SCHEMA) as tx:
        assert not client.table_exists("web.staged")
        tx.append(ROWS)
    table = client.load_table("web.staged")
    assert table.properties["commit.manifest-merge.enabled"] == "true"
    assert served.lake.sql("SELECT count(*) AS n FROM web.staged").to_pylist() == [{"n": 3}]


def test_schema_evolution_through_the_client_is_seen_by_the_lake(served: Served) -> None:
    client = served.client()
    client.create_namespace("web")
    table = client.create_table("web.hits", SCHEMA)
    table.append(ROWS)
    with table.update_schema() as update:
        update.add_column("bytes", LongType())
    table.append(pa.table({"id": [4], "country": ["de"], "bytes": [512]}))

    rows = served.lake.sql("SELECT id, bytes FROM web.hits ORDER BY id").to_pylist()
    assert rows == [
        {"id": 1, "bytes": None},
        {"id": 2, "bytes": None},
        {"id": 3, "bytes": None},
        {"id": 4, "bytes": 512},
    ]


def test_two_clients_committing_at_once_both_land_exactly_once(served: Served) -> None:
    """The loser of each race gets a 409 (nothing of it landed); PyIceberg reloads and
    retries, so every append lands once, in its own snapshot."""
    setup = served.client()
    setup.create_namespace("web")
    setup.create_table("web.hits", SCHEMA)
    start = threading.Barrier(2)

    def append_three(first_id: int) -> None:
        table = served.client().load_table("web.hits")
        start.wait()
        for i in range(first_id, first_id + 3):
            table.append(pa.table({"id": [i], "country": ["nl"]}))

    workers = [threading.Thread(target=append_three, args=(n,)) for n in (0, 100)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    ids = served.lake.sql("SELECT id FROM web.hits ORDER BY id").column("id").to_pylist()
    assert ids == [0, 1, 2, 100, 101, 102]
    assert len(setup.load_table("web.hits").snapshots()) == 6


def test_a_renamed_table_keeps_its_rows_and_a_dropped_one_is_gone(served: Served) -> None:
    client = served.client()
    client.create_namespace("web")
    client.create_namespace("archive")
    client.create_table("web.hits", SCHEMA).append(ROWS)

    client.rename_table("web.hits", "archive.hits_2024")
    assert client.list_tables("web") == []
    assert served.lake.sql("SELECT count(*) AS n FROM archive.hits_2024").to_pylist() == [{"n": 3}]
    client.drop_table("archive.hits_2024")
    assert not client.table_exists("archive.hits_2024")
    assert served.lake.tables.list() == []


def test_a_table_whose_name_holds_a_dot_is_served_and_left_out_of_icehouses_own_list(
    served: Served,
) -> None:
    """PyIceberg passes the identifier ("web", "ta.ble"): the name is one string, the
    namespace a list of levels. icehouse's commands write ``namespace.table``, which
    cannot name it, so its table list leaves it out instead of failing on it."""
    client = served.client()
    client.create_namespace("web")
    client.create_namespace("archive")
    client.create_table("web.plain", SCHEMA)
    client.create_table(("web", "ta.ble"), SCHEMA).append(ROWS)

    assert client.table_exists(("web", "ta.ble"))
    assert not client.table_exists(("web", "ta"))
    assert sorted(client.list_tables("web")) == [("web", "plain"), ("web", "ta.ble")]
    assert client.load_table(("web", "ta.ble")).scan().to_arrow().num_rows == 3
    assert served.lake.tables.list() == ["web.plain"]

    client.rename_table(("web", "ta.ble"), ("archive", "20.24"))
    assert client.load_table(("archive", "20.24")).scan().to_arrow().num_rows == 3
    folder = Path(client.load_table(("archive", "20.24")).location().removeprefix("file://"))
    client.purge_table(("archive", "20.24"))
    assert not client.table_exists(("archive", "20.24"))
    assert not any(folder.rglob("*.parquet"))
    assert client.list_tables("web") == [("web", "plain")]


def test_a_purged_table_leaves_no_files(served: Served) -> None:
    client = served.client()
    client.create_namespace("web")
    table = client.create_table("web.hits", SCHEMA)
    table.append(ROWS)
    folder = Path(table.location().removeprefix("file://"))
    assert any(folder.rglob("*.parquet"))

    client.purge_table("web.hits")
    assert not any(folder.rglob("*.parquet"))
    assert not any(folder.rglob("*.metadata.json"))


def test_an_existing_metadata_file_is_registered_as_a_new_table(served: Served) -> None:
    client = served.client()
    client.create_namespace("web")
    table = client.create_table("web.hits", SCHEMA)
    table.append(ROWS)
    location = client.load_table("web.hits").metadata_location

    client.register_table("web.hits_copy", location)
    assert served.lake.sql("SELECT count(*) AS n FROM web.hits_copy").to_pylist() == [{"n": 3}]


def test_namespaces_are_listed_page_by_page(served: Served) -> None:
    client = served.client(**{"rest-page-size": "2"})
    for name in ["c", "a", "e", "b", "d"]:
        client.create_namespace(name)
    assert client.list_namespaces() == [("a",), ("b",), ("c",), ("d",), ("e",)]
    first = requests.get(served.url("/v1/icehouse/namespaces"), params={"pageSize": 2}).json()
    assert first["namespaces"] == [["a"], ["b"]]
    following = requests.get(
        served.url("/v1/icehouse/namespaces"),
        params={"pageSize": 2, "pageToken": first["next-page-token"]},
    ).json()
    assert following["namespaces"] == [["c"], ["d"]]


def test_tables_are_listed_page_by_page(served: Served) -> None:
    client = served.client(**{"rest-page-size": "2"})
    client.create_namespace("web")
    for name in ["t3", "t1", "t2"]:
        client.create_table(f"web.{name}", SCHEMA)
    assert client.list_tables("web") == [("web", "t1"), ("web", "t2"), ("web", "t3")]


def test_namespace_properties_are_updated_and_dropped_namespaces_are_gone(served: Served) -> None:
    client = served.client()
    client.create_namespace("web", {"owner": "ana", "tier": "gold"})
    change = client.update_namespace_properties(
        "web", removals={"tier", "nope"}, updates={"owner": "bo"}
    )
    assert (change.removed, change.updated, change.missing) == (["tier"], ["owner"], ["nope"])
    assert client.load_namespace_properties("web") == {"owner": "bo"}
    assert client.namespace_exists("web")
    client.drop_namespace("web")
    assert not client.namespace_exists("web")
    assert client.list_namespaces() == []


def test_a_namespace_keeps_existing_when_its_last_property_is_removed(served: Served) -> None:
    client = served.client()
    client.create_namespace("bare")
    assert client.load_namespace_properties("bare") == {}
    client.create_namespace("web", {"owner": "ana"})
    change = client.update_namespace_properties("web", removals={"owner"})
    assert (change.removed, change.updated) == (["owner"], [])
    assert client.namespace_exists("web")
    assert client.load_namespace_properties("web") == {}
    assert client.list_namespaces() == [("bare",), ("web",)]


def test_drop_and_rename_of_a_table_a_source_writes_to_are_refused_naming_it(
    served: Served, tmp_path: Path
) -> None:
    client = served.client()
    client.create_namespace("web")
    client.create_table("web.hits", SCHEMA).append(ROWS)
    fixtures_lake.add_source(served.lake, "cdn", tmp_path / "landing", table="web.hits")
    prefix = requests.get(served.url("/v1/config")).json()["overrides"]["prefix"]
    tables = f"/v1/{prefix}/namespaces/web/tables"

    dropped = requests.delete(served.url(f"{tables}/hits"), params={"purgeRequested": "true"})
    renamed = requests.post(
        served.url(f"/v1/{prefix}/tables/rename"),
        json={
            "source": {"namespace": ["web"], "name": "hits"},
            "destination": {"namespace": ["web"], "name": "hits_old"},
        },
    )

    for refused in (dropped, renamed):
        assert refused.status_code == 409
        assert "source cdn writes to it" in refused.json()["error"]["message"]
    assert served.lake.sql("SELECT count(*) AS n FROM web.hits").to_pylist() == [{"n": 3}]
    assert client.list_tables("web") == [("web", "hits")]
